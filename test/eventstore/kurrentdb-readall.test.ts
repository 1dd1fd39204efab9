import t from 'tap'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import type { RecordedEvent } from '../../src/eventstore/port.js'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'

/**
 * Regression test (found in review, fixed): KurrentDbEventStore.readAll (kurrentdb-event-store.ts:246-274) only moves its
 * cursor (`from`) past events it DELIVERS. Events it skips - binary events, events of `$` streams
 * with an ordinary type (both pass the server's excludeSystemEvents filter), links without their
 * event - do not move it. When a whole page after the last delivered event is such events, the next
 * page is the same page: readAll re-reads it forever (an async busy loop, nothing yielded). With the
 * default page of 500 it takes 499 such events in a row (e.g. another application's protobuf events
 * in the same database); with pageSize 2 one is enough.
 */

t.test('readAll gets past events it skips (a binary event between two ledger events)', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true, pageSize: 2 })
  t.teardown(() => store.close())
  await store.append('s-1', [{ type: 'T', data: { n: 1 } }], 'no_stream')
  client.appendSystemEvent('other-app-1', 'Proto', new Uint8Array([1, 2, 3])) // binary: skipped by the adapter
  await store.append('s-2', [{ type: 'T', data: { n: 2 } }], 'no_stream')

  const seen: RecordedEvent[] = []
  const reading = (async () => {
    for await (const e of store.readAll()) seen.push(e)
  })().catch(() => undefined)
  const finished = await Promise.race([reading.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 1_000))])
  // Stop a spinning reader: every later client call fails, which ends the generator.
  client.setUnavailable(true)
  await reading
  t.ok(finished, 'readAll finished within 1 s')
  t.same(seen.map((e) => e.stream), ['s-1', 's-2'], 'both ledger events, once each')
})
