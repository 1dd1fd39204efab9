import { maskPersonIdsInText } from '../logging.js'
import { cureOf, markReason } from '../projector/read-model-fault.js'
import { ReadModelDocumentUnavailableError, type ReadModelStore } from '../projector/read-model-store.js'
import { HttpProblem } from './problem.js'

/** Seconds a client is told to wait before asking again for a document not served (`Retry-After`):
 * it stays unserved until a rebuild, which takes minutes. */
const READ_MODEL_RETRY_AFTER_SECONDS = 60

/** The 503 problem of a document not served (damaged, or different from the log): `reason`
 * `read-model-damaged` or `read-model-differs`, the document, and the cure. */
export function readModelProblem(err: ReadModelDocumentUnavailableError): HttpProblem {
  const { mark } = err
  const reason = markReason(mark)
  const cure = cureOf(mark.projection)
  return new HttpProblem(
    503,
    reason,
    mark.kind === 'damaged' ? 'Read model damaged' : 'Read model differs from the log',
    maskPersonIdsInText(`${err.message}; it is not served until an operator runs \`${cure}\``),
    { reason, projection: mark.projection, key: mark.key, cure },
    { 'retry-after': String(READ_MODEL_RETRY_AFTER_SECONDS) },
  )
}

/**
 * `build(doc)`, the answer made of a stored document; a document of the wrong shape (`{}`, `[]`:
 * `build` throws) is damaged, never a 500.
 * @throws HttpProblem 503 `read-model-damaged` ({@link readModelProblem}) when `build` throws.
 */
export function answerOf<Doc, Answer>(projection: string, key: string, doc: Doc, build: (doc: Doc) => Answer): Answer {
  try {
    return build(doc)
  } catch (err) {
    const reason = `the stored document cannot be turned into the answer: it is not a ${projection} document (${(err as Error).message})`
    throw readModelProblem(new ReadModelDocumentUnavailableError({ projection, key, kind: 'damaged', reason, position: null }))
  }
}

/**
 * The document to serve (see ReadModelStore.readDocument), or `undefined` when there is none.
 * @throws HttpProblem 503 ({@link readModelProblem}) when it is marked or cannot be read.
 */
export function servedDocument<Doc>(readModels: ReadModelStore, projection: string, key: string): Doc | undefined {
  try {
    return readModels.readDocument<Doc>(projection, key)
  } catch (err) {
    if (err instanceof ReadModelDocumentUnavailableError) throw readModelProblem(err)
    throw err
  }
}
