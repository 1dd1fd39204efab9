import {
  TRANSFER_ACCEPTED,
  TRANSFER_CANCELLED,
  TRANSFER_COMPLETED,
  TRANSFER_REGISTERED,
  TRANSFER_REJECTED,
  TRANSFER_SENT,
  type TransferAcceptedData,
  type TransferCancelledData,
  type TransferCompletedData,
  type TransferRegisteredData,
  type TransferRejectedData,
  type TransferSentData,
} from './events.js'

/** Where a transfer stands. */
export type TransferStatus = 'none' | 'registered' | 'accepted' | 'rejected' | 'cancelled' | 'sent' | 'completed'

/** A transfer's process state: a fold over `transfer-{transferId}`. */
export interface TransferState {
  status: TransferStatus
  registered?: TransferRegisteredData
  acceptedOn?: string
  rejected?: { reason: string; on: string }
  cancelled?: { reason: string; on: string }
  /** Every send, the first and the supplementary ones, in order. */
  sends: TransferSentData[]
  completedOn?: string
}

export const initialTransferState = (): TransferState => ({ status: 'none', sends: [] })

/** Folds one event of the transfer's stream (mutates and returns `state`). */
export function evolveTransfer(state: TransferState, event: { type: string; data: unknown }): TransferState {
  switch (event.type) {
    case TRANSFER_REGISTERED:
      state.status = 'registered'
      state.registered = event.data as TransferRegisteredData
      break
    case TRANSFER_ACCEPTED:
      state.status = 'accepted'
      state.acceptedOn = (event.data as TransferAcceptedData).acceptedOn
      break
    case TRANSFER_REJECTED: {
      const d = event.data as TransferRejectedData
      state.status = 'rejected'
      state.rejected = { reason: d.reason, on: d.rejectedOn }
      break
    }
    case TRANSFER_CANCELLED: {
      const d = event.data as TransferCancelledData
      state.status = 'cancelled'
      state.cancelled = { reason: d.reason, on: d.cancelledOn }
      break
    }
    case TRANSFER_SENT:
      // A supplementary send after completion leaves the case completed.
      if (state.status !== 'completed') state.status = 'sent'
      state.sends.push(event.data as TransferSentData)
      break
    case TRANSFER_COMPLETED:
      state.status = 'completed'
      state.completedOn = (event.data as TransferCompletedData).completedOn
      break
  }
  return state
}
