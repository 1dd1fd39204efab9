import t from 'tap'
import { personBalances, poolBalances, type PersonBalancesDoc, type PoolBalancesDoc } from '../../projections/index.js'
import type { ContributionRecordedData } from '../../src/domain/contribution/events.js'
import type { InterestCreditedData } from '../../src/domain/interest/events.js'
import type { PayoutRecordedData } from '../../src/domain/payout/events.js'
import type { RetirementRecordedData } from '../../src/domain/retirement/events.js'
import type { ContributionReversedData, PayoutReversedData } from '../../src/domain/reversal/events.js'

// Payouts, reversals, retirement and interest (issue #5) folded through the two document
// projections. Events are built by hand; every expected figure is worked out in the comment beside it.

const P = '11010519491231002X'
const REGION = '310000'

interface Ev {
  type: string
  data: unknown
}

const line = (period: string, pension: [string, string], medical: [string, string]): { type: string; data: ContributionRecordedData } => ({
  type: 'ContributionRecorded',
  data: {
    submissionId: `S-${period}`,
    lineIndex: 0,
    personId: P,
    employerId: '91310000MA1FL0000N',
    region: REGION,
    period,
    wage: '0.00',
    workInjuryClass: 1,
    policyId: 'p',
    policyTableVersion: 'v',
    schemes: [
      { scheme: 'pension', base: '0.00', employerRate: '0.16', employeeRate: '0.08', employer: pension[0], employee: pension[1], individualAccount: pension[1], pool: pension[0] },
      { scheme: 'medical', base: '0.00', employerRate: '0.09', employeeRate: '0.02', employer: medical[0], employee: medical[1], individualAccount: medical[1], pool: medical[0] },
    ],
  },
})

const reverseLine = (recorded: { data: ContributionRecordedData }, revision: string): { type: string; data: ContributionReversedData } => {
  const { wage: _w, workInjuryClass: _c, policyId: _p, policyTableVersion: _v, ...fields } = recorded.data
  return {
    type: 'ContributionReversed',
    data: { ...fields, reversalId: `R-line-${revision}`, reason: 'wrong employer', eventRef: { stream: `person-${P}`, revision }, reversedEventId: `e-${revision}` },
  }
}

const payout = (d: Omit<PayoutRecordedData, 'personId' | 'region'>): { type: string; data: PayoutRecordedData } => ({
  type: 'PayoutRecorded',
  data: { personId: P, region: REGION, ...d },
})

const reversePayout = (p: { data: PayoutRecordedData }, revision: string): { type: string; data: PayoutReversedData } => ({
  type: 'PayoutReversed',
  data: { reversalId: `R-payout-${revision}`, reason: 'paid in error', eventRef: { stream: `person-${P}`, revision }, reversedEventId: `e-${revision}`, payout: p.data },
})

const interest = (year: number, amount: string, region = REGION): { type: string; data: InterestCreditedData } => ({
  type: 'InterestCredited',
  data: { personId: P, year, ratePercent: '2.62', monthCounting: 'exclusive', region, openingBalance: '0.00', credits: '0.00', debits: '0.00', amount },
})

/** Folds `events` into person P's document, from `start` (the initial document by default). */
const person = (events: Ev[], start: PersonBalancesDoc = personBalances.initial(P)): PersonBalancesDoc =>
  events.reduce((doc, e) => {
    const keys = personBalances.keysOf(e)
    if (keys.length !== 1 || keys[0] !== P) throw new Error(`${e.type} is keyed to ${JSON.stringify(keys)}, not to the person`)
    return personBalances.evolve(doc, e, P)
  }, start)

/** Folds the events that concern REGION into its pool document. */
const pool = (events: Ev[], start: PoolBalancesDoc = poolBalances.initial(REGION)): PoolBalancesDoc =>
  events.reduce((doc, e) => (poolBalances.keysOf(e).includes(REGION) ? poolBalances.evolve(doc, e, REGION) : doc), start)

const zero = { individualAccount: '0.00', employerContributed: '0.00', employeeContributed: '0.00', periods: {}, regions: {} }

