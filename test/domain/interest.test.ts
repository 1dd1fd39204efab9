import t from 'tap'
import { decideInterest, monthsEarning } from '../../src/domain/interest/calculate.js'
import { decideStartRun, evolveInterestRuns, initialInterestRuns, openPass, type InterestRunsState, type StartInterestRun } from '../../src/domain/interest/run-state.js'
import { ZERO, formatYuan, yuan } from '../../src/domain/money.js'
import { interestRate } from '../../src/domain/pension/pension-tables.js'
import type { PersonAccountsState } from '../../src/domain/person/person-accounts.js'
import { loadPensionTables } from '../../src/policy-loader.js'
import { citizenId, fold, personEvents, yearsTo, type Ev } from '../helpers/person-events.js'

// Record-keeping interest (RULES.md §4): per calendar year, the balance held the whole year earns
// the annual rate; money credited during the year earns amount × rate × months / 12, months counted
// from the month credited, that month included ("inclusive", the default: March → 10) or from the
// month after ("exclusive": March → 9); a debit likewise. Rates: 2024 2.62%, 2025 1.50%
// (POLICY-FACTS.md). Every expected amount below is worked out by hand; the year's interest is
// rounded half-up to the fen once, and never below 0.00.

const tables = loadPensionTables()
/** Born 1964-12-01: 60 years 0 months on 2024-12-01, the day of the retirement below. */
const P = citizenId('19641201')
const SH = '310000'
const R2024 = interestRate('2.62')
const R2025 = interestRate('1.50')

// ---------------------------------------------------------------------------------------------
// Events (test/helpers/person-events.ts): a legacy import holds 10 years up to its `asOf`, the
// year of `asOf` with the months up to it
// ---------------------------------------------------------------------------------------------

const { legacy, lineData, retired, pensionPayout, interestCredited, contributionReversed, payoutReversed } = personEvents(P, {
  region: SH,
  legacyYears: (asOf) => yearsTo(asOf, 10, SH),
})

/** A pension-only line: base `base`, 8% of it to the individual account (`ia`). */
const pensionLineData = (period: string, base: string, ia: string) =>
  lineData(period, SH, [{ scheme: 'pension', base, employerRate: '0.16', employeeRate: '0.08', employer: '0.00', employee: ia, individualAccount: ia, pool: '0.00' }], { wage: base })
// base 8500.00 × 8% = 680.00; base 10000.00 × 8% = 800.00
const line680 = (period: string): Ev => ({ type: 'ContributionRecorded', data: pensionLineData(period, '8500.00', '680.00') })
const line800 = (period: string): Ev => ({ type: 'ContributionRecorded', data: pensionLineData(period, '10000.00', '800.00') })

const retirement = retired('500.00', { retiredOn: '2024-12-01', individualAccountBalance: '11360.00', monthlyPension: '3500.00' })
const decemberPayout = pensionPayout('PAY-2024-12', '2024-12', '500.00', '3000.00', '3500.00')

/**
 * The year of the issue: 10000.00 held since before 2024 (legacy as of 2023-12-31), 680.00 credited in
 * March and in November 2024, 500.00 paid out of the account in December 2024.
 * Revisions: 0 legacy, 1 March, 2 November, 3 retirement, 4 December payout.
 */
const year2024 = (): Ev[] => [legacy('2023-12-31', '10000.00'), line680('2024-03'), line680('2024-11'), retirement, decemberPayout]

/** A ContributionReversed undoing the March line (revision 1). */
const marchReversed = (): Ev => contributionReversed(pensionLineData('2024-03', '8500.00', '680.00'), 1)

function credit(state: PersonAccountsState, year: number, rate = R2024, counting: 'inclusive' | 'exclusive' = 'inclusive') {
  const d = decideInterest(P, state.pension, year, rate, counting)
  if (d.outcome !== 'credit') throw new Error(`expected credit, got ${JSON.stringify(d)}`)
  return d.event
}

// ---------------------------------------------------------------------------------------------
// Months
// ---------------------------------------------------------------------------------------------

