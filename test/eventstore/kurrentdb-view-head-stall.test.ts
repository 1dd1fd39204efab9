import t from 'tap'
import { KurrentDbEventStore, VIEW_HEAD_RETRY_MS } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import type { RecordedEvent } from '../../src/eventstore/port.js'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'

/**
 * subscribeAll with onCaughtUp reads the head of its view (viewHead) through the Rust bridge, whose
 * reads have no deadline (client dist/streams/readAll.js passes none; the scripted client's stallNext
 * models it) and which the client's dispose() never cancels (dist/Client/index.js dispose ends only
 * grpc-js calls). So that read goes beside the subscription, under a deadline, never before it: a
 * hung read must neither keep the subscription from opening nor from ending.
 */

const within = <T>(p: Promise<T>, ms: number): Promise<T | 'timed out'> =>
  Promise.race([p, new Promise<'timed out'>((r) => setTimeout(() => r('timed out'), ms))])

t.test('given a head read that never answers, when a subscription with onCaughtUp starts, then it opens and delivers, and ends once aborted', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true, streamPrefixes: ['s-'] })
  await store.append('s-1', [{ type: 'T', data: { n: 1 } }], 'no_stream')
  client.stallNext('readAll')

  const controller = new AbortController()
  const delivered: RecordedEvent[] = []
  let caughtUp = 0
  const done = (async () => {
    for await (const e of store.subscribeAll({ signal: controller.signal, onCaughtUp: () => caughtUp++ })) delivered.push(e)
    return 'ended' as const
  })()
  await new Promise((r) => setTimeout(r, 300))
  t.equal(client.subscriptionCount, 1, 'the subscription is opened although the head read hangs (grpc-js works)')
  t.equal(delivered.length, 1, 'the history is delivered')

  controller.abort()
  await store.close()
  t.equal(await within(done, 1000), 'ended', 'the subscription ends once aborted and the store closed')
})

t.test('given a server before 24.2 (no caughtUp) and a first head read that never answers, when the subscription starts, then it turns live once a later head read answers', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false, serverVersion: '23.10.0' })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: false, streamPrefixes: ['s-'], leaderReadDeadlineMs: 100 })
  t.teardown(() => store.close())
  await store.append('s-1', [{ type: 'T', data: { n: 1 } }], 'no_stream')
  client.stallNext('readAll')

  const controller = new AbortController()
  t.teardown(() => controller.abort())
  let caughtUp = 0
  void (async () => {
    for await (const _ of store.subscribeAll({ signal: controller.signal, onCaughtUp: () => caughtUp++ })) void _
  })()
  await new Promise((r) => setTimeout(r, 300))
  t.equal(caughtUp, 0, 'not live while the head is unknown (the first read passed its deadline)')
  await new Promise((r) => setTimeout(r, VIEW_HEAD_RETRY_MS + 500))
  t.equal(caughtUp, 1, 'live once, after the head read was tried again')
})

// The head read's deadline timer and retry pause belong to the subscription: nothing of them runs on
// after it ends or the store closes (a process that would not exit, a warning for a closed store).
t.test('given a head read that hangs, when the subscription is aborted and the store closed, then nothing of it runs on (no timer, no warning)', async (t) => {
  const warnings: string[] = []
  const logger = { warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)), info: () => undefined, error: () => undefined, debug: () => undefined }
  // A server before 24.2: no caughtUp of its own, so the head read is what is awaited.
  const client = new FakeKurrentClient({ systemEvents: false, serverVersion: '23.10.0' })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: false, streamPrefixes: ['s-'], leaderReadDeadlineMs: 300, logger: logger as never })
  await store.append('s-1', [{ type: 'T', data: { n: 1 } }], 'no_stream')
  client.stallNext('readAll')
  const controller = new AbortController()
  const done = (async () => {
    for await (const _ of store.subscribeAll({ signal: controller.signal, onCaughtUp: () => undefined })) void _
  })()
  await new Promise((r) => setTimeout(r, 50))
  const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  controller.abort()
  await store.close()
  await done
  const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  t.ok(timersAfter < timersBefore, `the deadline timer is cleared on close (timers before ${timersBefore}, after ${timersAfter})`)
  const count = warnings.length
  await new Promise((r) => setTimeout(r, 500))
  t.same(warnings.slice(count), [], 'no warning about the head read after the store was closed')
})
