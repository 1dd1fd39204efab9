import { setTimeout as delay } from 'node:timers/promises'
import { END, START, UnsupportedError, excludeSystemEvents, streamNameFilter } from '@kurrent/kurrentdb-client'
import type { AllStreamSubscription, Filter } from '@kurrent/kurrentdb-client'
import { NotLeaderError, type MultiAppendResult } from '@kurrent/kurrentdb-client'
import { v5 as uuidV5, v7 as uuidV7 } from 'uuid'
import { StreamNamedTwiceError, streamNamedTwice } from '../port.js'
import { EVENT_ID_NAMESPACE, RETRY_AFTER_SECONDS, encodePosition } from './mapping.js'
import {
  InvalidPositionError,
  StoreUnavailableError,
  WrongExpectedRevisionError,
  type AppendManyResult,
  type AppendResult,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RecordedEvent,
  type StreamAppend,
  type SubscribeAllOptions,
  type Subscription,
} from '../port.js'
import { LEDGER_STREAM_PREFIXES } from '../../domain/streams.js'
import { GENESIS_HASH, HASH_KEY, canonicalData, chainHash, storedHash } from '../hash-chain.js'

/** Streams whose last (revision, hash) the adapter remembers for the hash chain. */
export const MAX_REMEMBERED_TAILS = 100_000
import { connectKurrentDB, type KurrentClient } from './client.js'
import { CREDENTIALS_ENCODING_ADVICE, connectionStringOptionsProblem, describeParseRefusal, withoutPassword } from './connection-string.js'
import { ConfigError } from '../../config.js'
import {
  MAX_KURRENTDB_LOG_POSITION,
  decodePosition,
  isStreamNotFound,
  positionProblem,
  rawPosition,
  rawRevision,
  redactConnectionString,
  toBigInt,
  toEventData,
  toPortError,
  toReadAllError,
  toRecordedEvent,
  toStreamState,
} from './mapping.js'

/**
 * Longest wait for the answer to an appendToStream, ms; then StoreUnavailableError (the append may
 * have been written, as after the client's own deadline). The client sends these appends on one
 * shared batchAppend call with `deadline: Infinity` and a per-append deadline for the server (its
 * defaultDeadline, 10 s); when that call ends without an error, the appends waiting on it are never
 * settled (dist/streams/appendToStream/batchAppend.js, dist/Client/index.js GRPCStreamCreator), and
 * a use case would hold its person's lock for ever. Twice the client's default, so that its own
 * deadlines answer first.
 */
export const APPEND_ANSWER_DEADLINE_MS = 20_000
/** Longest a read that must see this store's own writes may take on the leader, ms (see leaderRead). */
export const LEADER_READ_DEADLINE_MS = 5_000
/** Tries of an append with `any`/`stream_exists` whose stream other writers keep moving between
 * the tail read and the write (see appendEvents); then StoreUnavailableError. */
export const MAX_APPEND_ATTEMPTS = 5
/** Events after a repeat, at a stream's end, within which a repeat of an `any`/`stream_exists`
 * append is still recognised (see plan: the window read is this plus the append's own events). */
export const REPEAT_WINDOW_EVENTS = 100

/** Pause before reading a subscription's view head again after a failed read, ms (see watchViewHead). */
export const VIEW_HEAD_RETRY_MS = 1_000
/** Events read per call to the server (readStream, readAll pages). */
export const DEFAULT_PAGE_SIZE = 500
/** Person streams appended at once by the non-atomic fallback of appendMany. */
export const DEFAULT_FALLBACK_CONCURRENCY = 16
/** First pause before resubscribing after a dropped subscription, ms; doubles up to the max. */
export const DEFAULT_RESUBSCRIBE_INITIAL_MS = 100
export const DEFAULT_RESUBSCRIBE_MAX_MS = 10_000
/** How long start-up waits for the server to answer, ms. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

/** Minimal logger (pino's shape). */
export interface StoreLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface KurrentDbEventStoreOptions {
  client: KurrentClient
  /** Whether the server has atomic multi-stream appends (KurrentDB 25.1+). When false, appendMany
   * falls back to per-stream appends (see appendMany). */
  atomicAppendMany: boolean
  pageSize?: number
  fallbackConcurrency?: number
  resubscribeInitialMs?: number
  resubscribeMaxMs?: number
  /** Stream prefixes a subscription without its own prefixes is filtered on (server side). */
  streamPrefixes?: readonly string[]
  /** Deadline of reads on the leader, ms (default LEADER_READ_DEADLINE_MS). */
  leaderReadDeadlineMs?: number
  /** Longest wait for the answer to an appendToStream, ms (default APPEND_ANSWER_DEADLINE_MS). */
  appendAnswerDeadlineMs?: number
  logger?: StoreLogger
}

