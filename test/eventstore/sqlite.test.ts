/**
 * The SQLite event store: the conformance suite (in memory and on a file, with a page size of 3 so
 * reads cross pages), then what only SQLite has: pragmas, the file surviving a reopen, a second
 * process-like store seen through polling, one transaction per appendMany, error translation.
 */
import path from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import {
  StoreUnavailableError,
  WrongExpectedRevisionError,
  type NewEvent,
} from '../../src/eventstore/port.js'
import {
  WRITE_BUSY_TIMEOUT_MS,
  noStreamRevision,
  openSqliteEventStore,
  type SqliteEventStore,
} from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { StartRefusedError } from '../../src/startup-refused.js'
import { runEventStoreConformance } from './conformance.js'
import { collect, within } from '../helpers/async.js'

/** Small page, so the conformance suite's 10-event reads take 4 pages (3 + 3 + 3 + 1). */
const testPageSize = 3
/** Upper bound for any single wait on a subscription in these tests (ms). */
const stepTimeoutMs = 5_000
/** Poll interval for the cross-store test: short, so the poll path is what delivers. */
const fastPollMs = 20
/** Poll interval long enough that only the in-process notification can deliver within the test. */
const neverPollMs = 600_000
/** Write-lock bound used to make a locked database fail fast (ms). */
const shortWriteLockWaitMs = 50
/** Events in the "one big appendMany" tests. */
const bigBatch = 1_000

function events(n: number, start = 0): NewEvent[] {
  return Array.from({ length: n }, (_, i) => ({ type: 'Tested', data: { n: start + i } }))
}



/** Opens a store and closes it when the test `tt` ends. */
function openFor(tt: Test, options: Parameters<typeof openSqliteEventStore>[0]): SqliteEventStore {
  const store = openSqliteEventStore(options)
  tt.teardown(() => store.close())
  return store
}

void runEventStoreConformance(t, 'conformance: sqlite :memory:', async () =>
  openSqliteEventStore({ path: ':memory:', pageSize: testPageSize }),
)

t.test('conformance: sqlite file', async (tt) => {
  const dir = tt.testdir()
  // Every case opens its own store on the same file, as separate processes would.
  await runEventStoreConformance(tt, 'sqlite file', async () =>
    openSqliteEventStore({ path: path.join(dir, 'events.db'), pageSize: testPageSize }),
  )
})

t.test('a fresh log: positions from 1, empty appends', async (tt) => {
  const store = openFor(tt, { path: ':memory:' })
  tt.equal(await store.headPosition(), null, 'empty log has no head')
  tt.same(await collect(store.readAll()), [], 'nothing to read')

  const none = await store.append('person-1', [], 'no_stream')
  tt.same(none, { nextExpectedRevision: noStreamRevision, position: 0n }, 'empty append on an empty log')
  tt.equal(noStreamRevision, -1n)
  tt.same(await store.appendMany([]), { position: 0n, streams: [] }, 'appendMany of nothing')

  const a = await store.append('person-1', events(2), 'no_stream') // positions 1, 2
  const b = await store.append('transfer-1', events(1), 'no_stream') // position 3
  tt.same(a, { nextExpectedRevision: 1n, position: 2n })
  tt.same(b, { nextExpectedRevision: 0n, position: 3n })
  tt.equal(await store.headPosition(), 3n)
  tt.same((await collect(store.readAll())).map((e) => e.position), [1n, 2n, 3n], 'contiguous from 1')

  tt.same(await store.append('person-1', [], 1n), { nextExpectedRevision: 1n, position: 2n })
  tt.same(await store.append('person-2', [], 'any'), { nextExpectedRevision: -1n, position: 3n }, 'missing: head')
  tt.same(
    await store.appendMany([
      { stream: 'person-1', events: [], expectedRevision: 1n },
      { stream: 'transfer-1', events: [], expectedRevision: 0n },
    ]),
    {
      position: 3n,
      streams: [
        { stream: 'person-1', nextExpectedRevision: 1n },
        { stream: 'transfer-1', nextExpectedRevision: 0n },
      ],
    },
    'appendMany writing nothing: the largest of the streams positions',
  )
  const many = await store.appendMany([
    { stream: 'transfer-1', events: events(2), expectedRevision: 0n }, // positions 4, 5
    { stream: 'person-3', events: events(1), expectedRevision: 'no_stream' }, // position 6
  ])
  tt.same(many, {
    position: 6n,
    streams: [
      { stream: 'transfer-1', nextExpectedRevision: 2n },
      { stream: 'person-3', nextExpectedRevision: 0n },
    ],
  })
  tt.same(
    (await collect(store.readAll({ fromPosition: 4n }))).map((e) => [e.stream, e.revision]),
    [
      ['transfer-1', 1n],
      ['transfer-1', 2n],
      ['person-3', 0n],
    ],
    'appendMany writes in the order given',
  )
})

