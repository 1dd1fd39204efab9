import t from 'tap'
import { creditKey } from '../../src/domain/contribution/person-state.js'
import { formatYuan } from '../../src/domain/money.js'
import { decidePayout } from '../../src/domain/payout/decide.js'
import { decideReversal, type ReverseEvent, type TargetEvent } from '../../src/domain/reversal/decide.js'
import { ALL_SCHEMES as ALL, PersonStream, citizenId, personEvents, wholeYears } from '../helpers/person-events.js'

// Reversals: a compensating event undoes exactly the amounts of a contribution line or a payout;
// the original stays in the log; a reversal is never reversed; an event is reversed at most once;
// a pension line recorded before the retirement is counted in the pension in payment and stays.
// Every expected amount below is worked out by hand.

/** Born 1965-01-15: 60 years 0 months on 2025-01-15, the day of the retirement the builder writes. */
const P = citizenId('19650115')
/** The day the payouts are decided: every period the tests pay has begun. */
const TODAY = '2026-11-30'
const SH = '310000'
const BJ = '110000'
const STREAM = `person-${P}`

// ---------------------------------------------------------------------------------------------
// Events (test/helpers/person-events.ts): lines of all three schemes of SCHEME_AMOUNTS by default,
// line index 3, submission `S-{region}-{period}`; a legacy import holds 15 whole years 2000..2014
// ---------------------------------------------------------------------------------------------

const { line, lineData, lineVoided, legacy, retired, pensionPayout, medicalPayout, transferOpened, pensionTransferred, transferClosed } = personEvents(P, {
  region: SH,
  schemes: ALL,
  lineIndex: 3,
  submissionId: (period, region) => `S-${region}-${period}`,
  legacyYears: wholeYears(2014, 15, SH),
})

/** A person's stream whose events a reversal can name by revision (event id `evt-{revision}`). */
class Person extends PersonStream {
  target(revision: number): TargetEvent | undefined {
    const e = this.log[revision]
    return e && { id: `evt-${revision}`, type: e.type, data: e.data }
  }
  /** Decides a reversal of the event at `revision`. */
  reverse(revision: number, reversalId: string) {
    const cmd: ReverseEvent = { reversalId, eventRef: { stream: STREAM, revision: String(revision) }, reason: 'posted in error' }
    return decideReversal(cmd, this.target(revision), this.state)
  }
}

// ---------------------------------------------------------------------------------------------
// Contribution lines
// ---------------------------------------------------------------------------------------------

