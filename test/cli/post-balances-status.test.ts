import t, { type Test } from 'tap'
import { CLI_RUN_TIMEOUT_MS, runLedgerCli, type CliRun } from '../helpers/cli.js'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { createLedger } from '../../src/bootstrap.js'
import { loadConfig } from '../../src/config.js'
import { systemAuthenticator } from '../../src/http/auth.js'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import type { RecordedEvent } from '../../src/eventstore/port.js'
import type { CliContext } from '../../src/cli/context.js'
import { runPost } from '../../src/cli/post.js'
import { runBalances } from '../../src/cli/balances.js'
import { runStatus } from '../../src/cli/status.js'
import { createTestLedger } from '../helpers/ledger.js'
import { employerId, personId } from '../helpers/http.js'

/**
 * `ledger post | balances | status` (issue #9), run in process on a temporary SQLite file (and once
 * as a child, for the real exit status), and against a service listening on port 0.
 *
 * Amounts worked out by hand from policy/policy-table.json, Shanghai 310000 for 2024-07 (row
 * 310000/2024-07/v1: floor 7384.00, cap 36921.00; pension 16% / 8%, medical 9% / 2%, unemployment
 * 0.5% / 0.5%, work injury by class: I 0.2%, III 0.7%; no separate maternity rate). Each amount is
 * base × rate rounded half-up to the fen; the employee's pension and medical go to the individual
 * account, everything else to the pool.
 *
 *   P1 wage 10000.00 → base 10000.00, class I:
 *     pension 1600.00 / 800.00, medical 900.00 / 200.00, unemployment 50.00 / 50.00, injury 20.00
 *     employer 2570.00, employee 1050.00, individual account 1000.00, pool 2620.00
 *   P2 wage 5000.00 → below the floor: base 7384.00, class I:
 *     pension 1181.44 / 590.72, medical 664.56 / 147.68, unemployment 36.92 / 36.92,
 *     injury 7384 × 0.002 = 14.768 → 14.77
 *     employer 1897.69, employee 775.32, individual account 738.40, pool 1934.61
 *   P3 wage 40000.00 → above the cap: base 36921.00, class III:
 *     pension 5907.36 / 2953.68, medical 3322.89 / 738.42, unemployment 184.605 → 184.61 each,
 *     injury 36921 × 0.007 = 258.447 → 258.45
 *     employer 9673.31, employee 3876.71, individual account 3692.10, pool 9857.92
 */

const P1 = personId(101)
const P2 = personId(102)
const P3 = personId(103)
const E1 = employerId('0001')
const E2 = employerId('0002')
const CSV_HEADER = 'submissionId,employerId,region,period,personId,wage,workInjuryClass'
/** Longest a CLI child may take, milliseconds (the TypeScript loader compiles on start). */
const RUN_TIMEOUT_MS = CLI_RUN_TIMEOUT_MS
/** Longest a test waits for the projector to catch up, milliseconds. */
const CATCH_UP_WAIT_MS = 10_000

/** A temporary folder, removed when the test ends. */
function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-post-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A CLI context on `db` that keeps what the command writes. */
function cli(db: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const out: string[] = []
  const err: string[] = []
  const ctx: CliContext = {
    env: { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: db, LOG_LEVEL: 'silent', ...extraEnv },
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    setStatus: () => {},
  }
  return { ctx, out, err }
}

/** Every event of the log at `db`. */
async function logOf(db: string): Promise<RecordedEvent[]> {
  const store = openSqliteEventStore({ path: db })
  try {
    const events: RecordedEvent[] = []
    for await (const e of store.readAll()) events.push(e)
    return events
  } finally {
    await store.close()
  }
}

/** Opens the service on `db` until its projector has reached the log's head ("catching up"), then closes it. */
async function catchUp(db: string): Promise<void> {
  const ledger = await createLedger(loadConfig({ LEDGER_SQLITE_PATH: db, LOG_LEVEL: 'silent', LEDGER_SEAL_INTERVAL_MS: '0' }), { authenticator: systemAuthenticator })
  try {
    const head = await ledger.store.headPosition()
    if (head !== null) await ledger.projector.waitForPosition(head, CATCH_UP_WAIT_MS)
  } finally {
    await ledger.close()
  }
}

