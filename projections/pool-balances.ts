import {
  CONTRIBUTION_LINE_VOIDED,
  CONTRIBUTION_RECORDED,
  type ContributionLineVoidedData,
  type ContributionRecordedData,
} from '../src/domain/contribution/events.js'
import { INTEREST_CREDITED, type InterestCreditedData } from '../src/domain/interest/events.js'
import { POOL_LEGACY_BALANCE_IMPORTED, type PoolLegacyBalanceImportedData } from '../src/domain/legacy/events.js'
import { addYuan, subtractYuan } from '../src/domain/money.js'
import { PAYOUT_RECORDED, type PayoutRecordedData } from '../src/domain/payout/events.js'
import { CONTRIBUTION_REVERSED, PAYOUT_REVERSED, type ContributionReversedData, type PayoutReversedData } from '../src/domain/reversal/events.js'
import { SCHEMES, type Scheme } from '../src/domain/schemes.js'
import { TRANSFER_SENT, type TransferSentData } from '../src/domain/transfer/events.js'
import type { DocumentProjection, ProjectedEvent } from './projection.js'

/** One pooled fund (region, scheme). Amounts are yuan strings with two places. */
export interface PoolSchemeBalance {
  /** What the pool holds. */
  balance: string
  /** Everything contributions have credited to it. */
  contributions: string
  /** The opening balance imported from the previous system (also inside `balance`); present, in
   * every scheme, once the region's opening balance is imported. */
  openingBalance?: string
  /** Pooled-fund amounts received from, and sent to, other regions' pools by pension transfers
   * (also inside `balance`). Absent until the first. */
  transfersIn?: string
  transfersOut?: string
  /** What the pool paid out in benefits (payouts' `fromPool`), less reversed payouts (also taken out
   * of `balance`). Absent until the first payout. */
  payouts?: string
  /** Pension only: the yearly interest credited to the individual accounts of persons whose account
   * the region held at crediting. A record-keeping figure for auditors: interest is not paid by the
   * pool (its counter-account is `interest:{region}:pension`), so it is NOT inside `balance`.
   * Absent until the first credit. */
  interestCredited?: string
}

/** Document of the `pool-balances` projection, keyed by region (GB/T 2260). */
export interface PoolBalancesDoc {
  region: string
  schemes: Record<Scheme, PoolSchemeBalance>
}

/** Per region and scheme: the pooled fund's balance, what contributions credited to it and what
 * payouts took from it. The markers on `payout-…`, `reversal-…` and `interest-runs` are left out:
 * they repeat what the person events say. */
export const poolBalances: DocumentProjection<PoolBalancesDoc> = {
  name: 'pool-balances',
  keysOf: (event: ProjectedEvent) => {
    switch (event.type) {
      case TRANSFER_SENT: {
        const d = event.data as TransferSentData
        return [d.fromRegion, d.toRegion]
      }
      case CONTRIBUTION_RECORDED:
      case CONTRIBUTION_LINE_VOIDED:
      case CONTRIBUTION_REVERSED:
      case POOL_LEGACY_BALANCE_IMPORTED:
      case PAYOUT_RECORDED:
        return [(event.data as ContributionRecordedData | ContributionLineVoidedData | ContributionReversedData | PoolLegacyBalanceImportedData | PayoutRecordedData).region]
      case PAYOUT_REVERSED:
        return [(event.data as PayoutReversedData).payout.region]
      case INTEREST_CREDITED: {
        const region = (event.data as InterestCreditedData).region
        return region ? [region] : []
      }
      default:
        return []
    }
  },
  initial: (region) => ({
    region,
    schemes: Object.fromEntries(SCHEMES.map((s) => [s, { balance: '0.00', contributions: '0.00' }])) as Record<
      Scheme,
      PoolSchemeBalance
    >,
  }),
  evolve(doc, event, region) {
    if (event.type === TRANSFER_SENT) return withTransfer(doc, event.data as TransferSentData, region)
    if (event.type === POOL_LEGACY_BALANCE_IMPORTED) return withOpeningBalance(doc, event.data as PoolLegacyBalanceImportedData)
    if (event.type === PAYOUT_RECORDED) return withPayout(doc, event.data as PayoutRecordedData, 1)
    if (event.type === PAYOUT_REVERSED) return withPayout(doc, (event.data as PayoutReversedData).payout, -1)
    if (event.type === INTEREST_CREDITED) return withInterest(doc, event.data as InterestCreditedData)
    if (event.type !== CONTRIBUTION_RECORDED && event.type !== CONTRIBUTION_LINE_VOIDED && event.type !== CONTRIBUTION_REVERSED) return doc
    const data = event.data as ContributionRecordedData | ContributionLineVoidedData | ContributionReversedData
    const move = event.type === CONTRIBUTION_RECORDED ? addYuan : subtractYuan
    const schemes = { ...doc.schemes }
    for (const s of data.schemes) {
      const b = schemes[s.scheme]
      schemes[s.scheme] = {
        ...b, // keeps the opening balance
        balance: move(b.balance, s.pool),
        contributions: move(b.contributions, s.pool),
      }
    }
    return { ...doc, schemes }
  },
}

/** Every scheme's pool with the imported opening balance (a scheme the import leaves out opens at 0). */
function withOpeningBalance(doc: PoolBalancesDoc, data: PoolLegacyBalanceImportedData): PoolBalancesDoc {
  const schemes = { ...doc.schemes }
  for (const s of SCHEMES) {
    const b = schemes[s]
    const amount = data.schemes[s] ?? '0.00'
    schemes[s] = { ...b, balance: addYuan(b.balance, amount), openingBalance: addYuan(b.openingBalance ?? '0.00', amount) }
  }
  return { ...doc, schemes }
}

/** A pension transfer's pooled-fund part: out of the source region's pool, into the destination's
 * (TransferSent is on the transfer stream only, so each send is counted once). */
function withTransfer(doc: PoolBalancesDoc, data: TransferSentData, region: string): PoolBalancesDoc {
  const b = doc.schemes.pension
  const pension =
    region === data.fromRegion
      ? { ...b, balance: subtractYuan(b.balance, data.pooledFund), transfersOut: addYuan(b.transfersOut ?? '0.00', data.pooledFund) }
      : { ...b, balance: addYuan(b.balance, data.pooledFund), transfersIn: addYuan(b.transfersIn ?? '0.00', data.pooledFund) }
  return { ...doc, schemes: { ...doc.schemes, pension } }
}

/** A payout's pool part (or, with `sign` -1, its reversal): out of (back into) the scheme's pool. */
function withPayout(doc: PoolBalancesDoc, p: PayoutRecordedData, sign: 1 | -1): PoolBalancesDoc {
  const b = doc.schemes[p.scheme]
  const scheme: PoolSchemeBalance = {
    ...b,
    balance: (sign === 1 ? subtractYuan : addYuan)(b.balance, p.fromPool),
    payouts: (sign === 1 ? addYuan : subtractYuan)(b.payouts ?? '0.00', p.fromPool),
  }
  return { ...doc, schemes: { ...doc.schemes, [p.scheme]: scheme } }
}

/** A year's interest on an individual account: counted on the pension pool, which it leaves as it is. */
function withInterest(doc: PoolBalancesDoc, d: InterestCreditedData): PoolBalancesDoc {
  const b = doc.schemes.pension
  return { ...doc, schemes: { ...doc.schemes, pension: { ...b, interestCredited: addYuan(b.interestCredited ?? '0.00', d.amount) } } }
}