t.test('monthsEarning: inclusive counts the month credited, exclusive starts after it; month-end money earns from the next month', async (t) => {
  const m = (month: number, atMonthEnd: boolean) => ({ year: 2024, month, atMonthEnd, amount: ZERO })
  t.equal(monthsEarning(m(3, false), 'inclusive'), 10, 'March..December = 12 − 3 + 1')
  t.equal(monthsEarning(m(3, false), 'exclusive'), 9, 'April..December = 12 − 3')
  t.equal(monthsEarning(m(1, false), 'inclusive'), 12, 'January: the whole year')
  t.equal(monthsEarning(m(12, false), 'inclusive'), 1, 'December: one month')
  t.equal(monthsEarning(m(12, false), 'exclusive'), 0, 'December, from the month after: none')
  t.equal(monthsEarning(m(6, true), 'inclusive'), 6, 'end of June: July..December = 12 − 6')
  t.equal(monthsEarning(m(6, true), 'exclusive'), 6, 'end of June: the same either way')
  t.equal(monthsEarning(m(12, true), 'inclusive'), 0, 'end of December: nothing in its own year')
})

// ---------------------------------------------------------------------------------------------
// A year's interest
// ---------------------------------------------------------------------------------------------

t.test('opening balance, two credits and a debit, inclusive months, rounded once', async (t) => {
  const event = credit(fold(year2024()), 2024)
  t.equal(event.type, 'InterestCredited')
  // opening:      10000.00 × 0.0262           = 262.00
  // March credit:    680.00 × 0.0262 × 10/12  =  17.816 × 10/12 = 14.846666…
  // Nov. credit:     680.00 × 0.0262 × 2/12   =  17.816 × 2/12  =  2.969333…
  // Dec. debit:    − 500.00 × 0.0262 × 1/12   = −13.1 / 12      = −1.091666…
  // total: 262 + 14.846666… + 2.969333… − 1.091666… = 278.724333… → 278.72
  // (rounding each term first would give 262.00 + 14.85 + 2.97 − 1.09 = 278.73: the rule rounds once)
  t.equal(event.data.amount, '278.72')
  t.equal(event.data.openingBalance, '10000.00')
  t.equal(event.data.credits, '1360.00', '680.00 + 680.00')
  t.equal(event.data.debits, '500.00')
  t.match(event.data, { personId: P, year: 2024, ratePercent: '2.62', monthCounting: 'inclusive', region: SH })
})

t.test('the same year with exclusive months', async (t) => {
  const event = credit(fold(year2024()), 2024, R2024, 'exclusive')
  // opening:      10000.00 × 0.0262          = 262.00
  // March credit:    680.00 × 0.0262 × 9/12  = 17.816 × 0.75 = 13.362
  // Nov. credit:     680.00 × 0.0262 × 1/12  = 17.816 / 12   =  1.484666…
  // Dec. debit:      500.00 × 0.0262 × 0/12  =                  0
  // total: 262 + 13.362 + 1.484666… = 276.846666… → 276.85
  t.equal(event.data.amount, '276.85')
  t.equal(event.data.monthCounting, 'exclusive')
})

t.test('the rate from the shipped table for 2024 is 2.62%', async (t) => {
  const rate = tables.interestRate(2024)
  t.equal(rate?.percent, '2.62')
  t.equal(tables.monthCounting, 'inclusive', 'inclusive is the default (RULES.md §4)')
  if (rate) t.equal(credit(fold(year2024()), 2024, rate, tables.monthCounting).data.amount, '278.72', 'as above')
})

t.test('movements of later years do not count', async (t) => {
  const event = credit(fold([...year2024(), line800('2025-02')]), 2024)
  t.equal(event.data.amount, '278.72', 'as without the 2025 line')
  t.equal(event.data.credits, '1360.00')
})

t.test('a legacy balance as of 2024-06-30 earns the six months after it', async (t) => {
  const state = fold([legacy('2024-06-30', '20000.00'), line800('2024-07')])
  // legacy (end of June): 20000.00 × 0.0262 × 6/12 = 524 × 0.5 = 262.00
  // July, inclusive:        800.00 × 0.0262 × 6/12 = 20.96 × 0.5 = 10.48
  // total 272.48
  const inclusive = credit(state, 2024)
  t.equal(inclusive.data.amount, '272.48')
  t.equal(inclusive.data.openingBalance, '0.00', 'nothing held since before 1 January 2024')
  t.equal(inclusive.data.credits, '20800.00', '20000.00 + 800.00')
  // exclusive: legacy still 6 months (end of June) = 262.00;
  // July: 800.00 × 0.0262 × 5/12 = 20.96 × 5/12 = 104.8/12 = 8.733333…; total 270.733333… → 270.73
  t.equal(credit(state, 2024, R2024, 'exclusive').data.amount, '270.73')
})

t.test('a year credited already', async (t) => {
  const state = fold([...year2024(), interestCredited(2024, '278.72', '2.62')])
  t.same(decideInterest(P, state.pension, 2024, R2024, 'inclusive'), { outcome: 'already-credited', amount: '278.72' })
})

