import t from 'tap'
import { decideRetirement, minimumPensionMonths, type RecordRetirement } from '../../src/domain/retirement/decide.js'
import { loadPensionTables } from '../../src/policy-loader.js'
import { fold, personEvents, wholeYears, type Ev } from '../helpers/person-events.js'

// Retirement (RULES.md §5, Guo Fa [2005] No.38): individual-account pension = account balance /
// months divisor by age at retirement (60: 139, 55: 170, 50: 195, 70: 56, POLICY-FACTS.md), rounded
// half-up to 0.01; at least 15 years of contributions, rising by six months a year from 2030 to 20.
// Every expected amount below is worked out by hand from those rules.

const tables = loadPensionTables()
const P = '310101196503150011'
const SH = '310000'
const BJ = '110000'

// ---------------------------------------------------------------------------------------------
// Events (test/helpers/person-events.ts): lines pension only, base 10000.00, 8% = 800.00 to the
// individual account; legacy years given by each test
// ---------------------------------------------------------------------------------------------

const { legacy, line, lineData, contributionReversed, interestCredited, transferOpened, pensionTransferred, transferClosed } = personEvents(P, { region: SH })

const months = (year: number, from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `${year}-${String(from + i).padStart(2, '0')}`)

const retire = (over: Partial<RecordRetirement> = {}): RecordRetirement => ({
  personId: P,
  region: SH,
  retiredOn: '2025-03-15',
  ageYears: 60,
  ageMonths: 0,
  pooledMonthlyAmount: '3000.00',
  ...over,
})

// 15 whole years 2010..2024 in Shanghai = 15 × 12 = 180 months; balance 100000.00 as of 2024-12-31.
const base180 = (balance = '100000.00'): Ev[] => [legacy('2024-12-31', balance, wholeYears(2024, 15, SH))]

// ---------------------------------------------------------------------------------------------
// The individual-account pension
// ---------------------------------------------------------------------------------------------

t.test('age 60: balance / 139, plus the pooled part', async (t) => {
  const d = decideRetirement(retire(), fold(base180()), tables)
  if (d.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(d)}`)
  t.equal(d.event.type, 'RetirementRecorded')
  t.equal(d.event.data.monthsDivisor, 139, 'divisor at 60 (POLICY-FACTS.md)')
  t.equal(d.event.data.individualAccountBalance, '100000.00')
  // 139 × 719 = 99941; 100000 − 99941 = 59; 59 / 139 = 0.42446… → 719.42446… → 719.42 (third place 4: down)
  t.equal(d.event.data.individualAccountMonthly, '719.42')
  t.equal(d.event.data.pooledMonthlyAmount, '3000.00')
  // 719.42 + 3000.00 = 3719.42
  t.equal(d.event.data.monthlyPension, '3719.42')
  // 15 years × 12 = 180
  t.equal(d.event.data.monthsContributed, 180)
  t.match(d.event.data, { personId: P, region: SH, retiredOn: '2025-03-15', ageYears: 60, ageMonths: 0 })
  t.equal(d.event.data.pensionTablesVersion, tables.tableVersion, 'records the table version it used')
})

t.test('age 55: balance / 170', async (t) => {
  const d = decideRetirement(retire({ ageYears: 55, ageMonths: 4, pooledMonthlyAmount: '2500.00' }), fold(base180()), tables)
  if (d.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(d)}`)
  t.equal(d.event.data.monthsDivisor, 170)
  // 170 × 588 = 99960; 100000 − 99960 = 40; 40 / 170 = 0.235294… → 588.2352… → 588.24 (third place 5: up)
  t.equal(d.event.data.individualAccountMonthly, '588.24')
  // 588.24 + 2500.00 = 3088.24
  t.equal(d.event.data.monthlyPension, '3088.24')
})

t.test('age 50: balance / 195', async (t) => {
  const d = decideRetirement(retire({ ageYears: 50, pooledMonthlyAmount: '2000.00' }), fold(base180()), tables)
  if (d.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(d)}`)
  t.equal(d.event.data.monthsDivisor, 195)
  // 195 × 512 = 99840; 100000 − 99840 = 160; 160 / 195 = 0.820512… → 512.8205… → 512.82
  t.equal(d.event.data.individualAccountMonthly, '512.82')
  // 512.82 + 2000.00 = 2512.82
  t.equal(d.event.data.monthlyPension, '2512.82')
})

t.test('an exact half fen rounds up (half-up, not half-even)', async (t) => {
  // age 70: divisor 56; 56 × 100.005 = 5600.28, so 5600.28 / 56 = 100.005 exactly → half-up 100.01
  // (half-even would give 100.00)
  const d = decideRetirement(retire({ ageYears: 70, pooledMonthlyAmount: '1000.00' }), fold(base180('5600.28')), tables)
  if (d.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(d)}`)
  t.equal(d.event.data.monthsDivisor, 56)
  t.equal(d.event.data.individualAccountMonthly, '100.01')
  // 100.01 + 1000.00 = 1100.01
  t.equal(d.event.data.monthlyPension, '1100.01')
})

