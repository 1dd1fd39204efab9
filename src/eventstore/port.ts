/**
 * The event store port: what every adapter (embedded SQLite, KurrentDB) does the same way.
 *
 * Conventions (DESIGN.md, "Event store port"):
 * - Streams are named `category-id` (`person-{personId}`, `submission-{submissionId}`, ...).
 * - Revisions are 0-based per stream (the first event is revision 0), as in KurrentDB.
 * - Positions are one global, strictly increasing order over all streams. Inside the service they
 *   are `bigint`; on the wire and in JSON they are decimal strings.
 * - Event ids are UUIDs (v7 by default, v5 where a business key must make a retry idempotent).
 */

/**
 * Expected state of a stream before an append: the stream must not exist, may be in any state,
 * must exist, or must be exactly at this 0-based revision. `any` never conflicts because of other
 * writers (the store appends after whatever is there); `stream_exists` conflicts only when the
 * stream has no events.
 *
 * Repeats (a retry after an answer was lost: a deadline, a dropped connection, after the store
 * wrote): an append whose events carry the ids the stream's last events already have (caller-given
 * ids, or ids the adapter derives from `idempotencyKey`) is never written twice, but the stores
 * answer it differently. KurrentDB answers it as the first append was: with an exact revision or
 * `no_stream` the server compares the ids after the expected revision; with `any`/`stream_exists`
 * the adapter finds them at the stream's end, or with at most REPEAT_WINDOW_EVENTS events of other
 * writers after them (ids that only partly match are a conflict there). SQLite refuses it: a conflict for an exact revision or `no_stream` (the
 * stream has moved), an Error for `any`/`stream_exists` (its event ids are unique in the log).
 * Events without ids of their own (v7 ids) are never recognised as repeats.
 */
export type ExpectedRevision = 'no_stream' | 'any' | 'stream_exists' | bigint

/**
 * Metadata every recorded event carries (plus anything an adapter or later feature adds). Values
 * are strings: KurrentDB's multi-stream append takes nothing else, so every adapter keeps the same
 * contract.
 */
export interface EventMetadata {
  /** ISO 8601 instant with offset, when the event was recorded. */
  recordedAt?: string
  /** Who caused it: a user, a payroll system, a CLI operator. */
  actor?: string
  correlationId?: string
  causationId?: string
  [key: string]: string | undefined
}

/** An event to append. `data` must be JSON-serialisable (no bigint, no Decimal: strings). */
export interface NewEvent<Type extends string = string, Data = unknown> {
  /** UUID; the adapter assigns one when absent (v7, or v5 of `idempotencyKey`, see there). */
  id?: string
  /**
   * The business key that makes this event unique (e.g. `submission/PAY-1/line/12`). An adapter
   * whose multi-stream appends are not atomic derives the event id from it (UUID v5), so a retry of
   * a half-written append writes the same ids; others may ignore it and use v7 ids.
   */
  idempotencyKey?: string
  type: Type
  data: Data
  metadata?: EventMetadata
}

/** An event as the store holds it. */
export interface RecordedEvent<Type extends string = string, Data = unknown> {
  id: string
  stream: string
  /** 0-based revision within its stream. */
  revision: bigint
  /** Global position, strictly increasing over the whole log. */
  position: bigint
  type: Type
  data: Data
  metadata: EventMetadata
  /** ISO 8601 instant (UTC, with `Z`) at which the store recorded it. */
  recordedAt: string
}

/** Result of an append: the stream's new revision and the log position of the last event written. */
export interface AppendResult {
  /** Revision of the stream's last event after the append (the next expected revision). */
  nextExpectedRevision: bigint
  /** Position of the last event written (for an empty append: the stream's last event position,
   * or the log's head when the stream does not exist). */
  position: bigint
}

/** One stream's part of a multi-stream append. */
export interface StreamAppend {
  stream: string
  events: NewEvent[]
  expectedRevision: ExpectedRevision
}

/** Result of an atomic multi-stream append. */
export interface AppendManyResult {
  /** Position of the last event written by the whole append. */
  position: bigint
  /** Per stream, in the order given: its revision after the append. */
  streams: { stream: string; nextExpectedRevision: bigint }[]
}

export interface ReadStreamOptions {
  /** First revision to read (inclusive). Default: 0 forwards, the last event backwards. */
  fromRevision?: bigint
  direction?: 'forwards' | 'backwards'
  /** Maximum number of events returned in total. Default: unbounded (read in pages). */
  maxCount?: number
}

