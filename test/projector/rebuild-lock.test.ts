import t, { type Test } from 'tap'
import path from 'node:path'
import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { setTimeout as delay } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { Projector } from '../../src/projector/projector.js'
import { BUSY_TIMEOUT_MS, ReadModelStore, SERVICE_BUSY_TIMEOUT_MS } from '../../src/projector/read-model-store.js'
import type { DocumentProjection } from '../../projections/index.js'

/**
 * What the live projector does while another process holds the read-model file's write lock, as a
 * rebuild's swap does (issue #6): its commit waits (better-sqlite3 waits synchronously, up to the
 * busy timeout) and succeeds when the lock comes free in time. With the service's short busy
 * timeout (issue #14) a busy commit is retried asynchronously, the event loop free meanwhile,
 * every event applied once.
 */

const counter: DocumentProjection<{ n: number }> = {
  name: 'counter',
  keysOf: () => ['a'],
  initial: () => ({ n: 0 }),
  evolve: (doc) => ({ n: doc.n + 1 }),
}
const WAIT_MS = 10_000
const BETTER_SQLITE3 = createRequire(import.meta.url).resolve('better-sqlite3')

/** A process holding `BEGIN IMMEDIATE` on `file` for `holdMs`; resolves once it holds the lock,
 * with a promise of its exit. */
async function holdWriteLock(t: Test, file: string, holdMs: number): Promise<{ exited: Promise<unknown> }> {
  const script = `const D = require(${JSON.stringify(BETTER_SQLITE3)}); const db = new D(${JSON.stringify(file)});
    db.exec('BEGIN IMMEDIATE'); process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); process.exit(0) }, ${holdMs})`
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve())
    void exited.then((code) => reject(new Error(`lock holder exited ${String(code)}`)))
  })
  return { exited }
}

t.test('the busy timeout is bounded and named', async (t) => {
  const rm = new ReadModelStore(path.join(t.testdir(), 'rm.sqlite'))
  t.teardown(() => rm.close())
  t.equal(BUSY_TIMEOUT_MS, 5_000)
  t.equal(rm.db.pragma('busy_timeout', { simple: true }), BUSY_TIMEOUT_MS)
  const short = new ReadModelStore(path.join(t.testdir(), 'rm.sqlite'), { busyTimeoutMs: 250 })
  t.teardown(() => short.close())
  t.equal(short.db.pragma('busy_timeout', { simple: true }), 250)
  t.throws(() => new ReadModelStore(':memory:', { busyTimeoutMs: -1 }), RangeError)
})

t.test('a lock held less than the busy timeout: the projector commit waits for it, then succeeds', async (t) => {
  const dir = t.testdir()
  const store = openSqliteEventStore({ path: path.join(dir, 'events.sqlite') })
  const file = path.join(dir, 'rm.sqlite')
  const rm = new ReadModelStore(file)
  const errors: unknown[] = []
  const projector = new Projector({ store, readModels: rm, projections: [counter as DocumentProjection<unknown>], logger: { info: () => {}, error: (o) => errors.push(o) } })
  t.teardown(async () => {
    await projector.stop()
    rm.close()
    await store.close()
  })
  projector.start()
  await store.append('s', [{ type: 'T', data: {} }], 'any')
  t.equal(await projector.waitForPosition(1n, WAIT_MS), 1n)

  const holder = await holdWriteLock(t, file, 1_000)
  const started = Date.now()
  const ticks = [started]
  const ticker = setInterval(() => ticks.push(Date.now()), 20)
  await store.append('s', [{ type: 'T', data: {} }], 'any')
  t.equal(await projector.waitForPosition(2n, WAIT_MS), 2n)
  const waited = Date.now() - started
  t.ok(waited >= 800 && waited < BUSY_TIMEOUT_MS, `the commit waited for the lock (${waited} ms)`)
  await delay(60)
  clearInterval(ticker)
  const stood = Math.max(...ticks.slice(1).map((at, i) => at - ticks[i]!))
  t.ok(stood >= 800, `better-sqlite3 waits synchronously: the event loop stood still meanwhile (${stood} ms between two 20 ms ticks)`)
  t.same(errors, [], 'no failed batch')
  t.same(rm.getDocument('counter', 'a'), { n: 2 })
  await holder.exited
})

t.test('a lock held longer than the busy timeout: the commit is retried asynchronously, the event loop stays free, each event applied once', async (t) => {
  const dir = t.testdir()
  const store = openSqliteEventStore({ path: path.join(dir, 'events.sqlite') })
  const file = path.join(dir, 'rm.sqlite')
  // The service's short busy timeout (issue #14): the connection's synchronous wait is a few ms.
  const rm = new ReadModelStore(file, { busyTimeoutMs: SERVICE_BUSY_TIMEOUT_MS })
  // The lock holder is another connection of this process: it can only let go (on a timer) if the
  // projector's wait leaves the event loop free.
  const holder = new Database(file)
  const errors: unknown[] = []
  const projector = new Projector({
    store,
    readModels: rm,
    projections: [counter as DocumentProjection<unknown>],
    initialBackoffMs: 20,
    logger: { info: () => {}, error: (o) => void errors.push(o) },
  })
  t.teardown(async () => {
    await projector.stop()
    if (holder.inTransaction) holder.exec('ROLLBACK')
    holder.close()
    rm.close()
    await store.close()
  })
  projector.start()
  await store.append('s', [{ type: 'T', data: {} }], 'any')
  t.equal(await projector.waitForPosition(1n, WAIT_MS), 1n)

  holder.exec('BEGIN IMMEDIATE')
  const HOLD_MS = 1_000
  const released = delay(HOLD_MS).then(() => holder.exec('COMMIT'))
  // The largest gap between two ticks of a 10 ms timer while the lock is held.
  let last = performance.now()
  let largestGap = 0
  const ticker = setInterval(() => {
    const now = performance.now()
    largestGap = Math.max(largestGap, now - last)
    last = now
  }, 10)
  await store.append('s', [{ type: 'T', data: {} }, { type: 'T', data: {} }], 'any')
  await delay(HOLD_MS / 2)
  t.equal(rm.getCheckpoint('main'), 1n, 'nothing committed while the lock is held')
  await released
  t.equal(await projector.waitForPosition(3n, WAIT_MS), 3n, 'committed once the lock is free')
  clearInterval(ticker)
  t.ok(largestGap < 250, `the event loop was never blocked for long (largest gap ${Math.round(largestGap)} ms; the old 5 s busy wait blocked it for the whole hold)`)
  t.same(errors, [], 'no failed batch: the busy commit was retried, not failed')
  t.same(rm.getDocument('counter', 'a'), { n: 3 }, 'each event applied once')
  t.equal(rm.getCheckpoint('main'), 3n)
})

t.test('on the embedded store (one file) an append waits for the lock too', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const store = openSqliteEventStore({ path: file })
  t.teardown(() => store.close())
  await store.append('s', [{ type: 'T', data: {} }], 'any')
  const holder = await holdWriteLock(t, file, 600)
  const started = Date.now()
  await store.append('s', [{ type: 'T', data: {} }], 'any')
  const waited = Date.now() - started
  t.ok(waited >= 400, `the append waited for the lock (${waited} ms)`)
  await holder.exited
})
