import t from 'tap'
import { ageAt, decideRetirement, minimumPensionMonths, type RecordRetirement } from '../../src/domain/retirement/decide.js'
import { loadPensionTables } from '../../src/policy-loader.js'
import { citizenId, fold, personEvents, wholeYears, type Ev } from '../helpers/person-events.js'

// Retirement (RULES.md §5, Guo Fa [2005] No.38): individual-account pension = account balance /
// months divisor by age at retirement (60: 139, 55: 170, 50: 195, 70: 56, POLICY-FACTS.md), rounded
// half-up to 0.01; at least 15 years of contributions, rising by six months a year from 2030 to 20.
// The age must be the one the birth date of the identity number (positions 7-14) gives on the day
// of retirement, and no pension month may be recorded after the month of retirement.
// Every expected amount below is worked out by hand from those rules.

const tables = loadPensionTables()
/** Born 1965-03-15: 60 years 0 months on 2025-03-15, the default day of retirement. */
const P = citizenId('19650315')
/** The day retirements are decided: every retirement in these tests has happened by then. */
const TODAY = '2040-12-31'
const SH = '310000'
const BJ = '110000'

// ---------------------------------------------------------------------------------------------
// Events (test/helpers/person-events.ts): lines pension only, base 10000.00, 8% = 800.00 to the
// individual account; legacy years given by each test
// ---------------------------------------------------------------------------------------------

const { legacy, line, lineData, contributionReversed, interestCredited, transferOpened, pensionTransferred, transferClosed } = personEvents(P, { region: SH })

const months = (year: number, from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `${year}-${String(from + i).padStart(2, '0')}`)

/** The request; `personId` P unless given (a test of another age gives a person born to match it). */
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
const base180 = (balance = '100000.00', personId = P): Ev[] => [personEvents(personId, { region: SH }).legacy('2024-12-31', balance, wholeYears(2024, 15, SH))]

// ---------------------------------------------------------------------------------------------
// The individual-account pension
// ---------------------------------------------------------------------------------------------

t.test('age 60: balance / 139, plus the pooled part', async (t) => {
  const d = decideRetirement(retire(), fold(base180()), tables, TODAY)
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
  // born 1969-11-15: on 2025-03-15, (2025 − 1969) × 12 + (3 − 11) = 672 − 8 = 664 months = 55 years 4 months
  const person = citizenId('19691115')
  const d = decideRetirement(retire({ personId: person, ageYears: 55, ageMonths: 4, pooledMonthlyAmount: '2500.00' }), fold(base180('100000.00', person)), tables, TODAY)
  if (d.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(d)}`)
  t.equal(d.event.data.monthsDivisor, 170)
  // 170 × 588 = 99960; 100000 − 99960 = 40; 40 / 170 = 0.235294… → 588.2352… → 588.24 (third place 5: up)
  t.equal(d.event.data.individualAccountMonthly, '588.24')
  // 588.24 + 2500.00 = 3088.24
  t.equal(d.event.data.monthlyPension, '3088.24')
})

t.test('age 50: balance / 195', async (t) => {
  // born 1975-03-15: 50 years 0 months on 2025-03-15
  const person = citizenId('19750315')
  const d = decideRetirement(retire({ personId: person, ageYears: 50, pooledMonthlyAmount: '2000.00' }), fold(base180('100000.00', person)), tables, TODAY)
  if (d.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(d)}`)
  t.equal(d.event.data.monthsDivisor, 195)
  // 195 × 512 = 99840; 100000 − 99840 = 160; 160 / 195 = 0.820512… → 512.8205… → 512.82
  t.equal(d.event.data.individualAccountMonthly, '512.82')
  // 512.82 + 2000.00 = 2512.82
  t.equal(d.event.data.monthlyPension, '2512.82')
})

t.test('an exact half fen rounds up (half-up, not half-even)', async (t) => {
  // age 70: divisor 56; 56 × 100.005 = 5600.28, so 5600.28 / 56 = 100.005 exactly → half-up 100.01
  // (half-even would give 100.00); born 1955-03-15: 70 years 0 months on 2025-03-15
  const person = citizenId('19550315')
  const d = decideRetirement(retire({ personId: person, ageYears: 70, pooledMonthlyAmount: '1000.00' }), fold(base180('5600.28', person)), tables, TODAY)
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
  // born 1965-03-15: 2025-12-15 is 60 years 9 months, 2026-01-15 not reached on the 10th → 60 years 9 months
  const d = decideRetirement(retire({ retiredOn: '2026-01-10', ageMonths: 9 }), state, tables, TODAY)
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
  const d = decideRetirement(retire(), short, tables, TODAY)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') {
    t.equal(d.violations.length, 1, 'only the months are wrong')
    t.equal(d.violations[0]?.pointer, '/personId')
    t.match(d.violations[0]?.message, /179/)
    t.match(d.violations[0]?.message, /180/)
  }
  t.equal(decideRetirement(retire(), fold(base180()), tables, TODAY).outcome, 'record', '180 months: enough')
})