export interface ReadAllOptions {
  /**
   * First position to read (inclusive). Default: the start of the log. Past the log's head: nothing.
   * Which positions a store can read from differs: on SQLite every non-negative integer (positions are
   * consecutive, so any integer is at or before an event, or past the head); on KurrentDB only the
   * positions of its events (and its log's record boundaries), else InvalidPositionError.
   */
  fromPosition?: bigint
  /** Maximum number of events returned in total. Default: unbounded (read in pages). */
  maxCount?: number
}

export interface SubscribeAllOptions {
  /** Resume after this position (exclusive): events at or before it are never delivered.
   * Absent: from the start of the log. */
  afterPosition?: bigint
  /** Only streams whose name starts with one of these prefixes. Absent: every stream. */
  streamPrefixes?: string[]
  /** Stops the subscription; the iterator then ends. */
  signal?: AbortSignal
  /** Called when the subscription has delivered the history and is live (each time it becomes
   * live again after a resubscription). Feeds readiness. */
  onCaughtUp?: () => void
  /** Called when the subscription dropped and is being resumed (no longer live until the next
   * onCaughtUp). */
  onDropped?: () => void
}

/**
 * A catch-up subscription: an async iterable of events in position order, first the history after
 * `afterPosition`, then live events as they are appended. It ends only when its signal aborts.
 */
export type Subscription = AsyncIterable<RecordedEvent>

/** The store's conflict: the stream was not in the expected state. HTTP maps it to 409. */
export class WrongExpectedRevisionError extends Error {
  override readonly name = 'WrongExpectedRevisionError'
  constructor(
    readonly stream: string,
    readonly expected: ExpectedRevision,
    /** The stream's actual revision, or `no_stream`. */
    readonly actual: bigint | 'no_stream',
  ) {
    super(`stream ${stream}: expected revision ${String(expected)}, actual ${String(actual)}`)
  }
}

/**
 * Why a store cannot take writes, when it knows (the `reason` of a 503 problem and of `/readyz`):
 * - `store-file-replaced`: the SQLite file (or its `-wal`) at the configured path was deleted or
 *   replaced while the service had it open; nothing written since can be acknowledged;
 * - `disk-full`: the disk (or the database's size limit) is full (SQLITE_FULL);
 * - `store-read-only`: the file or its directory cannot be written (SQLITE_READONLY);
 * - `store-busy`: another process held the write lock for longer than the store waits.
 */
export type StoreFaultReason = 'store-file-replaced' | 'disk-full' | 'store-read-only' | 'store-busy'

/** A fault the store is in until it is cured (see {@link EventStore.fault}). */
export interface StoreFault {
  reason: StoreFaultReason
  /** What happened and what to do, naming the path where there is one. */
  detail: string
}

/** The store cannot be reached or refused for a passing reason. HTTP maps it to 503 + Retry-After,
 * with `reason` in the problem when the store knows it. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError'
  /** Why, when the store knows (the problem's `reason`). */
  readonly reason: StoreFaultReason | undefined
  constructor(message: string, readonly retryAfterSeconds = 1, options?: { cause?: unknown; reason?: StoreFaultReason }) {
    super(message, options)
    this.reason = options?.reason
  }
}

/** A read position the store cannot read from: not the position of an event of its log (e.g. a
 * KurrentDB position inside a record). Retrying never helps; HTTP maps it to 400. */
export class InvalidPositionError extends Error {
  override readonly name = 'InvalidPositionError'
  constructor(
    readonly position: bigint,
    /** Why, as a predicate of the position (e.g. "is not the position of an event in the KurrentDB log"). */
    readonly why: string,
    options?: { cause?: unknown },
  ) {
    super(`position ${position} ${why}`, options)
  }
}

/**
 * A multi-stream append names the same stream twice (compared case-insensitively, as KurrentDB
 * does: its multi-stream append refuses it). A caller's bug: nothing is written and retrying never
 * helps; HTTP maps it to 500 (never a 503, never a 409).
 */
export class StreamNamedTwiceError extends Error {
  override readonly name = 'StreamNamedTwiceError'
  constructor(
    /** The second name given (the first may differ in case). */
    readonly stream: string,
  ) {
    super(`appendMany names stream ${stream} twice (stream names are compared case-insensitively)`)
  }
}