/**
 * The event store port on KurrentDB (EventStoreDB), through the official client.
 *
 * - Exact revisions and `no_stream` go to the server as they are; `any`/`stream_exists` are sent
 *   as the exact revision of the tail read on the leader (the hash chain needs it), retried when
 *   another writer moved the stream, and a repeat of the stream's last events is recognised (see
 *   appendEvents, plan). A wrong expected version is the port's WrongExpectedRevisionError;
 *   unavailable / not-leader / deadline-exceeded are StoreUnavailableError.
 * - Positions of appends are the server's answers; what must see this store's own writes (the
 *   chain's previous event, an empty append's check, a position the server did not answer) is read
 *   on the leader under a deadline (see leaderRead), since client reads may be served by a follower.
 * - Positions are `commit × 2^64 + prepare` (see encodePosition), so the whole pair is kept.
 * - appendMany is `multiStreamAppend` (atomic) on servers that have it; elsewhere per-stream appends
 *   with deterministic event ids, the last stream (the use case's marker) written last.
 * - subscribeAll resubscribes after a drop with bounded exponential backoff, from the last position
 *   it delivered, and drops anything at or before it.
 */
export class KurrentDbEventStore implements EventStore {
  private atomic: boolean
  private readonly pageSize: number
  private readonly fallbackConcurrency: number
  private readonly resubscribeInitialMs: number
  private readonly resubscribeMaxMs: number
  private readonly streamPrefixes: readonly string[]
  private readonly leaderReadDeadlineMs: number
  private readonly appendAnswerDeadlineMs: number
  private readonly closing = new AbortController()
  /** Last known (revision, hash) of recently read or written streams, for the hash chain. */
  private readonly tails = new Map<string, { revision: bigint; hash: string }>()
  /** The latest recordedAt this process recorded or read (ISO 8601 UTC; '' before any). */
  private lastRecordedAt = ''

  constructor(private readonly options: KurrentDbEventStoreOptions) {
    this.atomic = options.atomicAppendMany
    this.pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE
    this.fallbackConcurrency = options.fallbackConcurrency ?? DEFAULT_FALLBACK_CONCURRENCY
    this.resubscribeInitialMs = options.resubscribeInitialMs ?? DEFAULT_RESUBSCRIBE_INITIAL_MS
    this.resubscribeMaxMs = options.resubscribeMaxMs ?? DEFAULT_RESUBSCRIBE_MAX_MS
    this.streamPrefixes = options.streamPrefixes ?? LEDGER_STREAM_PREFIXES
    this.leaderReadDeadlineMs = options.leaderReadDeadlineMs ?? LEADER_READ_DEADLINE_MS
    this.appendAnswerDeadlineMs = options.appendAnswerDeadlineMs ?? APPEND_ANSWER_DEADLINE_MS
  }

  /**
   * The recordedAt of the next append: the later of the clock and the latest recordedAt this process
   * recorded or read, so a clock stepped back (NTP, a VM moved) never makes it go back as far as this
   * process can tell. (The client's clock is read before the append, so appends of other processes,
   * or concurrent ones, can still commit out of recordedAt order: see the README.) ISO 8601 UTC
   * strings of toISOString compare as their instants do.
   */
  private nextRecordedAt(): string {
    const clock = new Date().toISOString()
    if (clock > this.lastRecordedAt) this.lastRecordedAt = clock
    return this.lastRecordedAt
  }

  /** Remembers the recordedAt of an event read (see nextRecordedAt); returns the event. */
  private noteRecordedAt<E extends { recordedAt: string } | undefined>(event: E): E {
    if (event && event.recordedAt > this.lastRecordedAt) this.lastRecordedAt = event.recordedAt
    return event
  }

  /** Whether appendMany is atomic on this server. */
  get atomicAppendMany(): boolean {
    return this.atomic
  }

