import {
  TRANSFER_ACCEPTED,
  TRANSFER_CANCELLED,
  TRANSFER_COMPLETED,
  TRANSFER_REGISTERED,
  TRANSFER_REJECTED,
  TRANSFER_SENT,
  transferStream,
  type TransferAcceptedData,
  type TransferRegisteredData,
  type TransferSentData,
} from '../src/domain/transfer/events.js'
import type { TransferStatus } from '../src/domain/transfer/transfer-state.js'
import type { DocumentProjection, ProjectedEvent } from './projection.js'

/** Document of the `transfers` projection, keyed by transferId: what the list query filters on. */
export interface TransferDoc {
  transferId: string
  personId: string
  fromRegion: string
  toRegion: string
  state: TransferStatus
  registeredOn: string
  acceptedOn?: string
  firstSentOn?: string
}

const TYPES = new Set<string>([TRANSFER_REGISTERED, TRANSFER_ACCEPTED, TRANSFER_REJECTED, TRANSFER_CANCELLED, TRANSFER_SENT, TRANSFER_COMPLETED])

/** One document per transfer with its state and step dates. */
export const transfers: DocumentProjection<TransferDoc> = {
  name: 'transfers',
  keysOf: (event: ProjectedEvent) => (TYPES.has(event.type) ? [(event.data as { transferId: string }).transferId] : []),
  // Every Transfer* event is on the transfer's stream (the person's stream gets PensionTransfer* ones).
  streamsOf: (transferId) => [transferStream(transferId)],
  initial: (transferId) => ({ transferId, personId: '', fromRegion: '', toRegion: '', state: 'none', registeredOn: '' }),
  evolve(doc, event) {
    switch (event.type) {
      case TRANSFER_REGISTERED: {
        const d = event.data as TransferRegisteredData
        return { ...doc, personId: d.personId, fromRegion: d.fromRegion, toRegion: d.toRegion, state: 'registered', registeredOn: d.registeredOn }
      }
      case TRANSFER_ACCEPTED:
        return { ...doc, state: 'accepted', acceptedOn: (event.data as TransferAcceptedData).acceptedOn }
      case TRANSFER_REJECTED:
        return { ...doc, state: 'rejected' }
      case TRANSFER_CANCELLED:
        return { ...doc, state: 'cancelled' }
      case TRANSFER_SENT:
        return { ...doc, state: doc.state === 'completed' ? 'completed' : 'sent', firstSentOn: doc.firstSentOn ?? (event.data as TransferSentData).sentOn }
      case TRANSFER_COMPLETED:
        return { ...doc, state: 'completed' }
      default:
        return doc
    }
  },
}