t.test('a reversed month no longer counts towards the minimum', async (t) => {
  // 168 imported + 12 recorded = 180; reversing 2025-05 leaves 179
  // (on 2026-01-10 the person born 1965-03-15 is 60 years 9 months old, as above)
  const events = [legacy('2024-12-31', '95000.00', wholeYears(2024, 14, SH)), ...months(2025, 1, 12).map((p) => line(p))]
  t.equal(decideRetirement(retire({ retiredOn: '2026-01-10', ageMonths: 9 }), fold(events), tables, TODAY).outcome, 'record', '180 before the reversal')
  const reversed = contributionReversed(lineData('2025-05', SH), 5)
  const d = decideRetirement(retire({ retiredOn: '2026-01-10', ageMonths: 9 }), fold([...events, reversed]), tables, TODAY)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') t.same(d.violations.map((v) => v.pointer), ['/personId'])
})

t.test('from 2030 the minimum rises: 180 months are not enough in 2030, 186 are', async (t) => {
  // 15 years 2015..2029 = 180 months; in 2030 the minimum is 180 + 6 = 186
  // born 1965-03-15: on 2030-07-01, (2030 − 1965) × 12 + (7 − 3) − 1 (the 1st is before the 15th) = 783 months = 65 years 3 months
  const at2030 = { retiredOn: '2030-07-01', ageYears: 65, ageMonths: 3 }
  const only180 = [legacy('2029-12-31', '100000.00', wholeYears(2029, 15, SH))]
  const d = decideRetirement(retire(at2030), fold(only180), tables, TODAY)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') {
    t.same(d.violations.map((v) => v.pointer), ['/personId'])
    t.match(d.violations[0]?.message, /186/)
  }
  // + 6 recorded months 2030-01..2030-06 = 186
  const with186 = [...only180, ...months(2030, 1, 6).map((p) => line(p))]
  const ok = decideRetirement(retire(at2030), fold(with186), tables, TODAY)
  t.equal(ok.outcome, 'record')
  if (ok.outcome === 'record') t.equal(ok.event.data.monthsContributed, 186)
})

t.test('an open transfer blocks retirement until it is closed', async (t) => {
  const events = [...base180(), transferOpened('T1', SH, BJ)]
  const d = decideRetirement(retire(), fold(events), tables, TODAY)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') {
    t.same(d.violations.map((v) => v.pointer), ['/personId'])
    t.match(d.violations[0]?.message, /T1/)
  }
  t.equal(decideRetirement(retire(), fold([...events, transferClosed('T1', 'cancelled')]), tables, TODAY).outcome, 'record', 'closed: no longer blocks')
})

t.test('the pension is paid where the account is held', async (t) => {
  const d = decideRetirement(retire({ region: BJ }), fold(base180()), tables, TODAY)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') t.same(d.violations.map((v) => v.pointer), ['/region'])

  // After a completed transfer to Beijing, the account is held there; the transferred months still count.
  const sent = pensionTransferred('T1', SH, BJ, {
    sendNumber: 1, sentOn: '2025-01-20',
    individualAccount: '100000.00', pooledFund: '86400.00', months: 180, baseTotal: '720000.00', periods: [], legacyYears: true,
  })
  const moved = fold([...base180(), transferOpened('T1', SH, BJ), sent, transferClosed('T1', 'completed')])
  const inShanghai = decideRetirement(retire({ region: SH }), moved, tables, TODAY)
  t.equal(inShanghai.outcome, 'invalid')
  if (inShanghai.outcome === 'invalid') t.same(inShanghai.violations.map((v) => v.pointer), ['/region'])
  const inBeijing = decideRetirement(retire({ region: BJ }), moved, tables, TODAY)
  t.equal(inBeijing.outcome, 'record')
  if (inBeijing.outcome === 'record') {
    t.equal(inBeijing.event.data.monthsContributed, 180, 'transferred months count')
    t.equal(inBeijing.event.data.individualAccountMonthly, '719.42', '100000.00 / 139 → 719.42, as before the move')
  }
})

