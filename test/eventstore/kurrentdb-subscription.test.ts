import t from 'tap'
import { getEventListeners } from 'node:events'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'

/**
 * Regression test (found in review, fixed): subscribeAll combines the caller's signal and the store's own closing signal with
 * anySignal() (kurrentdb-event-store.ts:404-412), which adds an 'abort' listener to each and never
 * removes it. Every subscription that ends without an abort (the consumer breaks out / calls
 * return(), as Projector.consume does after a failed batch) leaves one listener (and its
 * AbortController) on the store's closing signal for the life of the process, and one on the caller's
 * signal; after 11 Node prints MaxListenersExceededWarning ("Possible EventTarget memory leak").
 */

t.test('a subscription that ends leaves no listener on the store closing signal or the caller signal', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true, streamPrefixes: ['s-'] })
  t.teardown(() => store.close())
  await store.append('s-1', [{ type: 'T', data: { n: 1 } }], 'no_stream')
  const caller = new AbortController()
  const warnings: string[] = []
  const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`)
  process.on('warning', onWarning)
  t.teardown(() => void process.off('warning', onWarning))
  for (let i = 0; i < 12; i++) {
    for await (const _ of store.subscribeAll({ signal: caller.signal })) break
  }
  await new Promise((r) => setImmediate(r))
  const closing = (store as unknown as { closing: AbortController }).closing.signal
  t.equal(getEventListeners(closing, 'abort').length, 0, 'no listener left on the store closing signal')
  t.equal(getEventListeners(caller.signal, 'abort').length, 0, 'no listener left on the caller signal')
  t.same(warnings.filter((w) => /MaxListeners/.test(w)), [], 'no MaxListenersExceededWarning')
})

/**
 * Regression test (found in review, fixed; readiness): Projector sets `live = true` on the first caughtUp and never sets it
 * back (projector.ts:51,134-136), although the port promises onCaughtUp "each time it becomes live
 * again after a resubscription" and the issue says caughtUp feeds readiness. After KurrentDB goes
 * away, readiness (then GET /healthz's projectionCaughtUp, now GET /readyz's `projection-not-live`)
 * still reported caught up while the subscription is down and while it catches up again after a
 * long outage.
 */
t.test('projectionCaughtUp goes false while the subscription is down', async (t) => {
  const { Projector } = await import('../../src/projector/projector.js')
  const { ReadModelStore } = await import('../../src/projector/read-model-store.js')
  const { fakeErrors } = await import('../helpers/fake-kurrent-client.js')
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true, streamPrefixes: ['s-'], resubscribeInitialMs: 20, resubscribeMaxMs: 40 })
  const readModels = new ReadModelStore(':memory:')
  const projector = new Projector({ store, readModels, projections: [] })
  t.teardown(async () => {
    await projector.stop()
    await store.close()
    readModels.close()
  })
  await store.append('s-1', [{ type: 'T', data: {} }], 'no_stream')
  projector.start()
  for (let i = 0; i < 100 && !projector.caughtUp; i++) await new Promise((r) => setTimeout(r, 10))
  t.equal(projector.caughtUp, true, 'caught up while the server is there')
  client.setUnavailable(true)
  client.dropSubscriptions(fakeErrors.unavailable())
  await new Promise((r) => setTimeout(r, 200))
  t.equal(projector.caughtUp, false, 'not caught up while KurrentDB is unreachable and the subscription is down')
  client.setUnavailable(false)
})
