import t, { type Test } from 'tap'
import { CLI_RUN_TIMEOUT_MS, runLedgerCli, type CliRun } from '../helpers/cli.js'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLedger } from '../../src/bootstrap.js'
import { systemAuthenticator } from '../../src/http/auth.js'
import { loadConfig } from '../../src/config.js'
import { emptySummary, importHistoryFile, summaryLines } from '../../src/cli/ledger.js'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import { ImportLegacyHandler } from '../../src/usecases/import-legacy.js'
import { RecordSubmissionHandler } from '../../src/usecases/record-submission.js'
import { yuan } from '../../src/domain/money.js'
import { json, personId, employerId } from '../helpers/http.js'

/**
 * `ledger import-history <csv>` (issue #4): run as a child process on a temporary SQLite file, then
 * the balances read through a ledger opened on that file; and in process, for batching and a
 * refusal on recorded months.
 *
 * examples/legacy-history.csv holds three persons (ids made with citizenIdCheckChar):
 *   310104196503150117  86000.50, 1998-2000 in 310000: 12 + 12 + 6 = 30 months
 *   110105197108200026  45210.75, 2015-2016: 110000 12 + 5, 310000 7 = 24 months
 *   440106198002140034  12345.67, 2023 and 2024 (asOf 2024-06-30) in 440000: 12 + 6 = 18 months
 */

const EXAMPLE = 'examples/legacy-history.csv'
const HEADER = 'personId,importId,asOf,individualAccountBalance,year,region,months,baseTotal'
/** Longest a CLI run may take, milliseconds (the TypeScript loader compiles on start). */
const RUN_TIMEOUT_MS = CLI_RUN_TIMEOUT_MS


/** Runs `src/cli/ledger.ts` with `args` on the SQLite file `db`, killed after RUN_TIMEOUT_MS. */
function ledgerCli(args: string[], db: string): Promise<CliRun> {
  return runLedgerCli(args, { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: db, LEDGER_POLICY_PATH: '' })
}

/** A temporary folder, removed when the test ends. */
function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-cli-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Pension balances of `persons`, read through a ledger opened on `db` once it has projected the log. */
async function pensionBalances(db: string, persons: string[]) {
  const ledger = await createLedger(loadConfig({ LEDGER_SQLITE_PATH: db, LOG_LEVEL: 'silent' }), { authenticator: systemAuthenticator })
  try {
    const head = (await ledger.store.headPosition())!.toString()
    const out: Record<string, unknown> = {}
    for (const p of persons) {
      const res = await ledger.app.inject({ method: 'GET', url: `/v1/persons/${p}/balances?minPosition=${head}` })
      out[p] = json(res).schemes.pension
    }
    return out
  } finally {
    await ledger.close()
  }
}

t.test('the example file: imported, then already imported; balances include it', { timeout: 3 * RUN_TIMEOUT_MS }, async (t) => {
  const db = join(tempDir(t), 'ledger.sqlite')
  const first = await ledgerCli(['import-history', EXAMPLE], db)
  t.equal(first.code, 0, `exit 0 (stderr: ${first.stderr})`)
  const lines = first.stdout.trim().split('\n')
  t.match(lines[0], /^import-history examples\/legacy-history\.csv into sqlite .*ledger\.sqlite, batches of 500 persons, correlationId [0-9a-f-]{36}$/)
  t.same(lines.slice(1), [
    'batch 1: 3 person(s), rows 2-9: 3 imported, 0 already imported, 0 refused',
    'done: 3 person(s), 8 row(s), 1 batch(es)',
    '  imported: 3',
    '  already imported: 0',
    '  refused: 0',
  ])

  const second = await ledgerCli(['import-history', EXAMPLE], db)
  t.equal(second.code, 0)
  t.match(second.stdout, /batch 1: 3 person\(s\), rows 2-9: 0 imported, 3 already imported, 0 refused\n/)
  t.match(second.stdout, / {2}already imported: 3\n {2}refused: 0\n$/)

  const balances = await pensionBalances(db, ['310104196503150117', '110105197108200026', '440106198002140034'])
  const pension = (individualAccount: string, months: number, regions: string[]) => ({
    individualAccount,
    employerContributed: '0.00',
    employeeContributed: '0.00',
    months,
    regions,
    openingBalance: individualAccount,
    paidOut: '0.00',
    interestCredited: '0.00',
    interestByYear: {},
  })
  t.same(balances, {
    '310104196503150117': pension('86000.50', 30, ['310000']),
    '110105197108200026': pension('45210.75', 24, ['110000', '310000']),
    '440106198002140034': pension('12345.67', 18, ['440000']),
  })
})

