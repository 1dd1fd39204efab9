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
 * of one store never interleave. The methods are `async` only to match the port. SQLite's own busy
 * wait is synchronous too, so a write waits at most WRITE_BUSY_TIMEOUT_MS for another process's
 * write lock on the event loop; a group commit that still finds it held is retried from a timer
 * (never blocking) for up to WRITE_LOCK_WAIT_MS, then fails 503 `store-busy`.
 *
 * Faults (issue #14), each a StoreUnavailableError with a `reason`, reported by `fault()` to /readyz:
 * - `store-file-replaced`: the file (or its `-wal`) at the path was deleted or replaced under the
 *   open connection (see file-guard.ts; checked before and after every group commit and every
 *   FILE_CHECK_INTERVAL_MS). Sticky until a restart; what was committed is saved first (a missing
 *   file is restored from the connection, a deleted WAL checkpointed into the file, a file put in
 *   its place left alone and ours saved beside it) and one error line says what to do.
 * - `disk-full` (SQLITE_FULL) and `store-read-only` (SQLITE_READONLY): until a write succeeds.
 * - A file that cannot be opened or written at all refuses the start (StartRefusedError, exit 2).
 *
 * recordedAt never goes back: a write uses the later of the clock and the log's last recordedAt
 * (read in the same transaction), so the order `audit verify` checks holds across a clock step.
 */
import fs from 'node:fs'
import path from 'node:path'
import { GENESIS_HASH, HASH_KEY, canonicalData, chainHash } from '../hash-chain.js'
import { StartRefusedError } from '../../startup-refused.js'
import { DatabaseFileGuard, FILE_CHECK_INTERVAL_MS, type FileChange } from './file-guard.js'
import Database from 'better-sqlite3'
import { v7 as uuidv7, validate as uuidValidate } from 'uuid'
import {
  StoreUnavailableError,
  WrongExpectedRevisionError,
  type AppendManyResult,
  type StoreFault,
  type StoreFaultReason,
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
import { StreamNamedTwiceError, streamNamedTwice } from '../port.js'

/** How long opening (pragmas, schema) waits for another connection's write lock, milliseconds. A
 * synchronous wait, but before the service serves anything. */
export const OPEN_BUSY_TIMEOUT_MS = 5000

/** SQLite's own busy wait once open, milliseconds. better-sqlite3 waits synchronously, so this
 * bounds how long one write attempt can hold the event loop when another process has the lock. */
export const WRITE_BUSY_TIMEOUT_MS = 5

/** Longest a group commit waits for another process's write lock in all, milliseconds: it is
 * retried from a timer meanwhile (the event loop stays free); then its appends fail with
 * StoreUnavailableError reason `store-busy` (503). */
export const WRITE_LOCK_WAIT_MS = 5000

/** First pause before retrying a group commit that found the write lock held, milliseconds;
 * doubled at every retry up to WRITE_RETRY_MAX_DELAY_MS. */
export const WRITE_RETRY_FIRST_DELAY_MS = 2

/** Longest pause between two tries of a group commit, milliseconds. */
export const WRITE_RETRY_MAX_DELAY_MS = 100

/** Retry-After of a fault only an operator can cure (file replaced, disk full, read-only), seconds. */
export const FAULT_RETRY_AFTER_SECONDS = 30

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
  /** Where a fault is reported (one line: what happened, what to do); default nowhere. */
  logger?: SqliteStoreLogger
  /** Longest a group commit waits for another process's write lock, milliseconds (non-negative).
   * Default {@link WRITE_LOCK_WAIT_MS}. */
  writeLockWaitMs?: number
}

/** The store's logger (pino-shaped). */
export interface SqliteStoreLogger {
  error(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
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

/** One queued `append`/`appendMany` call and how to settle it. */
interface PendingAppend {
  appends: PreparedAppend[]
  resolve: (r: StreamWriteResult[]) => void
  reject: (e: unknown) => void
}

/** Pages per step of a backup: all of them, in one step (a restarted backup would copy again). */
const BACKUP_ALL_PAGES = 0x7fffffff

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

  /** The database path as given (`:memory:` for memory). */
  readonly path: string
  private readonly pageSize: number
  private readonly pollMs: number
  private readonly writeLockWaitMs: number
  private readonly logger: SqliteStoreLogger | undefined
  private closed = false
  /** The close in progress or done (close is idempotent). */
  private closing: Promise<void> | undefined
  /** The file identities checked around every group commit (file databases only). */
  private readonly files: DatabaseFileGuard | undefined
  private fileTimer: NodeJS.Timeout | undefined
  /** `store-file-replaced`: sticky until the process restarts. */
  private stickyFault: StoreFault | undefined
  /** `disk-full` or `store-read-only`: until a write succeeds, or (for readiness) until
   * {@link FAULT_RETRY_AFTER_SECONDS} have passed since the last write that met it. */
  private writeFault: StoreFault | undefined
  /** When the write fault was last met (`performance.now()`, milliseconds). */
  private writeFaultAt = 0
  /** Saving what was committed after a file was replaced (awaited by close). */
  private recovery: Promise<void> | undefined
  /** Subscriptions waiting for news: each callback wakes one of them (append, close). */
  private readonly waiters = new Set<() => void>()

  private readonly headStmt: Database.Statement<[], { head: bigint }>
  private readonly lastRecordedAtStmt: Database.Statement<[], { recorded_at: string }>
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
  private readonly pending: PendingAppend[] = []
  /** The commit loop while it runs (see scheduleCommit); undefined when idle. */
  private committer: Promise<void> | undefined

  /**
   * Opens (creating if needed) the database at `options.path`, applies the pragmas and the schema.
   * Prefer {@link openSqliteEventStore}.
   * @throws RangeError when `pageSize` or `pollMs` is not a positive number, or `writeLockWaitMs`
   *   a negative one.
   * @throws StartRefusedError when the file or its directory cannot be opened or written (read-only
   *   file system, permissions, a directory at the path): the message names the path and the cause.
   * @throws StoreUnavailableError when the file is locked or failing.
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
    const writeLockWaitMs = options.writeLockWaitMs ?? WRITE_LOCK_WAIT_MS
    if (!Number.isFinite(writeLockWaitMs) || writeLockWaitMs < 0) {
      throw new RangeError(`writeLockWaitMs must be a non-negative number of milliseconds, got ${writeLockWaitMs}`)
    }
    this.path = options.path
    this.pageSize = pageSize
    this.pollMs = pollMs
    this.writeLockWaitMs = writeLockWaitMs
    this.logger = options.logger

    const inMemory = options.path === ':memory:'
    if (!inMemory) {
      const dir = path.dirname(path.resolve(options.path))
      try {
        fs.mkdirSync(dir, { recursive: true })
      } catch (error) {
        // (On a read-only file system Node's recursive mkdir may say ENOENT rather than EROFS.)
        throw new StartRefusedError(
          `cannot create the directory ${dir} of the event store ${options.path}: ${describeUnwritable(options.path)} (${(error as Error).message}); make it writable by this user, or point LEDGER_SQLITE_PATH at a writable directory`,
          { cause: error },
        )
      }
    }
    const db = openRefusing(options.path, () => new Database(options.path, { timeout: OPEN_BUSY_TIMEOUT_MS }))
    this.db = db
    try {
      openRefusing(options.path, () => {
        db.pragma(`busy_timeout = ${OPEN_BUSY_TIMEOUT_MS}`)
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
        if (!inMemory) probeWrite(db)
      })
      // From now on a write never waits synchronously for long (see WRITE_BUSY_TIMEOUT_MS).
      db.pragma(`busy_timeout = ${WRITE_BUSY_TIMEOUT_MS}`)
      // The real path: SQLite follows a symbolic link to the file and keeps its -wal beside the
      // target, so the link's own `<link>-wal` is never the one to watch.
      if (!inMemory) this.files = new DatabaseFileGuard(fs.realpathSync(path.resolve(options.path)))
      if (!inMemory) warnOfSavedCopies(options.path, options.logger)
    } catch (error) {
      db.close()
      throw error
    }

    this.headStmt = db
      .prepare<[], { head: bigint }>('SELECT COALESCE(MAX(position), 0) AS head FROM events')
      .safeIntegers(true)
    this.lastRecordedAtStmt = db.prepare<[], { recorded_at: string }>('SELECT recorded_at FROM events ORDER BY position DESC LIMIT 1')
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
    if (this.files) {
      // A deletion is noticed with no writes too; unref'd: it never keeps the process alive.
      this.fileTimer = setInterval(() => this.checkFiles(), FILE_CHECK_INTERVAL_MS)
      this.fileTimer.unref()
    }
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
   * @throws StoreUnavailableError when the store is closed or cannot write, nothing of the append
   *   written (except `store-file-replaced` noticed just after a commit: then it is in the saved
   *   file), with a `reason` when known: `store-busy` (another process held the write lock for
   *   more than `writeLockWaitMs`), `disk-full`, `store-read-only`, `store-file-replaced` (see
   *   {@link SqliteEventStore.fault}).
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
   * @throws StreamNamedTwiceError when the same stream is named twice, compared case-insensitively
   *   as on KurrentDB (a programming error; nothing is written).
   * @throws TypeError, Error (duplicate event id), StoreUnavailableError as
   *   {@link SqliteEventStore.append}.
   */
  async appendMany(appends: StreamAppend[]): Promise<AppendManyResult> {
    const twice = streamNamedTwice(appends.map((a) => a.stream))
    if (twice !== undefined) throw new StreamNamedTwiceError(twice)
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
   * The fault the store is in, if any (see {@link StoreFault}): `store-file-replaced` (sticky until
   * a restart), else `disk-full` or `store-read-only` from the last write (until a write succeeds).
   * Synchronous, no I/O.
   */
  fault(): StoreFault | undefined {
    if (this.stickyFault) return this.stickyFault
    // A write fault is reported for its Retry-After only: a balancer that stops sending traffic to a
    // service that is not ready would otherwise keep it not ready forever (only a write clears it).
    // After that the next write finds out again.
    if (this.writeFault && performance.now() - this.writeFaultAt < FAULT_RETRY_AFTER_SECONDS * 1000) return this.writeFault
    return undefined
  }

  /**
   * Writes the appends queued for a group commit (waiting, if another process holds the write
   * lock, up to the store's write-lock bound), ends pending subscriptions and closes the database.
   * Idempotent. Later calls on the store throw StoreUnavailableError.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // Appends already queued for a group commit are written (or fail) before the database closes.
      while (this.committer !== undefined || this.pending.length > 0) {
        this.scheduleCommit()
        await this.committer
      }
      if (this.fileTimer) clearInterval(this.fileTimer)
      // A backup of a replaced file still running needs the connection.
      await this.recovery
      this.closed = true
      this.wakeWaiters()
      this.db.close()
    })()
    return this.closing
  }

  /**
   * Queues one append (the prepared appends of one `append`/`appendMany` call) for the next group
   * commit and resolves with its results once that commit is on disk.
   *
   * Group commit: the appends queued during one turn of the event loop (at most
   * {@link MAX_GROUP_APPENDS}) are written in ONE write transaction, each inside its own savepoint,
   * so one fsync (synchronous=FULL) serves them all. An append that fails on its own (its
   * expectation, an event id already in the log, metadata that is not JSON) rolls back to its
   * savepoint and fails alone; the others are committed. Any other SQLite error (the disk full or
   * failing) rolls the whole group back and fails every append of it: nothing of the group is
   * written. A group that finds the write lock held is tried again (see commitWithRetry); groups
   * are written one after the other, in the order their appends were queued.
   */
  private runWrite(appends: PreparedAppend[]): Promise<StreamWriteResult[]> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('the event store is closed'))
    if (this.stickyFault) return Promise.reject(this.faultError(this.stickyFault))
    return new Promise((resolve, reject) => {
      this.pending.push({ appends, resolve, reject })
      this.scheduleCommit()
    })
  }

  /** Starts the commit loop on the next turn of the event loop unless it runs already. */
  private scheduleCommit(): void {
    if (this.committer !== undefined) return
    this.committer = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.commitLoop())
  }

  /** Writes the queued appends group after group until none is left. */
  private async commitLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) await this.commitWithRetry(this.pending.splice(0, MAX_GROUP_APPENDS))
    } finally {
      // Synchronous with the loop's last check of `pending`: an append queued later schedules anew.
      this.committer = undefined
    }
  }

  /**
   * Writes one group; while another connection holds the write lock (SQLITE_BUSY after
   * WRITE_BUSY_TIMEOUT_MS), tries again from a timer, WRITE_RETRY_FIRST_DELAY_MS doubling up to
   * WRITE_RETRY_MAX_DELAY_MS, until `writeLockWaitMs` have passed; then fails the group with
   * reason `store-busy`. Settles every append of the group.
   */
  private async commitWithRetry(group: PendingAppend[]): Promise<void> {
    const started = Date.now()
    let delay = WRITE_RETRY_FIRST_DELAY_MS
    while (this.commitOnce(group) === 'busy') {
      const waited = Date.now() - started
      if (waited >= this.writeLockWaitMs) {
        const error = new StoreUnavailableError(
          `another process has held the write lock of ${this.path} for more than ${this.writeLockWaitMs} ms`,
          1,
          { reason: 'store-busy' },
        )
        for (const { reject } of group) reject(error)
        return
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, this.writeLockWaitMs - waited)))
      delay = Math.min(delay * 2, WRITE_RETRY_MAX_DELAY_MS)
    }
  }

  /**
   * One try at writing a group: the files checked before (nothing is written into a file no longer
   * at the path) and after the commit (nothing is acknowledged from one), then the appends settled.
   * @returns `busy` when the write lock was held (nothing written, nothing settled), else `done`.
   */
  private commitOnce(group: PendingAppend[]): 'busy' | 'done' {
    const rejectAll = (error: unknown): 'done' => {
      for (const { reject } of group) reject(error)
      return 'done'
    }
    if (this.stickyFault) return rejectAll(this.faultError(this.stickyFault))
    const before = this.checkFiles()
    if (before) return rejectAll(this.faultError(before))
    const outcomes: ({ ok: StreamWriteResult[] } | { error: unknown })[] = []
    try {
      this.groupTransaction.immediate(
        group.map((g) => g.appends),
        outcomes,
      )
    } catch (error) {
      if (error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY')) return 'busy'
      return rejectAll(this.writeError(error))
    }
    this.writeFault = undefined
    const after = this.checkFiles()
    if (after) return rejectAll(this.faultError(after))
    let written = false
    group.forEach(({ resolve, reject }, i) => {
      const outcome = outcomes[i]!
      if ('error' in outcome) return reject(outcome.error)
      if (outcome.ok.some((r) => r.written > 0)) written = true
      resolve(outcome.ok)
    })
    if (written) this.wakeWaiters()
    return 'done'
  }

  /** A failed group's error: SQLITE_FULL and SQLITE_READONLY set the write fault they name; a
   * database SQLite saw moved is the sticky `store-file-replaced`; the rest as translateErrors. */
  private writeError(error: unknown): unknown {
    if (!(error instanceof Database.SqliteError)) return error
    if (error.code === 'SQLITE_READONLY_DBMOVED') {
      const fault = this.checkFiles() ?? this.enterFileFault({ file: 'database', change: 'replaced', path: this.path })
      return this.faultError(fault, error)
    }
    const reason = faultReasonOf(error)
    if (reason === 'disk-full') {
      this.writeFault = {
        reason,
        detail: `the disk (or the database's size limit) is full: nothing more can be written to ${this.path} (${error.code}); free space, then writes go on`,
      }
      this.writeFaultAt = performance.now()
      return this.faultError(this.writeFault, error)
    }
    if (reason === 'store-read-only') {
      this.writeFault = {
        reason,
        detail: `${this.path} cannot be written: the file or its directory is read-only (${error.code}); make it writable, then writes go on`,
      }
      this.writeFaultAt = performance.now()
      return this.faultError(this.writeFault, error)
    }
    return translateError(error)
  }

  /** The StoreUnavailableError of a fault. */
  private faultError(fault: StoreFault, cause?: unknown): StoreUnavailableError {
    return new StoreUnavailableError(fault.detail, FAULT_RETRY_AFTER_SECONDS, { reason: fault.reason, ...(cause === undefined ? {} : { cause }) })
  }

  /**
   * Checks that the database file and its WAL are still the ones opened (file databases; no-op
   * once faulted or closed); on a change enters the sticky `store-file-replaced` fault.
   * @returns the fault, or undefined when the files are as opened.
   */
  private checkFiles(): StoreFault | undefined {
    if (this.stickyFault) return this.stickyFault
    if (!this.files || this.closed) return undefined
    const change = this.files.check()
    return change ? this.enterFileFault(change) : undefined
  }

  /**
   * Enters the sticky `store-file-replaced` fault for `change` and starts saving what the connection
   * committed (see recover); writes are refused from now on.
   */
  private enterFileFault(change: FileChange): StoreFault {
    if (this.stickyFault) return this.stickyFault
    const what = change.file === 'database' ? `the database file ${change.path}` : `the write-ahead log ${change.path}`
    this.stickyFault = {
      reason: 'store-file-replaced',
      detail: `${what} was ${change.change === 'missing' ? 'deleted' : 'replaced'} while the service had it open; writes are refused until the service is restarted (read its error log line first: where the data was saved, and which file to keep)`,
    }
    if (this.fileTimer) clearInterval(this.fileTimer)
    this.recovery = this.recover(change).catch((err: unknown) =>
      this.logger?.error(
        { err, path: this.path, reason: 'store-file-replaced' },
        `${what} was ${change.change === 'missing' ? 'deleted' : 'replaced'} while the service had it open, and saving what it had written failed; writes are refused; stop the service (SIGTERM, not kill) so SQLite can write the rest, then check the file before starting again`,
      ),
    )
    return this.stickyFault
  }

  /**
   * Saves every committed write after `change`, then logs one error line saying what happened and
   * what to do:
   * - database file missing: the connection's database (every committed page, the read models in
   *   the same file too) is backed up to a new file linked in at the path (never over a file that
   *   appeared there meanwhile); the old `-wal`/`-shm`, ours, are unlinked so they are not replayed
   *   into it;
   * - another file at the path: it is left alone; ours is backed up to `<path>.orphaned-<time>` and
   *   our `-wal`/`-shm` unlinked (they would be replayed into the file now at the path);
   * - the WAL deleted or replaced: a TRUNCATE checkpoint copies every committed page into the
   *   database file (or, if it cannot finish, a backup to `<path>.orphaned-<time>`).
   */
  private async recover(change: FileChange): Promise<void> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-')
    const orphaned = `${this.path}.orphaned-${stamp}`
    const restart = 'restart the service now (writes answer 503 store-file-replaced until then)'
    const fields = { path: this.path, reason: 'store-file-replaced', change: `${change.file} ${change.change}` }
    if (change.file === 'wal') {
      if (await this.checkpointAll()) {
        this.logger?.error(
          fields,
          `the write-ahead log ${change.path} was ${change.change === 'missing' ? 'deleted' : 'replaced'} while the service had ${this.path} open; every acknowledged write was copied into ${this.path}; ${restart}`,
        )
        return
      }
      await this.backupTo(orphaned)
      this.logger?.error(
        { ...fields, savedTo: orphaned },
        `the write-ahead log ${change.path} was ${change.change === 'missing' ? 'deleted' : 'replaced'} while the service had ${this.path} open, and another process kept it from being copied into the file; every acknowledged write was saved to ${orphaned}; stop the service, then move ${orphaned} to ${this.path} (removing ${this.path}-wal and ${this.path}-shm) and start it again`,
      )
      return
    }
    if (change.change === 'missing') {
      const restoring = `${this.path}.restoring-${stamp}`
      await this.backupTo(restoring)
      const removed = this.files!.unlinkOwnSideFiles()
      let placed: boolean
      try {
        // A link, not a rename: it fails rather than replace a file that appeared there meanwhile.
        fs.linkSync(restoring, this.path)
        fs.unlinkSync(restoring)
        placed = true
      } catch (error) {
        // A file system without hard links: a rename, still only when nothing is there.
        placed = (error as NodeJS.ErrnoException).code !== 'EEXIST' && !fs.existsSync(this.path)
        if (placed) fs.renameSync(restoring, this.path)
      }
      if (!placed) {
        // Someone put a file there meanwhile: it stays; ours is kept beside it.
        fs.renameSync(restoring, orphaned)
        syncDirectory(this.path)
        this.logger?.error(
          { ...fields, savedTo: orphaned },
          `the database file ${this.path} was deleted while the service had it open, and another file has appeared there since; that file was left alone; every acknowledged write was saved to ${orphaned}; stop the service, then either start it on the file now at ${this.path}, or move ${orphaned} to ${this.path} (removing ${this.path}-wal and ${this.path}-shm) to go on from the service's data`,
        )
        return
      }
      syncDirectory(this.path)
      this.logger?.error(
        { ...fields, restoredTo: this.path, removed },
        `the database file ${this.path} was deleted while the service had it open; every acknowledged write was restored to ${this.path} from the open connection; ${restart}`,
      )
      return
    }
    await this.backupTo(orphaned)
    const removed = this.files!.unlinkOwnSideFiles()
    this.logger?.error(
      { ...fields, savedTo: orphaned, removed },
      `the database file ${this.path} was replaced by another file while the service had it open; the file now at ${this.path} was left alone; every acknowledged write was saved to ${orphaned}; ` +
        `DECIDE BEFORE RESTARTING which file is the ledger: the service's data (the usual case: every write it acknowledged is in ${orphaned}, and clients retrying after a restart on the other file would record them again as new) — stop it, move ${orphaned} to ${this.path} (removing ${this.path}-wal and ${this.path}-shm), then start it; ` +
        `or the file now at ${this.path} (e.g. a restored backup on purpose) — then restart as it is, and keep ${orphaned} for the audit`,
    )
  }

  /** Copies every page of the connection's database (what it has committed, WAL included) to a
   * new file `target`, in one step, then fsyncs it. */
  private async backupTo(target: string): Promise<void> {
    // The whole data directory may have been removed.
    fs.mkdirSync(path.dirname(target), { recursive: true })
    await this.db.backup(target, { progress: () => BACKUP_ALL_PAGES })
    const fd = fs.openSync(target, 'r')
    try {
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    syncDirectory(target)
  }

  /**
   * `PRAGMA wal_checkpoint(TRUNCATE)`: every committed frame of the (orphaned) WAL copied into the
   * database file. Readers of other processes can keep it from finishing: it is tried again from a
   * timer for up to `writeLockWaitMs`.
   * @returns whether every frame was copied.
   */
  private async checkpointAll(): Promise<boolean> {
    const started = Date.now()
    for (let delay = WRITE_RETRY_FIRST_DELAY_MS; ; delay = Math.min(delay * 2, WRITE_RETRY_MAX_DELAY_MS)) {
      try {
        const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[]
        if (result && result.busy === 0 && result.checkpointed === result.log) return true
      } catch (error) {
        if (!(error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY'))) throw error
      }
      if (Date.now() - started >= this.writeLockWaitMs) return false
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
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
    // Taken inside the transaction (a timestamp taken before BEGIN IMMEDIATE could wait out another
    // writer's lock), and never before the log's last one: a clock stepped back (NTP, a VM moved)
    // must not make recordedAt go back in position order (audit verify checks it). ISO 8601 UTC
    // strings of toISOString compare as their instants do.
    const clock = new Date().toISOString()
    const last = this.lastRecordedAtStmt.get()?.recorded_at
    const recordedAt = last !== undefined && last > clock ? last : clock
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

/**
 * Warns at open of copies a store saved beside this file after it was replaced under a running
 * service (`<path>.orphaned-<time>`): they may hold acknowledged writes this file lacks, and going on
 * without looking would let clients record them again as new.
 */
function warnOfSavedCopies(file: string, logger: SqliteEventStoreOptions['logger']): void {
  const prefix = `${path.basename(file)}.orphaned-`
  let saved: string[]
  try {
    saved = fs.readdirSync(path.dirname(path.resolve(file))).filter((name) => name.startsWith(prefix))
  } catch {
    return
  }
  if (saved.length > 0)
    logger?.warn(
      { path: file, savedCopies: saved },
      `${saved.length} cop${saved.length === 1 ? 'y' : 'ies'} saved after ${file} was replaced under a running service lie beside it (${saved.join(', ')}): they may hold acknowledged writes this file lacks; compare them (ledger audit verify, balances) and keep the right one at ${file}, then move the others away`,
    )
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

/** Runs `fn`, turning transient SQLite errors (busy, locked, I/O, disk full, read-only) into
 * StoreUnavailableError (see translateError); other errors pass unchanged. */
function translateErrors<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    throw translateError(error)
  }
}

/** A transient SQLite error (busy, locked, I/O, disk full, read-only) as StoreUnavailableError,
 * with the reason it names (disk-full, store-read-only); any other error unchanged. */
function translateError(error: unknown): unknown {
  if (!(error instanceof Database.SqliteError)) return error
  const reason = faultReasonOf(error)
  if (reason !== undefined || transientSqliteCodes.some((c) => error.code.startsWith(c))) {
    return new StoreUnavailableError(`event store unavailable: ${error.message}`, reason ? FAULT_RETRY_AFTER_SECONDS : 1, {
      cause: error,
      ...(reason ? { reason } : {}),
    })
  }
  return error
}

/** The fault a SQLite error names, if any: SQLITE_FULL is `disk-full`, SQLITE_READONLY (any
 * extended code) `store-read-only`. */
function faultReasonOf(error: InstanceType<typeof Database.SqliteError>): StoreFaultReason | undefined {
  if (error.code.startsWith('SQLITE_FULL')) return 'disk-full'
  if (error.code.startsWith('SQLITE_READONLY')) return 'store-read-only'
  return undefined
}

/**
 * Tries a write on a freshly opened file database: SQLite opens a read-only file (or one in a
 * read-only directory beside a leftover `-wal`) without complaint and fails every write later. A
 * write lock and a delete that matches nothing, rolled back: nothing is written.
 * @throws the SqliteError of the write (SQLITE_READONLY, SQLITE_CANTOPEN …). A lock another
 *   process holds (SQLITE_BUSY after the open busy timeout) tells nothing: the probe is skipped.
 */
function probeWrite(db: Database.Database): void {
  try {
    db.exec('BEGIN IMMEDIATE')
  } catch (error) {
    if (error instanceof Database.SqliteError && error.code.startsWith('SQLITE_BUSY')) return
    throw error
  }
  try {
    db.prepare('DELETE FROM events WHERE position = -1').run()
  } finally {
    if (db.inTransaction) db.exec('ROLLBACK')
  }
}

/** Error codes at open that mean the file or its directory cannot be opened or written: a start
 * refused (the operator must act), not a passing unavailability. */
const refusedOpenCodes = ['SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_PERM', 'SQLITE_AUTH', 'EACCES', 'EROFS', 'EPERM', 'ENOTDIR', 'EISDIR']

/**
 * Runs `fn` (opening the database at `file`), turning an error that says the file or its
 * directory cannot be opened or written into StartRefusedError naming the path and the cause
 * (see describeUnwritable); other errors as translateErrors.
 */
function openRefusing<T>(file: string, fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (typeof code === 'string' && refusedOpenCodes.some((c) => code.startsWith(c))) {
      const why = describeUnwritable(file)
      const cure = why.endsWith('is a directory')
        ? 'point LEDGER_SQLITE_PATH at a file (e.g. <that directory>/ledger.sqlite)'
        : 'make it writable by this user, or point LEDGER_SQLITE_PATH at a writable directory'
      throw new StartRefusedError(
        `cannot open the event store ${file}: ${why} (${code}: ${(error as Error).message}); ${cure}`,
        { cause: error },
      )
    }
    throw translateError(error)
  }
}

/** Why `file` cannot be opened for writing, as far as the file system tells: a directory at the
 * path, a read-only file system, a directory or file this user may not write. */
function describeUnwritable(file: string): string {
  if (file === ':memory:') return 'the in-memory database cannot be opened'
  const resolved = path.resolve(file)
  const dir = path.dirname(resolved)
  const st = fs.statSync(resolved, { throwIfNoEntry: false })
  if (st?.isDirectory()) return `${resolved} is a directory`
  const denied = (target: string): string | undefined => {
    try {
      fs.accessSync(target, fs.constants.W_OK)
      return undefined
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return undefined
      return code === 'EROFS' ? `${target} is on a read-only file system (EROFS)` : `${target} is read-only to this user (${code ?? 'not writable'})`
    }
  }
  let existing = dir
  while (!fs.existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing)
  return denied(existing) ?? denied(resolved) ?? denied(`${resolved}-wal`) ?? denied(`${resolved}-shm`) ?? `${resolved} or its directory cannot be written`
}

/** fsync of the directory holding `file`, so a file created, linked or renamed in it survives a
 * power cut. */
function syncDirectory(file: string): void {
  const fd = fs.openSync(path.dirname(file), 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}
