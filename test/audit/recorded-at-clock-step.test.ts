import t from 'tap'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import { runLedgerCli } from '../helpers/cli.js'
import { ROOT } from '../helpers/service-process.js'

/**
 * recordedAt never goes back (issue #14): a process whose clock steps back an hour in the middle of
 * its appends (a preload replaces `Date`) still writes a log whose recordedAt never decreases in
 * position order, and `ledger audit verify` (which checks that order on the embedded store) passes.
 * Before: the events after the step were recorded an hour earlier and verify failed with
 * `recorded-at-out-of-order` forever.
 */

/** Appends in the child; the clock steps back after the 5th reading (the 5th append's instant). */
const APPENDS = 12
const STEP_AFTER = 5
const STEP_MS = 3_600_000

t.test('a clock stepped back mid-log: recordedAt non-decreasing, audit verify passes', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const child = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      `--import=${pathToFileURL(path.join(ROOT, 'test/fixtures/clock-step-back.ts')).href}`,
      path.join(ROOT, 'test/fixtures/append-across-clock-step.ts'),
      file,
      String(APPENDS),
    ],
    { cwd: ROOT, env: { ...process.env, CLOCK_STEP_AFTER: String(STEP_AFTER), CLOCK_STEP_MS: String(STEP_MS) }, encoding: 'utf8' },
  )
  t.equal(child.status, 0, `the appending process ran: ${child.stderr}`)
  const { clockAtEnd } = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { clockAtEnd: string }

  const db = new Database(file, { readonly: true })
  const rows = db.prepare<[], { recorded_at: string; metadata: string }>('SELECT recorded_at, metadata FROM events ORDER BY position').all()
  db.close()
  t.equal(rows.length, APPENDS)
  const recorded = rows.map((r) => r.recorded_at)
  // The step happened: the clock at the end is (about) an hour behind the first event's instant.
  t.ok(Date.parse(recorded[0]!) - Date.parse(clockAtEnd) > STEP_MS - 60_000, `the clock stepped back (${recorded[0]} → ${clockAtEnd})`)
  const backwards = recorded.flatMap((r, i) => (i > 0 && r < recorded[i - 1]! ? [`${recorded[i - 1]} → ${r} at position ${i + 1}`] : []))
  t.same(backwards, [], 'recordedAt never decreases in position order')
  t.same(
    rows.map((r) => (JSON.parse(r.metadata) as { recordedAt: string }).recordedAt),
    recorded,
    'metadata.recordedAt is the same instant',
  )

  const verify = await runLedgerCli(['audit', 'verify'], { LEDGER_SQLITE_PATH: file, LEDGER_STORE: 'sqlite' })
  t.equal(verify.code, 0, `ledger audit verify passes: ${verify.stdout}${verify.stderr}`)
  t.notMatch(verify.stdout, /recorded-at-out-of-order/)
})