t.test('a contribution line: reversed with exactly its amounts; the month is no longer credited', async (t) => {
  const person = new Person([line('2024-03'), line('2024-04')])
  // 800.00 + 800.00 = 1600.00; medical 200.00 + 200.00 = 400.00
  t.equal(formatYuan(person.state.pension.individualAccount), '1600.00')
  t.equal(formatYuan(person.state.medicalAccount), '400.00')

  const d = person.reverse(0, 'R1')
  if (d.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(d)}`)
  t.equal(d.event.type, 'ContributionReversed')
  const original = lineData('2024-03')
  t.same(d.event.data, {
    reversalId: 'R1',
    reason: 'posted in error',
    eventRef: { stream: STREAM, revision: '0' },
    reversedEventId: 'evt-0',
    submissionId: original.submissionId,
    lineIndex: 3,
    personId: P,
    employerId: 'E1',
    region: SH,
    period: '2024-03',
    schemes: original.schemes,
  })

  person.add(d.event)
  for (const scheme of ALL) t.notOk(person.state.contribution.credited.has(creditKey('2024-03', scheme)), `2024-03 ${scheme} no longer credited`)
  t.ok(person.state.contribution.credited.has(creditKey('2024-04', 'pension')), '2024-04 untouched')
  // 1600.00 − 800.00 = 800.00
  t.equal(formatYuan(person.state.pension.individualAccount), '800.00')
  // 400.00 − 200.00 = 200.00
  t.equal(formatYuan(person.state.medicalAccount), '200.00')
  t.notOk(person.state.pension.regions.get(SH)?.pending.has('2024-03'), 'no longer a pension month of Shanghai')
  t.equal(person.state.pension.regions.get(SH)?.pending.size, 1)
  t.notOk(person.state.lines.has(0n))
  t.equal(person.state.reversed.get(0n), 'R1')
})

t.test('the same event twice: already reversed, by the first reversal', async (t) => {
  const person = new Person([line('2024-03'), line('2024-04')])
  const first = person.reverse(0, 'R1')
  if (first.outcome !== 'record') throw new Error(first.outcome)
  person.add(first.event)
  t.same(person.reverse(0, 'R2'), { outcome: 'already-reversed', reversalId: 'R1' })
  t.same(person.reverse(0, 'R1'), { outcome: 'already-reversed', reversalId: 'R1' })
  // the second line can still be reversed
  t.equal(person.reverse(1, 'R3').outcome, 'record')
})

t.test('a reversal cannot be reversed', async (t) => {
  const person = new Person([line('2024-03')])
  const first = person.reverse(0, 'R1')
  if (first.outcome !== 'record') throw new Error(first.outcome)
  const at = person.add(first.event)
  const d = person.reverse(at, 'R2')
  t.equal(d.outcome, 'invalid')
  if (d.outcome === 'invalid') t.equal(d.pointer, '/eventRef')
})

t.test('an event type that is not reversible, and a revision with no event', async (t) => {
  const person = new Person([legacy('2014-12-31', '50000.00'), line('2024-03')])
  const d = person.reverse(0, 'R1')
  t.equal(d.outcome, 'invalid', 'LegacyHistoryImported')
  if (d.outcome === 'invalid') t.equal(d.pointer, '/eventRef')
  const retirement = new Person([legacy('2024-12-31', '100000.00'), retired('719.42')]).reverse(1, 'R1')
  t.equal(retirement.outcome, 'invalid', 'RetirementRecorded')

  const missing = person.reverse(7, 'R2')
  t.equal(missing.outcome, 'invalid')
  if (missing.outcome === 'invalid') t.equal(missing.pointer, '/eventRef/revision')
})

t.test('a line voided already: conflict', async (t) => {
  const data = lineData('2024-03')
  const person = new Person([{ type: 'ContributionRecorded', data }, lineVoided(data, 'half-written')])
  t.equal(person.reverse(0, 'R1').outcome, 'conflict')
})

t.test('a line whose pension month a transfer moved: conflict', async (t) => {
  const person = new Person([
    line('2024-03'),
    line('2024-04'),
    transferOpened('T1', SH, BJ),
    pensionTransferred('T1', SH, BJ, {
      sendNumber: 1, sentOn: '2024-06-10',
      // 800.00 × 2 = 1600.00 moves; 12% × (10000.00 + 10000.00) = 2400.00
      individualAccount: '1600.00', pooledFund: '2400.00', months: 2, baseTotal: '20000.00', periods: ['2024-03', '2024-04'], legacyYears: false,
    }),
    transferClosed('T1', 'completed'),
  ])
  const d = person.reverse(0, 'R1')
  t.equal(d.outcome, 'conflict')
  if (d.outcome === 'conflict') t.match(d.detail, /2024-03/)
  // a line without a pension part is not held back by the transfer
  const noPension = new Person([line('2024-03', SH, ['medical', 'unemployment'])])
  t.equal(noPension.reverse(0, 'R1').outcome, 'record')
})

t.test('a line whose individual-account part was paid out since: conflict', async (t) => {
  // pension: a late 2024-03 line recorded after the retirement (revision 1 > 0, so not counted in
  // it; the retirement's figures are the builder's, as written) credits 800.00, then 500.00 is paid
  // out of the account → 300.00 < 800.00
  const paidOut = new Person([retired('500.00'), line('2024-03', SH, ['pension']), pensionPayout('PAY1', '2025-01', '500.00', '3000.00', '3500.00')])
  t.equal(formatYuan(paidOut.state.pension.individualAccount), '300.00', '800.00 − 500.00')
  const d = paidOut.reverse(1, 'R1')
  t.equal(d.outcome, 'conflict')
  if (d.outcome === 'conflict') {
    t.match(d.detail, /pension individual account holds 300\.00/)
    t.match(d.detail, /800\.00/)
  }

  // two late lines: 1600.00 − 500.00 = 1100.00 ≥ 800.00: reversible
  const enough = new Person([retired('500.00'), line('2024-03', SH, ['pension']), line('2024-04', SH, ['pension']), pensionPayout('PAY1', '2025-01', '500.00', '3000.00', '3500.00')])
  t.equal(enough.reverse(1, 'R1').outcome, 'record')

  // medical: 200.00 credited, 150.00 reimbursed from the account → 50.00 < 200.00
  const medical = new Person([line('2024-03', SH, ['pension', 'medical']), medicalPayout('M1', '2024-05', '150.00', '50.00', '200.00')])
  t.equal(formatYuan(medical.state.medicalAccount), '50.00', '200.00 − 150.00')
  const m = medical.reverse(0, 'R1')
  t.equal(m.outcome, 'conflict')
  if (m.outcome === 'conflict') t.match(m.detail, /medical/)
})

t.test('a pension line counted in the retirement: conflict; lines recorded after it, medical-only lines and payouts are not held back', async (t) => {
  // revisions: 0 legacy (15 years 2000..2014, 50000.00), 1 a 2024-03 line of all schemes, 2 a 2024-04
  // medical-only line, 3 the retirement, 4 a late 2024-12 line of all schemes, 5 a 2025-02 medical-only
  // line, 6 the 2025-01 pension
  const beforeRetirement = [legacy('2014-12-31', '50000.00'), line('2024-03'), line('2024-04', SH, ['medical'])]
  const person = new Person([
    ...beforeRetirement,
    retired('719.42'),
    line('2024-12'),
    line('2025-02', SH, ['medical']),
    pensionPayout('PAY1', '2025-01', '719.42', '3000.00', '3719.42'),
  ])
  // 50000.00 + 800.00 + 800.00 − 719.42 = 50880.58 (enough for any line's 800.00)
  t.equal(formatYuan(person.state.pension.individualAccount), '50880.58')
  // 200.00 × 4 = 800.00 (enough for any line's 200.00)
  t.equal(formatYuan(person.state.medicalAccount), '800.00')

  const counted = person.reverse(1, 'R1')
  t.equal(counted.outcome, 'conflict', 'the 2024-03 pension line was recorded before the retirement')
  if (counted.outcome === 'conflict') {
    t.match(counted.detail, /counted in the pension in payment/)
    t.match(counted.detail, /2025-01-15/)
  }
  t.equal(new Person(beforeRetirement).reverse(1, 'R1').outcome, 'record', 'the same line before the retirement is recorded: reversible')

  t.equal(person.reverse(2, 'R2').outcome, 'record', 'a medical-only line before the retirement: no pension part, reversible')
  t.equal(person.reverse(4, 'R3').outcome, 'record', 'a line recorded after the retirement is not counted in it')
  t.equal(person.reverse(5, 'R4').outcome, 'record', 'a medical-only line after the retirement')
  const payout = person.reverse(6, 'R5')
  t.equal(payout.outcome, 'record', 'a pension payout after the retirement')
  if (payout.outcome === 'record') t.equal(payout.event.type, 'PayoutReversed')
})

// ---------------------------------------------------------------------------------------------
// Payouts
// ---------------------------------------------------------------------------------------------

t.test('a pension payout reversal restores the account and frees the period', async (t) => {
  const person = new Person([legacy('2024-12-31', '100000.00'), retired('719.42'), pensionPayout('PAY1', '2025-01', '719.42', '3000.00', '3719.42')])
  // 100000.00 − 719.42 = 99280.58
  t.equal(formatYuan(person.state.pension.individualAccount), '99280.58')
  t.match(decidePayout({ payoutId: 'PAY2', personId: P, scheme: 'pension', period: '2025-01', kind: 'monthly' }, person.state, TODAY), { outcome: 'period-paid', payoutId: 'PAY1' })

  const d = person.reverse(2, 'R1')
  if (d.outcome !== 'record') throw new Error(`expected record, got ${JSON.stringify(d)}`)
  t.equal(d.event.type, 'PayoutReversed')
  t.same(d.event.data, {
    reversalId: 'R1',
    reason: 'posted in error',
    eventRef: { stream: STREAM, revision: '2' },
    reversedEventId: 'evt-2',
    payout: person.log[2]?.data,
  })
  person.add(d.event)
  // 99280.58 + 719.42 = 100000.00
  t.equal(formatYuan(person.state.pension.individualAccount), '100000.00')
  t.notOk(person.state.pension.pensionPayouts.has('2025-01'))
  t.notOk(person.state.payouts.has('PAY1'))

  const again = decidePayout({ payoutId: 'PAY2', personId: P, scheme: 'pension', period: '2025-01', kind: 'monthly' }, person.state, TODAY)
  t.equal(again.outcome, 'record', 'the period can be paid again')
  if (again.outcome === 'record') t.equal(again.event.data.fromIndividualAccount, '719.42')

  t.same(person.reverse(2, 'R2'), { outcome: 'already-reversed', reversalId: 'R1' })
})

t.test('a medical payout reversal gives the medical account back its part', async (t) => {
  // 200.00 + 200.00 = 400.00; 300.00 from the account → 100.00
  const person = new Person([line('2024-03'), line('2024-04'), medicalPayout('M1', '2024-05', '300.00', '200.00', '500.00')])
  t.equal(formatYuan(person.state.medicalAccount), '100.00')
  const d = person.reverse(2, 'R1')
  if (d.outcome !== 'record') throw new Error(d.outcome)
  person.add(d.event)
  // 100.00 + 300.00 = 400.00
  t.equal(formatYuan(person.state.medicalAccount), '400.00')
  // the pension account is untouched: 800.00 + 800.00 = 1600.00
  t.equal(formatYuan(person.state.pension.individualAccount), '1600.00')
})