t.test('a year the imported history covers is skipped; the next one is credited on the legacy balance', async (t) => {
  const state = fold([legacy('2024-12-31', '20000.00')])
  t.same(decideInterest(P, state.pension, 2024, R2024, 'inclusive'), { outcome: 'skip', reason: 'covered-by-legacy' })
  t.same(decideInterest(P, state.pension, 2023, interestRate('3.97'), 'inclusive'), { outcome: 'skip', reason: 'covered-by-legacy' }, 'and every year before it')
  const next = credit(state, 2025, R2025)
  // 20000.00 × 0.015 = 300.00
  t.equal(next.data.amount, '300.00')
  t.equal(next.data.openingBalance, '20000.00')
})

t.test('a person with no account by the end of the year is skipped', async (t) => {
  t.same(decideInterest(P, fold([line800('2025-02')]).pension, 2024, R2024, 'inclusive'), { outcome: 'skip', reason: 'no-account' }, 'only 2025 events')
  t.same(decideInterest(P, fold([]).pension, 2024, R2024, 'inclusive'), { outcome: 'skip', reason: 'no-account' }, 'no events')
})

t.test("the previous year's interest opens the next year", async (t) => {
  const events = year2024()
  const first = credit(fold(events), 2024)
  t.equal(first.data.amount, '278.72')
  const state = fold([...events, first])
  // 10000.00 + 680.00 + 680.00 − 500.00 + 278.72 = 11138.72
  t.equal(formatYuan(state.pension.individualAccount), '11138.72')
  const next = credit(state, 2025, R2025)
  t.equal(next.data.openingBalance, '11138.72')
  t.equal(next.data.credits, '0.00')
  t.equal(next.data.debits, '0.00')
  // 11138.72 × 0.015 = 167.0808 → 167.08
  t.equal(next.data.amount, '167.08')
})

t.test('a reversed March contribution earns nothing', async (t) => {
  // reversed before the retirement (a line recorded before a retirement is counted in it and can no
  // longer be reversed); revisions: 0 legacy, 1 March, 2 November, 3 reversal, 4 retirement, 5 payout
  // 10000.00 + 680.00 + 680.00 − 680.00 = 10680.00 at the retirement
  const retiredAfter = retired('500.00', { retiredOn: '2024-12-01', individualAccountBalance: '10680.00', monthlyPension: '3500.00' })
  const event = credit(fold([legacy('2023-12-31', '10000.00'), line680('2024-03'), line680('2024-11'), marchReversed(), retiredAfter, decemberPayout]), 2024)
  // opening 262.00 + November 2.969333… − December 1.091666… = 263.877666… → 263.88
  t.equal(event.data.amount, '263.88')
  // net movements of the year: 680.00 + 680.00 − 680.00 − 500.00 = 180.00
  t.equal(formatYuan(yuan(event.data.credits).minus(yuan(event.data.debits))), '180.00')
})

t.test('a reversed December payout takes nothing off', async (t) => {
  const reversal = payoutReversed(decemberPayout.data, 4)
  const event = credit(fold([...year2024(), reversal]), 2024)
  // 262.00 + 14.846666… + 2.969333… = 262 + 17.816 = 279.816 → 279.82
  t.equal(event.data.amount, '279.82')
})

t.test('never below 0.00: a debit dated before the credit that paid it', async (t) => {
  // Nothing held before 2024 (opening 0.00). Revisions: 0 a retirement on 2024-01-15 (born 1964-12-01:
  // (2024 − 1964) × 12 + (1 − 12) = 709 months = 59 years 1 month; its account figures as written, the
  // interest reads only the movements), 1 a 2024-12 line crediting 680.00, recorded after it,
  // 2 the pension for 2024-01, recorded late: 12.14 from the account (which holds 680.00 by then).
  const events = [
    retired('12.14', { retiredOn: '2024-01-15', ageYears: 59, ageMonths: 1, monthsDivisor: 145, monthlyPension: '3012.14' }),
    line680('2024-12'),
    pensionPayout('PAY-2024-01', '2024-01', '12.14', '3000.00', '3012.14'),
  ]
  const state = fold(events)
  // 680.00 − 12.14 = 667.86
  t.equal(formatYuan(state.pension.individualAccount), '667.86')

  // exclusive: January debit −12.14 × 11 months = −133.54; December credit 680.00 × 0 months = 0
  // −133.54 × 0.0262 / 12 = −3.498748 / 12 = −0.291562… → −0.29: below zero → 0.00
  const exclusive = credit(state, 2024, R2024, 'exclusive')
  t.equal(exclusive.data.amount, '0.00')
  t.equal(exclusive.data.openingBalance, '0.00')
  t.equal(exclusive.data.credits, '680.00')
  t.equal(exclusive.data.debits, '12.14')

  // inclusive, for contrast: −12.14 × 12 + 680.00 × 1 = −145.68 + 680.00 = 534.32;
  // 534.32 × 0.0262 / 12 = 13.999184 / 12 = 1.166598… → 1.17
  t.equal(credit(state, 2024, R2024, 'inclusive').data.amount, '1.17')
})