t.test('an age the divisor table lacks', async (t) => {
  // born 1986-03-15: 39 years 0 months on 2025-03-15; born 1954-03-15: 71 years 0 months
  for (const [ageYears, birth] of [[39, '19860315'], [71, '19540315']] as const) {
    const person = citizenId(birth)
    const d = decideRetirement(retire({ personId: person, ageYears }), fold(base180('100000.00', person)), tables, TODAY)
    t.equal(d.outcome, 'invalid', `age ${ageYears}`)
    if (d.outcome === 'invalid') {
      t.same(d.violations.map((v) => v.pointer), ['/ageYears'])
      t.match(d.violations[0]?.message, /no row for age/)
    }
  }
  // several faults are reported together: 179 months and age 39
  const young = citizenId('19860315')
  const short = personEvents(young, { region: SH }).legacy('2024-12-31', '1.00', [...wholeYears(2023, 14, SH), [2024, SH, 11]])
  const d = decideRetirement(retire({ personId: young, ageYears: 39 }), fold([short]), tables, TODAY)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') t.same(d.violations.map((v) => v.pointer).sort(), ['/ageYears', '/personId'])
})

t.test('retired already: the same facts answer with the record, other facts conflict', async (t) => {
  const events = base180()
  const first = decideRetirement(retire(), fold(events), tables, TODAY)
  if (first.outcome !== 'record') throw new Error(first.outcome)
  const retired = fold([...events, first.event])
  t.equal(retired.pension.retirement?.individualAccountMonthly, '719.42')

  const again = decideRetirement(retire(), retired, tables, TODAY)
  t.equal(again.outcome, 'already-recorded')
  if (again.outcome === 'already-recorded') t.same(again.recorded, first.event.data)

  const other = decideRetirement(retire({ retiredOn: '2025-04-01', pooledMonthlyAmount: '3100.00' }), retired, tables, TODAY)
  t.equal(other.outcome, 'conflict')
  if (other.outcome === 'conflict') {
    t.same([...other.differences].sort(), ['pooledMonthlyAmount', 'retiredOn'])
    t.same(other.recorded, first.event.data)
  }
  const otherRegion = decideRetirement(retire({ region: BJ, ageYears: 61 }), retired, tables, TODAY)
  t.equal(otherRegion.outcome, 'conflict')
  if (otherRegion.outcome === 'conflict') t.same([...otherRegion.differences].sort(), ['ageYears', 'region'])

  // ageMonths left out of the repeat: the rest is the same, so it answers with the record
  const { ageMonths: _omitted, ...withoutMonths } = retire()
  const repeat = decideRetirement(withoutMonths, retired, tables, TODAY)
  t.equal(repeat.outcome, 'already-recorded', 'an omitted ageMonths is no difference')
})

// ---------------------------------------------------------------------------------------------
// The age the identity number gives
// ---------------------------------------------------------------------------------------------

/** Born 1964-08-16: on 2024-08-15, (2024 − 1964) × 12 + (8 − 8) − 1 (the 15th is before the 16th) =
 * 719 months = 59 years 11 months; on 2024-08-16, 720 months = 60 years 0 months. */
const AUG = citizenId('19640816')
// 15 whole years 2009..2023 = 180 months, none after the retirement month; balance 100000.00
const augBase = (): Ev[] => [personEvents(AUG, { region: SH }).legacy('2023-12-31', '100000.00', wholeYears(2023, 15, SH))]
const retireAug = (over: Partial<RecordRetirement>): RecordRetirement => retire({ personId: AUG, retiredOn: '2024-08-15', ...over })

t.test('ageAt: completed years and the completed months beyond them', async (t) => {
  t.same(ageAt('19640816', '2024-08-15'), { years: 59, months: 11 }, '719 months')
  t.same(ageAt('19640816', '2024-08-16'), { years: 60, months: 0 }, '720 months: the birthday itself')
  t.same(ageAt('19650315', '2026-01-10'), { years: 60, months: 9 }, '(2026 − 1965) × 12 + (1 − 3) − 1 = 729 months')
})

