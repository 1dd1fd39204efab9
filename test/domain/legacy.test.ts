import t from 'tap'
import {
  checkLegacyHistory,
  decideLegacyHistory,
  decidePoolLegacyBalance,
  evolvePoolLegacy,
  initialPoolLegacyState,
  isIsoDate,
  legacyCoveredPeriods,
  type ImportLegacyHistory,
  type ImportPoolLegacyBalance,
} from '../../src/domain/legacy/decide.js'
import { LEGACY_HISTORY_IMPORTED, POOL_LEGACY_BALANCE_IMPORTED, type LegacyHistoryImportedData } from '../../src/domain/legacy/events.js'
import { evolvePerson, initialPersonState } from '../../src/domain/contribution/person-state.js'
import { decideSubmission } from '../../src/domain/contribution/decide.js'
import { submissionContentHash, type RecordSubmission } from '../../src/domain/contribution/submission.js'
import { yuan } from '../../src/domain/money.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import { personBalances, poolBalances } from '../../projections/index.js'

/**
 * Legacy history (issue #4): the pure rules of domain/legacy/decide.ts, the person state's view of
 * imported years (a submission for a covered month is a duplicate), and the folds of the balances.
 */

const A = '11010519491231002X' // GB 11643-1999 sample
const EMPLOYER = '91310000MA1FL0000N'
const book = loadPolicyBook()

/** A command with amounts given as strings. */
const history = (over: Partial<Omit<ImportLegacyHistory, 'years'>> & { years?: [number, string, number, string][] } = {}): ImportLegacyHistory => {
  const { years, ...rest } = over
  return {
    importId: 'IMP-1',
    personId: A,
    asOf: '2024-06-30',
    individualAccountBalance: yuan('86000.5'),
    years: (years ?? [
      [2023, '310000', 12, '120000.00'],
      [1998, '310000', 12, '18000'],
      [2024, '310000', 6, '61200.00'],
    ]).map(([year, region, months, baseTotal]) => ({ year, region, months, baseTotal: yuan(baseTotal) })),
    ...rest,
  }
}

/** A ContributionRecorded event of person A (amounts of Shanghai, wage 8500.00, class I). */
const recorded = (period: string, region = '310000', submissionId = `S-${period}`) => ({
  type: 'ContributionRecorded',
  data: {
    submissionId,
    lineIndex: 0,
    personId: A,
    employerId: EMPLOYER,
    region,
    period,
    wage: '8500.00',
    workInjuryClass: 1,
    policyId: 'p',
    policyTableVersion: 'v',
    schemes: [
      // pension 8500 × 16% = 1360.00 / × 8% = 680.00 (individual account)
      { scheme: 'pension', base: '8500.00', employerRate: '0.16', employeeRate: '0.08', employer: '1360.00', employee: '680.00', individualAccount: '680.00', pool: '1360.00' },
      // medical 8500 × 9% = 765.00 / × 2% = 170.00 (individual account)
      { scheme: 'medical', base: '8500.00', employerRate: '0.09', employeeRate: '0.02', employer: '765.00', employee: '170.00', individualAccount: '170.00', pool: '765.00' },
    ],
  },
})

t.test('isIsoDate: calendar days only', async (t) => {
  t.ok(isIsoDate('2024-02-29'), '2024 is a leap year')
  t.notOk(isIsoDate('2023-02-29'), '2023 is not')
  t.notOk(isIsoDate('2000-04-31'))
  t.ok(isIsoDate('2000-02-29'), '2000 is a leap year (divisible by 400)')
  t.notOk(isIsoDate('2024-6-30'))
})

t.test('covered periods: every month of a year, up to the month of asOf in its own year', async (t) => {
  const periods = legacyCoveredPeriods({
    asOf: '2024-06-30',
    years: [
      { year: 2023, region: '310000', months: 7, baseTotal: '0.00' },
      { year: 2023, region: '110000', months: 5, baseTotal: '0.00' },
      { year: 2024, region: '310000', months: 6, baseTotal: '0.00' },
    ],
  })
  // 2023: twelve months whatever the split between regions; 2024: January to June (asOf) → 18
  t.equal(periods.length, 18)
  t.equal(periods[0], '2023-01')
  t.equal(periods[11], '2023-12')
  t.equal(periods.at(-1), '2024-06')
  t.notOk(periods.includes('2024-07'), 'a month after asOf is the ledger’s')
})