// ---------------------------------------------------------------------------------------------
// Starting a run
// ---------------------------------------------------------------------------------------------

const started = (year: number, pass: number, ratePercent: string, rateSource: 'table' | 'request' = 'table'): Ev => ({
  type: 'InterestRunStarted',
  data: { year, pass, ratePercent, rateSource, monthCounting: 'inclusive', pensionTablesVersion: tables.tableVersion },
})
const batch = (year: number, pass: number, n: number, examined: number, credited: number, interest: string, lastPersonId: string): Ev => ({
  type: 'InterestRunBatchCompleted',
  data: { year, pass, batch: n, examined, lastPersonId, credited, interest, alreadyCredited: 0, skipped: examined - credited },
})
const completed = (year: number, pass: number): Ev => ({
  type: 'InterestRunCompleted',
  data: { year, pass, batches: 1, examined: 0, credited: 0, interest: '0.00', alreadyCredited: 0, skipped: 0 },
})
const runs = (events: Ev[]): InterestRunsState => {
  const s = initialInterestRuns()
  for (const e of events) evolveInterestRuns(s, e)
  return s
}
const start = (year: number, ratePercent?: string, currentYear = 2026): StartInterestRun => ({ year, currentYear, ...(ratePercent !== undefined ? { ratePercent } : {}) })

t.test('a year not over yet cannot be run', async (t) => {
  for (const year of [2025, 2026]) {
    const d = decideStartRun(start(year, '1.50', 2025), runs([]), tables)
    t.equal(d.outcome, 'invalid', `${year} in 2025`)
    if (d.outcome === 'invalid') t.equal(d.pointer, '/year')
  }
})

t.test("the rate defaults to the table's", async (t) => {
  const d = decideStartRun(start(2024), runs([]), tables)
  t.same(d, {
    outcome: 'start',
    event: { type: 'InterestRunStarted', data: { year: 2024, pass: 1, ratePercent: '2.62', rateSource: 'table', monthCounting: 'inclusive', pensionTablesVersion: tables.tableVersion } },
  })
  const same = decideStartRun(start(2024, '2.62'), runs([]), tables)
  t.match(same, { outcome: 'start', event: { data: { ratePercent: '2.62', rateSource: 'table' } } }, 'the table rate given explicitly')
  const other = decideStartRun(start(2024, '3.00'), runs([]), tables)
  t.match(other, { outcome: 'invalid', pointer: '/rate', detail: /2\.62%/ }, 'another rate than the strong published one is refused')
  t.match(decideStartRun(start(2024, '2.620'), runs([]), tables), { outcome: 'start', event: { data: { ratePercent: '2.62', rateSource: 'table' } } }, '2.620 is the published 2.62, recorded as the table writes it')
  t.match(decideStartRun(start(2015, '0.04'), runs([]), tables), { outcome: 'invalid', pointer: '/rate', detail: /not a fraction/ }, '0.04% is below the plausible 0.5%')
  t.match(decideStartRun(start(2015, '25'), runs([]), tables), { outcome: 'invalid', pointer: '/rate' }, '25% is above the plausible 20%')
})

t.test('a year the table has no rate for needs one', async (t) => {
  const d = decideStartRun(start(2015), runs([]), tables)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') t.equal(d.pointer, '/rate')
  t.match(decideStartRun(start(2015, '4.00'), runs([]), tables), { outcome: 'start', event: { data: { year: 2015, pass: 1, ratePercent: '4.00', rateSource: 'request' } } })
})

