import { WrongExpectedRevisionError, type EventMetadata, type EventStore } from '../eventstore/port.js'
import { personStream } from '../domain/contribution/events.js'
import { evolvePersonAccounts, initialPersonAccounts, type PersonAccountsState } from '../domain/person/person-accounts.js'
import { differingFields, requestHash } from '../domain/request-hash.js'
import { foldStream } from './fold-stream.js'
import type { KeyedLock } from './keyed-lock.js'
import { MAX_APPEND_ATTEMPTS } from './record-submission.js'

/** What a keyed command's marker event carries at least. */
export interface MarkerData {
  contentHash: string
  request: Record<string, unknown>
}

/** A keyed command: an idempotency key with its marker stream, and a decision on one person. */
export interface KeyedPersonCommand<Marker extends MarkerData, Refusal> {
  /** `payout-{id}`, `reversal-{id}`. */
  markerStream: string
  markerType: string
  /** The canonical request (what "the same body" means). */
  request: Record<string, unknown>
  personId: string
  /** Decides on the person's state (pure, or reading the log only): the person's event and the
   * marker's data, or a refusal. */
  decide(state: PersonAccountsState): Promise<{ append: { type: string; data: object }; marker: Omit<Marker, keyof MarkerData> } | { refused: Refusal }>
}

/** The answer to a keyed command. */
export type KeyedResult<Marker, Refusal> =
  | { kind: 'recorded' | 'already-recorded'; position: bigint; marker: Marker }
  /** The key was used for another request: the fields that differ. */
  | { kind: 'key-conflict'; differences: string[]; marker: Marker }
  | { kind: 'refused'; refusal: Refusal }
  /** The store cannot append the person's event and the marker atomically. */
  | { kind: 'unsupported' }

/**
 * Runs a keyed command: reads the marker (`no_stream` means new), folds the person, decides, and
 * appends the person's event and the marker in one atomic append at the revisions read (the marker
 * last, so the append's position is the marker's and a retry answers with the same position). A
 * lost race decides again (at most MAX_APPEND_ATTEMPTS). Stores without atomic multi-stream appends
 * are refused: written one by one, a crash between the two would leave money moved without its key.
 * @throws WrongExpectedRevisionError when every attempt lost its race; StoreUnavailableError.
 */
export async function runKeyedPersonCommand<Marker extends MarkerData, Refusal>(
  store: EventStore,
  lock: KeyedLock,
  cmd: KeyedPersonCommand<Marker, Refusal>,
  metadata: EventMetadata,
): Promise<KeyedResult<Marker, Refusal>> {
  if (store.atomicAppendMany === false) return { kind: 'unsupported' }
  const contentHash = requestHash(cmd.request)
  const person = personStream(cmd.personId)
  return lock.run([cmd.markerStream, person], async () => {
    for (let attempt = 1; ; attempt++) {
      const found = await readMarker<Marker>(store, cmd.markerStream, cmd.markerType)
      if (found) {
        return found.marker.contentHash === contentHash
          ? { kind: 'already-recorded', position: found.position, marker: found.marker }
          : { kind: 'key-conflict', differences: differingFields(found.marker.request, cmd.request), marker: found.marker }
      }
      const { state, revision } = await foldStream(store, person, initialPersonAccounts(), evolvePersonAccounts)
      const decision = await cmd.decide(state)
      if ('refused' in decision) return { kind: 'refused', refusal: decision.refused }
      const marker = { ...decision.marker, contentHash, request: cmd.request } as unknown as Marker
      try {
        const result = await store.appendMany([
          { stream: person, events: [{ ...decision.append, metadata }], expectedRevision: revision },
          { stream: cmd.markerStream, events: [{ type: cmd.markerType, data: marker, metadata }], expectedRevision: 'no_stream' },
        ])
        return { kind: 'recorded', position: result.position, marker }
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError) || attempt >= MAX_APPEND_ATTEMPTS) throw err
      }
    }
  })
}

async function readMarker<Marker>(store: EventStore, stream: string, type: string): Promise<{ marker: Marker; position: bigint } | undefined> {
  for await (const e of store.readStream(stream, { maxCount: 1 })) if (e.type === type) return { marker: e.data as Marker, position: e.position }
  return undefined
}
