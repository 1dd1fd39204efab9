import type { ExpectedRevision } from '../eventstore/port.js'
import type { PersonContributionState } from '../domain/contribution/person-state.js'

/**
 * Default number of persons whose summary a submission handler keeps (about 300 bytes each, so
 * ~60 MB at the default). Measured in bench/README.md: with every person of a posting run in the
 * cache, recording a line no longer reads the person's stream.
 */
export const DEFAULT_MAX_CACHED_PERSONS = 200_000

/** First month a summary can mark (January 1950): contribution periods before it always take the
 * slow path (a full read of the stream). */
const FIRST_MONTH = 1950 * 12
/** Months a summary can mark: 1950-01 to 2099-12. */
const MONTHS = 150 * 12

/**
 * What recording a submission needs to know about a person when the submission's period is not
 * credited yet, in a few hundred bytes instead of the whole fold of the person's stream:
 * the stream's revision the summary is folded to, the retirement date, and one bit per month
 * (1950-01 to 2099-12) that is set when any scheme of that month is credited, by a line or by
 * imported legacy history. A set bit does not say which scheme nor by whom: the caller then reads
 * the stream (the slow path, which gives the full state and every detail a refusal names).
 *
 * A summary is only a guess about the stream: the append that follows a decision made on it
 * carries `revision` as its expected revision, so a stream changed since (by another handler or
 * process) fails that append and the submission is decided again from the streams.
 */
export interface PersonSummary {
  revision: ExpectedRevision
  retiredOn: string | undefined
  /** Bit per month since {@link FIRST_MONTH}: 1 when the month has a credit in some scheme. */
  months: Uint32Array
}

/**
 * A bounded least-recently-used map personId → {@link PersonSummary}, for one submission handler.
 *
 * Why our own and not a library: it is twenty lines over `Map` (whose iteration order is insertion
 * order, so the first key is the least recently used one), in the core's hot path.
 */
export class PersonSummaryCache {
  private readonly entries = new Map<string, PersonSummary>()

  /** @param maxPersons most summaries kept (a positive integer, or 0 to keep none). */
  constructor(readonly maxPersons: number = DEFAULT_MAX_CACHED_PERSONS) {
    if (!Number.isSafeInteger(maxPersons) || maxPersons < 0) throw new RangeError(`maxPersons must be a non-negative integer, got ${maxPersons}`)
  }

  /** Number of summaries held. */
  get size(): number {
    return this.entries.size
  }

  /** The summary of `personId` (now the most recently used), or undefined. */
  get(personId: string): PersonSummary | undefined {
    const summary = this.entries.get(personId)
    if (summary !== undefined) {
      this.entries.delete(personId)
      this.entries.set(personId, summary)
    }
    return summary
  }

  /** Stores `summary`, dropping the least recently used summaries beyond `maxPersons`. */
  set(personId: string, summary: PersonSummary): void {
    if (this.maxPersons === 0) return
    this.entries.delete(personId)
    this.entries.set(personId, summary)
    while (this.entries.size > this.maxPersons) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
  }

  /** Forgets `personIds` (after an append that failed or whose outcome is unknown). */
  forget(personIds: Iterable<string>): void {
    for (const id of personIds) this.entries.delete(id)
  }
}

/** Index of `period` (`YYYY-MM`) in a summary's bits, or -1 outside 1950-01..2099-12. */
function monthIndex(period: string): number {
  const index = Number(period.slice(0, 4)) * 12 + Number(period.slice(5, 7)) - 1 - FIRST_MONTH
  return Number.isInteger(index) && index >= 0 && index < MONTHS ? index : -1
}

/**
 * Whether the summary may have a credit for `period`: true when its bit is set, and for a period
 * it cannot mark (then only a read of the stream can tell).
 */
export function mayBeCredited(summary: PersonSummary, period: string): boolean {
  const i = monthIndex(period)
  return i < 0 || (summary.months[i >>> 5]! & (1 << (i & 31))) !== 0
}

/** Sets the bit of `period` (a period it cannot mark is ignored: {@link mayBeCredited} is true
 * for it anyway). */
export function markCredited(summary: PersonSummary, period: string): void {
  const i = monthIndex(period)
  if (i >= 0) summary.months[i >>> 5]! |= 1 << (i & 31)
}

/** The summary of a person's full contribution state folded to `revision`. */
export function summarize(state: PersonContributionState, revision: ExpectedRevision): PersonSummary {
  const summary: PersonSummary = { revision, retiredOn: state.retiredOn, months: new Uint32Array(Math.ceil(MONTHS / 32)) }
  for (const key of state.credited.keys()) markCredited(summary, key.slice(0, 7))
  return summary
}
