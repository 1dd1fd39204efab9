import t, { type Test } from 'tap'
import { UnknownError, excludeSystemEvents } from '@kurrent/kurrentdb-client'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { encodePosition } from '../../src/eventstore/kurrentdb/mapping.js'
import { InvalidPositionError, type EventStore } from '../../src/eventstore/port.js'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { FakeKurrentClient, type FakeStoredEvent } from '../helpers/fake-kurrent-client.js'
import { collect } from '../helpers/async.js'
import { createTestLedger } from '../helpers/ledger.js'
import { problem } from '../helpers/http.js'

/**
 * Issue #15, item 4b: a `$all` read from a position that is not a record boundary. The server reads
 * the record at the position's commit part (AllReader.cs); inside a record that fails and the read
 * is refused (StorageReaderWorker.All.cs / .AllFiltered.cs InvalidPosition), which reaches the
 * Node client as its UnknownError through the Rust bridge. Past the head it reads nothing.
 */

async function withEvents(t: Test): Promise<{ client: FakeKurrentClient; store: KurrentDbEventStore; first: FakeStoredEvent }> {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  await store.append('s-1', [{ type: 'T', data: { n: 1 } }], 'no_stream')
  await store.append('s-2', [{ type: 'T', data: { n: 2 } }], 'no_stream')
  return { client, store, first: client.events[0]! }
}

t.test('the scripted client refuses a read from inside a record as the bridge does, and reads nothing past the head', async (t) => {
  const { client, first } = await withEvents(t)
  // A record is at least PREPARE_RECORD_OVERHEAD (88) bytes long, so one byte in is inside it.
  const inside = { commit: first.prepare + 1n, prepare: first.prepare + 1n }

  const filtered = await collectRaw(client.readAll({ fromPosition: inside, filter: excludeSystemEvents() })).catch((e: unknown) => e)
  t.type(filtered, UnknownError, 'filtered (as the adapter reads): the client UnknownError')
  t.match((filtered as Error).message, /^Unmapped gRPC error: code: Unknown error, message: Unexpected FilteredReadAllResult: InvalidPosition >> /)

  const unfiltered = await collectRaw(client.readAll({ fromPosition: inside })).catch((e: unknown) => e)
  t.type(unfiltered, UnknownError)
  t.equal((unfiltered as Error).message, 'Unmapped gRPC error: code: Client specified an invalid argument, message: Trying to read from an invalid position..')

  const fromEvent = await collectRaw(client.readAll({ fromPosition: { commit: first.commit, prepare: first.prepare } }))
  t.equal(fromEvent.length, 2, "from an event's own position: it and the next")
  const last = client.events.at(-1)!
  const insideLast = await collectRaw(client.readAll({ fromPosition: { commit: last.prepare + 1n, prepare: last.prepare + 1n } }))
  t.equal(insideLast.length, 0, 'inside the last record: past the last indexed position, nothing (AllReader.cs)')
  const pastHead = await collectRaw(client.readAll({ fromPosition: { commit: last.prepareEnd + 1_000n, prepare: last.prepareEnd + 1_000n } }))
  t.equal(pastHead.length, 0, 'past the head: nothing, no error')
})

t.test('the adapter: a position inside a record is InvalidPositionError; one with prepare > commit is refused before asking', async (t) => {
  const { client, store, first } = await withEvents(t)
  const inside = encodePosition({ commit: first.prepare + 1n, prepare: first.prepare + 1n })
  const err = await collect(store.readAll({ fromPosition: inside })).catch((e: unknown) => e)
  t.type(err, InvalidPositionError, 'the server refusal is the port error')
  t.equal((err as InvalidPositionError).position, inside)

  const reads = client.calls('readAll')
  // commit 5, prepare 6: 5 * 2^64 + 6 = 92233720368547758086
  const backwards = 92233720368547758086n
  t.equal(backwards, encodePosition({ commit: 5n, prepare: 6n }))
  const refused = await collect(store.readAll({ fromPosition: backwards })).catch((e: unknown) => e)
  t.type(refused, InvalidPositionError)
  t.match((refused as Error).message, /prepare part \(6\) is after its commit part \(5\)/)
  t.equal(client.calls('readAll'), reads, 'refused without a call to the server')

  const events = await collect(store.readAll({ fromPosition: encodePosition({ commit: first.commit, prepare: first.prepare }) }))
  t.equal(events.length, 2, "from an event's position: as before")
  t.same(await collect(store.readAll({ fromPosition: encodePosition({ commit: 1n << 62n, prepare: 0n }) })), [], 'past the head: an empty page')
  t.same(await collect(store.readAll({ fromPosition: encodePosition({ commit: 1n << 63n, prepare: 0n }) })), [], 'past any KurrentDB log: an empty page, not asked')
})

t.test('SQLite: every non-negative integer is a position; past the head reads nothing', async (t) => {
  const store: EventStore = openSqliteEventStore({ path: ':memory:' })
  t.teardown(() => store.close())
  await store.append('s-1', [{ type: 'T', data: { n: 1 } }], 'no_stream')
  await store.append('s-2', [{ type: 'T', data: { n: 2 } }], 'no_stream')
  t.same((await collect(store.readAll({ fromPosition: 0n }))).map((e) => e.position), [1n, 2n])
  t.same((await collect(store.readAll({ fromPosition: 2n }))).map((e) => e.position), [2n])
  t.same(await collect(store.readAll({ fromPosition: 3n })), [])
  t.same(await collect(store.readAll({ fromPosition: 1n << 127n })), [])
})

t.test('GET /v1/audit/events?fromPosition= inside a KurrentDB record is a 400 naming fromPosition, never a 500', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  await store.append('s-1', [{ type: 'T', data: { n: 1 } }], 'no_stream')
  // Inside the LAST record the server reads nothing (past its last indexed position): a later one.
  await store.append('s-2', [{ type: 'T', data: { n: 2 } }], 'no_stream')
  const ledger = await createTestLedger({ app: { store } })
  t.teardown(async () => {
    await ledger.close()
    await store.close()
  })
  const first = client.events[0]!
  const inside = encodePosition({ commit: first.prepare + 1n, prepare: first.prepare + 1n })
  const res = await ledger.app.inject({ method: 'GET', url: `/v1/audit/events?fromPosition=${inside}` })
  const body = problem(t, res, 400, 'inside a record')
  t.match(body.type, /invalid-position$/)
  t.match(body.detail, /fromPosition/)
  t.same(body.errors, [{ pointer: '/fromPosition', message: `${inside} is not the position of an event in the KurrentDB log`, in: 'querystring' }])

  const backwards = encodePosition({ commit: 5n, prepare: 6n })
  const refused = problem(t, await ledger.app.inject({ method: 'GET', url: `/v1/audit/events?fromPosition=${backwards}` }), 400, 'prepare > commit')
  t.match(refused.errors[0].message, /prepare part/)

  const ok = await ledger.app.inject({ method: 'GET', url: `/v1/audit/events?fromPosition=${encodePosition({ commit: first.commit, prepare: first.prepare })}` })
  t.equal(ok.statusCode, 200)
  t.equal(String(ok.body).trim().split('\n').length, 2)
})

async function collectRaw<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of iterable) out.push(x)
  return out
}