t.test('a contribution line and its reversal: back to zero, the month no longer counts, the reversal is listed', async (t) => {
  const recorded = line('2024-07', ['1360.00', '680.00'], ['765.00', '170.00'])
  const reversed = reverseLine(recorded, '0')
  t.same(poolBalances.keysOf(reversed), [REGION])
  const doc = person([recorded, reversed])
  // pension 680.00 − 680.00 = 0.00 (employer 1360.00 − 1360.00, employee 680.00 − 680.00); 2024-07 count 1 − 1 = 0: gone
  t.strictSame(doc.schemes.pension, zero)
  // medical 170.00 − 170.00 = 0.00
  t.strictSame(doc.schemes.medical, zero)
  t.strictSame(doc.reversed, [
    { reversalId: 'R-line-0', stream: `person-${P}`, revision: '0', reversedType: 'ContributionRecorded', period: '2024-07', reason: 'wrong employer' },
  ])
  t.notOk('scheme' in doc.reversed![0]!, 'a reversed line names no scheme')
  const p = pool([recorded, reversed])
  // pension pool 1360.00 − 1360.00 = 0.00; medical 765.00 − 765.00 = 0.00
  t.strictSame(p.schemes.pension, { balance: '0.00', contributions: '0.00' })
  t.strictSame(p.schemes.medical, { balance: '0.00', contributions: '0.00' })
})

// Pension in payment. Two lines put 680.00 + 680.01 = 1360.01 in the pension individual account.
// monthsDivisor 2 is made up (the real tables start at 56) so that the account runs out in the
// second month: 1360.01 / 2 = 680.005, half-up 680.01 a month.
const july = line('2024-07', ['1360.00', '680.00'], ['765.00', '170.00']) // revision 0
const august = line('2024-08', ['1360.02', '680.01'], ['765.00', '170.00']) // revision 1
const retirement: { type: string; data: RetirementRecordedData } = {
  // revision 2
  type: 'RetirementRecorded',
  data: {
    personId: P,
    region: REGION,
    retiredOn: '2024-12-15',
    ageYears: 60,
    ageMonths: 0,
    monthsContributed: 2,
    individualAccountBalance: '1360.01',
    monthsDivisor: 2,
    individualAccountMonthly: '680.01',
    pooledMonthlyAmount: '1500.00',
    monthlyPension: '2180.01', // 680.01 + 1500.00
    pensionTablesVersion: 'test',
  },
}
// revision 3: the account pays its 680.01 in full (1360.01 − 680.01 = 680.00 left); 680.01 + 1500.00 = 2180.01
const december = payout({ payoutId: 'PO-1', scheme: 'pension', kind: 'monthly', period: '2024-12', amount: '2180.01', fromIndividualAccount: '680.01', fromPool: '1500.00', poolCoversAccount: '0.00' })
// revision 4: the account has 680.00 < 680.01; the pool covers 680.01 − 680.00 = 0.01 → fromPool 1500.00 + 0.01 = 1500.01;
// amount 680.00 + 1500.01 = 2180.01
const january = payout({ payoutId: 'PO-2', scheme: 'pension', kind: 'monthly', period: '2025-01', amount: '2180.01', fromIndividualAccount: '680.00', fromPool: '1500.01', poolCoversAccount: '0.01' })
const opening: Ev = { type: 'PoolLegacyBalanceImported', data: { importId: 'I-1', region: REGION, asOf: '2024-06-30', schemes: { pension: '100000.00' } } }

