import type { ContributionLineVoidedData } from '../contribution/events.js'
import type { PayoutRecordedData } from '../payout/events.js'

/**
 * Compensating events: a mistake is corrected by an event that undoes exactly the amounts of an
 * earlier one, never by editing history (the original stays in the log). A reversal cannot itself
 * be reversed, and an event is reversed at most once.
 */

/** Which event a reversal undoes. */
export interface EventRef {
  stream: string
  /** 0-based stream revision, a decimal string. */
  revision: string
}

/** What every reversal carries. */
export interface ReversalCommon {
  reversalId: string
  reason: string
  eventRef: EventRef
  /** Id of the reversed event (the store's). */
  reversedEventId: string
}

/**
 * On `person-{personId}`: a contribution line undone. Carries the line's fields and amounts, so folds
 * subtract exactly them (as for ContributionLineVoided); the month is no longer credited.
 */
export interface ContributionReversedData extends ReversalCommon, Omit<ContributionLineVoidedData, 'reason'> {}

/** On `person-{personId}`: a payout undone: the individual account and the pool get back exactly
 * what it took; a pension period so freed can be paid again. */
export interface PayoutReversedData extends ReversalCommon {
  payout: PayoutRecordedData
}

/** On `reversal-{reversalId}`, in the same atomic append: the reversal id's idempotency record. */
export interface ReversalRequestRecordedData {
  reversalId: string
  contentHash: string
  request: Record<string, unknown>
  personId: string
  reversedType: string
}

export const CONTRIBUTION_REVERSED = 'ContributionReversed' as const
export const PAYOUT_REVERSED = 'PayoutReversed' as const
export const REVERSAL_REQUEST_RECORDED = 'ReversalRequestRecorded' as const

export const reversalStream = (reversalId: string): string => `reversal-${reversalId}`