/** Per scheme of a ContributionRecorded event: [employer, employee, individualAccount, pool]. */
function amounts(e: RecordedEvent): Record<string, string[]> {
  const data = e.data as { schemes: { scheme: string; employer: string; employee: string; individualAccount: string; pool: string }[] }
  return Object.fromEntries(data.schemes.map((s) => [s.scheme, [s.employer, s.employee, s.individualAccount, s.pool]]))
}

const P1_AMOUNTS = { pension: ['1600.00', '800.00', '800.00', '1600.00'], medical: ['900.00', '200.00', '200.00', '900.00'], unemployment: ['50.00', '50.00', '0.00', '100.00'], work_injury: ['20.00', '0.00', '0.00', '20.00'] }
const P2_AMOUNTS = { pension: ['1181.44', '590.72', '590.72', '1181.44'], medical: ['664.56', '147.68', '147.68', '664.56'], unemployment: ['36.92', '36.92', '0.00', '73.84'], work_injury: ['14.77', '0.00', '0.00', '14.77'] }
const P3_AMOUNTS = { pension: ['5907.36', '2953.68', '2953.68', '5907.36'], medical: ['3322.89', '738.42', '738.42', '3322.89'], unemployment: ['184.61', '184.61', '0.00', '369.22'], work_injury: ['258.45', '0.00', '0.00', '258.45'] }

/** The row of the summary table for `id`, its cells split on runs of two or more spaces. */
const rowOf = (out: string[], id: string) => out.find((l) => l.startsWith(id + ' '))?.split(/ {2,}/)

t.test('a JSON body is recorded with the amounts of the policy; posting it again is "already recorded"', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'ledger.sqlite')
  const file = join(dir, 'one.json')
  writeFileSync(file, JSON.stringify({ submissionId: 'JSON-1', employerId: E1, region: '310000', period: '2024-07', lines: [{ personId: P1, wage: '10000.00' }] }))
  const first = cli(db)
  t.equal(await runPost(file, { actor: 'test' }, first.ctx), 0, first.err.join('\n'))
  t.same(rowOf(first.out, 'JSON-1'), ['JSON-1', '1', 'recorded', '2570.00', '1000.00', '2620.00'])
  t.match(first.out[0], /^SUBMISSION +LINES +STATUS +EMPLOYER +INDIVIDUAL ACCOUNT +POOL$/)
  t.match(first.err.at(-1), /1 recorded, 0 already recorded, 0 refused/)

  const log = await logOf(db)
  t.same(log.map((e) => `${e.type} ${e.stream}`), [`ContributionRecorded person-${P1}`, 'ContributionSubmissionRecorded submission-JSON-1'])
  t.same(amounts(log[0]!), P1_AMOUNTS)
  t.same((log[1]!.data as { totals: unknown }).totals, { employer: '2570.00', employee: '1050.00', individualAccount: '1000.00', pool: '2620.00' })
  t.equal((log[0]!.metadata as { actor?: string }).actor, 'test', 'the actor is recorded')

  const again = cli(db)
  t.equal(await runPost(file, { actor: 'test' }, again.ctx), 0)
  t.same(rowOf(again.out, 'JSON-1'), ['JSON-1', '1', 'already recorded', '2570.00', '1000.00', '2620.00'])
  t.equal((await logOf(db)).length, 2, 'nothing appended the second time')
})