t.test('retirement, then two pension payouts, the second running the account out', async (t) => {
  const retired = person([july, august, retirement])
  t.strictSame(retired.pensionInPayment, {
    region: REGION,
    retiredOn: '2024-12-15',
    ageYears: 60,
    ageMonths: 0,
    monthsContributed: 2,
    individualAccountBalance: '1360.01',
    monthsDivisor: 2,
    individualAccountMonthly: '680.01',
    pooledMonthlyAmount: '1500.00',
    monthlyPension: '2180.01',
    paidPeriods: 0,
    accountExhausted: false,
    paid: {},
  })
  t.notOk('lastPaidPeriod' in retired.pensionInPayment!, 'no period paid yet')
  t.equal(retired.schemes.pension.individualAccount, '1360.01') // 680.00 + 680.01

  const once = person([december], retired)
  t.equal(once.schemes.pension.individualAccount, '680.00') // 1360.01 − 680.01
  t.equal(once.schemes.pension.paidOut, '2180.01')
  t.match(once.pensionInPayment, { paidPeriods: 1, lastPaidPeriod: '2024-12', accountExhausted: false })

  const twice = person([january], once)
  t.equal(twice.schemes.pension.individualAccount, '0.00') // 680.00 − 680.00
  t.equal(twice.schemes.pension.paidOut, '4360.02') // 2180.01 + 2180.01
  t.match(twice.pensionInPayment, { paidPeriods: 2, lastPaidPeriod: '2025-01', accountExhausted: true, paid: { '2024-12': '0.00', '2025-01': '0.01' } })
  // contributions untouched by payouts: employer 1360.00 + 1360.02 = 2720.02
  t.equal(twice.schemes.pension.employerContributed, '2720.02')
  t.equal(twice.schemes.medical.paidOut, undefined, 'other schemes paid nothing')

  const p = pool([opening, july, august, retirement, december, january])
  t.strictSame(p.schemes.pension, {
    // 100000.00 + 1360.00 + 1360.02 − 1500.00 − 1500.01 = 99720.01
    balance: '99720.01',
    contributions: '2720.02', // 1360.00 + 1360.02
    openingBalance: '100000.00',
    payouts: '3000.01', // 1500.00 + 1500.01
  })
  t.same(poolBalances.keysOf(retirement), [], 'a retirement moves no pool')
})

t.test('a payout reversal gives the account and the pool back exactly what it took', async (t) => {
  const paid = person([july, august, retirement, december, january])
  const undoJanuary = reversePayout(january, '4')
  t.same(poolBalances.keysOf(undoJanuary), [REGION])
  const doc = person([undoJanuary], paid)
  t.equal(doc.schemes.pension.individualAccount, '680.00') // 0.00 + 680.00
  t.equal(doc.schemes.pension.paidOut, '2180.01') // 4360.02 − 2180.01
  // only December is paid, and the account paid it in full: no longer exhausted
  t.match(doc.pensionInPayment, { paidPeriods: 1, lastPaidPeriod: '2024-12', accountExhausted: false, paid: { '2024-12': '0.00' } })
  t.strictSame(doc.reversed, [
    { reversalId: 'R-payout-4', stream: `person-${P}`, revision: '4', reversedType: 'PayoutRecorded', period: '2025-01', scheme: 'pension', reason: 'paid in error' },
  ])

  const none = person([reversePayout(december, '3')], doc)
  t.equal(none.schemes.pension.individualAccount, '1360.01') // 680.00 + 680.01
  t.equal(none.schemes.pension.paidOut, '0.00') // 2180.01 − 2180.01
  t.match(none.pensionInPayment, { paidPeriods: 0, accountExhausted: false, paid: {} })
  t.notOk('lastPaidPeriod' in none.pensionInPayment!, 'no period paid any more')
  t.equal(none.reversed!.length, 2)

  const events = [opening, july, august, retirement, december, january, undoJanuary]
  const p = pool(events)
  // 99720.01 + 1500.01 = 101220.02; payouts 3000.01 − 1500.01 = 1500.00
  t.match(p.schemes.pension, { balance: '101220.02', payouts: '1500.00', contributions: '2720.02' })
  const p2 = pool([reversePayout(december, '3')], p)
  // 101220.02 + 1500.00 = 102720.02 = 100000.00 + 2720.02; payouts 1500.00 − 1500.00 = 0.00
  t.match(p2.schemes.pension, { balance: '102720.02', payouts: '0.00' })

  // the freed period can be paid again
  const again = person([january], none)
  t.match(again.pensionInPayment, { paidPeriods: 1, lastPaidPeriod: '2025-01', accountExhausted: true })
})

