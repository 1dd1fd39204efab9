/**
 * The SQLite store's faults (issue #14), in process: its file deleted or replaced under it (the
 * fault is sticky, every acknowledged append survives), its `-wal` deleted (the main file gets every
 * acknowledged append at once, as a crash right after would find it), a full disk (SQLITE_FULL
 * through `PRAGMA max_page_count`), a read-only connection (SQLITE_READONLY through `PRAGMA
 * query_only`), and recordedAt that never goes back.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import t, { type Test } from 'tap'
import { StoreUnavailableError, type NewEvent } from '../../src/eventstore/port.js'
import { FILE_CHECK_INTERVAL_MS } from '../../src/eventstore/sqlite/file-guard.js'
import { openSqliteEventStore, type SqliteEventStore, type SqliteStoreLogger } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { collect } from '../helpers/async.js'

/** Longest a test waits for the store's recovery log line, milliseconds. */
const RECOVERY_WAIT_MS = 10_000

const events = (n: number, start = 0): NewEvent[] => Array.from({ length: n }, (_, i) => ({ type: 'Tested', data: { n: start + i } }))

/** A logger that keeps its lines. */
function recordingLogger() {
  const lines: { level: 'error' | 'warn'; obj: Record<string, unknown>; msg: string }[] = []
  const logger: SqliteStoreLogger = {
    error: (obj, msg) => lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg: msg ?? '' }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg: msg ?? '' }),
  }
  return { lines, logger }
}

/** Resolves once `predicate` holds (checked every 10 ms); rejects after `ms`. */
async function until(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The store's append, settled: its result or its error. */
const settle = <T>(p: Promise<T>): Promise<{ ok: T } | { error: unknown }> => p.then((ok) => ({ ok }), (error: unknown) => ({ error }))

/** The `reason` of the StoreUnavailableError `p` rejects with ('resolved' when it resolves, 'other'
 * for another error). */
const reasonOf = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (error: unknown) => (error instanceof StoreUnavailableError ? (error.reason ?? 'none') : 'other'),
  )

/** The `n` fields of every event in the log at `file` (opened read-only by a fresh connection). */
function numbersIn(file: string): number[] {
  const db = new Database(file, { readonly: true })
  try {
    return db
      .prepare<[], { data: string }>('SELECT data FROM events ORDER BY position')
      .all()
      .map((r) => (JSON.parse(r.data) as { n: number }).n)
  } finally {
    db.close()
  }
}

function openStore(tt: Test, file: string, logger?: SqliteStoreLogger): SqliteEventStore {
  const store = openSqliteEventStore({ path: file, ...(logger ? { logger } : {}) })
  tt.teardown(() => store.close())
  return store
}

t.test('the database file deleted under an open store: later appends refused, every acknowledged one restored', async (tt) => {
  const file = path.join(tt.testdir(), 'ledger.sqlite')
  const { lines, logger } = recordingLogger()
  const store = openStore(tt, file, logger)
  // Given three acknowledged appends (n = 0, 1, 2) …
  for (let i = 0; i < 3; i += 1) await store.append(`s-${i}`, events(1, i), 'no_stream')
  tt.equal(store.fault(), undefined, 'no fault while the file is there')

  // … when the file is deleted and two more appends come (n = 3, 4) …
  fs.unlinkSync(file)
  const later = await Promise.all([settle(store.append('s-3', events(1, 3), 'no_stream')), settle(store.append('s-4', events(1, 4), 'no_stream'))])

  // … then both are refused with the reason, and the store says so until it is restarted.
  for (const outcome of later) {
    tt.ok('error' in outcome && outcome.error instanceof StoreUnavailableError, 'refused as unavailable')
    const error = (outcome as { error: StoreUnavailableError }).error
    tt.equal(error.reason, 'store-file-replaced')
    tt.match(error.message, file, 'the message names the path')
  }
  tt.equal(store.fault()?.reason, 'store-file-replaced')
  tt.equal(await reasonOf(store.append('s-5', events(1, 5), 'no_stream')), 'store-file-replaced', 'and every later append')

  // One error line, after the file is back: it names the path and says to restart.
  await until(() => lines.length > 0, RECOVERY_WAIT_MS, 'the recovery log line')
  tt.equal(lines.length, 1, 'one line')
  tt.equal(lines[0]!.level, 'error')
  tt.match(lines[0]!.msg, file)
  tt.match(lines[0]!.msg, /restored/)
  tt.match(lines[0]!.msg, /restart the service/)
  tt.ok(fs.existsSync(file), 'the file is back at the path')

  // After closing and opening the path again, every acknowledged append is there, nothing else.
  await store.close()
  tt.same(numbersIn(file), [0, 1, 2], 'the three acknowledged appends, and none of the refused')
  const reopened = openStore(tt, file)
  tt.same((await collect(reopened.readAll())).map((e) => (e.data as { n: number }).n), [0, 1, 2], 'the store reads them')
  await reopened.append('s-6', events(1, 6), 'no_stream')
  tt.equal(reopened.fault(), undefined, 'the reopened store works')
})