t.test('a CSV of two submissions (one with workInjuryClass) is grouped, recorded, and shows in balances and status', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'ledger.sqlite')
  const file = join(dir, 'payroll.csv')
  writeFileSync(
    file,
    [
      CSV_HEADER,
      `CSV-A,${E1},310000,2024-07,${P1},10000.00,`,
      `CSV-B,${E2},310000,2024-07,${P3},40000.00,3`,
      `CSV-A,${E1},310000,2024-07,${P2},5000.00,`,
      '',
    ].join('\r\n'),
  )
  const run = cli(db)
  t.equal(await runPost(file, { actor: 'test' }, run.ctx), 0, run.err.join('\n'))
  t.same(rowOf(run.out, 'CSV-A'), ['CSV-A', '2', 'recorded', '4467.69', '1738.40', '4554.61'], 'P1 + P2')
  t.same(rowOf(run.out, 'CSV-B'), ['CSV-B', '1', 'recorded', '9673.31', '3692.10', '9857.92'], 'P3, class III')
  t.same(rowOf(run.out, 'total'), ['total', '3', '2 of 2 recorded', '14141.00', '5430.50', '14412.53'])

  const log = await logOf(db)
  const line = (p: string) => log.find((e) => e.stream === `person-${p}`)!
  t.same(amounts(line(P1)), P1_AMOUNTS)
  t.same(amounts(line(P2)), P2_AMOUNTS)
  t.same(amounts(line(P3)), P3_AMOUNTS)
  t.equal((line(P3).data as { workInjuryClass: number }).workInjuryClass, 3)
  t.equal((line(P1).data as { workInjuryClass: number }).workInjuryClass, 1, 'an empty cell is the default class')

  // Before the projector ran: the read models are empty and behind.
  const before = cli(db)
  t.equal(await runStatus({}, before.ctx), 0)
  t.match(before.out.join('\n'), /store +sqlite .*ledger\.sqlite\nhead position +5\nprojection checkpoint +0\nlag +5 event\(s\)\nread models +bound to this store \(none yet\)/)

  await catchUp(db)

  const status = cli(db)
  t.equal(await runStatus({}, status.ctx), 0)
  t.same(status.out.slice(1), ['head position          5', 'projection checkpoint  5', 'lag                    0 event(s)', 'read models            bound to this store (sqlite)'])

  const person = cli(db)
  t.equal(await runBalances('person', P1, {}, person.ctx), 0, person.err.join('\n'))
  t.equal(person.out[0], `person ${P1} at position 5`)
  t.same(person.out.find((l) => l.startsWith('pension'))?.split(/ {2,}/), ['pension', '800.00', '1600.00', '800.00', '1', '310000'])
  t.same(person.out.find((l) => l.startsWith('medical'))?.split(/ {2,}/), ['medical', '200.00', '900.00', '200.00', '1', '310000'])

  const pool = cli(db)
  t.equal(await runBalances('pool', '310000', { json: true }, pool.ctx), 0, pool.err.join('\n'))
  const doc = JSON.parse(pool.out.join('\n'))
  // pension pool: 1600.00 + 1181.44 + 5907.36; work injury: 20.00 + 14.77 + 258.45
  t.equal(doc.schemes.pension.contributions, '8688.80')
  t.equal(doc.schemes.work_injury.contributions, '293.22')
  const table = cli(db)
  t.equal(await runBalances('pool', '310000', {}, table.ctx), 0)
  t.match(table.out.find((l) => l.startsWith('pension')), /^pension +\S+ +8688\.80 +0\.00$/)

  const nobody = cli(db)
  t.equal(await runBalances('person', personId(999), {}, nobody.ctx), 1)
  t.match(nobody.err[0], /no events for person 310104\*{8}\d{3}[\dX]/)
  const bad = cli(db)
  t.equal(await runBalances('person', '123', {}, bad.ctx), 2)
  t.match(bad.err[0], /personId "123": not a valid citizen identity number/)
})

t.test('a CSV with a bad header is a usage error (2) that says what the header must be; nothing is written', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'ledger.sqlite')
  const file = join(dir, 'bad.csv')
  writeFileSync(file, `submissionId,employer,region,period,personId,wage\nX,${E1},310000,2024-07,${P1},10000.00\n`)
  const run = cli(db)
  t.equal(await runPost(file, { actor: 'test' }, run.ctx), 2)
  t.match(run.err[0], /line 1: the header must be submissionId,employerId,region,period,personId,wage \(optionally with ,workInjuryClass\); found .*unknown column "employer"; missing employerId/)
  t.same(run.out, [])
  const missing = cli(db)
  t.equal(await runPost(join(dir, 'missing.csv'), { actor: 'test' }, missing.ctx), 2)
  t.match(missing.err[0], /missing\.csv: cannot be read \(ENOENT\); check the path/)
  const noToken = cli(db)
  t.equal(await runPost(file, { actor: 'test', url: 'http://127.0.0.1:9' }, noToken.ctx), 2)
  t.match(noToken.err[0], /--url needs a token: add --token <token>/)
})

