import t from 'tap'
import { jsonEvent } from '@kurrent/kurrentdb-client'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { collect } from '../helpers/async.js'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'

/**
 * Regression test (found in review, fixed): appendManyAtomic (kurrentdb-event-store.ts:164-167) reads the position back only
 * when the LAST stream of the append wrote events. When the last stream's part is empty (only an
 * expected-revision check), it returns `toBigInt(result.position)`: the server's bare commit
 * position, not the port's encoding `commit × 2^64 + prepare`. The port promises the position of
 * the last event written; this number is about 2^64 times too small (a receipt / minPosition that
 * every projector position already exceeds, and that decodes to the wrong place in $all).
 */

for (const history of [false, true]) {
  t.test(`appendMany whose last stream is an empty check answers the written event's position (${history ? 'after explicit-transaction history' : 'fresh'})`, async (t) => {
    const client = new FakeKurrentClient({ systemEvents: false })
    if (history) client.appendTransaction('legacy-1', [jsonEvent({ type: 'Old', data: { n: 1 } }), jsonEvent({ type: 'Old', data: { n: 2 } })])
    const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
    t.teardown(() => store.close())
    await store.append('s-b', [{ type: 'T', data: { n: 0 } }], 'no_stream')
    const r = await store.appendMany([
      { stream: 's-a', events: [{ type: 'T', data: { n: 1 } }], expectedRevision: 'no_stream' },
      { stream: 's-b', events: [], expectedRevision: 0n },
    ])
    const [written] = await collect(store.readStream('s-a'))
    t.equal(r.position, written!.position, 'the position of the last event written, in the port encoding')
  })
}