t.test('a medical payout partly from the medical individual account', async (t) => {
  // medical account 170.00 + 170.00 = 340.00; pool 765.00 + 765.00 = 1530.00
  const bill = payout({ payoutId: 'PO-M', scheme: 'medical', kind: 'reimbursement', period: '2024-09', amount: '500.00', fromIndividualAccount: '120.00', fromPool: '380.00' })
  const doc = person([july, august, bill])
  t.equal(doc.schemes.medical.individualAccount, '220.00') // 340.00 − 120.00
  t.equal(doc.schemes.medical.paidOut, '500.00') // 120.00 + 380.00
  t.equal(doc.schemes.pension.individualAccount, '1360.01', 'the pension account is untouched')
  t.equal(doc.schemes.pension.paidOut, undefined)
  t.equal(doc.pensionInPayment, undefined, 'no pension in payment')
  const p = pool([july, august, bill])
  // 1530.00 − 380.00 = 1150.00
  t.strictSame(p.schemes.medical, { balance: '1150.00', contributions: '1530.00', payouts: '380.00' })
  t.strictSame(p.schemes.pension, { balance: '2720.02', contributions: '2720.02' })

  const undo = reversePayout(bill, '2')
  const back = person([undo], doc)
  t.equal(back.schemes.medical.individualAccount, '340.00') // 220.00 + 120.00
  t.equal(back.schemes.medical.paidOut, '0.00') // 500.00 − 500.00
  t.match(back.reversed, [{ reversedType: 'PayoutRecorded', scheme: 'medical', period: '2024-09' }])
  t.strictSame(pool([undo], p).schemes.medical, { balance: '1530.00', contributions: '1530.00', payouts: '0.00' }) // 1150.00 + 380.00
})

t.test('interest credited for two years', async (t) => {
  // 2024: 680.00 credited in July, 6 months at 2.62 %: 680.00 × 0.0262 × 6/12 = 8.908 → 8.91
  // 2025: a whole year on 680.00 + 8.91 = 688.91: 688.91 × 0.0262 = 18.049442 → 18.05
  const events = [july, interest(2024, '8.91'), interest(2025, '18.05')]
  const doc = person(events)
  t.equal(doc.schemes.pension.individualAccount, '706.96') // 680.00 + 8.91 + 18.05
  t.equal(doc.schemes.pension.interestCredited, '26.96') // 8.91 + 18.05
  t.strictSame(doc.schemes.pension.interestByYear, { '2024': '8.91', '2025': '18.05' })
  t.equal(doc.schemes.pension.employeeContributed, '680.00', 'interest is not a contribution')
  t.equal(doc.schemes.medical.interestCredited, undefined, 'interest is pension only')

  t.same(poolBalances.keysOf(interest(2024, '8.91')), [REGION])
  const p = pool(events)
  // the pool pays no interest: balance stays 1360.00; interestCredited 8.91 + 18.05 = 26.96 is a record
  t.strictSame(p.schemes.pension, { balance: '1360.00', contributions: '1360.00', interestCredited: '26.96' })
  t.strictSame(p.schemes.medical, { balance: '765.00', contributions: '765.00' })
  t.same(poolBalances.keysOf(interest(2024, '8.91', '')), [], 'no region, no pool document')
})