t.test('imported and recorded months add up; the balance is legacy + contributions + interest', async (t) => {
  // 14 years 2011..2024 × 12 = 168 imported months + 12 recorded months of 2025 = 180 (exactly the minimum)
  const events = [legacy('2024-12-31', '95000.00', wholeYears(2024, 14, SH)), ...months(2025, 1, 12).map((p) => line(p)), interestCredited(2025, '123.45', '1.50')]
  const state = fold(events)
  const d = decideRetirement(retire({ retiredOn: '2026-01-10' }), state, tables)
  if (d.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(d)}`)
  t.equal(d.event.data.monthsContributed, 180, '168 + 12')
  // 95000.00 + 12 × 800.00 (= 9600.00) + 123.45 = 104723.45
  t.equal(d.event.data.individualAccountBalance, '104723.45')
  // 139 × 753 = 104667; 104723.45 − 104667 = 56.45; 56.45 / 139 = 0.40611… → 753.406… → 753.41
  t.equal(d.event.data.individualAccountMonthly, '753.41')
  // 753.41 + 3000.00 = 3753.41
  t.equal(d.event.data.monthlyPension, '3753.41')
})

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

t.test('179 months is one short of 15 years; exactly 180 is enough', async (t) => {
  // 14 × 12 + 11 = 179
  const short = fold([legacy('2024-12-31', '100000.00', [...wholeYears(2023, 14, SH), [2024, SH, 11]])])
  const d = decideRetirement(retire(), short, tables)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') {
    t.equal(d.violations.length, 1, 'only the months are wrong')
    t.equal(d.violations[0]?.pointer, '/personId')
    t.match(d.violations[0]?.message, /179/)
    t.match(d.violations[0]?.message, /180/)
  }
  t.equal(decideRetirement(retire(), fold(base180()), tables).outcome, 'record', '180 months: enough')
})

t.test('a reversed month no longer counts towards the minimum', async (t) => {
  // 168 imported + 12 recorded = 180; reversing 2025-05 leaves 179
  const events = [legacy('2024-12-31', '95000.00', wholeYears(2024, 14, SH)), ...months(2025, 1, 12).map((p) => line(p))]
  t.equal(decideRetirement(retire({ retiredOn: '2026-01-10' }), fold(events), tables).outcome, 'record', '180 before the reversal')
  const reversed = contributionReversed(lineData('2025-05', SH), 5)
  const d = decideRetirement(retire({ retiredOn: '2026-01-10' }), fold([...events, reversed]), tables)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') t.same(d.violations.map((v) => v.pointer), ['/personId'])
})

t.test('from 2030 the minimum rises: 180 months are not enough in 2030, 186 are', async (t) => {
  // 15 years 2015..2029 = 180 months; in 2030 the minimum is 180 + 6 = 186
  const only180 = [legacy('2029-12-31', '100000.00', wholeYears(2029, 15, SH))]
  const d = decideRetirement(retire({ retiredOn: '2030-07-01' }), fold(only180), tables)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') {
    t.same(d.violations.map((v) => v.pointer), ['/personId'])
    t.match(d.violations[0]?.message, /186/)
  }
  // + 6 recorded months 2030-01..2030-06 = 186
  const with186 = [...only180, ...months(2030, 1, 6).map((p) => line(p))]
  const ok = decideRetirement(retire({ retiredOn: '2030-07-01' }), fold(with186), tables)
  t.equal(ok.outcome, 'record')
  if (ok.outcome === 'record') t.equal(ok.event.data.monthsContributed, 186)
})

t.test('an open transfer blocks retirement until it is closed', async (t) => {
  const events = [...base180(), transferOpened('T1', SH, BJ)]
  const d = decideRetirement(retire(), fold(events), tables)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') {
    t.same(d.violations.map((v) => v.pointer), ['/personId'])
    t.match(d.violations[0]?.message, /T1/)
  }
  t.equal(decideRetirement(retire(), fold([...events, transferClosed('T1', 'cancelled')]), tables).outcome, 'record', 'closed: no longer blocks')
})

t.test('the pension is paid where the account is held', async (t) => {
  const d = decideRetirement(retire({ region: BJ }), fold(base180()), tables)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') t.same(d.violations.map((v) => v.pointer), ['/region'])

  // After a completed transfer to Beijing, the account is held there; the transferred months still count.
  const sent = pensionTransferred('T1', SH, BJ, {
    sendNumber: 1, sentOn: '2025-01-20',
    individualAccount: '100000.00', pooledFund: '86400.00', months: 180, baseTotal: '720000.00', periods: [], legacyYears: true,
  })
  const moved = fold([...base180(), transferOpened('T1', SH, BJ), sent, transferClosed('T1', 'completed')])
  const inShanghai = decideRetirement(retire({ region: SH }), moved, tables)
  t.equal(inShanghai.outcome, 'invalid')
  if (inShanghai.outcome === 'invalid') t.same(inShanghai.violations.map((v) => v.pointer), ['/region'])
  const inBeijing = decideRetirement(retire({ region: BJ }), moved, tables)
  t.equal(inBeijing.outcome, 'record')
  if (inBeijing.outcome === 'record') {
    t.equal(inBeijing.event.data.monthsContributed, 180, 'transferred months count')
    t.equal(inBeijing.event.data.individualAccountMonthly, '719.42', '100000.00 / 139 → 719.42, as before the move')
  }
})

t.test('an age the divisor table lacks', async (t) => {
  for (const ageYears of [39, 71]) {
    const d = decideRetirement(retire({ ageYears }), fold(base180()), tables)
    t.equal(d.outcome, 'invalid', `age ${ageYears}`)
    if (d.outcome === 'invalid') t.same(d.violations.map((v) => v.pointer), ['/ageYears'])
  }
  // several faults are reported together: 179 months and age 39
  const d = decideRetirement(retire({ ageYears: 39 }), fold([legacy('2024-12-31', '1.00', [...wholeYears(2023, 14, SH), [2024, SH, 11]])]), tables)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') t.same(d.violations.map((v) => v.pointer).sort(), ['/ageYears', '/personId'])
})

t.test('retired already: the same facts answer with the record, other facts conflict', async (t) => {
  const events = base180()
  const first = decideRetirement(retire(), fold(events), tables)
  if (first.outcome !== 'record') throw new Error(first.outcome)
  const retired = fold([...events, first.event])
  t.equal(retired.pension.retirement?.individualAccountMonthly, '719.42')

  const again = decideRetirement(retire(), retired, tables)
  t.equal(again.outcome, 'already-recorded')
  if (again.outcome === 'already-recorded') t.same(again.recorded, first.event.data)

  const other = decideRetirement(retire({ retiredOn: '2025-04-01', pooledMonthlyAmount: '3100.00' }), retired, tables)
  t.equal(other.outcome, 'conflict')
  if (other.outcome === 'conflict') {
    t.same([...other.differences].sort(), ['pooledMonthlyAmount', 'retiredOn'])
    t.same(other.recorded, first.event.data)
  }
  const otherRegion = decideRetirement(retire({ region: BJ, ageYears: 61 }), retired, tables)
  t.equal(otherRegion.outcome, 'conflict')
  if (otherRegion.outcome === 'conflict') t.same([...otherRegion.differences].sort(), ['ageYears', 'region'])
})

// ---------------------------------------------------------------------------------------------
// Minimum months by year of retirement
// ---------------------------------------------------------------------------------------------

t.test('minimumPensionMonths: 15 years until 2029, then + 6 months a year up to 20 years', async (t) => {
  t.equal(minimumPensionMonths('2024-06-30'), 180, '15 × 12')
  t.equal(minimumPensionMonths('2029-12-31'), 180, '15 × 12')
  t.equal(minimumPensionMonths('2030-01-01'), 186, '180 + 6 × 1')
  t.equal(minimumPensionMonths('2031-06-15'), 192, '180 + 6 × 2')
  t.equal(minimumPensionMonths('2038-12-31'), 234, '180 + 6 × 9')
  t.equal(minimumPensionMonths('2039-01-01'), 240, '180 + 6 × 10 = 240 = 20 × 12')
  t.equal(minimumPensionMonths('2045-03-01'), 240, 'capped at 20 years')
})
