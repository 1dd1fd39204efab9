import t from 'tap'
import { jsonEvent } from '@kurrent/kurrentdb-client'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import type { RecordedEvent } from '../../src/eventstore/port.js'
import { Projector } from '../../src/projector/projector.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'

/**
 * Issue #15, item 7: servers before 24.2 never send `caughtUp` on a subscription (the message came
 * with the gRPC enumerator rewrite: server Services/Transport/Grpc/Streams.Read.cs has no CaughtUp
 * at oss-v23.10.0, has it at oss-v24.2.0). Readiness must still turn true: the adapter reads the
 * head of the subscription's own filtered view when it (re)subscribes and calls onCaughtUp once it
 * has delivered the event at that head (at once when there is nothing to catch up on); once per
 * (re)subscription, also when the server sends caughtUp as well.
 */

const settle = async (rounds = 20) => {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r))
}

t.test('the scripted client: caughtUp on 24.2+, never before', async (t) => {
  for (const [version, expected] of [['23.10.0', 0], ['24.2.0', 1], ['25.1.0', 1]] as const) {
    const client = new FakeKurrentClient({ systemEvents: false, serverVersion: version })
    await client.appendToStream('s-1', jsonEvent({ type: 'T', data: {} }), { streamState: 'no_stream' })
    const subscription = client.subscribeToAll({ fromPosition: 'start' })
    let caughtUp = 0
    subscription.on('caughtUp', () => caughtUp++)
    const seen: unknown[] = []
    subscription.on('data', (e) => seen.push(e))
    await settle()
    await subscription.unsubscribe()
    t.equal(seen.length, 1, `${version}: the history is delivered`)
    t.equal(caughtUp, expected, `${version}: caughtUp ${expected ? 'sent' : 'never sent'}`)
  }
})

/** A subscription of `store` recording what it delivered when each onCaughtUp came. */
function watch(store: KurrentDbEventStore, afterPosition?: bigint) {
  const controller = new AbortController()
  const delivered: RecordedEvent[] = []
  const caughtUpAt: number[] = []
  const done = (async () => {
    for await (const e of store.subscribeAll({
      signal: controller.signal,
      ...(afterPosition !== undefined ? { afterPosition } : {}),
      onCaughtUp: () => caughtUpAt.push(delivered.length),
    })) delivered.push(e)
  })()
  return { delivered, caughtUpAt, stop: () => (controller.abort(), done) }
}

for (const version of ['23.10.0', '25.1.0']) {
  t.test(`${version}: onCaughtUp once, after the history's last event; at once with nothing to catch up on`, async (t) => {
    const client = new FakeKurrentClient({ systemEvents: false, serverVersion: version })
    const store = new KurrentDbEventStore({ client, atomicAppendMany: false, streamPrefixes: ['s-'] })
    t.teardown(() => store.close())

    const empty = watch(store)
    await settle()
    t.same(empty.caughtUpAt, [0], 'an empty view: caught up at once')

    for (let i = 1; i <= 3; i++) await store.append(`s-${i}`, [{ type: 'T', data: { i } }], 'no_stream')
    client.appendSystemEvent('other-1', 'T', { not: 'ledger' }) // after the view's head, outside it
    const history = watch(store)
    await settle()
    t.equal(history.delivered.length, 3)
    // On 24.2+ the server's caughtUp may come first (when the history is buffered, before the
    // consumer read it); either way only once.
    if (version === '23.10.0') t.same(history.caughtUpAt, [3], 'once, when the third (the head) was delivered')
    else t.equal(history.caughtUpAt.length, 1, 'once, not again for the head (the server said it first)')
    const before = [...history.caughtUpAt]
    await store.append('s-4', [{ type: 'T', data: {} }], 'no_stream')
    await settle()
    t.same(history.caughtUpAt, before, 'live events do not call it again')
    t.same(empty.caughtUpAt, [0], 'nor on the first subscription')

    const atHead = watch(store, history.delivered.at(-1)!.position)
    await settle()
    t.same(atHead.caughtUpAt, [0], 'from the head: caught up at once')
    await Promise.all([empty.stop(), history.stop(), atHead.stop()])
  })
}

t.test('23.10: after a drop, onCaughtUp again once the resubscription reaches its new head', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false, serverVersion: '23.10.0' })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: false, streamPrefixes: ['s-'], resubscribeInitialMs: 5, resubscribeMaxMs: 10 })
  t.teardown(() => store.close())
  for (let i = 1; i <= 3; i++) await store.append(`s-${i}`, [{ type: 'T', data: { i } }], 'no_stream')
  client.scriptNextSubscription({ dropAfter: 2 })
  const dropped: number[] = []
  const controller = new AbortController()
  const delivered: RecordedEvent[] = []
  const caughtUpAt: number[] = []
  const done = (async () => {
    for await (const e of store.subscribeAll({ signal: controller.signal, onCaughtUp: () => caughtUpAt.push(delivered.length), onDropped: () => dropped.push(delivered.length) })) delivered.push(e)
  })()
  for (let i = 0; i < 100 && caughtUpAt.length === 0; i++) await new Promise((r) => setTimeout(r, 5))
  t.same(dropped, [2], 'dropped after two events, before the head')
  t.same(caughtUpAt, [3], 'caught up once, on the resubscription, at the third event')
  t.same(delivered.map((e) => e.stream), ['s-1', 's-2', 's-3'], 'each event once')
  controller.abort()
  await done
})

for (const history of [false, true]) {
  t.test(`readiness: the projector is caught up on a 23.10 server ${history ? 'with' : 'without'} history`, async (t) => {
    const client = new FakeKurrentClient({ systemEvents: true, serverVersion: '23.10.0' })
    const store = new KurrentDbEventStore({ client, atomicAppendMany: false, streamPrefixes: ['s-'] })
    const readModels = new ReadModelStore(':memory:')
    const projector = new Projector({ store, readModels, projections: [] })
    t.teardown(async () => {
      await projector.stop()
      await store.close()
      readModels.close()
    })
    if (history) for (let i = 1; i <= 3; i++) await store.append(`s-${i}`, [{ type: 'T', data: { i } }], 'no_stream')
    projector.start()
    for (let i = 0; i < 200 && !projector.caughtUp; i++) await new Promise((r) => setTimeout(r, 5))
    t.ok(projector.caughtUp, 'caught up (readiness can turn true)')
  })
}