t.test('content rules, each naming its field', async (t) => {
  t.same(checkLegacyHistory(history()), [], 'the default command is valid')
  const paths = (over: Parameters<typeof history>[0]) => checkLegacyHistory(history(over)).map((v) => v.path.join('.'))
  t.same(paths({ asOf: '2023-02-29' }), ['asOf'])
  t.same(paths({ years: [] }), ['years'], 'at least one year')
  t.same(
    paths({ years: Array.from({ length: 81 }, (_, i): [number, string, number, string] => [1992 + (i % 33), `3${String(i).padStart(5, '0')}`, 1, '0']) }),
    ['years'],
    'at most 80 entries',
  )
  t.same(paths({ years: [[1991, '310000', 12, '0']] }), ['years.0.year'], 'before 1992')
  t.same(paths({ years: [[2025, '310000', 1, '0']] }), ['years.0.year'], 'after the year of asOf')
  t.same(paths({ years: [[2020, '310000', 0, '0']] }), ['years.0.months'])
  t.same(paths({ years: [[2020, '310000', 13, '0']] }), ['years.0.months'])
  t.same(paths({ years: [[2024, '310000', 7, '0']] }), ['years.0.months'], 'asOf 2024-06-30: 2024 has at most 6 months')
  t.same(paths({ asOf: '2024-07-01', years: [[2024, '310000', 7, '0']] }), [], 'the month of asOf counts')
  t.same(paths({ years: [[2020, '310000', 3, '0'], [2020, '310000', 4, '0']] }), ['years.1.region'], 'no (year, region) twice')
  // 2020: 7 + 6 = 13 months > 12
  const over = checkLegacyHistory(history({ years: [[2020, '310000', 7, '0'], [2019, '110000', 12, '0'], [2020, '110000', 6, '0']] }))
  t.same(over.map((v) => v.path.join('.')), ['years.2.months'])
  t.match(over[0]!.message, /add up to 13/)
  // 2024 across regions: 4 + 3 = 7 > 6 (asOf June)
  t.same(paths({ years: [[2024, '310000', 4, '0'], [2024, '110000', 3, '0']] }), ['years.1.months'])
})

t.test('an import: one event, amounts with two places, years in (year, region) order', async (t) => {
  const d = decideLegacyHistory(history(), initialPersonState())
  if (d.outcome !== 'import') throw new Error(d.outcome)
  t.equal(d.event.type, LEGACY_HISTORY_IMPORTED)
  t.same(d.event.data, {
    importId: 'IMP-1',
    personId: A,
    asOf: '2024-06-30',
    individualAccountBalance: '86000.50',
    years: [
      { year: 1998, region: '310000', months: 12, baseTotal: '18000.00' },
      { year: 2023, region: '310000', months: 12, baseTotal: '120000.00' },
      { year: 2024, region: '310000', months: 6, baseTotal: '61200.00' },
    ],
  })
  t.same(decideLegacyHistory(history({ asOf: '2023-13-01' }), initialPersonState()).outcome, 'invalid')
})

t.test('idempotency: the same import (in any order) is a retry; other content or another id is refused', async (t) => {
  const first = decideLegacyHistory(history(), initialPersonState())
  if (first.outcome !== 'import') throw new Error(first.outcome)
  const state = evolvePerson(initialPersonState(), first.event)

  const again = decideLegacyHistory(
    history({ years: [[2024, '310000', 6, '61200'], [1998, '310000', 12, '18000.00'], [2023, '310000', 12, '120000']] }),
    state,
  )
  t.equal(again.outcome, 'already-imported', 'same content, other order and notation')

  const other = decideLegacyHistory(history({ individualAccountBalance: yuan('86000.51'), asOf: '2024-06-29' }), state)
  t.same(other, { outcome: 'import-conflict', importId: 'IMP-1', differences: ['asOf', 'individualAccountBalance'] })
  const fewer = decideLegacyHistory(history({ years: [[1998, '310000', 12, '18000.00']] }), state)
  t.same(fewer, { outcome: 'import-conflict', importId: 'IMP-1', differences: ['years (count)'] })
  const changed = decideLegacyHistory(history({ years: [[1998, '310000', 11, '18000.00'], [2023, '310000', 12, '120000'], [2024, '310000', 6, '61200']] }), state)
  t.same(changed, { outcome: 'import-conflict', importId: 'IMP-1', differences: ['years (years, regions, months or base totals)'] })

  t.same(decideLegacyHistory(history({ importId: 'IMP-2' }), state), { outcome: 'already-has-history', existingImportId: 'IMP-1' }, 'one import per person')
})

