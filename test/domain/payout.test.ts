import t from 'tap'
import { formatYuan } from '../../src/domain/money.js'
import { decidePayout, type RecordPayout } from '../../src/domain/payout/decide.js'
import { PersonStream, citizenId, personEvents, wholeYears } from '../helpers/person-events.js'

// Payouts (RULES.md §5): the pension pays the pooled monthly amount from the pool and the
// individual-account monthly amount from the account; "when the individual account is exhausted,
// the pooled fund keeps paying that part". Other schemes pay from the pool of the region of the
// person's latest contribution to that scheme; medical may take part from the medical individual
// account (RULES.md §1: the employee's medical part goes to that account). Any scheme pays only
// months that have begun: no period after the current month.
// Every expected amount below is worked out by hand.

/** Born 1965-01-15: 60 years 0 months on 2025-01-15, the day of the retirement the builder writes. */
const P = citizenId('19650115')
/** The day the payouts are decided: every period the tests pay has begun. */
const TODAY = '2026-11-30'
const SH = '310000'
const BJ = '110000'
const GD = '440000'

// ---------------------------------------------------------------------------------------------
// Events (test/helpers/person-events.ts): lines of SCHEME_AMOUNTS, submission `S-{region}-{period}`;
// a legacy import holds 15 whole years 2010..2024 in Shanghai; a retirement as recorded: retired
// 2025-01-15 in Shanghai, `iaMonthly` a month from the account, 3000.00 from the pool
// ---------------------------------------------------------------------------------------------

const { legacy, line, lineData, retired, contributionReversed } = personEvents(P, {
  region: SH,
  submissionId: (period, region) => `S-${region}-${period}`,
  legacyYears: wholeYears(2024, 15, SH),
})

const pension = (period: string, payoutId = `PAY-${period}`): RecordPayout => ({ payoutId, personId: P, scheme: 'pension', period, kind: 'monthly' })

/** Decides, expects a record, folds it into the person and returns its data. */
function pay(person: PersonStream, cmd: RecordPayout) {
  const d = decidePayout(cmd, person.state, TODAY)
  if (d.outcome !== 'record') throw new Error(`expected a record for ${cmd.payoutId}, got ${JSON.stringify(d)}`)
  person.add(d.event)
  return d.event.data
}

// ---------------------------------------------------------------------------------------------
// Pension
// ---------------------------------------------------------------------------------------------

t.test('no pension before a retirement is recorded', async (t) => {
  const person = new PersonStream([legacy('2024-12-31', '100000.00'), line('2025-01', SH, ['pension'])])
  const d = decidePayout(pension('2025-02'), person.state, TODAY)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') t.equal(d.pointer, '/personId')
})

t.test('no pension for a month before the retirement month; the retirement month itself is paid', async (t) => {
  const person = new PersonStream([legacy('2024-12-31', '100000.00'), retired('719.42')])
  const before = decidePayout(pension('2024-12'), person.state, TODAY)
  t.equal(before.outcome, 'invalid')
  if (before.outcome === 'invalid') t.equal(before.pointer, '/period')
  t.equal(decidePayout(pension('2025-01'), person.state, TODAY).outcome, 'record', 'retired 2025-01-15: January is paid')
})

t.test('a normal month: the account part from the account, the pooled part from the pool', async (t) => {
  const person = new PersonStream([legacy('2024-12-31', '100000.00'), retired('719.42')])
  const data = pay(person, pension('2025-01'))
  t.match(data, { payoutId: 'PAY-2025-01', personId: P, scheme: 'pension', kind: 'monthly', period: '2025-01', region: SH })
  t.equal(data.fromIndividualAccount, '719.42')
  t.equal(data.fromPool, '3000.00')
  // 719.42 + 3000.00 = 3719.42
  t.equal(data.amount, '3719.42')
  t.equal(data.poolCoversAccount, '0.00', 'the account holds enough: the pool covers nothing of it')
  // 100000.00 − 719.42 = 99280.58
  t.equal(formatYuan(person.state.pension.individualAccount), '99280.58')
  t.equal(person.state.pension.pensionPayouts.get('2025-01'), 'PAY-2025-01')
})

