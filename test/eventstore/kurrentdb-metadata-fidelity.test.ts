import t, { type Test } from 'tap'
import { jsonEvent } from '@kurrent/kurrentdb-client'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { exportLine } from '../../src/audit/export.js'
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.js'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'
import { collect } from '../helpers/async.js'

/**
 * Issue #15, item 3: an event appended through the v2 API (multiStreamAppend) has its metadata
 * stored as record properties; every v1 read (readStream, readAll, subscriptions) synthesizes the
 * metadata from them with `$schema.name` (the event type) and `$schema.format` ("Json") added
 * (server src/KurrentDB.Core/Data/EventRecord.cs SynthesizeMetadataFromProperties). The adapter
 * strips exactly those keys, so an event reads the same whichever append wrote it and whichever
 * store holds it.
 */

const ID_1 = '0190a1b2-0000-7000-8000-000000000001'
const ID_2 = '0190a1b2-0000-7000-8000-000000000002'

t.test('the scripted client: v2-written metadata comes back from v1 reads with $schema.name and $schema.format, v1-written as written', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  await client.multiStreamAppend([{ streamName: 'v2-1', expectedState: 'no_stream', events: [jsonEvent({ id: ID_1, type: 'Paid', data: { n: 1 }, metadata: { z: '2', a: '1' } })] }])
  await client.appendToStream('v1-1', [jsonEvent({ id: ID_2, type: 'Paid', data: { n: 2 }, metadata: { z: '2', a: '1' } })], { streamState: 'no_stream' })

  const synthesized = { a: '1', z: '2', '$schema.name': 'Paid', '$schema.format': 'Json' }
  const [fromStream] = await collectRaw(client.readStream('v2-1'))
  t.same(fromStream!.event!.metadata, synthesized, 'readStream')
  // google-protobuf writes the map in key order; the server adds its keys after them.
  t.same(Object.keys(fromStream!.event!.metadata as object), ['a', 'z', '$schema.name', '$schema.format'], 'key order as the server answers')
  const all = await collectRaw(client.readAll())
  t.same(all.map((r) => r.event!.metadata), [synthesized, { z: '2', a: '1' }], 'readAll: v2 synthesized, v1 as written')

  const subscription = client.subscribeToAll({ fromPosition: 'start' })
  const seen: unknown[] = []
  for await (const resolved of subscription as unknown as AsyncIterable<{ event: { metadata: unknown } }>) {
    seen.push(resolved.event.metadata)
    if (seen.length === 2) break
  }
  await subscription.unsubscribe()
  t.same(seen, [synthesized, { z: '2', a: '1' }], 'subscription')

  // Even with no metadata given, a v2 event reads back with the server's two keys.
  await client.multiStreamAppend([{ streamName: 'v2-2', expectedState: 'no_stream', events: [jsonEvent({ type: 'Bare', data: {} })] }])
  const [bare] = await collectRaw(client.readStream('v2-2'))
  t.same(bare!.event!.metadata, { '$schema.name': 'Bare', '$schema.format': 'Json' })
})

/** The same appends, in the same order, through append and appendMany. */
async function appendTheSame(store: EventStore): Promise<void> {
  const metadata = { actor: 'tester', correlationId: 'c-1' }
  await store.append('person-1', [{ id: ID_1, type: 'Paid', data: { amount: '100.00' }, metadata }], 'no_stream')
  await store.appendMany([
    { stream: 'person-1', events: [{ id: '0190a1b2-0000-7000-8000-000000000003', type: 'Paid', data: { amount: '200.00' }, metadata }], expectedRevision: 0n },
    { stream: 'submission-1', events: [{ id: '0190a1b2-0000-7000-8000-000000000004', type: 'Recorded', data: { lines: 1 }, metadata }], expectedRevision: 'no_stream' },
  ])
  await store.append('person-1', [{ id: '0190a1b2-0000-7000-8000-000000000005', type: 'Paid', data: { amount: '300.00' }, metadata }], 1n)
}

/** An export line with what differs by store and clock by nature replaced: positions by their
 * order, recordedAt (the store's clock) by a mark. */
function comparable(t: Test, events: RecordedEvent[]): unknown[] {
  return events.map((e, i) => {
    const line = JSON.parse(exportLine(e)) as { position: string; recordedAt: string; metadata: Record<string, string> }
    t.equal(line.metadata.recordedAt, line.recordedAt, 'recordedAt in the metadata is the event’s')
    return { ...line, position: i, recordedAt: 'T', metadata: { ...line.metadata, recordedAt: 'T' } }
  })
}

t.test('the audit export of the same appends is the same on SQLite and on KurrentDB (atomic appendMany through the v2 API)', async (t) => {
  const sqlite = openSqliteEventStore({ path: ':memory:' })
  t.teardown(() => sqlite.close())
  const client = new FakeKurrentClient({ systemEvents: false })
  const kurrent = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => kurrent.close())
  await appendTheSame(sqlite)
  await appendTheSame(kurrent)
  t.ok(client.events.some((e) => e.propertyMetadata), 'appendMany went through multiStreamAppend (metadata as record properties)')

  const fromSqlite = await collect(sqlite.readAll())
  const fromKurrent = await collect(kurrent.readAll())
  t.equal(fromKurrent.length, 4)
  t.same(comparable(t, fromKurrent), comparable(t, fromSqlite), 'the same lines but for positions and the clock')
  // Byte for byte too: the export writes metadata keys in code-unit order, whichever order a store
  // keeps them in (SQLite as written, the v2 API's properties sorted).
  const bytes = (events: RecordedEvent[]) => events.map((e, i) => exportLine(e).replaceAll(e.recordedAt, 'T').replace(`"position":"${e.position}"`, `"position":"${i}"`))
  t.same(bytes(fromKurrent), bytes(fromSqlite), 'the same export bytes but for positions and the clock')
  for (const e of fromKurrent) t.notOk(Object.keys(e.metadata).some((k) => k.startsWith('$')), `no server key in ${e.stream}/${e.revision}`)
  t.same(
    fromKurrent.map((e) => e.metadata.hash),
    fromSqlite.map((e) => e.metadata.hash),
    'the hash chains agree',
  )
  t.same((await collect(kurrent.readStream('submission-1'))).map((e) => e.metadata), fromKurrent.filter((e) => e.stream === 'submission-1').map((e) => e.metadata), 'readStream reads the same metadata')

  const controller = new AbortController()
  const delivered: RecordedEvent[] = []
  for await (const e of kurrent.subscribeAll({ signal: controller.signal, streamPrefixes: ['person-', 'submission-'] })) {
    delivered.push(e)
    if (delivered.length === 4) controller.abort()
  }
  t.same(delivered.map((e) => e.metadata), fromKurrent.map((e) => e.metadata), 'a subscription delivers the same metadata')
})

async function collectRaw<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of iterable) out.push(x)
  return out
}
