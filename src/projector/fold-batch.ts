import type { DocumentProjection, ProjectedEvent } from '../../projections/index.js'
import type { DocumentChanges } from './read-model-store.js'

/**
 * Folds a batch of events through the projections: for every document an event touches, the stored
 * document (from `load`, or the projection's initial one) is folded once per event, in order. The
 * projector, the auditor's replay and a projection rebuild all fold this way, so they agree.
 * @returns the changed documents per projection name.
 */
export function foldBatch(
  events: Iterable<ProjectedEvent>,
  projections: readonly DocumentProjection<unknown>[],
  load: (projection: string, key: string) => unknown,
  changes: DocumentChanges = new Map(),
): DocumentChanges {
  for (const event of events) {
    for (const projection of projections) {
      for (const key of projection.keysOf(event)) {
        let docs = changes.get(projection.name)
        if (!docs) changes.set(projection.name, (docs = new Map()))
        const doc = docs.has(key) ? docs.get(key) : (load(projection.name, key) ?? projection.initial(key))
        docs.set(key, projection.evolve(doc, event, key))
      }
    }
  }
  return changes
}
