import t from 'tap'
import { postingsOf } from '../../src/domain/postings.js'
import { businessPeriodOf } from '../../src/domain/business-period.js'
import { ZERO } from '../../src/domain/money.js'

/** Postings of the money-moving events (DESIGN.md "Money and postings"): debits positive, credits
 * negative, each event balanced. Amounts by hand. */

const sum = (ps: { amount: { plus: (x: any) => any } }[]) => ps.reduce((acc: any, p: any) => acc.plus(p.amount), ZERO)
const asText = (ps: ReturnType<typeof postingsOf>) => ps.map((p) => `${p.account} ${p.amount.toFixed(2)}`)

// Shanghai 2024-07, wage 8500.00, class I: pension 1360.00 + 680.00, medical 765.00 + 170.00,
// unemployment 42.50 + 42.50, work injury 17.00.
const line = {
  submissionId: 'S1',
  lineIndex: 0,
  personId: 'P',
  employerId: 'E',
  region: '310000',
  period: '2024-07',
  schemes: [
    { scheme: 'pension', employer: '1360.00', employee: '680.00', individualAccount: '680.00', pool: '1360.00' },
    { scheme: 'medical', employer: '765.00', employee: '170.00', individualAccount: '170.00', pool: '765.00' },
    { scheme: 'unemployment', employer: '42.50', employee: '42.50', individualAccount: '0.00', pool: '85.00' },
    { scheme: 'work_injury', employer: '17.00', employee: '0.00', individualAccount: '0.00', pool: '17.00' },
  ],
}

t.test('a contribution line: the employer pays both parts; accounts and pools receive them', async (t) => {
  const ps = postingsOf({ type: 'ContributionRecorded', data: line })
  t.same(asText(ps), [
    'employer:E 2040.00', // 1360.00 + 680.00
    'person:P:pension:individual -680.00',
    'pool:310000:pension -1360.00',
    'employer:E 935.00', // 765.00 + 170.00
    'person:P:medical:individual -170.00',
    'pool:310000:medical -765.00',
    'employer:E 85.00', // 42.50 + 42.50
    'pool:310000:unemployment -85.00',
    'employer:E 17.00',
    'pool:310000:work_injury -17.00',
  ])
  t.ok(sum(ps).isZero(), 'balanced')
  const reversed = postingsOf({ type: 'ContributionReversed', data: { ...line, reversalId: 'R', reason: 'x', eventRef: { stream: 'person-P', revision: '0' }, reversedEventId: 'id' } })
  t.same(asText(reversed).slice(0, 2), ['employer:E -2040.00', 'person:P:pension:individual 680.00'], 'a reversal posts the opposite')
  t.ok(sum(reversed).isZero())
})

t.test('a pension payout that runs the account out; its reversal; interest; a transfer; imports', async (t) => {
  const payout = { payoutId: 'PAY', personId: 'P', scheme: 'pension', kind: 'monthly', period: '2035-08', region: '310000', amount: '2010.79', fromIndividualAccount: '0.19', fromPool: '2010.60', poolCoversAccount: '10.60' }
  t.same(asText(postingsOf({ type: 'PayoutRecorded', data: payout })), ['person:P:pension:individual 0.19', 'pool:310000:pension 2010.60', 'payee:P -2010.79'])
  t.same(asText(postingsOf({ type: 'PayoutReversed', data: { payout } })), ['person:P:pension:individual -0.19', 'pool:310000:pension -2010.60', 'payee:P 2010.79'])
  t.same(asText(postingsOf({ type: 'InterestCredited', data: { personId: 'P', year: 2024, region: '310000', amount: '279.64' } })), ['interest:310000:pension 279.64', 'person:P:pension:individual -279.64'])
  t.same(asText(postingsOf({ type: 'TransferSent', data: { fromRegion: '310000', toRegion: '110000', pooledFund: '182220.00' } })), ['pool:310000:pension 182220.00', 'pool:110000:pension -182220.00'])
  t.same(postingsOf({ type: 'PensionTransferred', data: { fromRegion: '310000', toRegion: '110000', pooledFund: '182220.00' } }), [], "the person's copy of a send posts nothing (counted once)")
  t.same(asText(postingsOf({ type: 'LegacyHistoryImported', data: { personId: 'P', individualAccountBalance: '86000.50' } })), ['opening 86000.50', 'person:P:pension:individual -86000.50'])
  t.same(asText(postingsOf({ type: 'PoolLegacyBalanceImported', data: { region: '310000', schemes: { pension: '1000000.00' } } })), ['opening 1000000.00', 'pool:310000:pension -1000000.00'])
  t.same(postingsOf({ type: 'RetirementRecorded', data: {} }), [])
})

t.test('business periods', async (t) => {
  t.equal(businessPeriodOf({ type: 'ContributionRecorded', data: line }), '2024-07')
  t.equal(businessPeriodOf({ type: 'PayoutReversed', data: { payout: { period: '2025-01' } } }), '2025-01')
  t.equal(businessPeriodOf({ type: 'InterestCredited', data: { year: 2024 } }), '2024-12')
  t.equal(businessPeriodOf({ type: 'LegacyHistoryImported', data: { asOf: '2023-12-31' } }), '2023-12')
  t.equal(businessPeriodOf({ type: 'TransferSent', data: { sentOn: '2024-09-04' } }), '2024-09')
  t.equal(businessPeriodOf({ type: 'RetirementRecorded', data: { retiredOn: '2024-08-15' } }), '2024-08')
  t.equal(businessPeriodOf({ type: 'ContributionSubmissionRecorded', data: { period: '2024-07' } }), undefined, 'a marker has no business period')
})
