import { setImmediate } from 'node:timers/promises'
import type { EventStore, RecordedEvent } from '../eventstore/port.js'
import { personStream } from '../domain/contribution/events.js'
import { businessPeriodOf } from '../domain/business-period.js'
import { personBalances, poolBalances, type DocumentProjection, type PersonBalancesDoc, type PoolBalancesDoc } from '../../projections/index.js'
import { InstantFormatError, compareInstants, parseInstant, type Instant } from './instant.js'

export { InstantFormatError, compareInstants, instantNanos, isInstant, parseInstant, type Instant } from './instant.js'

/**
 * Balances at a point in time (issue #6): the projections folded over a cut of the log, from
 * scratch, never the read models.
 *
 * - `asOf` (an instant, read by {@link parseInstant}, the same reading as `ledger audit replay
 *   --until` and as the HTTP schema): what the ledger had recorded by then, the events with
 *   `recordedAt ≤ asOf` (compared exactly, whatever the fraction digits). The store takes
 *   `recordedAt` inside the append's transaction, so it follows position order and the cut is a
 *   prefix of the log: the fold stops at the first event recorded after the instant.
 * - `asOfPeriod` (`YYYY-MM`): the business view, every event whose `businessPeriodOf` is at or before
 *   the period, whenever it was recorded (a late July line recorded after August is in July's view).
 *   Events without a period change no balance and are left out.
 *
 * The log is read in pages of at most {@link POINT_IN_TIME_PAGE} events, and the fold gives the event
 * loop a turn (`setImmediate`) after each page: the embedded store's reads only await resolved
 * promises, so a fold over a long log would otherwise hold the service (timers, sockets) until done.
 */
export type Cut = { asOf: string } | { asOfPeriod: string }

/** Most events read per page by the point-in-time folds (one event-loop turn per page; about the
 * projector's batch, so the service is held for tens of milliseconds at most). */
export const POINT_IN_TIME_PAGE = 250

export interface FoldOptions {
  /** Events per page, a positive integer at most {@link POINT_IN_TIME_PAGE} (default that). */
  pageSize?: number
}

/** A fold of one document over a cut: the document (`undefined` when no event of the cut touched
 * it) and the position of the last event folded (0 when none). */
export interface FoldedAt<Doc> {
  doc: Doc | undefined
  position: bigint
}

/** Reads one page: at most `max` events after `last` (from the start when `undefined`). */
type ReadPage = (last: RecordedEvent | undefined, max: number) => AsyncIterable<RecordedEvent>

function pageSizeOf(options: FoldOptions): number {
  const size = options.pageSize ?? POINT_IN_TIME_PAGE
  if (!Number.isSafeInteger(size) || size < 1 || size > POINT_IN_TIME_PAGE) throw new RangeError(`pageSize must be an integer from 1 to ${POINT_IN_TIME_PAGE}, got ${size}`)
  return size
}

function recordedAtOf(event: RecordedEvent): Instant {
  try {
    return parseInstant(event.recordedAt)
  } catch (err) {
    throw new InstantFormatError(`event at position ${event.position}: recordedAt ${(err as Error).message}`)
  }
}

/**
 * Folds `projection`'s document `key` over the events (in order, page by page) that the cut keeps
 * and that touch `key` (its `keysOf` includes it), as the projector would (`foldBatch`).
 * With `asOf`, reading stops at the first event recorded after the instant.
 * @throws InstantFormatError when `asOf` or an event's `recordedAt` is not an instant.
 */
async function foldCut<Doc>(readPage: ReadPage, projection: DocumentProjection<Doc>, key: string, cut: Cut, pageSize: number): Promise<FoldedAt<Doc>> {
  const until = 'asOf' in cut ? parseInstant(cut.asOf) : undefined
  const period = 'asOfPeriod' in cut ? cut.asOfPeriod : undefined
  let doc: Doc | undefined
  let position = 0n
  let last: RecordedEvent | undefined
  for (;;) {
    let read = 0
    for await (const event of readPage(last, pageSize)) {
      read++
      last = event
      if (until !== undefined) {
        if (compareInstants(recordedAtOf(event), until) > 0) return { doc, position }
      } else {
        const p = businessPeriodOf(event)
        if (p === undefined || p > period!) continue
      }
      if (!projection.keysOf(event).includes(key)) continue
      doc = projection.evolve(doc ?? projection.initial(key), event, key)
      position = event.position
    }
    if (read < pageSize) return { doc, position }
    // One turn of the event loop per page (timers, sockets, other requests).
    await setImmediate()
  }
}

/** A person's balances at the cut: the person's stream folded by `personBalances`, page by page. */
export function personBalancesAt(store: EventStore, personId: string, cut: Cut, options: FoldOptions = {}): Promise<FoldedAt<PersonBalancesDoc>> {
  const pageSize = pageSizeOf(options)
  const stream = personStream(personId)
  const readPage: ReadPage = (last, max) => store.readStream(stream, { fromRevision: last === undefined ? 0n : last.revision + 1n, maxCount: max })
  return foldCut(readPage, personBalances, personId, cut, pageSize)
}

/**
 * A region's pools at the cut, folded by `poolBalances` over the events whose keys include the
 * region. Pool events live on many streams (submissions, persons, transfers), so this READS THE
 * WHOLE LOG (`readAll`, position order, page by page): with `asOf` up to the first event recorded
 * after the instant, with `asOfPeriod` to the head. Its cost grows with the log, not with the
 * region; it is an audit read, not one for every request.
 */
export function poolBalancesAt(store: EventStore, region: string, cut: Cut, options: FoldOptions = {}): Promise<FoldedAt<PoolBalancesDoc>> {
  const pageSize = pageSizeOf(options)
  // `fromPosition` is inclusive and a KurrentDB position is not "the last one + 1": each page after
  // the first starts AT the last position read (one more event asked for) and drops it again.
  const readPage: ReadPage = (last, max) =>
    last === undefined
      ? store.readAll({ maxCount: max })
      : afterPosition(store.readAll({ fromPosition: last.position, maxCount: max + 1 }), last.position)
  return foldCut(readPage, poolBalances, region, cut, pageSize)
}

async function* afterPosition(events: AsyncIterable<RecordedEvent>, position: bigint): AsyncGenerator<RecordedEvent> {
  for await (const event of events) if (event.position > position) yield event
}