t.test('as a child process: the exit statuses of a bad header and of a refusal', { timeout: 3 * RUN_TIMEOUT_MS }, async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'ledger.sqlite')
  const bad = join(dir, 'bad.csv')
  writeFileSync(bad, 'personId,wage\n')
  const run = await ledgerCli(['post', bad], db)
  t.equal(run.code, 2)
  t.match(run.stderr, /the header must be submissionId,employerId,region,period,personId,wage/)
  const usage = await ledgerCli(['post', bad, '--format', 'xml'], db)
  t.equal(usage.code, 2, 'a bad flag value')
})

t.test('a file the API refuses is refused the same way (exit 1, the problem shown) and the log is unchanged', async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'ledger.sqlite')
  const ok = join(dir, 'ok.json')
  writeFileSync(ok, JSON.stringify({ submissionId: 'OK-1', employerId: E1, region: '310000', period: '2024-07', lines: [{ personId: P3, wage: '9000.00' }] }))
  t.equal(await runPost(ok, { actor: 'test' }, cli(db).ctx), 0)
  const before = await logOf(db)

  const file = join(dir, 'refused.json')
  writeFileSync(
    file,
    JSON.stringify([
      // the same person twice: 422 rule-violation
      { submissionId: 'DUP-1', employerId: E1, region: '310000', period: '2024-07', lines: [{ personId: P1, wage: '10000.00' }, { personId: P1, wage: '9000.00' }] },
      // a wage with three places: 400, as the route's schema says
      { submissionId: 'BAD-WAGE', employerId: E1, region: '310000', period: '2024-08', lines: [{ personId: P2, wage: '10000.001' }], extra: 1 },
      // P3's 2024-07 is credited already: 409
      { submissionId: 'AGAIN-P3', employerId: E2, region: '310000', period: '2024-07', lines: [{ personId: P3, wage: '9000.00' }] },
    ]),
  )
  const run = cli(db)
  t.equal(await runPost(file, { actor: 'test' }, run.ctx), 1)
  t.same(rowOf(run.out, 'DUP-1'), ['DUP-1', '2', 'refused: Submission breaks a ledger rule', '-', '-', '-'])
  t.same(rowOf(run.out, 'BAD-WAGE'), ['BAD-WAGE', '1', 'refused: Malformed request', '-', '-', '-'])
  t.same(rowOf(run.out, 'AGAIN-P3'), ['AGAIN-P3', '1', 'refused: Month already credited', '-', '-', '-'])
  const details = run.out.slice(run.out.findIndex((l) => l.startsWith('total')) + 1)
  t.match(details[0], /^DUP-1: refused \(422 Submission breaks a ledger rule\): see errors\[\]$/)
  t.match(details[1], /^ {2}\/lines\/1\/personId \(line 1\): .+/)
  t.same(details.slice(2, 5), [
    'BAD-WAGE: refused (400 Malformed request): the request body does not match the contract; see errors[]',
    '  /lines/0/wage (line 0): a decimal string in yuan, greater than 0, at most 99999999.99, with at most two places, e.g. "8500.00"',
    '  /extra: unknown field "extra"',
  ])
  t.match(details[5], /^AGAIN-P3: refused \(409 Month already credited\): .*by submission\(s\) OK-1; nothing was recorded$/)
  t.same(await logOf(db), before, 'the log is unchanged')

  const csv = join(dir, 'disagree.csv')
  writeFileSync(csv, [CSV_HEADER, `D-1,${E1},310000,2024-07,${P1},10000.00,`, `D-1,${E1},310000,2024-08,${P2},abc,`, `D-2,${E1},310000,2024-07,${P2},12.345,`].join('\n'))
  const csvRun = cli(db)
  t.equal(await runPost(csv, { actor: 'test' }, csvRun.ctx), 1)
  t.ok(csvRun.out.includes(`D-1: refused (400 Malformed payroll file): period differs between row 2 ("2024-07") and row 3 ("2024-08"); the rows of one submission must agree on employerId, region, period, workInjuryClass`))
  t.ok(csvRun.out.some((l) => /^ {2}row 4, wage: a decimal string in yuan/.test(l)), 'a CSV error names the file row')
  t.same(await logOf(db), before, 'the log is still unchanged')
})

