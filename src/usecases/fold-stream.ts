import type { EventStore, ExpectedRevision, RecordedEvent } from '../eventstore/port.js'

/**
 * Folds a whole stream into `state` with `evolve` (which mutates it): the state a decision is made
 * on, and the revision to append at (`no_stream` for a stream without events) and the position of
 * its last event (0 when none).
 */
export async function foldStream<S>(
  store: EventStore,
  stream: string,
  state: S,
  evolve: (state: S, event: RecordedEvent) => unknown,
): Promise<{ state: S; revision: ExpectedRevision; position: bigint }> {
  let revision: ExpectedRevision = 'no_stream'
  let position = 0n
  for await (const event of store.readStream(stream)) {
    evolve(state, event)
    revision = event.revision
    position = event.position
  }
  return { state, revision, position }
}