t.test('positions beyond 2^53 stay exact', async (tt) => {
  const store = openFor(tt, { path: ':memory:' })
  const high = 9007199254741002n // 2^53 + 10 = 9007199254740992 + 10
  tt.equal(high, 2n ** 53n + 10n)
  store.db
    .prepare(
      `INSERT INTO events (position, id, stream, revision, type, data, metadata, recorded_at)
       VALUES (?, ?, 'seed-1', 0, 'Seed', '{}', '{}', '2025-01-01T00:00:00.000Z')`,
    )
    .run(high, '0190b6f0-0000-7000-8000-000000000001')
  const result = await store.append('seed-1', events(1), 0n)
  tt.equal(result.position, 9007199254741003n, 'max + 1 computed exactly')
  tt.equal(await store.headPosition(), 9007199254741003n)
  const [read] = await collect(store.readAll({ fromPosition: 9007199254741003n }))
  tt.equal(read?.position, 9007199254741003n, 'read back exactly')
  tt.equal(read?.revision, 1n)
})

t.test('pragmas on a file database', async (tt) => {
  const store = openFor(tt, { path: path.join(tt.testdir(), 'events.db') })
  tt.equal(store.db.pragma('journal_mode', { simple: true }), 'wal', 'WAL journal')
  tt.equal(store.db.pragma('synchronous', { simple: true }), 2, 'synchronous = 2 (FULL)')
  tt.equal(store.db.pragma('busy_timeout', { simple: true }), WRITE_BUSY_TIMEOUT_MS, 'a short synchronous busy wait (retries are asynchronous)')
  tt.equal(WRITE_BUSY_TIMEOUT_MS, 5)
  tt.equal(store.db.pragma('foreign_keys', { simple: true }), 1, 'foreign keys on')
})

t.test('the parent directory is created', async (tt) => {
  const file = path.join(tt.testdir(), 'nested', 'deeper', 'events.db')
  const store = openFor(tt, { path: file })
  await store.append('person-1', events(1), 'no_stream')
  tt.equal(await store.headPosition(), 1n)
})

t.test('data survives close and reopen', async (tt) => {
  const file = path.join(tt.testdir(), 'events.db')
  const first = openSqliteEventStore({ path: file })
  await first.append('person-1', events(2), 'no_stream')
  await first.append('submission-1', [{ type: 'SubmissionAccepted', data: { hash: 'abc' } }], 'no_stream')
  const before = await collect(first.readAll())
  await first.close()

  const second = openFor(tt, { path: file })
  const after = await collect(second.readAll())
  tt.same(after, before, 'the same events, ids, positions, metadata')
  tt.equal(after.length, 3)
  tt.equal(await second.headPosition(), 3n)
  const next = await second.append('person-1', events(1, 2), 1n)
  tt.same(next, { nextExpectedRevision: 2n, position: 4n }, 'revisions and positions continue')
})

t.test('a subscription sees appends of another store on the same file (polling)', async (tt) => {
  const file = path.join(tt.testdir(), 'events.db')
  const reader = openFor(tt, { path: file, pollMs: fastPollMs })
  const writer = openFor(tt, { path: file })
  await writer.append('person-1', events(1), 'no_stream') // position 1
  const controller = new AbortController()
  tt.teardown(() => controller.abort())
  const iterator = reader.subscribeAll({ signal: controller.signal })[Symbol.asyncIterator]()
  const first = await within(iterator.next(), stepTimeoutMs, 'history')
  tt.equal(first.done, false)
  tt.equal(first.value?.position, 1n)

  const pending = within(iterator.next(), stepTimeoutMs, 'an event written by the other store')
  await writer.append('person-1', events(1, 1), 0n) // position 2: the reader is not notified
  const second = await pending
  tt.equal(second.value?.position, 2n, 'seen through polling')
  tt.same(second.value?.data, { n: 1 })
  controller.abort()
  tt.equal((await within(iterator.next(), stepTimeoutMs, 'end')).done, true)
})