t.test('a deletion is noticed with no writes (the periodic check)', async (tt) => {
  const file = path.join(tt.testdir(), 'ledger.sqlite')
  const { lines, logger } = recordingLogger()
  const store = openStore(tt, file, logger)
  await store.append('s-0', events(1), 'no_stream')
  fs.unlinkSync(file)
  // Given no append at all, within a few check intervals the store reports the fault.
  await until(() => store.fault() !== undefined, FILE_CHECK_INTERVAL_MS * 5, 'the periodic check')
  tt.equal(store.fault()?.reason, 'store-file-replaced')
  tt.match(store.fault()?.detail, file, 'the detail names the path')
  await until(() => lines.length > 0, RECOVERY_WAIT_MS, 'the recovery log line')
  await store.close()
  tt.same(numbersIn(file), [0], 'restored')
})

t.test('only the -wal deleted: the main file holds every acknowledged append at once', async (tt) => {
  const dir = tt.testdir()
  const file = path.join(dir, 'ledger.sqlite')
  const { lines, logger } = recordingLogger()
  const store = openStore(tt, file, logger)
  for (let i = 0; i < 4; i += 1) await store.append(`s-${i}`, events(1, i), 'no_stream')
  tt.ok(fs.existsSync(`${file}-wal`), 'the WAL exists (WAL mode)')
  // The acknowledged appends are in the WAL only (no checkpoint yet): the main file alone lacks them.
  fs.unlinkSync(`${file}-wal`)

  const after = await settle(store.append('s-9', events(1, 9), 'no_stream'))
  tt.ok('error' in after && (after.error as StoreUnavailableError).reason === 'store-file-replaced', 'refused: store-file-replaced')
  tt.match((after as { error: Error }).error.message, `${file}-wal`, 'naming the WAL')
  tt.equal(store.fault()?.reason, 'store-file-replaced')
  await until(() => lines.length > 0, RECOVERY_WAIT_MS, 'the recovery log line')
  tt.match(lines[0]!.msg, /copied into/)
  tt.match(lines[0]!.msg, /restart the service/)

  // What a crash now would leave: the main file alone (copied while the store is still open).
  const crashDir = path.join(dir, 'crash')
  fs.mkdirSync(crashDir)
  fs.copyFileSync(file, path.join(crashDir, 'ledger.sqlite'))
  tt.same(numbersIn(path.join(crashDir, 'ledger.sqlite')), [0, 1, 2, 3], 'every acknowledged append is in the main file')

  await store.close()
  tt.same(numbersIn(file), [0, 1, 2, 3], 'and after a close and reopen')
})

