import t, { type Test } from 'tap'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_MAX_LAG_EVENTS, type AuditReport } from '../../src/audit/replay.js'
import { EXIT_LIVE_BEHIND } from '../../src/cli/audit-replay.js'
import { CommanderError } from 'commander'
import { main } from '../../src/cli/ledger.js'
import { loadConfig } from '../../src/config.js'
import { json, personId, submission } from '../helpers/http.js'
import { createTestLedger } from '../helpers/ledger.js'

/**
 * `ledger audit replay` says when the live projection is behind (issue #14): it compares the replay
 * with the live read models at their checkpoint, so a projector stuck far behind the log's head
 * passed with exit 0. Beyond the readiness limit (LEDGER_READY_MAX_LAG_EVENTS, or
 * `--max-lag-events`) it now says so and exits 3.
 *
 * The ledger: a SQLite file, one-line submissions (each one append of two events: the line, then
 * the submission's marker), the first two folded by the projector, the next ones written with the
 * projector stopped, so the live checkpoint stays behind the head.
 */

const WAIT_MS = 5_000

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-replay-lag-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A ledger file whose live checkpoint is at 4 (two submissions folded) and whose head is at
 * 4 + 2 × `unfolded` (that many submissions written with the projector stopped). */
async function laggingFile(t: Test, unfolded: number): Promise<string> {
  const file = join(tempDir(t), 'ledger.sqlite')
  const ledger = await createTestLedger({ file })
  t.teardown(ledger.close)
  let n = 0
  const post = async () => {
    n++
    const res = await ledger.app.inject({ method: 'POST', url: '/v1/contribution-submissions', payload: submission({ submissionId: `LAG-${n}`, lines: [{ personId: personId(600 + n), wage: '8500.00' }] }) })
    t.equal(res.statusCode, 201, `submission ${n}: ${res.body}`)
    return BigInt(json(res).position as string)
  }
  await post()
  const folded = await post()
  t.equal(await ledger.projector.waitForPosition(folded, WAIT_MS), 4n, 'the projector has folded the first two submissions (positions 1-4)')
  await ledger.projector.stop()
  for (let i = 0; i < unfolded; i++) await post()
  await ledger.close()
  return file
}

/** Runs `ledger audit replay --out … args` in process; the status, the report and standard error. */
async function replay(t: Test, file: string, args: string[], env: Record<string, string> = {}) {
  const out = join(tempDir(t), 'report.json')
  const stderr: string[] = []
  const captured = t.capture(process.stderr, 'write', (chunk: unknown) => {
    stderr.push(String(chunk))
    return true
  })
  let status: number
  try {
    status = await main(['node', 'ledger', 'audit', 'replay', '--out', out, ...args], { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: file, LOG_LEVEL: 'silent', ...env })
  } finally {
    captured.restore()
  }
  return { status, report: JSON.parse(readFileSync(out, 'utf8')) as AuditReport, stderr: stderr.join('') }
}

t.test('the default limit is the readiness limit; exit 3 is its own status', async (t) => {
  t.equal(DEFAULT_MAX_LAG_EVENTS, loadConfig({}).LEDGER_READY_MAX_LAG_EVENTS)
  t.equal(EXIT_LIVE_BEHIND, 3)
})

t.test('live checkpoint behind the head by more than LEDGER_READY_MAX_LAG_EVENTS: exit 3, said in the summary and the report', async (t) => {
  // Given a file whose checkpoint is 4 and whose head is 10 (three submissions not folded: lag 6),
  const file = await laggingFile(t, 3)
  // when replayed with the readiness limit at 5 events,
  const behind = await replay(t, file, [], { LEDGER_READY_MAX_LAG_EVENTS: '5' })
  // then the comparison is made at the checkpoint and sound, but the status is 3 and the lag is named.
  t.equal(behind.status, 3, `exit 3 (stderr: ${behind.stderr})`)
  t.match(behind.report, { position: '4', livePosition: '4', headPosition: '10', liveLagEvents: '6', maxLagEvents: 5, liveBehind: true, compared: true, differencesCount: 0, ok: true })
  t.match(behind.stderr, /^audit replay: BEHIND: position 4, 4 events; .*; 0 difference\(s\) from the live read models at 4; the live projection is BEHIND: its checkpoint 4 is 6 events before the log's head 10 \(limit 5\); events after the checkpoint were not compared/)

  // The flag overrides the configuration, both ways.
  t.equal((await replay(t, file, ['--max-lag-events', '5'])).status, 3, '--max-lag-events 5: exit 3')
  const flagged = await replay(t, file, ['--max-lag-events', '6'], { LEDGER_READY_MAX_LAG_EVENTS: '5' })
  t.equal(flagged.status, 0, '--max-lag-events 6 over the configured 5: a lag of 6 is within it')
  t.match(flagged.report, { liveLagEvents: '6', maxLagEvents: 6, liveBehind: false, ok: true })
})

t.test('within the limit: exit 0 as before, the lag still reported', async (t) => {
  // Given a checkpoint 2 events behind the head (one submission not folded),
  const file = await laggingFile(t, 1)
  // with the default limit (1,000 events) and with a limit of exactly 2,
  for (const env of [{}, { LEDGER_READY_MAX_LAG_EVENTS: '2' }] as Record<string, string>[]) {
    const r = await replay(t, file, [], env)
    t.equal(r.status, 0, `exit 0 with ${JSON.stringify(env)} (stderr: ${r.stderr})`)
    t.match(r.report, { livePosition: '4', headPosition: '6', liveLagEvents: '2', liveBehind: false, compared: true, ok: true })
    t.match(r.stderr, /^audit replay: OK: /)
    t.notMatch(r.stderr, /BEHIND/)
  }
})

t.test('a failure stays exit 1 even when the live projection is also behind', async (t) => {
  const file = await laggingFile(t, 3)
  // A document changed in the live read models: a difference, and the lag.
  const { ReadModelStore } = await import('../../src/projector/read-model-store.js')
  const db = new ReadModelStore(file)
  const pool = db.getDocument<{ schemes: { pension: { balance: string } } }>('pool-balances', '310000')!
  pool.schemes.pension.balance = '1.00'
  db.db.prepare('UPDATE read_models SET doc = ? WHERE projection = ? AND key = ?').run(JSON.stringify(pool), 'pool-balances', '310000')
  db.close()
  const r = await replay(t, file, [], { LEDGER_READY_MAX_LAG_EVENTS: '5' })
  t.equal(r.status, 1, 'exit 1: a difference is worse than a lag')
  t.match(r.report, { liveBehind: true, differencesCount: 1, ok: false })
  t.match(r.stderr, /^audit replay: FAILED: .*the live projection is BEHIND/)
})

t.test('--max-lag-events takes a number of events only', async (t) => {
  const file = await laggingFile(t, 0)
  const quiet = t.capture(process.stderr, 'write', () => true)
  try {
    for (const bad of ['-1', 'lots', '1e3', '1000000001']) {
      await t.rejects(main(['node', 'ledger', 'audit', 'replay', '--max-lag-events', bad], { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: file, LOG_LEVEL: 'silent' }), CommanderError, `--max-lag-events ${bad}`)
    }
  } finally {
    quiet.restore()
  }
})
