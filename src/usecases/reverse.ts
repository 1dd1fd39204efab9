import type { EventMetadata, EventStore } from '../eventstore/port.js'
import { decideReversal, type ReversalDecision, type ReverseEvent } from '../domain/reversal/decide.js'
import { REVERSAL_REQUEST_RECORDED, reversalStream, type ReversalRequestRecordedData } from '../domain/reversal/events.js'
import { KeyedLock } from './keyed-lock.js'
import { runKeyedPersonCommand, type KeyedResult } from './keyed-person-command.js'

/** Prefix of the streams a reversal may name. */
export const PERSON_STREAM_PREFIX = 'person-'

/** A refused reversal: the decision that refused it. */
export type ReversalRefusal = Exclude<ReversalDecision, { outcome: 'record' }>

/** Records reversals: the compensating event on the person, `ReversalRequestRecorded` on
 * `reversal-{reversalId}`, one atomic append; `reversalId` is the idempotency key. */
export class ReversalHandler {
  private readonly lock = new KeyedLock()

  constructor(private readonly store: EventStore) {}

  /** The event at `ref` (stream and decimal revision), or undefined when there is none. */
  async eventAt(ref: { stream: string; revision: string }): Promise<{ type: string; data: unknown } | undefined> {
    const revision = BigInt(ref.revision)
    for await (const e of this.store.readStream(ref.stream, { fromRevision: revision, maxCount: 1 })) if (e.revision === revision) return { type: e.type, data: e.data }
    return undefined
  }

  /**
   * Reverses (or finds reversed) the event `cmd.eventRef` names; the stream must be a person's
   * (`person-{personId}`, checked by the caller's schema).
   * @throws WrongExpectedRevisionError when every attempt lost its race; StoreUnavailableError.
   */
  reverse(cmd: ReverseEvent, metadata: EventMetadata = {}): Promise<KeyedResult<ReversalRequestRecordedData, ReversalRefusal>> {
    const personId = cmd.eventRef.stream.slice(PERSON_STREAM_PREFIX.length)
    const request: Record<string, unknown> = { reversalId: cmd.reversalId, eventRef: cmd.eventRef, reason: cmd.reason }
    return runKeyedPersonCommand<ReversalRequestRecordedData, ReversalRefusal>(
      this.store,
      this.lock,
      {
        markerStream: reversalStream(cmd.reversalId),
        markerType: REVERSAL_REQUEST_RECORDED,
        request,
        personId,
        decide: async (state) => {
          const revision = BigInt(cmd.eventRef.revision)
          let target: { id: string; type: string; data: unknown } | undefined
          for await (const e of this.store.readStream(cmd.eventRef.stream, { fromRevision: revision, maxCount: 1 }))
            if (e.revision === revision) target = { id: e.id, type: e.type, data: e.data }
          const d = decideReversal(cmd, target, state)
          if (d.outcome !== 'record') return { refused: d }
          return { append: d.event, marker: { reversalId: cmd.reversalId, personId, reversedType: target!.type } }
        },
      },
      metadata,
    )
  }
}