t.test('an import overlapping recorded months is refused, naming them; months after asOf do not overlap', async (t) => {
  const state = initialPersonState()
  evolvePerson(state, recorded('2023-05', '110000', 'BJ-2023-05'))
  evolvePerson(state, recorded('2024-03', '310000', 'SH-2024-03'))
  evolvePerson(state, recorded('2024-07', '310000', 'SH-2024-07'))
  evolvePerson(state, recorded('2022-12', '310000', 'SH-2022-12'))
  // Imported years 1998, 2023 (in 310000 only) and 2024 (to June): 2023-05 overlaps although it was
  // recorded in Beijing (which months of 2023 the import covers is unknown); 2024-03 overlaps;
  // 2024-07 is after asOf and 2022-12 in a year not imported.
  const d = decideLegacyHistory(history(), state)
  t.same(d, {
    outcome: 'overlap',
    overlaps: [
      { period: '2023-05', region: '110000', submissionId: 'BJ-2023-05', yearIndex: 0 },
      { period: '2024-03', region: '310000', submissionId: 'SH-2024-03', yearIndex: 2 },
    ],
  })

  // A voided line no longer counts.
  evolvePerson(state, { type: 'ContributionLineVoided', data: { ...recorded('2023-05', '110000', 'BJ-2023-05').data, reason: 'x' } })
  evolvePerson(state, { type: 'ContributionLineVoided', data: { ...recorded('2024-03', '310000', 'SH-2024-03').data, reason: 'x' } })
  t.equal(decideLegacyHistory(history(), state).outcome, 'import')
})

t.test('imported years credit their months: a later submission inside them is a duplicate month', async (t) => {
  const imported: LegacyHistoryImportedData = {
    importId: 'IMP-1',
    personId: A,
    asOf: '2024-06-30',
    individualAccountBalance: '86000.50',
    years: [
      { year: 2023, region: '310000', months: 12, baseTotal: '120000.00' },
      { year: 2024, region: '110000', months: 6, baseTotal: '61200.00' },
    ],
  }
  const state = evolvePerson(initialPersonState(), { type: LEGACY_HISTORY_IMPORTED, data: imported })
  t.equal(state.legacy, imported)
  t.equal(state.lines.size, 0, 'no recorded line')

  const cmd = (period: string): RecordSubmission => ({
    submissionId: `S-${period}`,
    employerId: EMPLOYER,
    region: '310000',
    period,
    workInjuryClass: 1,
    lines: [{ personId: A, wage: yuan('8500.00') }],
  })
  const decide = (period: string) => decideSubmission(cmd(period), submissionContentHash(cmd(period)), { recorded: undefined, persons: new Map([[A, state]]), policy: book.find('310000', period) })

  // 2024-03 lies in imported year 2024 (imported in Beijing; the submission is Shanghai's): pension,
  // medical and unemployment are already credited; work injury (per employer) is not.
  const dup = decide('2024-03')
  if (dup.outcome !== 'duplicate-months') throw new Error(dup.outcome)
  t.same(
    dup.duplicates.map((d) => [d.scheme, d.period, d.earlier.submissionId, d.earlier.legacyImportId, d.earlier.lineIndex]),
    [
      ['pension', '2024-03', 'legacy:IMP-1', 'IMP-1', 1],
      ['medical', '2024-03', 'legacy:IMP-1', 'IMP-1', 1],
      ['unemployment', '2024-03', 'legacy:IMP-1', 'IMP-1', 1],
    ],
  )
  t.equal(decide('2023-12').outcome, 'duplicate-months', 'December 2023, a full imported year')
  t.equal(decide('2024-07').outcome, 'record', 'July 2024 is after asOf: the ledger records it')
})

// ---------------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------------

const pool = (over: Partial<ImportPoolLegacyBalance> = {}): ImportPoolLegacyBalance => ({
  importId: 'POOL-1',
  region: '310000',
  asOf: '2024-06-30',
  schemes: { pension: yuan('1000000'), unemployment: yuan('2500.5') },
  ...over,
})

