import type { EventStore } from '../eventstore/port.js'
import type { DocumentProjection } from '../../projections/projection.js'

/**
 * Where a stream-fed document begins: the position of the first event of `stream` that the
 * projection folds into the document `key` (`undefined`: none). Not every event of a stream is
 * folded (a person's stream also carries PensionTransferOpened/Closed, which person-balances leaves
 * out), so the stream is read from its start up to that event: one or two events in practice.
 *
 * Used to tell a document that is missing (the projector is past where it begins, yet the file has
 * no row: deleted) from one not made yet.
 * @throws whatever the store throws.
 */
export async function firstFoldedPosition(store: EventStore, projection: DocumentProjection<unknown>, key: string, stream: string): Promise<bigint | undefined> {
  for await (const e of store.readStream(stream)) if (projection.keysOf(e).includes(key)) return e.position
  return undefined
}