t.test('over HTTP: posts to a listening service, then reads balances and status from it', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(() => ledger.close())
  await ledger.app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(ledger.app.server.address() as AddressInfo).port}`
  const dir = tempDir(t)
  const unused = join(dir, 'unused.sqlite')
  const file = join(dir, 'http.csv')
  writeFileSync(file, [CSV_HEADER, `H-1,${E1},310000,2024-07,${P1},10000.00,`, `H-1,${E1},310000,2024-07,${P1},10000.00,`, `H-2,${E1},310000,2024-07,${P2},5000.00,1`].join('\n'))
  const run = cli(unused)
  t.equal(await runPost(file, { actor: 'test', url, token: 'any-token' }, run.ctx), 1, 'H-1 names P1 twice')
  t.same(rowOf(run.out, 'H-1'), ['H-1', '2', 'refused: Submission breaks a ledger rule', '-', '-', '-'])
  t.same(rowOf(run.out, 'H-2'), ['H-2', '1', 'recorded', '1897.69', '738.40', '1934.61'])
  t.ok(run.out.some((l) => /^ {2}row 3, personId: /.test(l)), "the service's problem, with the file row")
  const events = await ledger.allEvents()
  t.same(events.map((e) => e.stream), [`person-${P2}`, 'submission-H-2'], 'only H-2 was recorded')
  t.same(amounts(events[0]!), P2_AMOUNTS)

  const tokenFromEnv = cli(unused, { LEDGER_TOKEN: 'from-env' })
  t.equal(await runBalances('person', P2, { url, minPosition: '2' }, tokenFromEnv.ctx), 0, tokenFromEnv.err.join('\n'))
  t.equal(tokenFromEnv.out[0], `person ${P2} at position 2`)
  t.same(tokenFromEnv.out.find((l) => l.startsWith('pension'))?.split(/ {2,}/), ['pension', '590.72', '1181.44', '590.72', '1', '310000'])
  const pool = cli(unused)
  t.equal(await runBalances('pool', '310000', { url, token: 't', json: true, minPosition: '2' }, pool.ctx), 0)
  t.equal(JSON.parse(pool.out.join('\n')).schemes.pension.contributions, '1181.44')
  const missing = cli(unused)
  t.equal(await runBalances('person', P1, { url, token: 't' }, missing.ctx), 1)
  t.match(missing.err[0], /404 No events for this person/)

  await ledger.projector.waitForPosition(2n, CATCH_UP_WAIT_MS)
  const status = cli(unused)
  t.equal(await runStatus({ url }, status.ctx), 0, status.err.join('\n'))
  const text = status.out.join('\n')
  t.match(text, new RegExp(`^service +${url} \\(GET /(readyz|healthz)\\)`))
  t.match(text, /head position +2\n/)
  t.match(text, /projection checkpoint +2\n/)
  t.match(text, /lag +0 event\(s\)/)

  const down = cli(unused)
  t.equal(await runStatus({ url: 'http://127.0.0.1:9' }, down.ctx), 1)
  t.match(down.err[0], /cannot reach GET http:\/\/127\.0\.0\.1:9\/readyz: .*check --url and that the service runs/)
})


/** Runs `src/cli/ledger.ts` with `args` on the SQLite file `db`, killed after RUN_TIMEOUT_MS. */
function ledgerCli(args: string[], db: string): Promise<CliRun> {
  return runLedgerCli(args, { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: db, LEDGER_POLICY_PATH: '', LEDGER_TOKEN: '' })
}