t.test('an age that disagrees with the birth date of the identity number is refused', async (t) => {
  const state = fold(augBase())
  // 60 years claimed the day before the 60th birthday
  const years = decideRetirement(retireAug({ ageYears: 60, ageMonths: 0 }), state, tables, TODAY)
  t.equal(years.outcome, 'invalid')
  if (years.outcome === 'invalid') {
    t.same(years.violations.map((v) => v.pointer), ['/ageYears'], 'only the age is wrong')
    t.match(years.violations[0]?.message, /1964-08-16/)
    t.match(years.violations[0]?.message, /59 years and 11 months/)
  }
  // the years right, the months wrong
  const monthsWrong = decideRetirement(retireAug({ ageYears: 59, ageMonths: 0 }), state, tables, TODAY)
  t.equal(monthsWrong.outcome, 'invalid')
  if (monthsWrong.outcome === 'invalid') {
    t.same(monthsWrong.violations.map((v) => v.pointer), ['/ageMonths'])
    t.match(monthsWrong.violations[0]?.message, /59 years and 11 months/)
  }
  // both right: recorded with the divisor of 59
  const ok = decideRetirement(retireAug({ ageYears: 59, ageMonths: 11 }), state, tables, TODAY)
  if (ok.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(ok)}`)
  t.match(ok.event.data, { ageYears: 59, ageMonths: 11, monthsDivisor: 145 }, 'divisor at 59 (pension tables)')
  // 145 × 689 = 99905; 100000 − 99905 = 95; 95 / 145 = 0.655172… → 689.6551… → 689.66 (third place 5: up)
  t.equal(ok.event.data.individualAccountMonthly, '689.66')
  // 689.66 + 3000.00 = 3689.66
  t.equal(ok.event.data.monthlyPension, '3689.66')
  // a day later the same person is 60 years 0 months: divisor 139, 100000.00 / 139 → 719.42 (as above)
  const birthday = decideRetirement(retireAug({ retiredOn: '2024-08-16', ageYears: 60, ageMonths: 0 }), state, tables, TODAY)
  if (birthday.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(birthday)}`)
  t.match(birthday.event.data, { ageYears: 60, ageMonths: 0, monthsDivisor: 139, individualAccountMonthly: '719.42' })
})

t.test('ageMonths left out: the months the birth date gives are recorded', async (t) => {
  const state = fold(augBase())
  const { ageMonths: _omitted, ...cmd } = retireAug({ ageYears: 59 })
  const d = decideRetirement(cmd, state, tables, TODAY)
  if (d.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(d)}`)
  t.equal(d.event.data.ageYears, 59)
  t.equal(d.event.data.ageMonths, 11, '719 months − 59 × 12 = 11')
  t.equal(d.event.data.monthsDivisor, 145)
  // the years are still checked without the months
  const { ageMonths: _none, ...wrongYears } = retireAug({ ageYears: 60 })
  const wrong = decideRetirement(wrongYears, state, tables, TODAY)
  t.equal(wrong.outcome, 'invalid')
  if (wrong.outcome === 'invalid') t.same(wrong.violations.map((v) => v.pointer), ['/ageYears'])
})

// ---------------------------------------------------------------------------------------------
// Contributions after the month of retirement
// ---------------------------------------------------------------------------------------------

t.test('a pension month recorded after the month of retirement is refused; the month itself is not', async (t) => {
  // revisions: 0 legacy (180 months), 1 March 2025, 2 April 2025; retiring 2025-03-15
  const withMarch = [...base180(), line('2025-03')]
  const march = decideRetirement(retire(), fold(withMarch), tables, TODAY)
  t.equal(march.outcome, 'record', 'March 2025 is the month of retirement')
  if (march.outcome === 'record') t.equal(march.event.data.monthsContributed, 181, '180 + 1')

  const withApril = [...withMarch, line('2025-04')]
  const d = decideRetirement(retire(), fold(withApril), tables, TODAY)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') {
    t.same(d.violations.map((v) => v.pointer), ['/retiredOn'], 'only the April month is wrong')
    t.match(d.violations[0]?.message, /2025-04/)
  }
  // a month recorded after the retirement month anywhere counts, not only in the region retired in
  const inBeijing = decideRetirement(retire(), fold([...withMarch, line('2025-05', BJ)]), tables, TODAY)
  t.equal(inBeijing.outcome, 'invalid')
  if (inBeijing.outcome === 'invalid') t.same(inBeijing.violations.map((v) => v.pointer), ['/retiredOn'])

  // the April line reversed: no longer a pension month, no longer in the way
  const reversed = decideRetirement(retire(), fold([...withApril, contributionReversed(lineData('2025-04', SH), 2)]), tables, TODAY)
  t.equal(reversed.outcome, 'record')
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

t.test('a birthday the month lacks falls on its last day (Civil Code Art. 202)', async (t) => {
  // Born 1964-02-29: 2025 has no 29 February, so the 61st birthday falls on 2025-02-28.
  t.same(ageAt('19640229', '2025-02-27'), { years: 60, months: 11 })
  t.same(ageAt('19640229', '2025-02-28'), { years: 61, months: 0 })
  t.same(ageAt('19640229', '2024-02-29'), { years: 60, months: 0 }, 'a leap year has the day itself')
  t.same(ageAt('19640229', '2024-02-28'), { years: 59, months: 11 })
  // Born on the 31st: a month of 30 days counts the month on its 30th.
  t.same(ageAt('19640131', '2024-04-29'), { years: 60, months: 2 })
  t.same(ageAt('19640131', '2024-04-30'), { years: 60, months: 3 })
})