t.test('an account that runs out: the pool pays the rest of the account part', async (t) => {
  const person = new PersonStream([legacy('2024-12-31', '1500.00'), retired('719.42')])
  const jan = pay(person, pension('2025-01'))
  t.equal(jan.fromIndividualAccount, '719.42', 'Jan: 1500.00 ≥ 719.42')
  t.equal(jan.fromPool, '3000.00')
  t.equal(jan.amount, '3719.42')
  // 1500.00 − 719.42 = 780.58
  t.equal(formatYuan(person.state.pension.individualAccount), '780.58')

  const feb = pay(person, pension('2025-02'))
  t.equal(feb.fromIndividualAccount, '719.42', 'Feb: 780.58 ≥ 719.42')
  t.equal(feb.fromPool, '3000.00')
  // 780.58 − 719.42 = 61.16
  t.equal(formatYuan(person.state.pension.individualAccount), '61.16')

  const mar = pay(person, pension('2025-03'))
  t.equal(mar.fromIndividualAccount, '61.16', 'Mar: what is left')
  // 719.42 − 61.16 = 658.26
  t.equal(mar.poolCoversAccount, '658.26')
  // 3000.00 + 658.26 = 3658.26
  t.equal(mar.fromPool, '3658.26')
  // 61.16 + 3658.26 = 3719.42: the person gets the full pension
  t.equal(mar.amount, '3719.42')
  t.equal(formatYuan(person.state.pension.individualAccount), '0.00', '61.16 − 61.16')

  const apr = pay(person, pension('2025-04'))
  t.equal(apr.fromIndividualAccount, '0.00', 'Apr: the account is empty')
  t.equal(apr.poolCoversAccount, '719.42')
  // 3000.00 + 719.42 = 3719.42
  t.equal(apr.fromPool, '3719.42')
  t.equal(apr.amount, '3719.42')
  t.equal(formatYuan(person.state.pension.individualAccount), '0.00', 'never below zero')
})

t.test('the same period twice is refused with the first payout', async (t) => {
  const person = new PersonStream([legacy('2024-12-31', '100000.00'), retired('719.42')])
  pay(person, pension('2025-02', 'PAY-A'))
  for (const payoutId of ['PAY-A', 'PAY-B']) {
    const d = decidePayout(pension('2025-02', payoutId), person.state, TODAY)
    t.same(d, { outcome: 'period-paid', period: '2025-02', payoutId: 'PAY-A' }, `asked as ${payoutId}`)
  }
  // 100000.00 − 719.42 (once) = 99280.58
  t.equal(formatYuan(person.state.pension.individualAccount), '99280.58')
})

// ---------------------------------------------------------------------------------------------
// Medical
// ---------------------------------------------------------------------------------------------

t.test('medical: part from the medical individual account, within its balance', async (t) => {
  // two months, 200.00 each to the medical account: 400.00
  const person = new PersonStream([line('2024-05', SH, ['pension', 'medical']), line('2024-06', SH, ['pension', 'medical'])])
  t.equal(formatYuan(person.state.medicalAccount), '400.00', '200.00 + 200.00')

  const first = pay(person, { payoutId: 'M1', personId: P, scheme: 'medical', period: '2024-07', kind: 'reimbursement', amount: '500.00', fromIndividualAccount: '300.00' })
  t.equal(first.fromIndividualAccount, '300.00')
  // 500.00 − 300.00 = 200.00
  t.equal(first.fromPool, '200.00')
  t.equal(first.amount, '500.00')
  t.equal(first.region, SH)
  t.notOk('poolCoversAccount' in first, 'pension only')
  // 400.00 − 300.00 = 100.00
  t.equal(formatYuan(person.state.medicalAccount), '100.00')
  t.equal(formatYuan(person.state.pension.individualAccount), '1600.00', 'the pension account is untouched: 800.00 + 800.00')

  const beyond = decidePayout({ payoutId: 'M2', personId: P, scheme: 'medical', period: '2024-08', kind: 'reimbursement', amount: '150.00', fromIndividualAccount: '150.00' }, person.state, TODAY)
  t.equal(beyond.outcome, 'invalid', '150.00 > 100.00 left')
  if (beyond.outcome === 'invalid') t.equal(beyond.pointer, '/fromIndividualAccount')

  const moreThanAmount = decidePayout({ payoutId: 'M3', personId: P, scheme: 'medical', period: '2024-08', kind: 'reimbursement', amount: '50.00', fromIndividualAccount: '60.00' }, person.state, TODAY)
  t.equal(moreThanAmount.outcome, 'invalid', '60.00 from the account > the 50.00 paid')
  if (moreThanAmount.outcome === 'invalid') t.equal(moreThanAmount.pointer, '/fromIndividualAccount')

  const exactly = pay(person, { payoutId: 'M4', personId: P, scheme: 'medical', period: '2024-08', kind: 'reimbursement', amount: '120.00', fromIndividualAccount: '100.00' })
  t.equal(exactly.fromIndividualAccount, '100.00', 'the whole balance is allowed')
  // 120.00 − 100.00 = 20.00
  t.equal(exactly.fromPool, '20.00')
  t.equal(formatYuan(person.state.medicalAccount), '0.00', '100.00 − 100.00')

  const poolOnly = pay(person, { payoutId: 'M5', personId: P, scheme: 'medical', period: '2024-09', kind: 'reimbursement', amount: '80.00' })
  t.equal(poolOnly.fromIndividualAccount, '0.00')
  t.equal(poolOnly.fromPool, '80.00')
  t.equal(poolOnly.amount, '80.00')
})