t.test('an in-process append wakes a waiting subscription (no polling needed)', async (tt) => {
  const store = openFor(tt, { path: ':memory:', pollMs: neverPollMs })
  const controller = new AbortController()
  tt.teardown(() => controller.abort())
  const iterator = store.subscribeAll({ signal: controller.signal })[Symbol.asyncIterator]()
  const pending = within(iterator.next(), stepTimeoutMs, 'a notified event')
  await store.append('person-1', events(1), 'no_stream')
  const step = await pending
  tt.equal(step.value?.position, 1n, 'delivered long before the poll interval')
  controller.abort()
  tt.equal((await within(iterator.next(), stepTimeoutMs, 'end')).done, true)
})

t.test('close ends subscriptions and later calls fail as unavailable', async (tt) => {
  const store = openSqliteEventStore({ path: ':memory:', pollMs: neverPollMs })
  await store.append('person-1', events(1), 'no_stream')
  const waiting = store.subscribeAll({ afterPosition: 1n })[Symbol.asyncIterator]()
  const ended = waiting.next()
  await store.close()
  tt.equal((await within(ended, stepTimeoutMs, 'the subscription to end on close')).done, true)
  tt.equal(store.db.open, false, 'database closed')
  await tt.resolves(store.close(), 'close is idempotent')
  await tt.rejects(store.append('person-1', events(1), 'any'), StoreUnavailableError)
  await tt.rejects(store.headPosition(), StoreUnavailableError)
  await tt.rejects(collect(store.readAll()), StoreUnavailableError)
  tt.same(await collect(store.subscribeAll()), [], 'a subscription on a closed store ends at once')
})

t.test(`one appendMany of ${bigBatch} events is one transaction`, async (tt) => {
  const store = openFor(tt, { path: path.join(tt.testdir(), 'events.db') })

  const ok = await store.appendMany([{ stream: 'person-big', events: events(bigBatch), expectedRevision: 'no_stream' }])
  tt.same(ok, { position: 1000n, streams: [{ stream: 'person-big', nextExpectedRevision: 999n }] })
  const read = await collect(store.readStream('person-big'))
  tt.equal(read.length, bigBatch)
  tt.equal(read[999]?.position, 1000n)
  tt.equal(read[999]?.revision, 999n)
  tt.equal(new Set(read.map((e) => e.recordedAt)).size, 1, 'one transaction: one recordedAt')

  // The 1,000th event reuses the first one's id: the UNIQUE index rejects the last insert, after
  // 999 rows were inserted in the same transaction. All of them must be rolled back.
  const duplicateId = '0190b6f0-0000-7000-8000-0000000000aa'
  const failing = events(bigBatch).map((e, i) => (i === 0 || i === bigBatch - 1 ? { ...e, id: duplicateId } : e))
  await tt.rejects(
    store.appendMany([
      { stream: 'person-other', events: events(5), expectedRevision: 'no_stream' },
      { stream: 'person-fail', events: failing, expectedRevision: 'no_stream' },
    ]),
    { message: /event id is already in the log/, cause: { code: 'SQLITE_CONSTRAINT_UNIQUE' } },
  )
  tt.equal(await store.headPosition(), 1000n, 'log head unchanged')
  tt.same(await collect(store.readStream('person-other')), [], 'first stream rolled back')
  tt.same(await collect(store.readStream('person-fail')), [], 'no event of the failed batch')
  const rawCount = store.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }
  tt.equal(rawCount.n, bigBatch, 'only the first batch is in the table')

  const next = await store.append('person-next', events(1), 'no_stream')
  tt.equal(next.position, 1001n, 'positions continue without a gap')
})

