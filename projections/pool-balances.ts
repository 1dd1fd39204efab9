import {
  CONTRIBUTION_LINE_VOIDED,
  CONTRIBUTION_RECORDED,
  type ContributionLineVoidedData,
  type ContributionRecordedData,
} from '../src/domain/contribution/events.js'
import { addYuan, subtractYuan } from '../src/domain/money.js'
import { SCHEMES, type Scheme } from '../src/domain/schemes.js'
import type { DocumentProjection, ProjectedEvent } from './projection.js'

/** One pooled fund (region, scheme). Amounts are yuan strings with two places. */
export interface PoolSchemeBalance {
  /** What the pool holds. */
  balance: string
  /** Everything contributions have credited to it. */
  contributions: string
}

/** Document of the `pool-balances` projection, keyed by region (GB/T 2260). */
export interface PoolBalancesDoc {
  region: string
  schemes: Record<Scheme, PoolSchemeBalance>
}

/** Per region and scheme: the pooled fund's balance and what contributions credited to it. */
export const poolBalances: DocumentProjection<PoolBalancesDoc> = {
  name: 'pool-balances',
  keysOf: (event: ProjectedEvent) =>
    event.type === CONTRIBUTION_RECORDED || event.type === CONTRIBUTION_LINE_VOIDED
      ? [(event.data as ContributionRecordedData | ContributionLineVoidedData).region]
      : [],
  initial: (region) => ({
    region,
    schemes: Object.fromEntries(SCHEMES.map((s) => [s, { balance: '0.00', contributions: '0.00' }])) as Record<
      Scheme,
      PoolSchemeBalance
    >,
  }),
  evolve(doc, event) {
    if (event.type !== CONTRIBUTION_RECORDED && event.type !== CONTRIBUTION_LINE_VOIDED) return doc
    const data = event.data as ContributionRecordedData | ContributionLineVoidedData
    const move = event.type === CONTRIBUTION_LINE_VOIDED ? subtractYuan : addYuan
    const schemes = { ...doc.schemes }
    for (const s of data.schemes) {
      const b = schemes[s.scheme]
      schemes[s.scheme] = {
        balance: move(b.balance, s.pool),
        contributions: move(b.contributions, s.pool),
      }
    }
    return { ...doc, schemes }
  },
}
