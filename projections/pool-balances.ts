import {
  CONTRIBUTION_LINE_VOIDED,
  CONTRIBUTION_RECORDED,
  type ContributionLineVoidedData,
  type ContributionRecordedData,
} from '../src/domain/contribution/events.js'
import { POOL_LEGACY_BALANCE_IMPORTED, type PoolLegacyBalanceImportedData } from '../src/domain/legacy/events.js'
import { addYuan, subtractYuan } from '../src/domain/money.js'
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
}

/** Document of the `pool-balances` projection, keyed by region (GB/T 2260). */
export interface PoolBalancesDoc {
  region: string
  schemes: Record<Scheme, PoolSchemeBalance>
}

/** Per region and scheme: the pooled fund's balance and what contributions credited to it. */
export const poolBalances: DocumentProjection<PoolBalancesDoc> = {
  name: 'pool-balances',
  keysOf: (event: ProjectedEvent) => {
    if (event.type === TRANSFER_SENT) {
      const d = event.data as TransferSentData
      return [d.fromRegion, d.toRegion]
    }
    return event.type === CONTRIBUTION_RECORDED || event.type === CONTRIBUTION_LINE_VOIDED || event.type === POOL_LEGACY_BALANCE_IMPORTED
      ? [(event.data as ContributionRecordedData | ContributionLineVoidedData | PoolLegacyBalanceImportedData).region]
      : []
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
    if (event.type !== CONTRIBUTION_RECORDED && event.type !== CONTRIBUTION_LINE_VOIDED) return doc
    const data = event.data as ContributionRecordedData | ContributionLineVoidedData
    const move = event.type === CONTRIBUTION_LINE_VOIDED ? subtractYuan : addYuan
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
