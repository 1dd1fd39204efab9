import t from 'tap'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { employerId, personId, submission } from '../helpers/http.js'
import { caughtUp, openService, post } from '../helpers/read-side.js'

/**
 * The projector never blocks the event loop on a lock (issue #14). Before, the service's read-model
 * connection waited synchronously up to 5 s for another writer's lock: `/healthz` took 11.9 s while
 * another process held the write lock.
 */

t.test("another connection holds the file's write lock while the service's projector has a batch to commit: the event loop stays free, the batch is committed after", async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'S-1', employerId: employerId('0001'), period: '2024-07', lines: [{ personId: personId(1), wage: '8000.00' }] }))
  await caughtUp(ledger)

  // The holder is a connection of this process: it can let go (on a timer) only if the service's
  // waits leave the event loop free.
  const holder = new Database(file)
  t.teardown(() => {
    if (holder.inTransaction) holder.exec('ROLLBACK')
    holder.close()
  })
  const { position } = await ledger.store.append('noise-1', [{ type: 'Noise', data: {} }], 'any')
  // The append is committed; the projector commits its batch after its flush timer: the lock is
  // taken first.
  holder.exec('BEGIN IMMEDIATE')
  const HOLD_MS = 1_500
  let last = performance.now()
  let largestGap = 0
  const ticker = setInterval(() => {
    const now = performance.now()
    largestGap = Math.max(largestGap, now - last)
    last = now
  }, 10)
  await delay(HOLD_MS / 3)
  const started = performance.now()
  const health = await ledger.app.inject({ method: 'GET', url: '/healthz' })
  const healthMs = performance.now() - started
  await delay(HOLD_MS / 3)
  const during = ledger.readModels.getCheckpoint('main')
  holder.exec('COMMIT')
  clearInterval(ticker)
  t.ok(during !== null && during < position, `the projector had the event at ${position} to commit and could not while the lock was held (checkpoint ${during})`)
  t.equal(health.statusCode, 200)
  t.ok(healthMs < 250, `/healthz answered in ${Math.round(healthMs)} ms while the lock was held`)
  t.ok(largestGap < 250, `the event loop was never blocked for long (largest gap ${Math.round(largestGap)} ms)`)
  const head = await caughtUp(ledger)
  t.equal(ledger.readModels.getCheckpoint('main'), head, 'the batch was committed once the lock came free')
})
