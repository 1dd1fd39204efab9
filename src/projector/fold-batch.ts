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
 *
 * With `onDamaged`: a STORED document that the projection's `evolve` cannot fold (valid JSON of the
 * wrong shape, `{}` or `[]`: it throws) is damaged too: reported once through `onDamaged`, its
 * changes of this batch dropped, and left out of the rest of the batch; the other documents fold on.
 * Without it (or when the fold started from the projection's initial document: a projection's
 * fault, not the file's) the error is thrown.
 * @returns the changed documents per projection name.
 */
export function foldBatch(
  events: Iterable<ProjectedEvent & { position?: bigint }>,
  projections: readonly DocumentProjection<unknown>[],
  load: LoadDocument,
  changes: DocumentChanges = new Map(),
  onDamaged?: (projection: string, key: string, reason: string) => void,
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
        let next: unknown
        try {
          next = projection.evolve(doc, event, key)
        } catch (err) {
          if (onDamaged === undefined || stored === undefined) throw err
          docs.delete(key)
          cache.set(key, DAMAGED)
          onDamaged(projection.name, key, `the stored document cannot be folded: it is not a ${projection.name} document (${(err as Error).message})`)
          continue
        }
        docs.set(key, next)
      }
    }
  }
  return changes
}