t.test('refused persons are listed with the reason and rows; exit 1; the others are imported', { timeout: 3 * RUN_TIMEOUT_MS }, async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'ledger.sqlite')
  t.equal((await ledgerCli(['import-history', EXAMPLE], db)).code, 0)
  const good = personId(501)
  const file = join(dir, 'mixed.csv')
  writeFileSync(
    file,
    [
      HEADER,
      // row 2: check character wrong (…0117 is right)
      '310104196503150118,L-1,2024-06-30,1.00,2000,310000,12,1.00',
      // rows 3-4: asOf differs between the rows of one person
      `${personId(502)},L-1,2024-06-30,1.00,2000,310000,12,1.00`,
      `${personId(502)},L-1,2024-06-29,1.00,2001,310000,12,1.00`,
      // row 5: 13 months
      `${personId(503)},L-1,2024-06-30,1.00,2000,310000,13,1.00`,
      // row 6: already imported from the example file under another id
      '310104196503150117,OTHER,2024-06-30,86000.50,1998,310000,12,18000.00',
      // row 7: seven fields
      `${personId(504)},L-1,2024-06-30,1.00,2000,310000,12`,
      // rows 8-9: fine: 2010 (12 months) and 2011 (3 months) in 110000, 5000.00 a month
      `${good},L-1,2024-06-30,7777.77,2010,110000,12,60000.00`,
      `${good},L-1,2024-06-30,7777.77,2011,110000,3,15000.00`,
      '',
    ].join('\n'),
  )
  const run = await ledgerCli(['import-history', file], db)
  t.equal(run.code, 1, 'exit 1: something was refused')
  const lines = run.stdout.trim().split('\n').slice(1)
  const m = (id: string) => id.slice(0, 6) + '********' + id.slice(-4)
  t.same(lines, [
    'batch 1: 6 person(s), rows 2-9: 1 imported, 0 already imported, 5 refused',
    'done: 6 person(s), 8 row(s), 1 batch(es)',
    '  imported: 1',
    '  already imported: 0',
    '  refused: 5',
    `    310104********0118 (row 2): personId: not a valid citizen identity number: check character is 8, expected 7`,
    `    ${m(personId(502))} (rows 3-4): asOf differs between row 3 and row 4; a person's rows make one import`,
    `    ${m(personId(503))} (row 5): row 5, months: Too big: expected number to be <=12`,
    `    310104********0117 (row 6): the person already has legacy history, imported as LEGACY-2024-06; a person has one import`,
    `    ${m(personId(504))} (row 7): row 7 has 7 fields, expected 8`,
  ])
  const balances = await pensionBalances(db, [good, '310104196503150117'])
  // good: 7777.77, 12 + 3 = 15 months in 110000; the example person unchanged
  t.match(balances, {
    [good]: { individualAccount: '7777.77', months: 15, regions: ['110000'] },
    '310104196503150117': { individualAccount: '86000.50', months: 30 },
  })
})

t.test('a file that is not the expected CSV stops with exit 1 and says why', { timeout: 3 * RUN_TIMEOUT_MS }, async (t) => {
  const dir = tempDir(t)
  const db = join(dir, 'ledger.sqlite')
  const file = join(dir, 'bad.csv')
  writeFileSync(file, 'personId,importId,asOf,balance,year,region,months,baseTotal\n')
  const run = await ledgerCli(['import-history', file], db)
  t.equal(run.code, 1)
  t.match(run.stderr, /line 1: the header must be personId,importId,asOf,individualAccountBalance,year,region,months,baseTotal/)
  t.match(run.stdout, /stopped: .*\n.*imported: 0/s)
  const missing = await ledgerCli(['import-history', join(dir, 'missing.csv')], db)
  t.equal(missing.code, 1)
  t.match(missing.stderr, /ENOENT/)
  const usage = await ledgerCli(['import-history'], db)
  t.not(usage.code, 0, 'a missing argument is a usage error')
  t.match(usage.stderr, /missing required argument 'csv'/)
})

t.test('in process: batches of a bounded size, and a person overlapping recorded months is refused', async (t) => {
  const dir = tempDir(t)
  const store = openSqliteEventStore({ path: ':memory:' })
  t.teardown(() => store.close())
  const policies = loadPolicyBook()
  // Person 601 has 2024-07 recorded in Shanghai (a submission of wage 8500.00).
  const recorded = await new RecordSubmissionHandler(store, policies).handle({
    submissionId: 'SH-2024-07',
    employerId: employerId(),
    region: '310000',
    period: '2024-07',
    workInjuryClass: 1,
    lines: [{ personId: personId(601), wage: yuan('8500.00') }],
  })
  t.equal(recorded.kind, 'receipt')
  const file = join(dir, 'five.csv')
  const row = (n: number, asOf: string, year: number, months: number) => `${personId(n)},L-${n},${asOf},100.00,${year},310000,${months},${months}000.00`
  writeFileSync(
    file,
    [
      HEADER,
      row(601, '2024-12-31', 2024, 12), // row 2: 2024 whole, overlaps 2024-07
      row(602, '2024-06-30', 2023, 12), // row 3
      row(603, '2024-06-30', 2023, 12), // row 4
      row(604, '2024-06-30', 2023, 12), // row 5
      row(605, '2024-06-30', 2024, 6), // row 6: to June, does not overlap anything
    ].join('\r\n'),
  )
  const out: string[] = []
  const summary = emptySummary()
  await importHistoryFile(file, new ImportLegacyHandler(store, policies), { actor: 'test' }, (l) => out.push(l), summary, 2)
  t.same(out, [
    'batch 1: 2 person(s), rows 2-3: 1 imported, 0 already imported, 1 refused',
    'batch 2: 2 person(s), rows 4-5: 2 imported, 0 already imported, 0 refused',
    'batch 3: 1 person(s), row 6: 1 imported, 0 already imported, 0 refused',
  ])
  t.same(summaryLines(summary), [
    'done: 5 person(s), 5 row(s), 3 batch(es)',
    '  imported: 4',
    '  already imported: 0',
    '  refused: 1',
    `    ${personId(601).slice(0, 6)}********${personId(601).slice(-4)} (row 2): recorded months lie in imported years: 2024-07 (310000, submission SH-2024-07)`,
  ])
})