/**
 * A stream name as KurrentDB compares names in a multi-stream append (.NET OrdinalIgnoreCase: each
 * UTF-16 code unit upper-cased by itself): two names are the same stream there when their keys are equal.
 */
export function streamNameKey(name: string): string {
  // Kept as is when its upper case is not one code unit ('ß' stays 'ß'; surrogate pairs too).
  return Array.from(name, (c) => (c.length === 1 && c.toUpperCase().length === 1 ? c.toUpperCase() : c)).join('')
}

/** The first stream name that repeats an earlier one of `names` (see streamNameKey), or `undefined`. */
export function streamNamedTwice(names: readonly string[]): string | undefined {
  const seen = new Set<string>()
  for (const name of names) {
    const key = streamNameKey(name)
    if (seen.has(key)) return name
    seen.add(key)
  }
  return undefined
}

/** The store refuses an append for its size (e.g. KurrentDB's MaxAppendSize). HTTP maps it to 413:
 * retrying the same append never helps. */
export class StoreLimitExceededError extends Error {
  override readonly name = 'StoreLimitExceededError'
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** The event store port. Every adapter passes `test/eventstore/conformance.ts`. */
export interface EventStore {
  /** Whether appendMany is atomic on this store (all streams or none). `false` only on KurrentDB
   * before 25.1; absent means atomic. */
  readonly atomicAppendMany?: boolean

  /** Whether positions are consecutive integers (1, 2, 3 …), so that head − checkpoint is the number
   * of events between them: `true` on SQLite; absent (false) on KurrentDB, whose positions are
   * commit positions in its log. */
  readonly densePositions?: boolean

  /**
   * Appends `events` to `stream` atomically if the stream is in the `expected` state (see
   * ExpectedRevision, also for repeats). The position answered is the last event's, as readStream
   * and readAll give it.
   * @throws WrongExpectedRevisionError when it is not (nothing is written); never for `any`.
   * @throws StoreUnavailableError when the store cannot be reached.
   */
  append(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult>

  /**
   * Appends to several streams atomically: all are written, or none is. A stream with no events is
   * only checked against its expected revision; on KurrentDB that check is a read before the write,
   * not part of the atomic write (the multi-stream append session refuses a stream without events;
   * the AppendRecords call of servers from 26.0.3 on, with its consistency checks, could carry it,
   * through client 1.3.1's appendRecords: not used yet), so a writer in between is not seen.
   * A retry that repeats one stream's events exactly (same ids) beside a stream that is new or only
   * partly repeated is refused: on KurrentDB 25.1.x and 26.0.0-26.0.2 as an internal error the
   * client reports as unavailable (StoreUnavailableError, the same on every retry: the server cannot
   * map its empty failure list, fixed in 26.0.3), from 26.0.3 on as WrongExpectedRevisionError. A
   * whole lost append retried (every stream an exact repeat) is answered on every version. On KurrentDB before 25.1 the streams are appended one by one (see the adapter).
   * @throws WrongExpectedRevisionError for the first stream not in its expected state.
   * @throws StreamNamedTwiceError when a stream is named twice (case-insensitively); nothing is written.
   */
  appendMany(appends: StreamAppend[]): Promise<AppendManyResult>

  /** Reads one stream in revision order (bounded pages). A missing stream yields nothing. */
  readStream(stream: string, options?: ReadStreamOptions): AsyncIterable<RecordedEvent>

  /**
   * Reads the whole log in position order (bounded pages), from `fromPosition` (see ReadAllOptions).
   * @throws InvalidPositionError when the store cannot read from `fromPosition`.
   */
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent>

  /** Position of the last event in the log, or `null` for an empty log. */
  headPosition(): Promise<bigint | null>
  /**
   * The fault the store is in now, if it knows one that refuses writes until it is cured (a data
   * file replaced under it, a full disk, a read-only file): `/readyz` reports it. Cheap and
   * synchronous (no I/O on the request path). Absent or `undefined`: none known.
   */
  fault?(): StoreFault | undefined

  /** Catch-up subscription to the whole log: history after `afterPosition`, then live. */
  subscribeAll(options?: SubscribeAllOptions): Subscription

  /** Releases connections. Pending subscriptions end. */
  close(): Promise<void>
}
