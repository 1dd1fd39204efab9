import type { EventStore } from '../eventstore/port.js'
import { ReadModelMismatchError, type ReadModelStore } from './read-model-store.js'

/**
 * Binds a read-model file to the log it is folded from, by that log's first event (id and
 * position): the first start on a log that has events records it; every later start checks it.
 *
 * Why: on KurrentDB the read models live in a local file apart from the log, and the same file can
 * be pointed at another log (another server, a wiped one, another compose stack sharing a volume).
 * The store kind (ReadModelStore.bindToStore) and a checkpoint beyond the log's head catch some of
 * it; a different log whose head is past the checkpoint would otherwise be folded on from the
 * middle, onto balances of the first one.
 *
 * A file of an earlier version (nothing recorded) is bound to the log it is opened on; a file first
 * opened on an empty log is bound at the first start that finds an event (until then the
 * checkpoint-beyond-head check is what guards it).
 * @throws ReadModelMismatchError naming both first events (or the empty log).
 * @throws StoreUnavailableError when the log cannot be read.
 */
export async function bindReadModelsToLog(readModels: ReadModelStore, store: EventStore): Promise<void> {
  let first: { id: string; position: bigint } | undefined
  for await (const e of store.readAll({ maxCount: 1 })) first = { id: e.id, position: e.position }
  const bound = readModels.boundLog()
  if (!bound) {
    if (first) readModels.recordLog(first)
    return
  }
  if (!first) {
    throw new ReadModelMismatchError(`the read models in this file were folded from a log whose first event is ${bound.id} (position ${bound.position}); this log is empty`)
  }
  if (first.id !== bound.id || first.position !== bound.position) {
    throw new ReadModelMismatchError(
      `the read models in this file were folded from another log: its first event is ${bound.id} (position ${bound.position}), this log's is ${first.id} (position ${first.position})`,
    )
  }
}
