/**
 * Events of the cross-province transfer of basic pension insurance (Guo Ban Fa [2009] No.66,
 * RULES.md §3). The process lives on `transfer-{transferId}`; what changes the person's accounts is
 * also on `person-{personId}`, so the person's invariants (one open transfer at a time, money moved
 * once) are checked against the person stream with an expected revision. Dates are local dates in
 * Asia/Shanghai (YYYY-MM-DD); amounts are yuan strings with two places.
 */

/** On `transfer-{id}`: the destination region registers the person's application (Art. 8). */
export interface TransferRegisteredData {
  transferId: string
  personId: string
  fromRegion: string
  toRegion: string
  registeredOn: string
}

/** On `transfer-{id}`: the destination's acceptance letter. */
export interface TransferAcceptedData {
  transferId: string
  acceptedOn: string
}

/** On `transfer-{id}`: the destination's written refusal. */
export interface TransferRejectedData {
  transferId: string
  reason: string
  rejectedOn: string
}

/** On `transfer-{id}`: withdrawn before any money was sent. */
export interface TransferCancelledData {
  transferId: string
  reason: string
  cancelledOn: string
}

/**
 * On `transfer-{id}` and (as PensionTransferred) on `person-{id}`, in one atomic append: the source
 * region sends the individual account balance and the pooled-fund amount (Art. 4): 12% of the
 * contribution bases of the months contributed in the source region from 1998-01 on, rounded
 * half-up to 0.01 once. `sendNumber` 1 is the transfer itself; later ones are supplementary sends
 * for months recorded in the source region after an earlier send.
 */
export interface TransferSentData {
  transferId: string
  personId: string
  fromRegion: string
  toRegion: string
  sendNumber: number
  sentOn: string
  /** Pension individual account balance moved (0.00 on a supplementary send). */
  individualAccount: string
  /** Pooled-fund amount moved from the source pool to the destination pool. */
  pooledFund: string
  /** Months and the sum of their bases that the pooled amount was computed from. */
  months: number
  baseTotal: string
  /** Recorded periods (YYYY-MM) this send moved; legacy years are counted in `months` only. */
  periods: string[]
  /** Whether this send moved the legacy (imported) years of the source region. */
  legacyYears: boolean
}

/** On `transfer-{id}`: the destination confirms receipt and closes the case. */
export interface TransferCompletedData {
  transferId: string
  completedOn: string
}

/** On `person-{id}`: a transfer was opened for the person (at most one open at a time). */
export interface PensionTransferOpenedData {
  transferId: string
  personId: string
  fromRegion: string
  toRegion: string
}

/** On `person-{id}`: the transfer no longer blocks others (completed, rejected or cancelled). */
export interface PensionTransferClosedData {
  transferId: string
  personId: string
  outcome: 'completed' | 'rejected' | 'cancelled'
}

export const TRANSFER_REGISTERED = 'TransferRegistered' as const
export const TRANSFER_ACCEPTED = 'TransferAccepted' as const
export const TRANSFER_REJECTED = 'TransferRejected' as const
export const TRANSFER_CANCELLED = 'TransferCancelled' as const
export const TRANSFER_SENT = 'TransferSent' as const
export const TRANSFER_COMPLETED = 'TransferCompleted' as const
export const PENSION_TRANSFER_OPENED = 'PensionTransferOpened' as const
/** On `person-{id}`: the same data as TransferSent. */
export const PENSION_TRANSFERRED = 'PensionTransferred' as const
export const PENSION_TRANSFER_CLOSED = 'PensionTransferClosed' as const

export const transferStream = (transferId: string): string => `transfer-${transferId}`