t.test('another file put at the path: left alone, ours saved beside it', async (tt) => {
  const dir = tt.testdir()
  const file = path.join(dir, 'ledger.sqlite')
  const { lines, logger } = recordingLogger()
  const store = openStore(tt, file, logger)
  for (let i = 0; i < 2; i += 1) await store.append(`s-${i}`, events(1, i), 'no_stream')
  // Given another database moved over the path (rename: a new inode there) …
  const other = path.join(dir, 'other.sqlite')
  const otherDb = new Database(other)
  otherDb.exec("CREATE TABLE note (text TEXT); INSERT INTO note VALUES ('not the ledger')")
  otherDb.close()
  fs.renameSync(other, file)

  // … the next append is refused and the file at the path is not touched.
  tt.equal(await reasonOf(store.append('s-2', events(1, 2), 'no_stream')), 'store-file-replaced')
  await until(() => lines.length > 0, RECOVERY_WAIT_MS, 'the recovery log line')
  const orphaned = fs.readdirSync(dir).filter((f) => f.startsWith('ledger.sqlite.orphaned-') && !f.endsWith('-wal') && !f.endsWith('-shm'))
  tt.equal(orphaned.length, 1, 'one saved copy beside it')
  tt.match(lines[0]!.msg, path.join(dir, orphaned[0]!), 'the line names the copy')
  tt.match(lines[0]!.msg, /left alone/)
  tt.match(lines[0]!.msg, new RegExp(`move .* to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'and how to put it back')
  tt.notOk(fs.existsSync(`${file}-wal`), 'our WAL is not left beside the other file (it would be replayed into it)')
  await store.close()
  const at = new Database(file, { readonly: true })
  tt.same(at.prepare('SELECT text FROM note').all(), [{ text: 'not the ledger' }], 'the file at the path is untouched')
  at.close()
  tt.same(numbersIn(path.join(dir, orphaned[0]!)), [0, 1], 'the saved copy has every acknowledged append')
  tt.match(lines[0]!.msg, /DECIDE BEFORE RESTARTING/, 'the line says to choose the file before a restart (a restart on the other file would split the ledger)')

  // When a store opens the path again, it warns of the saved copy beside it.
  fs.rmSync(file)
  const again = recordingLogger()
  const reopened = openStore(tt, file, again.logger)
  tt.equal(again.lines.length, 1, 'one warning at open')
  tt.equal(again.lines[0]!.level, 'warn')
  tt.match(again.lines[0]!.msg, orphaned[0]!, 'naming the saved copy')
  tt.match(again.lines[0]!.msg, /may hold acknowledged writes this file lacks/)
  await reopened.close()
})

t.test('a symbolic link at the path: the -wal beside its target is the one watched', async (tt) => {
  // Given LEDGER_SQLITE_PATH is a link to the real file (SQLite keeps real.sqlite-wal beside the target)
  const dir = tt.testdir()
  const real = path.join(dir, 'real.sqlite')
  const link = path.join(dir, 'link.sqlite')
  fs.writeFileSync(real, '')
  fs.symlinkSync(real, link)
  const store = openStore(tt, link)
  for (let i = 0; i < 3; i += 1) await store.append(`s-${i}`, events(1, i), 'no_stream')
  tt.ok(fs.existsSync(`${real}-wal`), 'the WAL is beside the target')
  tt.notOk(fs.existsSync(`${link}-wal`), 'not beside the link')
  // When the real -wal is deleted
  fs.unlinkSync(`${real}-wal`)
  // Then the next append is refused, and every acknowledged one is in the file
  tt.equal(await reasonOf(store.append('s-9', events(1, 9), 'no_stream')), 'store-file-replaced')
  await until(() => numbersIn(real).length === 3, RECOVERY_WAIT_MS, 'the WAL copied into the file')
  tt.same(numbersIn(real), [0, 1, 2])
})

t.test('a full disk (SQLITE_FULL): 503 reason disk-full naming the path, until a write succeeds', async (tt) => {
  const file = path.join(tt.testdir(), 'ledger.sqlite')
  const store = openStore(tt, file)
  await store.append('s-0', events(1), 'no_stream')
  // The database may not grow by a page: a real SQLITE_FULL for any append that needs one.
  const pages = store.db.pragma('page_count', { simple: true }) as number
  store.db.pragma(`max_page_count = ${pages}`)
  const big: NewEvent[] = [{ type: 'Tested', data: { n: 1, padding: 'x'.repeat(64 * 1024) } }]
  const error = await store.append('s-1', big, 'no_stream').then(
    () => undefined,
    (e: unknown) => e,
  )
  tt.ok(error instanceof StoreUnavailableError, 'unavailable')
  tt.equal((error as StoreUnavailableError).reason, 'disk-full')
  tt.match((error as Error).message, /disk .*full/)
  tt.match((error as Error).message, file, 'names the path')
  tt.equal(store.fault()?.reason, 'disk-full', 'the store reports it')
  tt.same(numbersIn(file), [0], 'nothing of it written')
  // Reported for its Retry-After (30 s) only: a service kept out of traffic for not being ready would
  // never write again to clear it. 31 s later (monotonic clock moved on) it is no longer reported.
  const now = performance.now
  performance.now = () => now.call(performance) + 31_000
  try {
    tt.equal(store.fault(), undefined, 'no longer reported 31 s after the write that met it')
  } finally {
    performance.now = now
  }
  tt.equal(store.fault()?.reason, 'disk-full', 'reported again within the 30 s')
  // When space is back, the next write succeeds and the fault is gone.
  store.db.pragma('max_page_count = 1073741823')
  await store.append('s-1', big, 'no_stream')
  tt.equal(store.fault(), undefined, 'cleared by a write that succeeded')
})

t.test('a read-only database (SQLITE_READONLY): 503 reason store-read-only naming the path', async (tt) => {
  const file = path.join(tt.testdir(), 'ledger.sqlite')
  const store = openStore(tt, file)
  store.db.pragma('query_only = 1') // every write fails with SQLITE_READONLY
  const error = await store.append('s-0', events(1), 'no_stream').then(
    () => undefined,
    (e: unknown) => e,
  )
  tt.equal((error as StoreUnavailableError).reason, 'store-read-only')
  tt.match((error as Error).message, file)
  tt.match((error as Error).message, /read-only/)
  tt.equal(store.fault()?.reason, 'store-read-only')
  store.db.pragma('query_only = 0')
  await store.append('s-0', events(1), 'no_stream')
  tt.equal(store.fault(), undefined)
})

t.test('recordedAt never goes back: the later of the clock and the last recorded instant', async (tt) => {
  const file = path.join(tt.testdir(), 'ledger.sqlite')
  const store = openStore(tt, file)
  await store.append('s-0', events(1), 'no_stream')
  // Given the log's last event recorded an hour ahead of the clock (as after a step back) …
  const ahead = new Date(Date.now() + 3_600_000).toISOString()
  store.db.prepare('UPDATE events SET recorded_at = ? WHERE position = 1').run(ahead)
  // … the next appends are recorded at that instant, not before it.
  await store.append('s-1', events(2, 1), 'no_stream')
  const log = await collect(store.readAll())
  tt.same(
    log.slice(1).map((e) => e.recordedAt),
    [ahead, ahead],
    'recorded at the last instant',
  )
  tt.same(
    log.slice(1).map((e) => e.metadata.recordedAt),
    [ahead, ahead],
    'metadata.recordedAt too',
  )
})

t.test('the write lock held by another connection: appends wait without blocking, then are written in order', async (tt) => {
  const file = path.join(tt.testdir(), 'ledger.sqlite')
  const store = openStore(tt, file)
  await store.append('s-0', events(1), 'no_stream')
  const other = new Database(file)
  tt.teardown(() => {
    if (other.open) other.close()
  })
  other.exec('BEGIN IMMEDIATE') // holds the write lock
  // Two appends, queued in two turns of the event loop (two groups).
  const first = store.append('s-1', events(1, 1), 'no_stream')
  await new Promise((resolve) => setImmediate(resolve))
  const second = store.append('s-2', events(1, 2), 'no_stream')
  // The lock is released from a timer: it can only fire if the event loop is free while the
  // appends wait (a synchronous busy wait would hold it until SQLite gives up).
  let releasedBeforeWritten = false
  setTimeout(() => {
    other.exec('ROLLBACK')
    releasedBeforeWritten = true
  }, 100)
  const [a, b] = await Promise.all([first, second])
  tt.ok(releasedBeforeWritten, 'the timer ran while the appends waited')
  tt.same([a.position, b.position], [2n, 3n], 'both written, in the order they were made')
  tt.same(numbersIn(file), [0, 1, 2])
})