t.test('metadata: recordedAt set by the store, given keys kept', async (tt) => {
  const store = openFor(tt, { path: ':memory:' })
  await store.append(
    'person-1',
    [{ type: 'Tested', data: {}, metadata: { recordedAt: '1999-01-01T00:00:00.000Z', actor: 'officer-7' } }],
    'no_stream',
  )
  const [event] = await collect(store.readAll())
  tt.equal(event?.metadata.recordedAt, event?.recordedAt, 'metadata.recordedAt is the recorded instant')
  tt.not(event?.recordedAt, '1999-01-01T00:00:00.000Z', 'a given recordedAt is overwritten')
  tt.equal(event?.metadata.actor, 'officer-7')
})

t.test('default ids are UUID v7, increasing in append order', async (tt) => {
  const store = openFor(tt, { path: ':memory:' })
  await store.append('person-1', events(50), 'no_stream')
  const ids = (await collect(store.readAll())).map((e) => e.id)
  tt.same([...ids].sort(), ids, 'ids sort like positions (the id index grows at its end)')
  tt.ok(ids.every((id) => id[14] === '7'), 'version 7')
})

t.test('a locked database is StoreUnavailableError', async (tt) => {
  const file = path.join(tt.testdir(), 'events.db')
  const store = openFor(tt, { path: file, writeLockWaitMs: shortWriteLockWaitMs }) // fail fast instead of waiting 5 s
  await store.append('person-1', events(1), 'no_stream')
  const other = new Database(file)
  tt.teardown(() => {
    if (other.open) other.close()
  })
  other.exec('BEGIN IMMEDIATE') // holds the write lock
  const error = await store.append('person-1', events(1), 0n).then(
    () => undefined,
    (e: unknown) => e,
  )
  tt.ok(error instanceof StoreUnavailableError, 'busy becomes unavailable')
  tt.equal((error as StoreUnavailableError).retryAfterSeconds, 1)
  tt.equal((error as StoreUnavailableError).reason, 'store-busy', 'the reason says so')
  tt.equal((await collect(store.readAll())).length, 1, 'reads still work under a writer (WAL)')
  other.exec('ROLLBACK')
  other.close()
  tt.same(await store.append('person-1', events(1), 0n), { nextExpectedRevision: 1n, position: 2n }, 'works again')
})

t.test('malformed requests are rejected before anything is written', async (tt) => {
  const store = openFor(tt, { path: ':memory:' })
  tt.throws(() => openSqliteEventStore({ path: ':memory:', pageSize: 0 }), RangeError)
  tt.throws(() => openSqliteEventStore({ path: ':memory:', pollMs: -1 }), RangeError)
  tt.throws(() => openSqliteEventStore({ path: '' }), RangeError, 'no anonymous temp database')
  await tt.rejects(store.append('person-1', [{ type: '', data: {} }], 'any'), TypeError, 'empty type')
  await tt.rejects(store.append('', events(1), 'any'), TypeError, 'empty stream name')
  await tt.rejects(store.append('person-1', [{ id: 'not-a-uuid', type: 'T', data: {} }], 'any'), TypeError)
  await tt.rejects(store.append('person-1', [{ type: 'T', data: undefined }], 'any'), TypeError, 'no data')
  await tt.rejects(store.append('person-1', [{ type: 'T', data: { n: 1n } }], 'any'), TypeError, 'bigint data')
  await tt.rejects(collect(store.readAll({ maxCount: -1 })), RangeError)
  await tt.rejects(collect(store.readStream('person-1', { maxCount: 1.5 })), RangeError)
  tt.equal(await store.headPosition(), null, 'nothing written')
  await tt.rejects(store.append('person-1', events(1), 0n), WrongExpectedRevisionError)
})

t.test('the schema enforces one event per stream revision', async (tt) => {
  const store = openFor(tt, { path: ':memory:' })
  await store.append('person-1', events(1), 'no_stream')
  tt.throws(
    () =>
      store.db
        .prepare(
          `INSERT INTO events (position, id, stream, revision, type, data, metadata, recorded_at)
           VALUES (2, '0190b6f0-0000-7000-8000-000000000002', 'person-1', 0, 'T', '{}', '{}', 'x')`,
        )
        .run(),
    { code: 'SQLITE_CONSTRAINT_UNIQUE' },
  )
})

