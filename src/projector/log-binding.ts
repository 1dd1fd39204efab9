import type { EventStore } from '../eventstore/port.js'
import { ReadModelMismatchError, type ReadModelStore } from './read-model-store.js'

/**
 * Checks, before a read-model file is folded on or rebuilt, that it belongs to the log it is opened
 * on; then binds an unbound file to that log by the log's first event (id and position).
 *
 * Why: on KurrentDB the read models live in a local file apart from the log, and the same file can
 * be pointed at another log (another server, a wiped one, another compose stack sharing a volume).
 * - A file bound to another first event (or opened on an empty log) is refused: a different log
 *   whose head is past the checkpoint would otherwise be folded on from the middle, onto balances
 *   of the first one.
 * - A checkpoint beyond the log's head (see `checkpointName`): the log was replaced under read
 *   models that remember it; folding on would silently skip the new events.
 * - With `checkpointName`: a checkpoint beyond the log's head is refused too.
 * The binding is recorded only by the `bind()` it answers, called once the start (or rebuild) is
 * accepted, so one refused by mistake on the wrong log leaves the file as it was. A file of an earlier version (nothing recorded) is bound to
 * the log it is next accepted on; a file first opened on an empty log, at the first start that
 * finds an event (until then the checkpoint check is what guards it). The log's first event is
 * `readAll`'s (system events aside): on a server shared with other applications, theirs may be it.
 * @throws ReadModelMismatchError naming what differs.
 * @throws StoreUnavailableError when the log cannot be read.
 */
export async function checkReadModelsAgainstLog(
  readModels: ReadModelStore,
  store: EventStore,
  options: { checkpointName?: string } = {},
): Promise<{ bind(): void }> {
  let first: { id: string; position: bigint } | undefined
  for await (const e of store.readAll({ maxCount: 1 })) first = { id: e.id, position: e.position }
  const bound = readModels.boundLog()
  if (bound && !first) {
    throw new ReadModelMismatchError(`the read models in this file were folded from a log whose first event is ${bound.id} (position ${bound.position}); this log is empty`)
  }
  if (bound && first && (first.id !== bound.id || first.position !== bound.position)) {
    throw new ReadModelMismatchError(
      `the read models in this file were folded from another log: its first event is ${bound.id} (position ${bound.position}), this log's is ${first.id} (position ${first.position})`,
    )
  }
  if (options.checkpointName !== undefined) {
    const checkpoint = readModels.getCheckpoint(options.checkpointName)
    const head = await store.headPosition()
    if (checkpoint !== null && (head === null || checkpoint > head)) {
      throw new ReadModelMismatchError(`the read models' checkpoint (${checkpoint}) is beyond the log's head (${head ?? 'empty log'})`)
    }
  }
  return {
    bind: () => {
      if (!bound && first) readModels.recordLog(first)
    },
  }
}
