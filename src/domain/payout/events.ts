import type { Scheme } from '../schemes.js'

/**
 * Events of benefit payouts. Amounts are yuan strings with two places. Every payout can be read as
 * balanced postings: `fromIndividualAccount` debits `person:{id}:{scheme}:individual`, `fromPool`
 * debits `pool:{region}:{scheme}`, and `amount` (their sum) credits `payee:{personId}`.
 */

/** On `person-{personId}`: a benefit paid to the person for a period. */
export interface PayoutRecordedData {
  payoutId: string
  personId: string
  scheme: Scheme
  /** What was paid, e.g. `monthly` (pension), `benefit`, `reimbursement`. */
  kind: string
  /** The month the payout is for, YYYY-MM. */
  period: string
  /** Region whose pool pays (pension: the region holding the account). */
  region: string
  /** Total paid to the person: fromIndividualAccount + fromPool. */
  amount: string
  fromIndividualAccount: string
  fromPool: string
  /** Pension only: the individual-account part the pool paid because the account was exhausted
   * (inside fromPool). */
  poolCoversAccount?: string
}

/** On `payout-{payoutId}`, in the same atomic append as the person's event: the payout id's
 * idempotency record, with the canonical request and what was paid. */
export interface PayoutRequestRecordedData {
  payoutId: string
  contentHash: string
  request: Record<string, unknown>
  payout: PayoutRecordedData
}

export const PAYOUT_RECORDED = 'PayoutRecorded' as const
export const PAYOUT_REQUEST_RECORDED = 'PayoutRequestRecorded' as const

export const payoutStream = (payoutId: string): string => `payout-${payoutId}`