  /**
   * Appends to one stream. The position is the one the server answers (the last event's: see
   * {@link answeredPosition}); only when it answers none is it read, on the leader.
   * @throws WrongExpectedRevisionError (never for `any`; for `stream_exists` only on a stream with
   *   no events); StoreUnavailableError, also when `any`/`stream_exists` lost the race for the
   *   stream's end MAX_APPEND_ATTEMPTS times (see appendEvents).
   */
  async append(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) return this.checkOnly(stream, expected)
    const written = await this.appendEvents(stream, events, expected)
    return { nextExpectedRevision: written.revision, position: written.position ?? (await this.positionOf(stream, written.revision)) }
  }

  /**
   * appendToStream with the chain's hashes; answers the stream's new revision and the answered
   * position (undefined when the server gave none).
   *
   * The chain needs the exact revision, so `any`/`stream_exists` read the tail on the leader and
   * append at that revision; when another writer moved the stream in between, the server refuses
   * and the tail is read again, at most MAX_APPEND_ATTEMPTS times (then StoreUnavailableError: a
   * conflict is not an answer `any` may give). A repeat (the events' own ids already at the stream's
   * end, see {@link KurrentDbEventStore.plan}) is sent at the revision before them, where the server
   * itself recognises it and answers the first append's result without writing.
   */
  private async appendEvents(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<{ revision: bigint; position: bigint | undefined }> {
    const identified = this.withIds(events)
    for (let attempt = 1; ; attempt++) {
      const plan = await this.plan(stream, identified, expected)
      const recordedAt = this.nextRecordedAt()
      const data = plan.events.map((e) => toEventData(e, { deterministicIds: !this.atomic, recordedAt }))
      try {
        const result = await this.call(() =>
          withDeadline(
            this.options.client.appendToStream(stream, data, { streamState: toStreamState(plan.expected) }),
            this.appendAnswerDeadlineMs,
            () => new StoreUnavailableError(`KurrentDB did not answer an append to ${stream} within ${this.appendAnswerDeadlineMs} ms; it may have been written`, RETRY_AFTER_SECONDS),
          ),
        )
        const revision = toBigInt(result.nextExpectedRevision, 'next expected revision')
        this.rememberTail(stream, revision, plan.lastHash)
        return { revision, position: answeredPosition(result.position) }
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError) || typeof expected === 'bigint' || expected === 'no_stream') throw err
        if (attempt >= MAX_APPEND_ATTEMPTS) throw this.keptMoving(stream, err)
      }
    }
  }

  /** The 503 of an `any`/`stream_exists` append that kept losing the race for the stream's end. */
  private keptMoving(stream: string, cause: unknown): StoreUnavailableError {
    return new StoreUnavailableError(
      `stream ${stream} moved between reading its last event and appending after it, ${MAX_APPEND_ATTEMPTS} times (other writers); try again`,
      RETRY_AFTER_SECONDS,
      { cause },
    )
  }

  /**
   * The events with their ids fixed before any attempt (so every attempt and every repeat carries
   * the same ids): the given id, else UUID v5 of the idempotency key where this server's appendMany
   * needs it (see toEventData), else v7.
   */
  private withIds(events: NewEvent[]): { events: (NewEvent & { id: string })[]; ownIds: boolean } {
    const derive = (e: NewEvent): string | undefined => e.id ?? (!this.atomic && e.idempotencyKey !== undefined ? uuidV5(e.idempotencyKey, EVENT_ID_NAMESPACE) : undefined)
    return {
      events: events.map((e) => ({ ...e, id: (derive(e) ?? uuidV7()).toLowerCase() })),
      ownIds: events.every((e) => derive(e) !== undefined),
    }
  }

  /**
   * What to send for one stream: the events with their audit hash in the metadata (hash-chain.ts),
   * chained from the stream's last event, and the exact expected revision that chain assumes.
   *
   * - An exact revision: the previous hash is remembered from this store's own reads and appends,
   *   else read on the leader (a follower may not have it yet). `no_stream`: the genesis hash. The
   *   server checks these itself, repeats included (IndexWriter.CheckCommit compares the ids after
   *   an expected revision behind the stream).
   * - `any`/`stream_exists`: the tail is read on the leader and its revision sent. That alone would
   *   write a repeat again (the server compares ids for an exact revision only when it is behind
   *   the stream), so when the events carry ids of their own the stream's last events are read
   *   (as many as the append's, plus REPEAT_WINDOW_EVENTS of other writers): if they hold the first id, the following ones must be exactly the rest (else a
   *   conflict, as the server's CorruptedIdempotency) and the append is planned at the revision
   *   before them, which the server answers as a repeat. Older repeats are not recognised.
   * @throws WrongExpectedRevisionError for `stream_exists` on a stream with no events, and for ids
   *   that only partly match the stream's end.
   */
  private async plan(
    stream: string,
    { events, ownIds }: { events: (NewEvent & { id: string })[]; ownIds: boolean },
    expected: ExpectedRevision,
  ): Promise<{ events: NewEvent[]; expected: ExpectedRevision; lastHash: string }> {
    let exact: bigint | 'no_stream' = 'no_stream'
    let previousHash = GENESIS_HASH
    let repeatHash: string | undefined
    if (typeof expected === 'bigint') {
      exact = expected
      const known = this.tails.get(stream)
      if (known && known.revision === expected) previousHash = known.hash
      else for (const e of await this.leaderRead(stream, { fromRevision: expected, maxCount: 1 })) if (e.revision === expected) previousHash = storedHash(e.metadata) ?? GENESIS_HASH
    } else if (expected !== 'no_stream') {
      const window = await this.leaderRead(stream, { direction: 'backwards', maxCount: ownIds ? REPEAT_WINDOW_EVENTS + events.length : 1 })
      const last = window[0]
      if (!last) {
        if (expected === 'stream_exists') throw new WrongExpectedRevisionError(stream, expected, 'no_stream')
        exact = 'no_stream'
      } else {
        exact = last.revision
        previousHash = storedHash(last.metadata) ?? GENESIS_HASH
        const oldestFirst = window.slice().reverse()
        const at = oldestFirst.findIndex((e) => e.id.toLowerCase() === events[0]!.id)
        if (ownIds && at >= 0) {
          const matches = events.every((e, i) => oldestFirst[at + i]?.id.toLowerCase() === e.id)
          if (!matches) throw new WrongExpectedRevisionError(stream, expected, last.revision)
          const first = oldestFirst[at]!
          exact = first.revision === 0n ? 'no_stream' : first.revision - 1n
          // Not written again: these hashes are never stored (the tail keeps the stored one).
          previousHash = storedHash(oldestFirst[at - 1]?.metadata) ?? GENESIS_HASH
          repeatHash = storedHash(oldestFirst[at + events.length - 1]!.metadata)
        }
      }
    }
    let revision = typeof exact === 'bigint' ? exact : -1n
    const out = events.map((e) => {
      revision += 1n
      previousHash = chainHash({ stream, revision, type: e.type, canonicalData: canonicalData(e.data), previousHash })
      return { ...e, metadata: { ...e.metadata, [HASH_KEY]: previousHash } }
    })
    return { events: out, expected: exact, lastHash: repeatHash ?? previousHash }
  }

  /** Keeps the hash of an event read when it is the newest this store knows of its stream. */
  private noteRead(stream: string, revision: bigint, hash: string): void {
    const known = this.tails.get(stream)
    if (!known || known.revision < revision) this.rememberTail(stream, revision, hash)
  }

  /** Remembers a stream's last revision and hash (at most MAX_REMEMBERED_TAILS streams, oldest
   * forgotten first). */
  private rememberTail(stream: string, revision: bigint, hash: string): void {
    this.tails.delete(stream)
    this.tails.set(stream, { revision, hash })
    if (this.tails.size > MAX_REMEMBERED_TAILS) this.tails.delete(this.tails.keys().next().value!)
  }

  /**
   * Appends to several streams. On KurrentDB 25.1+ one atomic `multiStreamAppend`. On older servers,
   * per-stream appends: every stream but the last, at most `fallbackConcurrency` at a time, then the
   * last one (the use case puts its marker there), so a crash leaves at most a half-written set of
   * streams without its marker, which a retry completes (event ids are UUID v5 of each event's
   * idempotency key, so nothing is written twice).
   *
   * Streams without events are checked by a leader read before the write, not inside it (the
   * multi-stream append session refuses a stream without events: Api.V2 AppendRequestValidator.cs;
   * the server's AppendRecords, from 26.0.3 on (Api.V2 StreamsService.cs), with its consistency
   * checks could carry them, through client 1.3.1's appendRecords, which it gates on the server
   * listing the call: dist/streams/appendToStream/index.js. Not used yet).
   * @throws StreamNamedTwiceError when a stream is named twice, compared case-insensitively as the
   *   server does (before anything is sent: the server's ABORTED comes back from the client as a
   *   TimeoutError, a 503 no retry could cure); WrongExpectedRevisionError for a stream not in its
   *   expected state; StoreUnavailableError.
   */
  async appendMany(appends: StreamAppend[]): Promise<AppendManyResult> {
    const twice = streamNamedTwice(appends.map((a) => a.stream))
    if (twice !== undefined) throw new StreamNamedTwiceError(twice)
    const last = appends.at(-1)
    if (!last) return { position: (await this.headPosition()) ?? 0n, streams: [] }
    if (this.atomic) {
      try {
        return await this.appendManyAtomic(appends, last.stream)
      } catch (err) {
        if (!(err instanceof UnsupportedError)) throw err
        this.atomic = false
        this.options.logger?.warn({ feature: 'multiStreamAppend' }, 'server has no multi-stream append (KurrentDB 25.1+); using per-stream appends')
      }
    }
    return this.appendManyPerStream(appends)
  }

  /**
   * One `multiStreamAppend` for the streams with events, planned as appendEvents plans one stream
   * (and retried the same way when a stream given as `any`/`stream_exists` moved meanwhile). The
   * position is the server's answer (the transaction's last event; see answeredPosition).
   */
  private async appendManyAtomic(appends: StreamAppend[], lastStream: string): Promise<AppendManyResult> {
    const nonEmpty = appends.filter((a) => a.events.length > 0)
    const empty = new Map<string, AppendResult>()
    for (const a of appends.filter((x) => x.events.length === 0)) empty.set(a.stream, await this.checkOnly(a.stream, a.expectedRevision))
    if (nonEmpty.length === 0) {
      const streams = appends.map((a) => ({ stream: a.stream, nextExpectedRevision: empty.get(a.stream)!.nextExpectedRevision }))
      return { position: empty.get(lastStream)!.position, streams }
    }
    const identified = nonEmpty.map((a) => this.withIds(a.events))
    const floating = new Set(nonEmpty.filter((a) => a.expectedRevision === 'any' || a.expectedRevision === 'stream_exists').map((a) => a.stream))
    for (let attempt = 1; ; attempt++) {
      const plans = await Promise.all(nonEmpty.map((a, i) => this.plan(a.stream, identified[i]!, a.expectedRevision)))
      const recordedAt = this.nextRecordedAt()
      let result: MultiAppendResult
      try {
        result = await this.call(() =>
          this.options.client.multiStreamAppend(
            nonEmpty.map((a, i) => ({
              streamName: a.stream,
              expectedState: toStreamState(plans[i]!.expected),
              events: plans[i]!.events.map((e) => toEventData(e, { deterministicIds: false, recordedAt })),
            })),
          ),
        )
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError) || !floating.has(err.stream)) throw err
        if (attempt >= MAX_APPEND_ATTEMPTS) throw this.keptMoving(err.stream, err)
        continue
      }
      const revisions = new Map(result.responses.map((r) => [r.streamName, toBigInt(r.revision, 'revision')]))
      nonEmpty.forEach((a, i) => {
        const revision = revisions.get(a.stream)
        if (revision !== undefined) this.rememberTail(a.stream, revision, plans[i]!.lastHash)
      })
      const streams = appends.map((a) => ({
        stream: a.stream,
        nextExpectedRevision: revisions.get(a.stream) ?? empty.get(a.stream)!.nextExpectedRevision,
      }))
      const lastWritten = nonEmpty.at(-1)!.stream
      const answered = toBigInt(result.position, 'position')
      const position =
        answered >= 0n
          ? answeredPosition({ commit: answered, prepare: answered })!
          : await this.positionOf(lastWritten, revisions.get(lastWritten) ?? toBigInt(result.responses.at(-1)!.revision, 'revision'))
      return { position, streams }
    }
  }

  private async appendManyPerStream(appends: StreamAppend[]): Promise<AppendManyResult> {
    const revisions = new Map<string, bigint>()
    const appendOne = async (a: StreamAppend) =>
      a.events.length === 0 ? (await this.checkOnly(a.stream, a.expectedRevision)).nextExpectedRevision : (await this.appendEvents(a.stream, a.events, a.expectedRevision)).revision
    const head = appends.slice(0, -1)
    for (let i = 0; i < head.length; i += this.fallbackConcurrency) {
      const slice = head.slice(i, i + this.fallbackConcurrency)
      // Settle the whole slice before reporting a failure, so no append is still in flight when
      // the caller hears of it.
      const done = await Promise.allSettled(slice.map(appendOne))
      const failed = done.find((d) => d.status === 'rejected')
      if (failed) throw failed.reason
      slice.forEach((a, j) => revisions.set(a.stream, (done[j] as PromiseFulfilledResult<bigint>).value))
    }
    const last = appends.at(-1)!
    const lastResult = await this.append(last.stream, last.events, last.expectedRevision)
    revisions.set(last.stream, lastResult.nextExpectedRevision)
    return {
      position: lastResult.position,
      streams: appends.map((a) => ({ stream: a.stream, nextExpectedRevision: revisions.get(a.stream)! })),
    }
  }

  /** An empty append: only the expected revision is checked against the stream's last event, read
   * on the leader. */
  private async checkOnly(stream: string, expected: ExpectedRevision): Promise<AppendResult> {
    const [lastEvent] = await this.leaderRead(stream, { direction: 'backwards', maxCount: 1 })
    const actual = lastEvent ? lastEvent.revision : 'no_stream'
    const ok =
      expected === 'any' ||
      (expected === 'no_stream' && actual === 'no_stream') ||
      (expected === 'stream_exists' && actual !== 'no_stream') ||
      (typeof expected === 'bigint' && expected === actual)
    if (!ok) throw new WrongExpectedRevisionError(stream, expected, actual)
    return { nextExpectedRevision: lastEvent ? lastEvent.revision : -1n, position: lastEvent ? lastEvent.position : ((await this.headPosition()) ?? 0n) }
  }

  /** Position of event `revision` of `stream`, read on the leader (for an answer without one). */
  private async positionOf(stream: string, revision: bigint): Promise<bigint> {
    for (const e of await this.leaderRead(stream, { fromRevision: revision, maxCount: 1 })) return e.position
    throw new StoreUnavailableError(`event ${revision} of ${stream} was acknowledged but cannot be read back`)
  }

  /**
   * One page of a stream (at most `maxCount` events, no paging) read on the leader, for what must
   * see this store's own writes: `requiresLeader: true` (readStream.js otherwise sends false, and a
   * follower may not have the write yet), within `leaderReadDeadlineMs` (the bridge takes no
   * deadline: the read is raced, and abandoned when it loses). A NotLeaderError is retried once:
   * the bridge has then reconnected to the leader the follower named (KurrentDB-Client-Rust
   * kurrentdb/src/grpc.rs, `NotLeaderException(leader)` -> `CreateChannel(id, Some(leader))`).
   * A missing stream is an empty page.
   * @throws StoreUnavailableError when the deadline passes or the server cannot be reached.
   */
  private async leaderRead(stream: string, options: { fromRevision?: bigint; direction?: 'forwards' | 'backwards'; maxCount: number }): Promise<RecordedEvent[]> {
    const backwards = options.direction === 'backwards'
    const once = async (): Promise<RecordedEvent[]> => {
      const out: RecordedEvent[] = []
      const from = options.fromRevision ?? (backwards ? END : START)
      for await (const resolved of this.options.client.readStream(stream, { fromRevision: from, maxCount: options.maxCount, direction: backwards ? 'backwards' : 'forwards', requiresLeader: true })) {
        const event = this.noteRecordedAt(toRecordedEvent(resolved))
        if (!event) continue
        const hash = storedHash(event.metadata)
        if (hash !== undefined) this.noteRead(stream, event.revision, hash)
        out.push(event)
      }
      return out
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await withDeadline(once(), this.leaderReadDeadlineMs, () => new StoreUnavailableError(`KurrentDB did not answer a leader read of ${stream} within ${this.leaderReadDeadlineMs} ms`, RETRY_AFTER_SECONDS))
      } catch (err) {
        if (isStreamNotFound(err)) return []
        if (err instanceof NotLeaderError && attempt === 1) continue
        throw toPortError(err)
      }
    }
  }

  /** Reads one stream in pages of `pageSize`. A missing stream yields nothing. */
  async *readStream(stream: string, options: ReadStreamOptions = {}): AsyncIterable<RecordedEvent> {
    const backwards = options.direction === 'backwards'
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY
    let from: bigint | typeof START | typeof END = options.fromRevision ?? (backwards ? END : START)
    while (remaining > 0) {
      const maxCount = Math.min(this.pageSize, remaining)
      let count = 0
      try {
        for await (const resolved of this.options.client.readStream(stream, { fromRevision: from, maxCount, direction: backwards ? 'backwards' : 'forwards' })) {
          count++
          // The cursor moves past everything read, also what the ledger skips.
          const revision = rawRevision(resolved)
          if (revision !== undefined) from = backwards ? revision - 1n : revision + 1n
          const event = this.noteRecordedAt(toRecordedEvent(resolved))
          if (!event) continue
          const hash = storedHash(event.metadata)
          if (hash !== undefined) this.noteRead(stream, event.revision, hash)
          remaining--
          yield event
          if (remaining <= 0) return
        }
      } catch (err) {
        if (isStreamNotFound(err)) return
        throw toPortError(err)
      }
      if (count < maxCount || (backwards && typeof from === 'bigint' && from < 0n)) return
    }
  }

  /** The server-side filter on the ledger's stream prefixes (system streams never match). */
  private ledgerFilter(prefixes: readonly string[] = this.streamPrefixes): Filter {
    return streamNameFilter({ prefixes: [...prefixes] })
  }

  /** Reads `$all` without system events (server-side filter on event type, and any `$` stream
   * dropped here), in pages of `pageSize`, from `fromPosition` inclusive. */
  async *readAll(options: ReadAllOptions = {}): AsyncIterable<RecordedEvent> {
    let remaining = options.maxCount ?? Number.POSITIVE_INFINITY
    let from = options.fromPosition
    if (from !== undefined) {
      // What no KurrentDB event position can be is refused here; the rest the server decides.
      const problem = positionProblem(from)
      if (problem !== undefined) throw new InvalidPositionError(from, problem)
      if (decodePosition(from).commit > MAX_KURRENTDB_LOG_POSITION) return
    }
    let lastRead: bigint | undefined
    while (remaining > 0) {
      const maxCount = Math.min(this.pageSize, remaining + (lastRead === undefined ? 0 : 1))
      let count = 0
      try {
        for await (const resolved of this.options.client.readAll({
          fromPosition: from === undefined ? START : decodePosition(from),
          maxCount,
          direction: 'forwards',
          filter: excludeSystemEvents(),
        })) {
          count++
          // The cursor moves past everything read, also what the ledger skips (fromPosition is
          // inclusive: the next page starts at the last position read and drops it again).
          const position = rawPosition(resolved)
          if (position === undefined || (lastRead !== undefined && position <= lastRead)) continue
          lastRead = position
          from = position
          const event = this.noteRecordedAt(toRecordedEvent(resolved))
          if (!event) continue
          remaining--
          yield event
          if (remaining <= 0) return
        }
      } catch (err) {
        throw toReadAllError(err, from)
      }
      if (count < maxCount) return
    }
  }

  /** Position of the last ledger event: reads backwards from the end, page by page, past system
   * events in `$` streams (which pass the server's event-type filter). */
  async headPosition(): Promise<bigint | null> {
    let from: typeof END | ReturnType<typeof decodePosition> = END
    try {
      for (;;) {
        let count = 0
        let lastRead: bigint | undefined
        for await (const resolved of this.options.client.readAll({ fromPosition: from, direction: 'backwards', maxCount: this.pageSize, filter: excludeSystemEvents() })) {
          count++
          const event = this.noteRecordedAt(toRecordedEvent(resolved))
          if (event) return event.position
          lastRead = rawPosition(resolved) ?? lastRead
        }
        // Backwards reads exclude fromPosition, so the next page starts at the last one read.
        if (count < this.pageSize || lastRead === undefined) return null
        from = decodePosition(lastRead)
      }
    } catch (err) {
      throw toPortError(err)
    }
  }

  /**
   * Catch-up subscription to `$all`, filtered on the server by stream prefix (the ledger's own
   * prefixes by default, so system events never arrive). A dropped or ended subscription is
   * resubscribed from the last position delivered, after a pause that doubles from
   * `resubscribeInitialMs` to `resubscribeMaxMs`; events at or before that position are dropped.
   *
   * onCaughtUp: servers before 24.2 never send `caughtUp` (server Services/Transport/Grpc/
   * Streams.Read.cs has no CaughtUp at oss-v23.10.0; the client emits it only on that message,
   * dist/streams/utils/Subscription.js). So each (re)subscription first reads the head of its own
   * filtered view (viewHead) and calls onCaughtUp once it has delivered the event there, at once when
   * the view is empty or its head is at or before the resume position; or on the server's
   * caughtUp, if that comes first: once per (re)subscription either way (again only after the
   * server's fellBehind, when it says caughtUp anew).
   */
  async *subscribeAll(options: SubscribeAllOptions = {}): Subscription {
    // AbortSignal.any holds no listener of ours on the caller's or the store's signal.
    const signal = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal
    const filter = this.ledgerFilter(options.streamPrefixes)
    let last = options.afterPosition
    let backoffMs = this.resubscribeInitialMs
    while (!signal.aborted) {
      let subscription: AllStreamSubscription | undefined
      const stop = () => void subscription?.unsubscribe().catch(() => undefined)
      // onCaughtUp once per (re)subscription, whichever tells first: the server's caughtUp (24.2+)
      // or reaching the head of this subscription's view (any server); again only after the server
      // said it fell behind (it then says caughtUp again).
      let caughtUp = false
      let active = true
      // Ends the head read of this (re)subscription: once caught up, when it ends, when the store closes.
      const headWatch = new AbortController()
      /** Head of the view: undefined while not known, null for an empty view. */
      let head: bigint | null | undefined
      /** The furthest raw position this subscription has passed (skipped events included). */
      let passed = last
      const markCaughtUp = () => {
        if (caughtUp || !active) return
        caughtUp = true
        headWatch.abort()
        options.onCaughtUp?.()
      }
      try {
        subscription = this.options.client.subscribeToAll({ fromPosition: last === undefined ? START : decodePosition(last), filter })
        signal.addEventListener('abort', stop, { once: true })
        if (options.onCaughtUp) {
          subscription.on('caughtUp', markCaughtUp)
          // The server says caughtUp again once it has caught up anew (it sends fellBehind only from
          // 24.2, with caughtUp); the head read at the start no longer says when.
          subscription.on('fellBehind', () => {
            caughtUp = false
            head = undefined
          })
          // Read beside the subscription, never before it: a bridge read has no deadline and cannot
          // be cancelled (dist/streams/readAll.js; dispose() ends only grpc-js calls), so a read
          // that hangs must not keep the subscription from opening or from ending.
          void this.watchViewHead(filter, AbortSignal.any([headWatch.signal, this.closing.signal]), (h) => {
            head = h
            if (h === null || (passed !== undefined && h <= passed)) markCaughtUp()
          })
        }
        for await (const resolved of subscription as AsyncIterable<Parameters<typeof toRecordedEvent>[0]>) {
          // Raw positions: the head may be an event the ledger skips (binary, a `$` type).
          const raw = rawPosition(resolved)
          if (raw !== undefined && (passed === undefined || raw > passed)) passed = raw
          const event = this.noteRecordedAt(toRecordedEvent(resolved))
          if (event && (last === undefined || event.position > last)) {
            last = event.position
            backoffMs = this.resubscribeInitialMs
            yield event
          }
          if (typeof head === 'bigint' && passed !== undefined && passed >= head) markCaughtUp()
        }
        if (signal.aborted) break
        options.onDropped?.()
        this.options.logger?.warn({ position: last?.toString() ?? null }, 'subscription to $all ended; resubscribing')
      } catch (err) {
        if (signal.aborted) break
        options.onDropped?.()
        this.options.logger?.warn({ err: toPortError(err), position: last?.toString() ?? null, backoffMs }, 'subscription to $all dropped; resubscribing')
      } finally {
        active = false
        headWatch.abort()
        signal.removeEventListener('abort', stop)
        stop()
      }
      await sleep(backoffMs, signal)
      backoffMs = Math.min(backoffMs * 2, this.resubscribeMaxMs)
    }
  }

  /**
   * Position of the last event of a subscription's view (the events `filter` lets through), or
   * `null` for an empty view: one backward read of `$all`. Not a leader read: the subscription
   * itself reads whichever node its connection is on (client 1.3.1 sends `requires-leader` only when
   * asked, dist/Client/index.js callArguments), and the server's own caughtUp is relative to that
   * node's log too; a leader-only read would fail on a follower where the subscription works.
   */
  private async viewHead(filter: Filter): Promise<bigint | null> {
    for await (const resolved of this.options.client.readAll({ fromPosition: END, direction: 'backwards', maxCount: 1, filter })) return rawPosition(resolved) ?? null
    return null
  }

  /**
   * Reads the view's head (viewHead) under the leader-read deadline and hands it to `found`; a read
   * that fails or passes its deadline is logged and tried again after VIEW_HEAD_RETRY_MS, until
   * `signal` aborts (the subscription caught up or ended, or the store closed: no timer of it is
   * left then). Never rejects.
   */
  private async watchViewHead(filter: Filter, signal: AbortSignal, found: (head: bigint | null) => void): Promise<void> {
    while (!signal.aborted) {
      try {
        const head = await withDeadline(
          this.viewHead(filter),
          this.leaderReadDeadlineMs,
          () => new StoreUnavailableError(`KurrentDB did not answer a read of the subscription's head within ${this.leaderReadDeadlineMs} ms`),
          signal,
        )
        if (!signal.aborted) found(head)
        return
      } catch (err) {
        if (signal.aborted) return
        this.options.logger?.warn({ err: toPortError(err), retryMs: VIEW_HEAD_RETRY_MS }, "could not read the head of the subscription's view; live once the server says caught up, or once read")
        await sleep(VIEW_HEAD_RETRY_MS, signal)
      }
    }
  }

  async close(): Promise<void> {
    this.closing.abort()
    await this.options.client.dispose()
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      throw toPortError(err)
    }
  }
}

