import t from 'tap'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import Database from 'better-sqlite3'
import { main } from '../../src/cli/ledger.js'
import type { AuditReport } from '../../src/audit/replay.js'
import { personBalances } from '../../projections/index.js'
import { personId } from '../helpers/http.js'
import { caughtUp, openService, seed } from '../helpers/read-side.js'

/**
 * `ledger audit replay` over a live read-model file with a damaged document (its text not JSON):
 * reported as a difference naming it, and the audit goes on (issue #14, from a user's trial).
 * Before, it crashed with "Unterminated string in JSON", exit 1 and no report.
 */
t.test('a damaged live person document is a difference (damaged), the others are compared, exit 1 with a report', async (t) => {
  const dir = t.testdir()
  const file = path.join(dir, 'ledger.sqlite')
  const ledger = await openService(file)
  await seed(ledger, 3, ['2024-07'])
  await caughtUp(ledger)
  await ledger.close()
  const p2 = personId(2)
  const db = new Database(file)
  db.prepare('UPDATE read_models SET doc = ? WHERE projection = ? AND key = ?').run('{"personId": "broken', personBalances.name, p2)
  db.close()

  const out = path.join(dir, 'report.json')
  const stderr: string[] = []
  const captured = t.capture(process.stderr, 'write', (chunk: unknown) => {
    stderr.push(String(chunk))
    return true
  })
  let status: number
  try {
    status = await main(['node', 'ledger', 'audit', 'replay', '--out', out], { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: file, LOG_LEVEL: 'silent' })
  } finally {
    captured.restore()
  }
  t.equal(status, 1, `exit 1 (stderr: ${stderr.join('')})`)
  const report = JSON.parse(readFileSync(out, 'utf8')) as AuditReport
  t.match(report, { compared: true, differencesCount: 1, ok: false, trialBalance: { balanced: true } }, 'a report, with one difference')
  t.match(report.differences, [{ projection: 'person-balances', key: p2, replayed: { personId: p2 }, live: '{"personId": "broken', liveDamaged: /damaged: its text is not JSON/ }], 'naming the damaged document')
  t.match(stderr.join(''), /FAILED: .*1 difference\(s\) from the live read models/)
})