// ---------------------------------------------------------------------------------------------
// Unemployment and the paying region
// ---------------------------------------------------------------------------------------------

t.test('unemployment without unemployment contributions: no pool to pay from', async (t) => {
  const person = new PersonStream([line('2024-05', SH, ['pension', 'medical'])])
  const d = decidePayout({ payoutId: 'U1', personId: P, scheme: 'unemployment', period: '2024-07', kind: 'benefit', amount: '1800.00' }, person.state, TODAY)
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') t.equal(d.pointer, '/scheme')
})

t.test("the paying region is that of the latest period's line for the scheme", async (t) => {
  // recorded out of order: 2024-08 in Beijing first, then a late 2024-03 line in Shanghai; then
  // 2024-09 in Guangdong without unemployment
  const person = new PersonStream([
    line('2024-08', BJ, ['pension', 'medical', 'unemployment']),
    line('2024-03', SH, ['pension', 'medical', 'unemployment']),
    line('2024-09', GD, ['pension', 'medical']),
  ])
  const unemployment = pay(person, { payoutId: 'U1', personId: P, scheme: 'unemployment', period: '2024-10', kind: 'benefit', amount: '1800.00' })
  t.equal(unemployment.region, BJ, 'latest unemployment period 2024-08 (Beijing), not the latest recorded line')
  t.equal(unemployment.fromPool, '1800.00')
  t.equal(unemployment.fromIndividualAccount, '0.00')
  t.equal(unemployment.amount, '1800.00')

  const medical = pay(person, { payoutId: 'M1', personId: P, scheme: 'medical', period: '2024-10', kind: 'reimbursement', amount: '100.00' })
  t.equal(medical.region, GD, 'latest medical period 2024-09 (Guangdong)')

  // reversing the Beijing line (revision 0) leaves Shanghai's 2024-03 as the latest unemployment line
  person.add(contributionReversed(lineData('2024-08', BJ, ['pension', 'medical', 'unemployment']), 0))
  const after = pay(person, { payoutId: 'U2', personId: P, scheme: 'unemployment', period: '2024-11', kind: 'benefit', amount: '1800.00' })
  t.equal(after.region, SH)
})

// ---------------------------------------------------------------------------------------------
// The current month
// ---------------------------------------------------------------------------------------------

t.test('a period after the current month is invalid, for any scheme; the current month is paid', async (t) => {
  const retiredPerson = new PersonStream([legacy('2024-12-31', '100000.00'), retired('719.42')])
  const early = decidePayout(pension('2025-02'), retiredPerson.state, '2025-01-31')
  t.equal(early.outcome, 'invalid', 'February asked on 31 January')
  if (early.outcome === 'invalid') {
    t.equal(early.pointer, '/period')
    t.match(early.detail, /2025-01/)
  }
  t.equal(decidePayout(pension('2025-02'), retiredPerson.state, '2025-02-01').outcome, 'record', 'February asked on 1 February')
  const nextMonth = decidePayout(pension('2026-12'), retiredPerson.state, TODAY)
  t.equal(nextMonth.outcome, 'invalid', `2026-12 on ${TODAY}`)
  if (nextMonth.outcome === 'invalid') t.equal(nextMonth.pointer, '/period')
  t.equal(decidePayout(pension('2026-11'), retiredPerson.state, TODAY).outcome, 'record', `2026-11 on ${TODAY}: the current month`)
  t.equal(formatYuan(retiredPerson.state.pension.individualAccount), '100000.00', 'nothing was folded: the account is untouched')

  const worker = new PersonStream([line('2024-05', SH, ['pension', 'medical', 'unemployment'])])
  for (const scheme of ['medical', 'unemployment'] as const) {
    const d = decidePayout({ payoutId: 'X1', personId: P, scheme, period: '2024-08', kind: 'benefit', amount: '100.00' }, worker.state, '2024-07-31')
    t.equal(d.outcome, 'invalid', `${scheme}: August asked in July`)
    if (d.outcome === 'invalid') t.equal(d.pointer, '/period')
    t.equal(decidePayout({ payoutId: 'X1', personId: P, scheme, period: '2024-07', kind: 'benefit', amount: '100.00' }, worker.state, '2024-07-31').outcome, 'record', `${scheme}: July asked in July`)
  }
})