/**
 * Connects to KurrentDB, checks within `connectTimeoutMs` that the server answers, and opens the
 * store, atomic when the server has multi-stream appends. Logs a warning naming the server version
 * when it has not.
 * @throws ConfigError (LEDGER_KURRENTDB_URL) for a connection string the client would not take
 *   whole: an option key it does not know, or one it cannot parse; the message and the error carry
 *   the string redacted and no password (connection-string.ts), and no cause: the client's own
 *   errors and warnings print the whole string.
 * @throws StoreUnavailableError naming where it tried and what to run, when the server does not answer.
 */
export async function openKurrentDbEventStore(options: {
  url: string
  logger?: StoreLogger
  connectTimeoutMs?: number
  client?: KurrentClient
}): Promise<KurrentDbEventStore> {
  const client = options.client ?? connectOrRefuse(options.url)
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
  let version: string
  try {
    version = await withTimeout(
      (async () => {
        // A read proves the server answers (serverVersion alone may fall back to "unknown").
        for await (const _ of client.readAll({ maxCount: 1, fromPosition: START, filter: excludeSystemEvents() })) break
        return client.serverVersion()
      })(),
      timeoutMs,
    )
  } catch (err) {
    await client.dispose().catch(() => undefined)
    // The client's message may quote the connection string: never its password.
    const message = err instanceof Error && err.message && err.message !== err.constructor.name ? withoutPassword(err.message, options.url) : ''
    const reason = !(err instanceof Error) ? withoutPassword(String(err), options.url) : message ? `${err.constructor.name}: ${message}` : err.constructor.name
    throw new StoreUnavailableError(
      `cannot reach KurrentDB at ${redactConnectionString(options.url)} within ${timeoutMs} ms (${reason}); ` +
        'start one with `docker compose up -d kurrentdb`, or set LEDGER_KURRENTDB_URL to a running server',
      5,
    )
  }
  const atomic = supportsMultiStreamAppend(version)
  if (!atomic) {
    options.logger?.warn(
      { serverVersion: version },
      `KurrentDB ${version} has no multi-stream append (25.1+): submissions are appended stream by stream with deterministic event ids and the submission marker last; a retry completes a half-written submission`,
    )
  }
  options.logger?.info({ serverVersion: version, atomicAppendMany: atomic }, 'connected to KurrentDB')
  return new KurrentDbEventStore({ client, atomicAppendMany: atomic, ...(options.logger ? { logger: options.logger } : {}) })
}

