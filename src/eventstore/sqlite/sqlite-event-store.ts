/**
 * The embedded event store: one SQLite file (or `:memory:` in tests) behind the event store port.
 *
 * Durability (DESIGN.md, "Durability"): WAL journal, `synchronous = FULL`, so an acknowledged
 * append is on disk. Every `append`/`appendMany` is atomic and runs inside a `BEGIN IMMEDIATE`
 * transaction: the write lock is taken before the expected revisions are read, so the check and the
 * insert cannot be separated by another writer, in this process or another one. The appends of one
 * turn of the event loop share that transaction (group commit, one fsync), each in its own
 * savepoint, so one append's failure never takes another's events with it (see `runWrite`).
 *
 * better-sqlite3 is synchronous: each call below runs to completion on the event loop, so calls
 * of one store never interleave. The methods are `async` only to match the port.
 */
import fs from 'node:fs'
import path from 'node:path'
import { GENESIS_HASH, HASH_KEY, canonicalData, chainHash } from '../hash-chain.js'
import Database from 'better-sqlite3'
import { v7 as uuidv7, validate as uuidValidate } from 'uuid'
import {
  StoreUnavailableError,
  WrongExpectedRevisionError,
  type AppendManyResult,
  type AppendResult,
  type EventMetadata,
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

/** How long a connection waits for another connection's write lock before SQLITE_BUSY (ms).
 * better-sqlite3 waits synchronously, so this also bounds how long the event loop can block. */
export const busyTimeoutMs = 5000

/** Most appends (append/appendMany calls) written in one group commit: one transaction, one fsync. */
export const MAX_GROUP_APPENDS = 256

/** Most read statements prepared with their LIMIT in the SQL (one per kind and page length used). */
export const MAX_PAGE_STATEMENTS = 32

/** Default number of rows read per page by `readStream`, `readAll` and `subscribeAll`. */
export const defaultPageSize = 500

/** Default interval (ms) at which an idle subscription re-reads the log, so that events appended
 * by another process (which cannot notify this one) are seen. */
export const defaultPollMs = 200

/** `nextExpectedRevision` reported for a stream that has no events (an empty append to a missing
 * stream). The port has no other bigint for "no stream"; -1 is KurrentDB's convention. */
export const noStreamRevision = -1n

/** The largest SQLite INTEGER: used as "from the last event" for backwards stream reads. */
const maxInt64 = 9223372036854775807n

/** Options of {@link openSqliteEventStore}. */
export interface SqliteEventStoreOptions {
  /** Database file path, or `:memory:` for a private in-memory log. A missing parent directory is
   * created. */
  path: string
  /** Rows per read page (a positive integer). Default {@link defaultPageSize}. */
  pageSize?: number
  /** Poll interval of idle subscriptions, in milliseconds (positive). Default
   * {@link defaultPollMs}. */
  pollMs?: number
}

/** A row of the `events` table, read with safe integers (INTEGER columns come back as bigint). */
interface EventRow {
  position: bigint
  id: string
  stream: string
  revision: bigint
  type: string
  data: string
  metadata: string
  recorded_at: string
}

/** The last event of a stream, as far as an expected-revision check and the hash chain need it. */
interface StreamTail {
  revision: bigint
  position: bigint
  /** Its audit hash (null for an event written before hash chains). */
  hash: string | null
}

/** One stream's append after validation and JSON encoding (done before the write transaction so
 * the write lock is held as briefly as possible). */
interface PreparedAppend {
  stream: string
  expectedRevision: ExpectedRevision
  events: { id: string; type: string; data: string; metadata: EventMetadata | undefined }[]
}

/** What the write transaction reports per stream. */
interface StreamWriteResult {
  stream: string
  nextExpectedRevision: bigint
  /** Position of the stream's last event after the append, or the log head when it has none. */
  position: bigint
  written: number
}

/** SQLite result codes (prefixes of better-sqlite3's `code`, which includes extended codes such
 * as `SQLITE_BUSY_SNAPSHOT`) that mean "try again later" rather than "this request is wrong". */
const transientSqliteCodes = [
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_IOERR',
  'SQLITE_FULL',
  'SQLITE_CANTOPEN',
  'SQLITE_PROTOCOL',
]

const schemaSql = `
  CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    stream TEXT NOT NULL,
    revision INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (stream, revision)
  )
`

const eventColumns = 'position, id, stream, revision, type, data, metadata, recorded_at'

/**
 * The event store port on SQLite (better-sqlite3).
 *
 * Construct it with {@link openSqliteEventStore}. Positions start at 1 and are contiguous;
 * revisions are 0-based per stream. Positions and revisions are `bigint` throughout.
 */
export class SqliteEventStore implements EventStore {
  /** The underlying connection. Exposed for tests and diagnostics; other components (the
   * projector) open their own connection rather than sharing this one. */
  readonly db: Database.Database
  /** Positions are 1, 2, 3 … with no gaps (see the port). */
  readonly densePositions = true

  private readonly pageSize: number
  private readonly pollMs: number
  private closed = false
  /** Subscriptions waiting for news: each callback wakes one of them (append, close). */
  private readonly waiters = new Set<() => void>()

  private readonly headStmt: Database.Statement<[], { head: bigint }>
  private readonly maxPositionStmt: Database.Statement<[], { head: bigint | null }>
  private readonly streamTailStmt: Database.Statement<[string], StreamTail>
  private readonly insertStmt: Database.Statement<
    [bigint, string, string, bigint, string, string, string, string]
  >
  private readonly readStreamForwardStmt: Database.Statement<[string, bigint, number], EventRow>
  private readonly readStreamBackwardStmt: Database.Statement<[string, bigint, number], EventRow>
  private readonly readAllStmt: Database.Statement<[bigint, number], EventRow>
  private readonly writeTransaction: Database.Transaction<
    (appends: PreparedAppend[]) => StreamWriteResult[]
  >
  private readonly groupTransaction: Database.Transaction<
    (appends: PreparedAppend[][], outcomes: ({ ok: StreamWriteResult[] } | { error: unknown })[]) => void
  >
  /** Read statements with their LIMIT written into the SQL, by `kind:limit` (see pageStatement). */
  private readonly pageStatements = new Map<string, Database.Statement<[string, bigint] | [bigint], EventRow>>()
  /** Appends waiting for the next group commit (see runWrite). */
  private readonly pending: { appends: PreparedAppend[]; resolve: (r: StreamWriteResult[]) => void; reject: (e: unknown) => void }[] = []
  private commitScheduled = false

  /**
   * Opens (creating if needed) the database at `options.path`, applies the pragmas and the schema.
   * Prefer {@link openSqliteEventStore}.
   * @throws RangeError when `pageSize` or `pollMs` is not a positive number.
   * @throws StoreUnavailableError when the file cannot be opened or is locked.
   * @throws Error when a file database cannot be switched to WAL mode.
   */
  constructor(options: SqliteEventStoreOptions) {
    const pageSize = options.pageSize ?? defaultPageSize
    if (!Number.isSafeInteger(pageSize) || pageSize < 1) {
      throw new RangeError(`pageSize must be a positive integer, got ${pageSize}`)
    }
    const pollMs = options.pollMs ?? defaultPollMs
    if (!Number.isFinite(pollMs) || pollMs <= 0) {
      throw new RangeError(`pollMs must be a positive number of milliseconds, got ${pollMs}`)
    }
    if (options.path === '') {
      throw new RangeError('path must be a file path or ":memory:"')
    }
    this.pageSize = pageSize
    this.pollMs = pollMs

    const inMemory = options.path === ':memory:'
    const db = translateErrors(() => {
      if (!inMemory) fs.mkdirSync(path.dirname(path.resolve(options.path)), { recursive: true })
      return new Database(options.path, { timeout: busyTimeoutMs })
    })
    this.db = db
    try {
      translateErrors(() => {
        db.pragma(`busy_timeout = ${busyTimeoutMs}`)
        if (!inMemory) {
          // WAL: readers (the projector, a second process) never block the writer, and a commit
          // is one sequential WAL write + fsync.
          const mode = db.pragma('journal_mode = WAL', { simple: true })
          if (String(mode).toLowerCase() !== 'wal') {
            throw new Error(`cannot switch ${options.path} to WAL mode (journal_mode is ${String(mode)})`)
          }
        }
        // FULL: the WAL is fsynced at every commit, so an acknowledged append survives a power cut
        // (NORMAL would only guarantee consistency, not durability, in WAL mode).
        db.pragma('synchronous = FULL')
        db.pragma('foreign_keys = ON')
        db.exec(schemaSql)
      })
    } catch (error) {
      db.close()
      throw error
    }

    this.headStmt = db
      .prepare<[], { head: bigint }>('SELECT COALESCE(MAX(position), 0) AS head FROM events')
      .safeIntegers(true)
    this.maxPositionStmt = db
      .prepare<[], { head: bigint | null }>('SELECT MAX(position) AS head FROM events')
      .safeIntegers(true)
    this.streamTailStmt = db
      .prepare<[string], StreamTail>(
        "SELECT revision, position, json_extract(metadata, '$.hash') AS hash FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1",
      )
      .safeIntegers(true)
    this.insertStmt = db
      .prepare<[bigint, string, string, bigint, string, string, string, string]>(
        `INSERT INTO events (${eventColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .safeIntegers(true)
    this.readStreamForwardStmt = db
      .prepare<[string, bigint, number], EventRow>(
        `SELECT ${eventColumns} FROM events WHERE stream = ? AND revision >= ?
         ORDER BY revision ASC LIMIT ?`,
      )
      .safeIntegers(true)
    this.readStreamBackwardStmt = db
      .prepare<[string, bigint, number], EventRow>(
        `SELECT ${eventColumns} FROM events WHERE stream = ? AND revision <= ?
         ORDER BY revision DESC LIMIT ?`,
      )
      .safeIntegers(true)
    this.readAllStmt = db
      .prepare<[bigint, number], EventRow>(
        `SELECT ${eventColumns} FROM events WHERE position >= ? ORDER BY position ASC LIMIT ?`,
      )
      .safeIntegers(true)
    this.writeTransaction = db.transaction((appends: PreparedAppend[]) => this.write(appends))
    this.groupTransaction = db.transaction((appends: PreparedAppend[][], outcomes: ({ ok: StreamWriteResult[] } | { error: unknown })[]) =>
      this.writeGroup(appends, outcomes),
    )
  }

  /**
   * Appends `events` to `stream` in one write transaction if the stream is in the `expected` state.
   * An empty `events` only checks the expectation. Events without `id` get a UUID v7; every event's
   * metadata gets `recordedAt` (the same ISO 8601 UTC instant as the event's `recordedAt`).
   * @returns the stream's revision after the append ({@link noStreamRevision} if it still has no
   *   events) and the position of the last event written (empty append: the stream's last event's
   *   position, or the log head, 0n for an empty log, when the stream has no events).
   * @throws WrongExpectedRevisionError when the stream is not in the expected state (nothing is
   *   written).
   * @throws TypeError for a malformed request (empty stream name or type, an id that is not a
   *   UUID, data or metadata that is not JSON-serialisable).
   * @throws Error when an event id is already in the log (nothing is written).
   * @throws StoreUnavailableError when the database is busy, unreachable, or the store is closed.
   */
  async append(stream: string, events: NewEvent[], expected: ExpectedRevision): Promise<AppendResult> {
    const [result] = await this.runWrite([prepareAppend({ stream, events, expectedRevision: expected })])
    // runWrite returns one result per prepared append: exactly one here.
    const { nextExpectedRevision, position } = result as StreamWriteResult
    return { nextExpectedRevision, position }
  }

  /**
   * Appends to several streams in ONE write transaction: all are written or none is. Every stream's
   * expectation is checked before anything is written.
   * @returns `position`: the position of the last event written (if nothing is written: the largest
   *   of the per-stream empty-append positions, or the log head for no streams); `streams`: each
   *   stream's revision after the append, in the order given.
   * @throws WrongExpectedRevisionError for the first stream (in the order given) not in its
   *   expected state; nothing is written.
   * @throws Error when the same stream is named twice (a programming error; nothing is written).
   * @throws TypeError, Error (duplicate event id), StoreUnavailableError as
   *   {@link SqliteEventStore.append}.
   */
  async appendMany(appends: StreamAppend[]): Promise<AppendManyResult> {
    const seen = new Set<string>()
    for (const { stream } of appends) {
      if (seen.has(stream)) {
        throw new Error(`appendMany: stream ${stream} is named more than once in one append`)
      }
      seen.add(stream)
    }
    const prepared = appends.map(prepareAppend)
    if (prepared.length === 0) {
      return { position: this.guard(() => this.headStmt.get()?.head ?? 0n), streams: [] }
    }
    const results = await this.runWrite(prepared)
    let position = 0n
    for (const r of results) if (r.position > position) position = r.position
    return {
      position,
      streams: results.map(({ stream, nextExpectedRevision }) => ({ stream, nextExpectedRevision })),
    }
  }

  /**
   * Reads one stream in revision order, `pageSize` rows per query (keyset pagination on revision).
   * Forwards starts at `fromRevision` (default 0); backwards at `fromRevision` (default the last
   * event) going down. Stops after `maxCount` events (default: no limit). A missing stream yields
   * nothing.
   * @throws RangeError when `maxCount` is not a non-negative integer.
   * @throws StoreUnavailableError when the database is busy or the store is closed mid-read.
   */
  async *readStream(stream: string, options: ReadStreamOptions = {}): AsyncGenerator<RecordedEvent> {
    const backwards = options.direction === 'backwards'
    let remaining = checkMaxCount(options.maxCount)
    let next = options.fromRevision ?? (backwards ? maxInt64 : 0n)
    while (remaining > 0) {
      const limit = Math.min(this.pageSize, remaining)
      const rows = this.guard(() => this.readStreamPage(backwards, stream, next, limit))
      for (const row of rows) {
        remaining -= 1
        next = backwards ? row.revision - 1n : row.revision + 1n
        yield toRecordedEvent(row)
      }
      // A short page is the end of the stream: no need for one more (empty) query.
      if (rows.length < limit || (backwards && next < 0n)) return
    }
  }

  /**
   * Reads the whole log in position order from `fromPosition` (inclusive, default the start),
   * `pageSize` rows per query (keyset pagination on position), at most `maxCount` events. A
   * `fromPosition` beyond SQLite's int64 range yields nothing.
   * @throws RangeError when `maxCount` is not a non-negative integer.
   * @throws StoreUnavailableError when the database is busy or the store is closed mid-read.
   */
  async *readAll(options: ReadAllOptions = {}): AsyncGenerator<RecordedEvent> {
    let remaining = checkMaxCount(options.maxCount)
    let next = options.fromPosition ?? 0n
    // Positions are SQLite INTEGERs (int64): nothing lies beyond the largest, and a larger bigint
    // cannot be bound to the statement.
    if (next > maxInt64) return
    while (remaining > 0) {
      const limit = Math.min(this.pageSize, remaining)
      const rows = this.guard(() => this.readAllPage(next, limit))
      for (const row of rows) {
        remaining -= 1
        next = row.position + 1n
        yield toRecordedEvent(row)
      }
      if (rows.length < limit) return
    }
  }

  /**
   * Position of the last event in the log, or `null` for an empty log.
   * @throws StoreUnavailableError when the database is busy or the store is closed.
   */
  async headPosition(): Promise<bigint | null> {
    return this.guard(() => this.maxPositionStmt.get()?.head ?? null)
  }

  /**
   * Catch-up subscription: events after `afterPosition` (exclusive; default the start of the log)
   * in position order, first the history page by page, then live. When a page comes back empty it
   * waits for an append on this store, `pollMs` (appends by other processes), or the abort signal.
   * Events of streams not matching `streamPrefixes` are skipped (the subscription still moves past
   * them). Ends (returns) when `signal` aborts or the store is closed; never delivers an event
   * twice or out of order.
   * @throws StoreUnavailableError when a read fails transiently (the caller resumes from the last
   *   position it handled).
   */
  async *subscribeAll(options: SubscribeAllOptions = {}): Subscription {
    const { signal, streamPrefixes } = options
    let last = options.afterPosition ?? 0n
    const matches = (stream: string): boolean =>
      streamPrefixes === undefined || streamPrefixes.some((prefix) => stream.startsWith(prefix))
    const stopped = (): boolean => this.closed || signal?.aborted === true

    let live = false
    while (!stopped()) {
      const rows = this.guard(() => this.readAllPage(last + 1n, this.pageSize))
      if (rows.length === 0) {
        if (!live) {
          live = true
          options.onCaughtUp?.()
        }
        // No await between the empty read and registering the waiter: an in-process append
        // committed after the read is guaranteed to find the waiter and wake it.
        await this.waitForNews(signal)
        continue
      }
      for (const row of rows) {
        if (stopped()) return
        last = row.position
        if (matches(row.stream)) yield toRecordedEvent(row)
      }
    }
  }

  /**
   * Writes the appends queued for a group commit, ends pending subscriptions and closes the
   * database. Idempotent. Later calls on the store throw StoreUnavailableError.
   */
  async close(): Promise<void> {
    if (this.closed) return
    // Appends already queued for a group commit are written (or fail) before the database closes.
    while (this.pending.length > 0) this.commitGroup()
    this.closed = true
    this.wakeWaiters()
    this.db.close()
  }

  /**
   * Queues one append (the prepared appends of one `append`/`appendMany` call) for the next group
   * commit and resolves with its results once that commit is on disk.
   *
   * Group commit: the appends queued during one turn of the event loop (at most
   * {@link MAX_GROUP_APPENDS}) are written in ONE write transaction, each inside its own savepoint,
   * so one fsync (synchronous=FULL) serves them all. An append that fails on its own (its
   * expectation, an event id already in the log, metadata that is not JSON) rolls back to its
   * savepoint and fails alone; the others are committed. Any other SQLite error (the store busy,
   * the disk full or failing) rolls the whole group back and fails every append of it: nothing of
   * the group is written.
   */
  private runWrite(appends: PreparedAppend[]): Promise<StreamWriteResult[]> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the event store is closed'))
    return new Promise((resolve, reject) => {
      this.pending.push({ appends, resolve, reject })
      if (!this.commitScheduled) {
        this.commitScheduled = true
        setImmediate(() => this.commitGroup())
      }
    })
  }

  /** Writes the queued appends as one group (see {@link runWrite}), then settles their promises. */
  private commitGroup(): void {
    const group = this.pending.splice(0, MAX_GROUP_APPENDS)
    if (group.length === 0) return
    this.commitScheduled = this.pending.length > 0
    if (this.commitScheduled) setImmediate(() => this.commitGroup())
    const outcomes: ({ ok: StreamWriteResult[] } | { error: unknown })[] = []
    try {
      this.guard(() => this.groupTransaction.immediate(group.map((g) => g.appends), outcomes))
    } catch (error) {
      for (const { reject } of group) reject(error)
      return
    }
    let written = false
    group.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i]!
      if ('error' in outcome) return reject(outcome.error)
      if (outcome.ok.some((r) => r.written > 0)) written = true
      resolve(outcome.ok)
    })
    if (written) this.wakeWaiters()
  }

  /** The body of a group's transaction: each append in its own savepoint (a nested better-sqlite3
   * transaction). Errors that concern one append are recorded for it; any other SQLite error is
   * thrown, rolling the whole group back. */
  private writeGroup(appends: PreparedAppend[][], outcomes: ({ ok: StreamWriteResult[] } | { error: unknown })[]): void {
    for (const one of appends) {
      try {
        outcomes.push({ ok: this.writeTransaction(one) })
      } catch (error) {
        // The only UNIQUE index a checked append can hit is the event id's ((stream, revision) is
        // guarded by the expected-revision check under the write lock).
        if (error instanceof Database.SqliteError && error.code === 'SQLITE_CONSTRAINT_UNIQUE')
          outcomes.push({ error: new Error(`append rejected: an event id is already in the log (${error.message})`, { cause: error }) })
        // Any other SQLite error (busy, I/O, disk full) may have ended the transaction: the group fails.
        else if (error instanceof Database.SqliteError) throw error
        // An error of this append's own (its expectation, metadata that is not JSON): its savepoint
        // is rolled back, the others go on.
        else outcomes.push({ error })
      }
    }
  }

  /** The body of the write transaction: checks every expectation, then inserts. Throwing rolls the
   * whole transaction back. */
  private write(appends: PreparedAppend[]): StreamWriteResult[] {
    const tails = appends.map(({ stream, expectedRevision }) => {
      const tail = this.streamTailStmt.get(stream)
      checkExpected(stream, expectedRevision, tail)
      return tail
    })
    // Taken inside the transaction, so recordedAt follows position order as far as the clock does
    // (a timestamp taken before BEGIN IMMEDIATE could wait out another writer's lock).
    const recordedAt = new Date().toISOString()
    let position = this.headStmt.get()?.head ?? 0n
    return appends.map(({ stream, events }, index) => {
      const tail = tails[index]
      let revision = tail?.revision ?? noStreamRevision
      let previousHash = tail ? (tail.hash ?? GENESIS_HASH) : GENESIS_HASH
      for (const event of events) {
        position += 1n
        revision += 1n
        previousHash = chainHash({ stream, revision, type: event.type, canonicalData: event.data, previousHash })
        const metadata = encodeJson({ ...event.metadata, recordedAt, [HASH_KEY]: previousHash }, 'metadata')
        this.insertStmt.run(position, event.id, stream, revision, event.type, event.data, metadata, recordedAt)
      }
      return {
        stream,
        nextExpectedRevision: revision,
        position: events.length > 0 ? position : (tail?.position ?? position),
        written: events.length,
      }
    })
  }

  /**
   * One page of a stream. The LIMIT is written into the SQL (a statement per limit, at most
   * MAX_PAGE_STATEMENTS of them, then the bound-parameter statement): with `LIMIT ?` SQLite took
   * 28 µs instead of 4 µs to find that a stream does not exist, a read every submission makes
   * (bench/README.md).
   */
  private readStreamPage(backwards: boolean, stream: string, from: bigint, limit: number): EventRow[] {
    const kind = backwards ? 'backward' : 'forward'
    const stmt = this.pageStatement(kind, limit, () =>
      `SELECT ${eventColumns} FROM events WHERE stream = ? AND revision ${backwards ? '<=' : '>='} ? ORDER BY revision ${backwards ? 'DESC' : 'ASC'} LIMIT ${limit}`,
    ) as Database.Statement<[string, bigint], EventRow> | undefined
    if (stmt) return stmt.all(stream, from)
    return (backwards ? this.readStreamBackwardStmt : this.readStreamForwardStmt).all(stream, from, limit)
  }

  /** One page of the log from `from` (see readStreamPage about the LIMIT). */
  private readAllPage(from: bigint, limit: number): EventRow[] {
    const stmt = this.pageStatement('all', limit, () => `SELECT ${eventColumns} FROM events WHERE position >= ? ORDER BY position ASC LIMIT ${limit}`) as
      | Database.Statement<[bigint], EventRow>
      | undefined
    return stmt ? stmt.all(from) : this.readAllStmt.all(from, limit)
  }

  /** The cached statement of `kind` for `limit` (a positive safe integer, checked by the callers),
   * prepared from `sql()` on first use; undefined once MAX_PAGE_STATEMENTS are cached. */
  private pageStatement(kind: string, limit: number, sql: () => string): Database.Statement<[string, bigint] | [bigint], EventRow> | undefined {
    const key = `${kind}:${limit}`
    let stmt = this.pageStatements.get(key)
    if (stmt === undefined && this.pageStatements.size < MAX_PAGE_STATEMENTS && Number.isSafeInteger(limit) && limit > 0) {
      stmt = this.db.prepare<[string, bigint] | [bigint], EventRow>(sql()).safeIntegers(true)
      this.pageStatements.set(key, stmt)
    }
    return stmt
  }

  /** Resolves on the next append of this store, after `pollMs`, on abort, or on close. */
  private waitForNews(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed || signal?.aborted === true) return resolve()
      const done = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', done)
        this.waiters.delete(done)
        resolve()
      }
      const timer = setTimeout(done, this.pollMs)
      signal?.addEventListener('abort', done, { once: true })
      this.waiters.add(done)
    })
  }

  private wakeWaiters(): void {
    for (const wake of [...this.waiters]) wake()
  }

  /** Runs `fn` against the open database, translating transient SQLite errors. */
  private guard<T>(fn: () => T): T {
    if (this.closed) throw new StoreUnavailableError('the event store is closed')
    return translateErrors(fn)
  }
}

/**
 * Opens a {@link SqliteEventStore} at `options.path` (`:memory:` for tests; for a file, the parent
 * directory is created if missing). `pageSize` defaults to {@link defaultPageSize} rows, `pollMs`
 * to {@link defaultPollMs} milliseconds.
 * @throws RangeError for a bad `pageSize`/`pollMs`; StoreUnavailableError when the file cannot be
 *   opened or is locked; Error when a file database cannot be put in WAL mode.
 */
export function openSqliteEventStore(options: SqliteEventStoreOptions): SqliteEventStore {
  return new SqliteEventStore(options)
}

/** Validates one stream's append and encodes its data, outside the write transaction. */
function prepareAppend({ stream, events, expectedRevision }: StreamAppend): PreparedAppend {
  if (typeof stream !== 'string' || stream === '') {
    throw new TypeError('stream must be a non-empty string')
  }
  return {
    stream,
    expectedRevision,
    events: events.map((event) => {
      if (event.id !== undefined && !uuidValidate(event.id)) {
        throw new TypeError(`stream ${stream}: event id ${event.id} is not a UUID`)
      }
      if (typeof event.type !== 'string' || event.type === '') {
        throw new TypeError(`stream ${stream}: event type must be a non-empty string`)
      }
      return {
        // Lower case, so the same UUID given in either case is one id for the UNIQUE index.
        id: event.id?.toLowerCase() ?? uuidv7(),
        type: event.type,
        // Stored as RFC 8785 canonical JSON: the form the audit hash covers, so a verifier hashes
        // exactly what it reads.
        data: encodeCanonical(event.data),
        metadata: event.metadata,
      }
    }),
  }
}

/** Throws WrongExpectedRevisionError unless the stream (its last event `tail`, or none) is in the
 * `expected` state. */
function checkExpected(stream: string, expected: ExpectedRevision, tail: StreamTail | undefined): void {
  const actual = tail?.revision ?? 'no_stream'
  const ok =
    expected === 'any' ||
    (expected === 'no_stream' && tail === undefined) ||
    (expected === 'stream_exists' && tail !== undefined) ||
    (typeof expected === 'bigint' && actual === expected)
  if (!ok) throw new WrongExpectedRevisionError(stream, expected, actual)
}

/** `maxCount` as a number of events still allowed; `undefined` means no limit. */
function checkMaxCount(maxCount: number | undefined): number {
  if (maxCount === undefined) return Number.POSITIVE_INFINITY
  if (!Number.isSafeInteger(maxCount) || maxCount < 0) {
    throw new RangeError(`maxCount must be a non-negative integer, got ${maxCount}`)
  }
  return maxCount
}

/** RFC 8785 canonical JSON of event data. @throws TypeError when it is not JSON-serialisable. */
function encodeCanonical(value: unknown): string {
  return canonicalData(value)
}

function encodeJson(value: unknown, what: 'data' | 'metadata'): string {
  // JSON.stringify throws on bigint and cycles, and returns undefined for undefined/functions.
  const json: string | undefined = JSON.stringify(value)
  if (typeof json !== 'string') throw new TypeError(`event ${what} is not JSON-serialisable`)
  return json
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    stream: row.stream,
    revision: row.revision,
    position: row.position,
    type: row.type,
    data: JSON.parse(row.data) as unknown,
    metadata: JSON.parse(row.metadata) as EventMetadata,
    recordedAt: row.recorded_at,
  }
}

/** Runs `fn`, turning transient SQLite errors (busy, locked, I/O, disk full) into
 * StoreUnavailableError; other errors pass unchanged. */
function translateErrors<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    if (error instanceof Database.SqliteError && transientSqliteCodes.some((c) => error.code.startsWith(c))) {
      throw new StoreUnavailableError(`event store unavailable: ${error.message}`, 1, { cause: error })
    }
    throw error
  }
}