t.test('the idempotency and progress markers concern neither projection', async (t) => {
  const markers: Ev[] = [
    { type: 'PayoutRequestRecorded', data: { payoutId: 'PO-1', contentHash: 'h', request: {}, payout: december.data } },
    { type: 'ReversalRequestRecorded', data: { reversalId: 'R-1', contentHash: 'h', request: {}, personId: P, reversedType: 'PayoutRecorded' } },
    { type: 'InterestRunStarted', data: { year: 2024, pass: 1, ratePercent: '2.62', rateSource: 'table', monthCounting: 'exclusive', pensionTablesVersion: 'v' } },
    { type: 'InterestRunBatchCompleted', data: { year: 2024, pass: 1, batch: 1, examined: 1, lastPersonId: P, credited: 1, interest: '8.91', alreadyCredited: 0, skipped: 0 } },
    { type: 'InterestRunCompleted', data: { year: 2024, pass: 1, batches: 1, examined: 1, credited: 1, interest: '8.91', alreadyCredited: 0, skipped: 0 } },
  ]
  for (const m of markers) {
    t.same(personBalances.keysOf(m), [], `person-balances ignores ${m.type}`)
    t.same(poolBalances.keysOf(m), [], `pool-balances ignores ${m.type}`)
  }
  t.same(personBalances.keysOf(reversePayout(december, '3')), [P], 'a payout reversal is keyed by its payout\'s person')
})

t.test('documents stored before payouts, reversals and interest fold the new events', async (t) => {
  // As stored before issue #5: no paidOut / interestCredited / interestByYear, no reversed, no pensionInPayment.
  const stored: PersonBalancesDoc = JSON.parse(
    JSON.stringify({
      personId: P,
      schemes: {
        pension: { individualAccount: '1480.00', employerContributed: '1360.00', employeeContributed: '680.00', periods: { '2024-07': 1 }, regions: { [REGION]: 1 }, openingBalance: '800.00', legacyMonths: { [REGION]: 12 } },
        medical: { individualAccount: '170.00', employerContributed: '765.00', employeeContributed: '170.00', periods: { '2024-07': 1 }, regions: { [REGION]: 1 } },
        unemployment: zero,
        work_injury: zero,
        maternity: zero,
      },
      pensionHeldIn: REGION,
    }),
  )
  const bill = payout({ payoutId: 'PO-M', scheme: 'medical', kind: 'reimbursement', period: '2024-09', amount: '100.00', fromIndividualAccount: '70.00', fromPool: '30.00' })
  const doc = person([bill, interest(2024, '20.00'), reverseLine(july, '0')], stored)
  // medical 170.00 − 70.00 (payout) − 170.00 (reversed line) = −70.00: hand-built, the ledger would refuse this reversal
  t.equal(doc.schemes.medical.individualAccount, '-70.00')
  t.equal(doc.schemes.medical.paidOut, '100.00') // 0.00 + 100.00
  // pension 1480.00 + 20.00 − 680.00 = 820.00 = opening 800.00 + interest 20.00
  t.match(doc.schemes.pension, { individualAccount: '820.00', interestCredited: '20.00', interestByYear: { '2024': '20.00' }, openingBalance: '800.00', legacyMonths: { [REGION]: 12 }, periods: {} })
  t.equal(doc.reversed!.length, 1)
  // a pension payout folded without a retirement (the ledger refuses it) moves the balances only
  const odd = person([payout({ payoutId: 'PO-X', scheme: 'pension', kind: 'monthly', period: '2025-01', amount: '10.00', fromIndividualAccount: '10.00', fromPool: '0.00', poolCoversAccount: '0.00' })], stored)
  t.equal(odd.schemes.pension.individualAccount, '1470.00') // 1480.00 − 10.00
  t.equal(odd.pensionInPayment, undefined)

  const storedPool: PoolBalancesDoc = JSON.parse(
    JSON.stringify({
      region: REGION,
      schemes: {
        pension: { balance: '1360.00', contributions: '1360.00' },
        medical: { balance: '765.00', contributions: '765.00' },
        unemployment: { balance: '0.00', contributions: '0.00' },
        work_injury: { balance: '0.00', contributions: '0.00' },
        maternity: { balance: '0.00', contributions: '0.00' },
      },
    }),
  )
  const p = pool([bill, interest(2024, '20.00')], storedPool)
  t.strictSame(p.schemes.medical, { balance: '735.00', contributions: '765.00', payouts: '30.00' }) // 765.00 − 30.00
  t.strictSame(p.schemes.pension, { balance: '1360.00', contributions: '1360.00', interestCredited: '20.00' })
})