t.test('opening: an unopenable path refuses the start, a non-database file is an error', async (tt) => {
  const dir = tt.testdir({ 'not-a-db.db': 'this is not an SQLite database, just text. '.repeat(20) })
  // A directory cannot be opened as a database file: SQLITE_CANTOPEN, named with its cause.
  tt.throws(() => openSqliteEventStore({ path: dir }), StartRefusedError)
  tt.throws(() => openSqliteEventStore({ path: dir }), { message: new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is a directory`) })
  tt.throws(() => openSqliteEventStore({ path: dir }), { message: /point LEDGER_SQLITE_PATH at a file/ }, 'the cure for a directory is a file path, not permissions')
  tt.throws(() => openSqliteEventStore({ path: path.join(dir, 'not-a-db.db') }), { code: 'SQLITE_NOTADB' })
})

t.test('group commit: appends of one turn share a transaction; a failing one fails alone and writes nothing', async (tt) => {
  const store = openFor(tt, { path: ':memory:' })
  await store.append('a', events(1), 'no_stream')
  const fixedId = '0190a0e0-0000-7000-8000-000000000001'
  await store.append('dup-owner', [{ id: fixedId, type: 'T', data: {} }], 'no_stream')
  // Four appends issued in the same turn of the event loop: one commit.
  const results = await Promise.allSettled([
    store.append('b', events(2), 'no_stream'),
    store.append('a', events(1), 'no_stream'), // wrong: stream a exists
    store.append('c', [{ id: fixedId, type: 'T', data: {} }], 'no_stream'), // id already in the log
    store.appendMany([
      { stream: 'a', events: events(1), expectedRevision: 0n },
      { stream: 'd', events: events(1), expectedRevision: 'no_stream' },
    ]),
  ])
  tt.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'rejected', 'fulfilled'])
  tt.type((results[1] as PromiseRejectedResult).reason, WrongExpectedRevisionError)
  tt.match(String((results[2] as PromiseRejectedResult).reason), /event id is already in the log/)
  // 2 events before; then b (2 events: positions 3-4) and the appendMany (a, d: 5-6), in call order
  tt.equal((results[0] as PromiseFulfilledResult<{ position: bigint }>).value.position, 4n)
  tt.equal((results[3] as PromiseFulfilledResult<{ position: bigint }>).value.position, 6n)
  const log = await collect(store.readAll())
  tt.same(log.map((e) => [e.position, e.stream, e.revision]), [
    [1n, 'a', 0n],
    [2n, 'dup-owner', 0n],
    [3n, 'b', 0n],
    [4n, 'b', 1n],
    [5n, 'a', 1n],
    [6n, 'd', 0n],
  ], 'contiguous positions, nothing of the failed appends')
  tt.equal(new Set(log.slice(2).map((e) => e.recordedAt)).size <= 2, true, 'one group (recordedAt taken per append within it)')
})

t.test('group commit: metadata that is not JSON fails its own append only', async (tt) => {
  const store = openFor(tt, { path: ':memory:' })
  const results = await Promise.allSettled([
    store.append('ok-1', events(1), 'no_stream'),
    store.append('bad', [{ type: 'T', data: {}, metadata: { n: 1n } as never }], 'no_stream'),
    store.append('ok-2', events(1), 'no_stream'),
  ])
  tt.same(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'])
  tt.type((results[1] as PromiseRejectedResult).reason, TypeError)
  tt.same((await collect(store.readAll())).map((e) => e.stream), ['ok-1', 'ok-2'], 'the others are written, nothing of the bad one')
})

t.test('close writes the appends already queued for a group commit', async (tt) => {
  const file = path.join(tt.testdir(), 'close.sqlite')
  const store = openSqliteEventStore({ path: file })
  const appended = store.append('s', events(3), 'no_stream')
  await store.close()
  tt.equal((await appended).position, 3n, 'the append queued before close resolved')
  const reopened = openFor(tt, { path: file })
  tt.equal(await reopened.headPosition(), 3n, 'and is on disk')
  await tt.rejects(store.append('s', events(1), 2n), StoreUnavailableError, 'a closed store refuses later appends')
})