/**
 * The client for `url`, or a ConfigError without the password. Unknown option keys are refused here,
 * not left to the client: it would console.warn the whole string, password included, and ignore them
 * (dist/Client/parseConnectionString.js).
 */
function connectOrRefuse(url: string): KurrentClient {
  const refuse = (why: string): ConfigError =>
    new ConfigError(`invalid configuration:\n  LEDGER_KURRENTDB_URL: ${why} (${redactConnectionString(url)})`)
  const problem = connectionStringOptionsProblem(url)
  if (problem !== undefined) throw refuse(problem)
  try {
    return connectKurrentDB(url)
  } catch (err) {
    // No cause attached: the client's error holds the whole string (its message, or a field).
    throw refuse(`not a connection string the KurrentDB client can parse (${describeParseRefusal(err, url)}); ${CREDENTIALS_ENCODING_ADVICE}`)
  }
}

/** Whether a server version (e.g. "25.1.0", "24.10.2") has multi-stream appends (25.1+). An
 * unknown version is tried as atomic; the client's UnsupportedError then switches to the fallback. */
export function supportsMultiStreamAppend(version: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version)
  if (!m) return true
  const major = Number(m[1])
  const minor = Number(m[2])
  return major > 25 || (major === 25 && minor >= 1)
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * The port position of an append's answer: the server answers (P, P) for the LogPosition P of the
 * append's last prepare (Services/Transport/Grpc/Streams.Append.cs; WriteEvents.cs ClientSuccessMsg
 * sets both parts to CommitIndexed.LogPosition, StorageChaser.cs), and every prepare a gRPC append
 * writes is committed by itself, at (P, P) in `$all` (AllReader.cs): the last event's position.
 * A repeat answers the matched last event's LogPosition (IndexWriter.CheckCommit), the same for
 * events of gRPC appends (the ledger writes no others). `undefined` when there is none (the
 * server's NoPosition, e.g. when it cannot read the matched event).
 */
function answeredPosition(position: { commit: bigint | number; prepare: bigint | number } | undefined): bigint | undefined {
  if (!position) return undefined
  const commit = toBigInt(position.commit, 'commit position')
  const prepare = toBigInt(position.prepare, 'prepare position')
  return commit < 0n || prepare < 0n || prepare > commit ? undefined : encodePosition({ commit, prepare })
}

/** `promise`, or `timeout()`'s error once `ms` have passed, or the signal's reason once it aborts
 * (the timer is cleared either way); the losing promise is abandoned (its rejection caught, so it is
 * never unhandled). */
function withDeadline<T>(promise: Promise<T>, ms: number, timeout: () => Error, signal?: AbortSignal): Promise<T> {
  promise.catch(() => undefined)
  let timer: NodeJS.Timeout | undefined
  let onAbort: (() => void) | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout()), ms)
    if (signal) {
      onAbort = () => reject(signal.reason)
      if (signal.aborted) onAbort()
      else signal.addEventListener('abort', onAbort, { once: true })
    }
  })
  return Promise.race([promise, deadline]).finally(() => {
    clearTimeout(timer)
    if (onAbort) signal?.removeEventListener('abort', onAbort)
  })
}

/** Waits `ms`, or less when `signal` aborts (never rejects). */
const sleep = (ms: number, signal: AbortSignal): Promise<unknown> => delay(ms, undefined, { signal }).catch(() => undefined)
