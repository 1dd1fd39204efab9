import { personBalances } from './person-balances.js'
import { poolBalances } from './pool-balances.js'
import { transfers } from './transfers.js'
import type { DocumentProjection } from './projection.js'

/** Every projection the projector runs, in the order it applies them. */
export const PROJECTIONS: readonly DocumentProjection<unknown>[] = [
  personBalances as DocumentProjection<unknown>,
  poolBalances as DocumentProjection<unknown>,
  transfers as DocumentProjection<unknown>,
]

export { personBalances, poolBalances, transfers }
export type { DocumentProjection, ProjectedEvent } from './projection.js'
export type { PensionInPayment, PersonBalancesDoc, PersonSchemeBalance, ReversedEntry } from './person-balances.js'
export type { PoolBalancesDoc, PoolSchemeBalance } from './pool-balances.js'
export type { TransferDoc } from './transfers.js'
