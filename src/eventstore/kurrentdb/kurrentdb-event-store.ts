import { setTimeout as delay } from 'node:timers/promises'
import { END, START, UnsupportedError, excludeSystemEvents, streamNameFilter } from '@kurrent/kurrentdb-client'
import type { AllStreamSubscription, Filter } from '@kurrent/kurrentdb-client'
import {
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
import {
  decodePosition,
  isStreamNotFound,
  rawPosition,
  rawRevision,
  redactConnectionString,
  toBigInt,
  toEventData,
  toPortError,
  toRecordedEvent,
  toStreamState,
} from './mapping.js'

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
  logger?: StoreLogger
}

/**
 * The event store port on KurrentDB (EventStoreDB), through the official client.
 *
 * - Expected revisions map one to one to the client's stream states; a wrong expected version is
 *   the port's WrongExpectedRevisionError; unavailable / not-leader / deadline-exceeded are
 *   StoreUnavailableError.
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
   * Appends to one stream.
   * @throws WrongExpectedRevisionError, StoreUnavailableError.
   */
  async append(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    if (events.length === 0) return this.checkOnly(stream, expected)
    const revision = await this.appendEvents(stream, events, expected)
    return { nextExpectedRevision: revision, position: await this.positionOf(stream, revision) }
  }

  /** appendToStream; answers the stream's new revision. */
  private async appendEvents(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<bigint> {
    const chained = await this.chain(stream, events, expected)
    const recordedAt = this.nextRecordedAt()
    const data = chained.events.map((e) => toEventData(e, { deterministicIds: !this.atomic, recordedAt }))
    const result = await this.call(() => this.options.client.appendToStream(stream, data, { streamState: toStreamState(chained.expected) }))
    const revision = toBigInt(result.nextExpectedRevision, 'next expected revision')
    this.rememberTail(stream, revision, chained.lastHash)
    return revision
  }

  /**
   * The events with their audit hash in the metadata (hash-chain.ts), chained from the stream's last
   * event: its hash is remembered from this store's own reads and appends (the use cases read a
   * stream just before appending to it), else read. The events' revisions follow from the expected
   * revision; `any` and `stream_exists` are made exact by reading the stream's last event, so the
   * append fails rather than chain from the wrong event if the stream moved meanwhile.
   * @throws WrongExpectedRevisionError for `stream_exists` on a stream with no events.
   */
  private async chain(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<{ events: NewEvent[]; expected: ExpectedRevision; lastHash: string }> {
    let exact: ExpectedRevision = expected
    let previousHash = GENESIS_HASH
    if (typeof expected === 'bigint') {
      const known = this.tails.get(stream)
      if (known && known.revision === expected) previousHash = known.hash
      else for await (const e of this.readStream(stream, { fromRevision: expected, maxCount: 1 })) if (e.revision === expected) previousHash = storedHash(e.metadata) ?? GENESIS_HASH
    } else if (expected !== 'no_stream') {
      let last: RecordedEvent | undefined
      for await (const e of this.readStream(stream, { direction: 'backwards', maxCount: 1 })) last = e
      if (!last && expected === 'stream_exists') throw new WrongExpectedRevisionError(stream, expected, 'no_stream')
      exact = last ? last.revision : 'no_stream'
      previousHash = last ? (storedHash(last.metadata) ?? GENESIS_HASH) : GENESIS_HASH
    }
    let revision = typeof exact === 'bigint' ? exact : -1n
    const out = events.map((e) => {
      revision += 1n
      previousHash = chainHash({ stream, revision, type: e.type, canonicalData: canonicalData(e.data), previousHash })
      return { ...e, metadata: { ...e.metadata, [HASH_KEY]: previousHash } }
    })
    return { events: out, expected: exact, lastHash: previousHash }
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
   * @throws WrongExpectedRevisionError for a stream not in its expected state; StoreUnavailableError.
   */
  async appendMany(appends: StreamAppend[]): Promise<AppendManyResult> {
    const last = appends.at(-1)
    if (!last) return { position: (await this.headPosition()) ?? 0n, streams: [] }
    if (new Set(appends.map((a) => a.stream)).size !== appends.length) throw new Error('appendMany: a stream is named twice')
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

  private async appendManyAtomic(appends: StreamAppend[], lastStream: string): Promise<AppendManyResult> {
    const recordedAt = this.nextRecordedAt()
    const nonEmpty = appends.filter((a) => a.events.length > 0)
    const empty = new Map<string, AppendResult>()
    for (const a of appends.filter((x) => x.events.length === 0)) empty.set(a.stream, await this.checkOnly(a.stream, a.expectedRevision))
    if (nonEmpty.length === 0) {
      const streams = appends.map((a) => ({ stream: a.stream, nextExpectedRevision: empty.get(a.stream)!.nextExpectedRevision }))
      return { position: empty.get(lastStream)!.position, streams }
    }
    const chained = await Promise.all(nonEmpty.map((a) => this.chain(a.stream, a.events, a.expectedRevision)))
    const result = await this.call(() =>
      this.options.client.multiStreamAppend(
        nonEmpty.map((a, i) => ({
          streamName: a.stream,
          expectedState: toStreamState(chained[i]!.expected),
          events: chained[i]!.events.map((e) => toEventData(e, { deterministicIds: false, recordedAt })),
        })),
      ),
    )
    const revisions = new Map(result.responses.map((r) => [r.streamName, toBigInt(r.revision, 'revision')]))
    nonEmpty.forEach((a, i) => {
      const revision = revisions.get(a.stream)
      if (revision !== undefined) this.rememberTail(a.stream, revision, chained[i]!.lastHash)
    })
    const lastWritten = nonEmpty.at(-1)!.stream
    const streams = appends.map((a) => ({
      stream: a.stream,
      nextExpectedRevision: revisions.get(a.stream) ?? empty.get(a.stream)!.nextExpectedRevision,
    }))
    // The server answers with a commit position only; the port's position is the last written
    // event's (commit, prepare) pair, read back.
    const position = await this.positionOf(lastWritten, revisions.get(lastWritten) ?? toBigInt(result.responses.at(-1)!.revision, 'revision'))
    return { position, streams }
  }

  private async appendManyPerStream(appends: StreamAppend[]): Promise<AppendManyResult> {
    const revisions = new Map<string, bigint>()
    const appendOne = async (a: StreamAppend) =>
      a.events.length === 0 ? (await this.checkOnly(a.stream, a.expectedRevision)).nextExpectedRevision : this.appendEvents(a.stream, a.events, a.expectedRevision)
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

  /** An empty append: only the expected revision is checked against the stream's last event. */
  private async checkOnly(stream: string, expected: ExpectedRevision): Promise<AppendResult> {
    let lastEvent: RecordedEvent | undefined
    for await (const e of this.readStream(stream, { direction: 'backwards', maxCount: 1 })) lastEvent = e
    const actual = lastEvent ? lastEvent.revision : 'no_stream'
    const ok =
      expected === 'any' ||
      (expected === 'no_stream' && actual === 'no_stream') ||
      (expected === 'stream_exists' && actual !== 'no_stream') ||
      (typeof expected === 'bigint' && expected === actual)
    if (!ok) throw new WrongExpectedRevisionError(stream, expected, actual)
    return { nextExpectedRevision: lastEvent ? lastEvent.revision : -1n, position: lastEvent ? lastEvent.position : ((await this.headPosition()) ?? 0n) }
  }

  /** Position of event `revision` of `stream`. */
  private async positionOf(stream: string, revision: bigint): Promise<bigint> {
    for await (const e of this.readStream(stream, { fromRevision: revision, maxCount: 1 })) return e.position
    throw new StoreUnavailableError(`event ${revision} of ${stream} was acknowledged but cannot be read back`)
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
        throw toPortError(err)
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
      try {
        subscription = this.options.client.subscribeToAll({ fromPosition: last === undefined ? START : decodePosition(last), filter })
        signal.addEventListener('abort', stop, { once: true })
        if (options.onCaughtUp) subscription.on('caughtUp', options.onCaughtUp)
        for await (const resolved of subscription as AsyncIterable<Parameters<typeof toRecordedEvent>[0]>) {
          const event = this.noteRecordedAt(toRecordedEvent(resolved))
          if (!event || (last !== undefined && event.position <= last)) continue
          last = event.position
          backoffMs = this.resubscribeInitialMs
          yield event
        }
        if (signal.aborted) break
        options.onDropped?.()
        this.options.logger?.warn({ position: last?.toString() ?? null }, 'subscription to $all ended; resubscribing')
      } catch (err) {
        if (signal.aborted) break
        options.onDropped?.()
        this.options.logger?.warn({ err: toPortError(err), position: last?.toString() ?? null, backoffMs }, 'subscription to $all dropped; resubscribing')
      } finally {
        signal.removeEventListener('abort', stop)
        stop()
      }
      await sleep(backoffMs, signal)
      backoffMs = Math.min(backoffMs * 2, this.resubscribeMaxMs)
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
 * @throws StoreUnavailableError naming where it tried and what to run, when the server does not answer.
 */
export async function openKurrentDbEventStore(options: {
  url: string
  logger?: StoreLogger
  connectTimeoutMs?: number
  client?: KurrentClient
}): Promise<KurrentDbEventStore> {
  const client = options.client ?? connectKurrentDB(options.url)
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
    const reason = !(err instanceof Error) ? String(err) : err.message ? `${err.constructor.name}: ${err.message}` : err.constructor.name
    throw new StoreUnavailableError(
      `cannot reach KurrentDB at ${redactConnectionString(options.url)} within ${timeoutMs} ms (${reason}); ` +
        'start one with `docker compose up -d kurrentdb`, or set LEDGER_KURRENTDB_URL to a running server',
      5,
      { cause: err },
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

/** Waits `ms`, or less when `signal` aborts (never rejects). */
const sleep = (ms: number, signal: AbortSignal): Promise<unknown> => delay(ms, undefined, { signal }).catch(() => undefined)
