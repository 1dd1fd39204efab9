/**
 * A document projection: a pure fold of log events into documents keyed by a string (a person id,
 * a region). The projector (src/projector) loads the documents an event touches, folds, and stores
 * them with its checkpoint in one transaction. Projections import only domain types.
 */

/** The part of a recorded event a projection may read. */
export interface ProjectedEvent {
  type: string
  data: unknown
}

export interface DocumentProjection<Doc> {
  /** Stable name; also the read-model namespace. */
  readonly name: string
  /** Keys of the documents `event` changes; empty when it does not concern this projection. */
  keysOf(event: ProjectedEvent): string[]
  /** The document for `key` before any event. */
  initial(key: string): Doc
  /** Folds one event into the document for `key`. Pure: returns a new document. */
  evolve(doc: Doc, event: ProjectedEvent, key: string): Doc
  /**
   * The streams whose events are ALL the events that fold into the document for `key`, when there
   * are such (a person's stream, a transfer's stream): the read models' self-check
   * (src/projector/self-check.ts) refolds a sample of documents from them. Absent: the document may
   * be fed by any stream (pool balances), and the self-check folds the whole log for it.
   */
  streamsOf?(key: string): string[]
}