t.test('pool opening balance: policy regions only, once, idempotent', async (t) => {
  t.same(decidePoolLegacyBalance(pool({ region: '999999' }), { imported: undefined, regionHasPolicy: false }), { outcome: 'unknown-region', region: '999999' })
  t.same(decidePoolLegacyBalance(pool({ schemes: {} }), { imported: undefined, regionHasPolicy: true }).outcome, 'invalid')
  t.same(decidePoolLegacyBalance(pool({ asOf: '2024-02-30' }), { imported: undefined, regionHasPolicy: true }).outcome, 'invalid')

  const d = decidePoolLegacyBalance(pool({ schemes: { unemployment: yuan('2500.5'), pension: yuan('1000000') } }), { imported: undefined, regionHasPolicy: true })
  if (d.outcome !== 'import') throw new Error(d.outcome)
  t.equal(d.event.type, POOL_LEGACY_BALANCE_IMPORTED)
  t.same(d.event.data, { importId: 'POOL-1', region: '310000', asOf: '2024-06-30', schemes: { pension: '1000000.00', unemployment: '2500.50' } })
  t.same(Object.keys(d.event.data.schemes), ['pension', 'unemployment'], 'schemes in SCHEMES order')

  const state = evolvePoolLegacy(initialPoolLegacyState(), d.event)
  const with_ = { ...state, regionHasPolicy: true }
  t.equal(decidePoolLegacyBalance(pool(), with_).outcome, 'already-imported')
  t.same(decidePoolLegacyBalance(pool({ schemes: { pension: yuan('1000000'), medical: yuan('1.00') } }), with_), {
    outcome: 'import-conflict',
    importId: 'POOL-1',
    differences: ['schemes.medical', 'schemes.unemployment'],
  })
  t.same(decidePoolLegacyBalance(pool({ importId: 'POOL-2' }), with_), { outcome: 'already-has-opening-balance', existingImportId: 'POOL-1' })
})

// ---------------------------------------------------------------------------------------------
// Projections
// ---------------------------------------------------------------------------------------------

t.test('person balances: the imported balance opens the pension account, legacy months per region', async (t) => {
  const legacy = {
    type: LEGACY_HISTORY_IMPORTED,
    data: {
      importId: 'IMP-1',
      personId: A,
      asOf: '2024-06-30',
      individualAccountBalance: '86000.50',
      years: [
        { year: 2015, region: '110000', months: 12, baseTotal: '96000.00' },
        { year: 2016, region: '110000', months: 5, baseTotal: '42500.00' },
        { year: 2016, region: '310000', months: 7, baseTotal: '63000.00' },
      ],
    } satisfies LegacyHistoryImportedData,
  }
  t.same(personBalances.keysOf(legacy), [A])
  const doc = [recorded('2024-07'), legacy, recorded('2024-08')].reduce((d, e) => personBalances.evolve(d, e, A), personBalances.initial(A))
  // pension individual account: 680.00 + 86000.50 + 680.00 = 87360.50; legacy months 110000: 12 + 5 = 17, 310000: 7
  t.same(doc.schemes.pension, {
    individualAccount: '87360.50',
    employerContributed: '2720.00',
    employeeContributed: '1360.00',
    periods: { '2024-07': 1, '2024-08': 1 },
    regions: { '310000': 2 },
    openingBalance: '86000.50',
    legacyMonths: { '110000': 17, '310000': 7 },
  })
  // medical: 170.00 × 2, no legacy fields
  t.same(doc.schemes.medical, { individualAccount: '340.00', employerContributed: '1530.00', employeeContributed: '340.00', periods: { '2024-07': 1, '2024-08': 1 }, regions: { '310000': 2 } })
})

t.test('pool balances: the opening balance is in the balance, not in contributions', async (t) => {
  const opening = { type: POOL_LEGACY_BALANCE_IMPORTED, data: { importId: 'POOL-1', region: '310000', asOf: '2024-06-30', schemes: { pension: '1000000.00', unemployment: '2500.50' } } }
  t.same(poolBalances.keysOf(opening), ['310000'])
  const doc = [recorded('2024-07'), opening, recorded('2024-08')].reduce((d, e) => poolBalances.evolve(d, e, '310000'), poolBalances.initial('310000'))
  // pension: 1360.00 + 1000000.00 + 1360.00 = 1002720.00, contributions 2720.00
  t.same(doc.schemes.pension, { balance: '1002720.00', contributions: '2720.00', openingBalance: '1000000.00' })
  // medical: 765.00 × 2 = 1530.00, opening 0.00
  t.same(doc.schemes.medical, { balance: '1530.00', contributions: '1530.00', openingBalance: '0.00' })
  t.same(doc.schemes.unemployment, { balance: '2500.50', contributions: '0.00', openingBalance: '2500.50' })
})
