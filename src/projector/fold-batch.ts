import type { DocumentProjection, ProjectedEvent } from '../../projections/index.js'
import type { DocumentChanges, StoredDocument } from './read-model-store.js'

/** What `load` answers for a document that cannot be read or parsed: the batch skips it. */
export const DAMAGED = Symbol('damaged document')

/** How {@link foldBatch} gets a stored document: the document and the position of the last event
 * folded into it, `undefined` when there is none, or {@link DAMAGED}. */
export type LoadDocument = (projection: string, key: string) => StoredDocument | undefined | typeof DAMAGED

/**
 * Folds a batch of events through the projections: for every document an event touches, the stored
 * document (from `load`, or the projection's initial one) is folded once per event, in order. The
 * projector, the auditor's replay and a projection rebuild all fold this way, so they agree.
 *
 * Idempotent: an event whose `position` is at or before the stored document's position is already
 * in it and is not folded again (a checkpoint moved back, a batch refolded after a swap or a crash,
 * a second folder). A damaged document ({@link DAMAGED}) is left out of the batch.
 * @returns the changed documents per projection name.
 */
export function foldBatch(
  events: Iterable<ProjectedEvent & { position?: bigint }>,
  projections: readonly DocumentProjection<unknown>[],
  load: LoadDocument,
  changes: DocumentChanges = new Map(),
): DocumentChanges {
  /** Per projection, the stored documents loaded in this batch (`undefined`: none; DAMAGED). */
  const loaded = new Map<string, Map<string, StoredDocument | undefined | typeof DAMAGED>>()
  for (const event of events) {
    for (const projection of projections) {
      for (const key of projection.keysOf(event)) {
        let cache = loaded.get(projection.name)
        if (!cache) loaded.set(projection.name, (cache = new Map()))
        let stored: StoredDocument | undefined | typeof DAMAGED
        if (cache.has(key)) stored = cache.get(key)
        else cache.set(key, (stored = load(projection.name, key)))
        if (stored === DAMAGED) continue
        // Already folded into the stored document.
        if (stored !== undefined && stored.position !== null && event.position !== undefined && event.position <= stored.position) continue
        let docs = changes.get(projection.name)
        if (!docs) changes.set(projection.name, (docs = new Map()))
        const doc = docs.has(key) ? docs.get(key) : (stored?.doc ?? projection.initial(key))
        docs.set(key, projection.evolve(doc, event, key))
      }
    }
  }
  return changes
}