t.test("a table rate not marked strong (2025: 1.50%, weak) needs the rate given for the year's first run", async (t) => {
  t.equal(tables.interestRateConfidence(2025), 'weak')
  t.equal(tables.interestRate(2025)?.percent, '1.50')
  const d = decideStartRun(start(2025), runs([]), tables)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') {
    t.equal(d.pointer, '/rate')
    t.match(d.detail, /1\.50/)
    t.match(d.detail, /weak/)
  }
  t.same(
    decideStartRun(start(2025, '1.50'), runs([]), tables),
    { outcome: 'start', event: { type: 'InterestRunStarted', data: { year: 2025, pass: 1, ratePercent: '1.50', rateSource: 'table', monthCounting: 'inclusive', pensionTablesVersion: tables.tableVersion } } },
    "the table's value given explicitly: accepted, recorded as the table's",
  )
  t.match(decideStartRun(start(2025, '1.60'), runs([]), tables), { outcome: 'start', event: { data: { ratePercent: '1.60', rateSource: 'request' } } }, 'another rate given')
  // once the year has a run, a rerun without a rate keeps the run's rate
  const confirmed = runs([started(2025, 1, '1.50'), completed(2025, 1)])
  t.match(decideStartRun(start(2025), confirmed, tables), { outcome: 'start', event: { data: { year: 2025, pass: 2, ratePercent: '1.50', rateSource: 'table' } } })
  // a strong table rate still needs none
  t.match(decideStartRun(start(2024), runs([]), tables), { outcome: 'start', event: { data: { ratePercent: '2.62', rateSource: 'table' } } })
})

t.test('a rerun keeps the rate: another rate conflicts, the same starts a new pass', async (t) => {
  const state = runs([started(2024, 1, '2.62'), completed(2024, 1)])
  t.equal(decideStartRun(start(2024, '3.00'), state, tables).outcome, 'conflict')
  t.match(decideStartRun(start(2024), state, tables), { outcome: 'start', event: { data: { year: 2024, pass: 2, ratePercent: '2.62', rateSource: 'table' } } })
  t.match(decideStartRun(start(2024, '2.620'), state, tables), { outcome: 'start', event: { data: { pass: 2, ratePercent: '2.62' } } }, '2.620 = 2.62')
  // a rate given by request is kept by a rerun without one
  const requested = runs([started(2015, 1, '4.00', 'request'), completed(2015, 1)])
  t.match(decideStartRun(start(2015), requested, tables), { outcome: 'start', event: { data: { pass: 2, ratePercent: '4.00', rateSource: 'request' } } })
})

t.test('years in order: a later year credited already conflicts', async (t) => {
  const state = runs([started(2025, 1, '1.50'), completed(2025, 1)])
  t.equal(decideStartRun(start(2024), state, tables).outcome, 'conflict')
})

t.test('an open pass is resumed; another year with an open pass blocks', async (t) => {
  const state = runs([started(2024, 1, '2.62'), batch(2024, 1, 1, 100, 90, '1234.56', 'P100'), batch(2024, 1, 2, 50, 40, '789.01', 'P150')])
  t.same(decideStartRun(start(2024), state, tables), { outcome: 'resume', pass: 1 })
  const pass = openPass(state.years.get(2024))
  t.equal(pass?.examined, 150, '100 + 50')
  t.equal(pass?.credited, 130, '90 + 40')
  // 1234.56 + 789.01 = 2023.57
  t.equal(pass && formatYuan(pass.interest), '2023.57')
  t.equal(pass?.lastPersonId, 'P150')
  t.equal(decideStartRun(start(2024, '3.00'), state, tables).outcome, 'conflict', 'resuming with another rate')

  const open2023 = runs([started(2023, 1, '3.97')])
  t.equal(decideStartRun(start(2024), open2023, tables).outcome, 'conflict', '2023 not finished')
})

t.test('a March line reversed after its year was credited leaves the next opening balance without it', async (t) => {
  // A person not retired (a retired person's lines recorded before the retirement can no longer be
  // reversed): 10000.00 held, 680.00 credited in March and November 2024, no payout.
  // Revisions: 0 legacy, 1 March, 2 November, 3 the 2024 interest, 4 the reversal.
  const events = [legacy('2023-12-31', '10000.00'), line680('2024-03'), line680('2024-11')]
  const first = credit(fold(events), 2024)
  // 262.00 + 14.846666… (March, 10 months) + 2.969333… (November, 2 months) = 279.816 → 279.82
  t.equal(first.data.amount, '279.82')
  const state = fold([...events, first, marchReversed()])
  // 10000.00 + 680.00 + 680.00 + 279.82 − 680.00 = 10959.82
  t.equal(formatYuan(state.pension.individualAccount), '10959.82')
  t.same(decideInterest(P, state.pension, 2024, R2024, 'inclusive'), { outcome: 'already-credited', amount: '279.82' }, '2024 is not credited again')
  // Whether the 2024 interest the reversed line earned (680.00 × 0.0262 × 10/12 = 14.846666…) must be
  // taken back is not settled by RULES.md §4; only the balance is asserted here.
})
