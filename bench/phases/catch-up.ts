/**
 * Phase `catch-up`: the service's projector catching up on the in-process log from empty read
 * models, as at the first start of a service on an existing log. Set up as `src/bootstrap.ts` does
 * it: the read models in the log's own file, bound to the `sqlite` store, checkpoint `main`, the
 * projections of `projections/index.ts`.
 */
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { Projector } from '../../src/projector/projector.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import { PROJECTIONS } from '../../projections/index.js'
import { PhaseError, PROGRESS_INTERVAL_MS, now, perSecond, type BenchContext } from './phase.js'

/** Longest the projector may take to reach the log's head, milliseconds (2 hours: 10M events at
 * under 1,400 events/s would still finish). */
export const CATCH_UP_WAIT_MS = 2 * 60 * 60 * 1000

/** Figures of {@link catchUp}. */
export interface CatchUpFigures {
  /** The log's head position, which the projector reached. */
  events: bigint
  /** From `projector.start()` until the checkpoint reached the head. */
  seconds: number
  eventsPerSecond: number
}

/**
 * Runs the projector over the log at `ctx.logPath` until its checkpoint is the log's head.
 * @throws PhaseError when the read models already have a checkpoint (they must start empty), the
 *   log is empty, or the head is not reached within {@link CATCH_UP_WAIT_MS}.
 */
export async function catchUp(ctx: BenchContext): Promise<CatchUpFigures> {
  const store = openSqliteEventStore({ path: ctx.logPath })
  const readModels = new ReadModelStore(ctx.logPath)
  try {
    readModels.bindToStore('sqlite')
    const head = await store.headPosition()
    if (head === null) throw new PhaseError('catch-up: the log is empty')
    const checkpoint = readModels.getCheckpoint('main')
    if (checkpoint !== null) throw new PhaseError(`catch-up: the read models are already at position ${checkpoint}; they must start empty`)
    const projector = new Projector({ store, readModels, projections: PROJECTIONS })
    ctx.progress(`catch-up: projecting ${head} events`)
    const started = now()
    const ticker = setInterval(() => {
      const at = projector.position ?? 0n
      ctx.progress(`catch-up: at position ${at} of ${head}, ${Math.round(perSecond(at, (now() - started) / 1000))} events/s`)
    }, PROGRESS_INTERVAL_MS)
    let reached: bigint | null
    let seconds: number
    try {
      projector.start()
      reached = await projector.waitForPosition(head, CATCH_UP_WAIT_MS)
      seconds = (now() - started) / 1000
    } finally {
      clearInterval(ticker)
      await projector.stop()
    }
    if (reached !== head) {
      throw new PhaseError(`catch-up: the projector reached position ${reached ?? 'none'} of ${head} within ${CATCH_UP_WAIT_MS} ms`)
    }
    return { events: head, seconds, eventsPerSecond: perSecond(head, seconds) }
  } finally {
    readModels.close()
    await store.close()
  }
}
