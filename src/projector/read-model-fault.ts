import { maskPersonIdsInText } from '../logging.js'
import type { DocumentMark, ReadModelStore } from './read-model-store.js'

/** The readiness reason of a marked document: `read-model-damaged` or `read-model-differs`. */
export const markReason = (mark: Pick<DocumentMark, 'kind'>): 'read-model-damaged' | 'read-model-differs' =>
  mark.kind === 'damaged' ? 'read-model-damaged' : 'read-model-differs'

/** What to run to cure a marked document. */
export const cureOf = (projection: string): string => `ledger projections rebuild ${projection}`

/**
 * The readiness fault of the read models (a watcher for AppDeps.readinessFaults): the first marked
 * document, damaged ones first, as `read-model-damaged` or `read-model-differs`, naming the document
 * (person ids masked: `/readyz` is open to anyone) and the cure; `undefined` when none is marked or
 * the file cannot be read now (the store's own watcher reports that).
 */
export function readModelFault(readModels: ReadModelStore): { reason: string; detail: string } | undefined {
  let mark: DocumentMark | undefined
  try {
    mark = readModels.firstMark()
  } catch {
    return undefined
  }
  if (!mark) return undefined
  const what = mark.kind === 'damaged' ? 'is damaged' : 'differs from the fold of the log'
  return {
    reason: markReason(mark),
    detail: maskPersonIdsInText(
      `the read-model document ${mark.projection}/${mark.key} ${what} (found at position ${mark.position ?? 'unknown'}: ${mark.reason}); ` +
        `its reads answer 503 until \`${cureOf(mark.projection)}\` rewrites it`,
    ),
  }
}
