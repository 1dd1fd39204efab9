import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { WRITE_LOCK_WAIT_MS } from '../src/eventstore/sqlite/sqlite-event-store.js'
import { collect } from './helpers/async.js'
import { json, personId, submission } from './helpers/http.js'
import { createTestLedger } from './helpers/ledger.js'
import { ROOT } from './helpers/service-process.js'

/**
 * The embedded store's faults through HTTP (issue #14): a full disk (a real SQLITE_FULL from
 * `PRAGMA max_page_count`) is a 503 problem and a /readyz with `reason: disk-full`, nothing
 * written; another process holding the write lock (a child with better-sqlite3 in `BEGIN
 * IMMEDIATE`) no longer freezes the event loop: /healthz is answered while a submission waits for
 * the lock, which is then written (201), or refused 503 `store-busy` past WRITE_LOCK_WAIT_MS.
 */

/** Posts submission `id` with `lines` lines (persons n, n+1, …). */
const post = (app: { inject: (o: object) => unknown }, id: string, n: number, lines = 1) =>
  (app.inject as (o: object) => Promise<import('./helpers/http.js').InjectedResponse>)({
    method: 'POST',
    url: '/v1/contribution-submissions',
    payload: submission({ submissionId: id, lines: Array.from({ length: lines }, (_, j) => ({ personId: personId(n + j), wage: '9000.00' })) }),
  })

/** Lines of the submission refused for a full disk: its events need more than the pages free. */
const BIG_SUBMISSION_LINES = 200

t.test('a full disk: 503 disk-full naming the path, /readyz disk-full, the log unchanged', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await createTestLedger({ file })
  t.teardown(ledger.close)
  t.equal((await post(ledger.app, 'DF-1', 1)).statusCode, 201, 'a first submission is written')
  const before = await ledger.allEvents()

  // Given the store's connection may not grow the file by a single page …
  const db = (ledger.store as unknown as { db: import('better-sqlite3').Database }).db
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`)
  // … a submission needing more room is refused with the reason.
  const refused = await post(ledger.app, 'DF-2', 2, BIG_SUBMISSION_LINES)
  t.equal(refused.statusCode, 503)
  t.match(refused.headers['content-type'], /^application\/problem\+json/)
  const problem = json(refused)
  t.equal(problem.reason, 'disk-full')
  t.match(problem.detail, /disk .*full/)
  t.match(problem.detail, file, 'naming the path')
  const ready = await ledger.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 503, '/readyz not ready')
  t.equal(json(ready).reason, 'disk-full', 'with the reason')
  t.same(await ledger.allEvents(), before, 'the log is unchanged by the refused request')

  // Room again: the next submission is written and the fault is gone.
  db.pragma('max_page_count = 1073741823')
  t.equal((await post(ledger.app, 'DF-2', 2, BIG_SUBMISSION_LINES)).statusCode, 201)
  t.equal(ledger.store.fault?.(), undefined, 'no fault after a write succeeded')
})

/** A child process holding the write lock of `file` (BEGIN IMMEDIATE) until `release()`. */
async function holdWriteLock(t: Test, file: string) {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const Database = require(${JSON.stringify(path.join(ROOT, 'node_modules/better-sqlite3'))});
       const db = new Database(${JSON.stringify(file)});
       db.exec('BEGIN IMMEDIATE');
       process.stdout.write('locked\\n');
       require('node:readline').createInterface({ input: process.stdin }).once('line', () => {
         db.exec('ROLLBACK'); db.close(); process.stdout.write('released\\n'); process.exit(0);
       });`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const lines = createInterface({ input: child.stdout! })
  const next = () => new Promise<string>((resolve) => lines.once('line', resolve))
  const locked = await next()
  if (locked !== 'locked') throw new Error(`the locker said ${locked}`)
  let held = true
  return {
    held: () => held,
    release: async () => {
      const released = next()
      child.stdin!.write('release\n')
      await released
      held = false
    },
  }
}

/** The app over a SQLite file for the log (read models in memory, so only the store's connection
 * meets the lock). */
async function fileLedger(t: Test, file: string) {
  const ledger = await createTestLedger({ file, readModelsInMemory: true })
  t.teardown(ledger.close)
  return ledger
}

t.test('another process holds the write lock: /healthz answered meanwhile, the submission written after the release', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const { app, store } = await fileLedger(t, file)
  t.equal((await post(app, 'BUSY-1', 1)).statusCode, 201)

  const lock = await holdWriteLock(t, file)
  let settled = false
  const pending = post(app, 'BUSY-2', 2).finally(() => (settled = true))
  // Time for the submission to reach the store and meet the lock. With a synchronous busy wait the
  // event loop would be frozen from here until the wait ends (the timer below fires only then).
  await new Promise((resolve) => setTimeout(resolve, 200))
  const health = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200, '/healthz answers')
  t.notOk(settled, 'while the submission still waits for the lock')
  t.ok(lock.held(), 'and the lock is still held')

  await lock.release()
  const written = await pending
  t.equal(written.statusCode, 201, 'the submission is written once the lock is released')
  t.equal((await collect(store.readAll())).filter((e) => e.stream.includes('BUSY-2')).length > 0, true, 'its events are in the log')
})

t.test(`the write lock held past WRITE_LOCK_WAIT_MS (${WRITE_LOCK_WAIT_MS} ms): 503 store-busy, the log unchanged`, async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const { app, store } = await fileLedger(t, file)
  t.equal((await post(app, 'BUSY-1', 1)).statusCode, 201)
  const before = await collect(store.readAll())

  const lock = await holdWriteLock(t, file)
  const refused = await post(app, 'BUSY-3', 3)
  t.ok(lock.held(), 'answered while the lock is still held')
  t.equal(refused.statusCode, 503)
  t.equal(json(refused).reason, 'store-busy')
  t.ok(Number(refused.headers['retry-after']) > 0, 'with Retry-After')
  t.same(await collect(store.readAll()), before, 'the log is unchanged')
  await lock.release()
  t.equal((await post(app, 'BUSY-3', 3)).statusCode, 201, 'written once the lock is free')
})
