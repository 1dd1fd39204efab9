import fs from 'node:fs'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import Database from 'better-sqlite3'

/**
 * How long a connection waits for another writer's lock before failing, milliseconds (SQLite's busy
 * timeout). better-sqlite3 waits synchronously: while the projector's commit waits for a rebuild's
 * swap (or any other writer on the file), its event loop waits too. A wait longer than this fails
 * the batch with SQLITE_BUSY; the projector then retries from its checkpoint after its backoff.
 */
export const BUSY_TIMEOUT_MS = 5_000

/**
 * The service's busy timeout on its read-model connection once started, milliseconds: short, since
 * better-sqlite3 waits synchronously on the event loop. A commit that does not get the write lock
 * within it fails with SQLITE_BUSY and the projector retries it asynchronously (see
 * src/projector/projector.ts), so `/healthz` keeps answering while another process writes.
 */
export const SERVICE_BUSY_TIMEOUT_MS = 5

/** The live projector's checkpoint row; existing documents are folded up to it when the position
 * column is added (see migrateDocumentPositions). */
export const MAIN_CHECKPOINT = 'main'

/** Columns of the two document tables (live and shadow). */
const DOCUMENT_COLUMNS = 'id INTEGER PRIMARY KEY, projection TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, position TEXT, UNIQUE (projection, key)'

/** Meta row recording that every document has its `position` (see migrateDocumentPositions). */
const POSITIONS_KEY = 'document-positions'

/**
 * Adds the `position` column (the last log position folded into a document, a decimal string) to
 * the document tables of files written before it, and gives the existing documents the live
 * checkpoint {@link MAIN_CHECKPOINT}, which is what they are folded up to; in one transaction,
 * checked again under the write lock (another process may have migrated meanwhile).
 */
function migrateDocumentPositions(db: Database.Database): void {
  const lacks = (table: string): boolean => !(db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === 'position')
  const done = (): boolean => db.prepare('SELECT 1 FROM read_model_meta WHERE key = ?').get(POSITIONS_KEY) !== undefined
  if (!lacks('read_models') && !lacks('read_models_shadow') && done()) return
  db.transaction(() => {
    for (const table of ['read_models', 'read_models_shadow']) if (lacks(table)) db.exec(`ALTER TABLE ${table} ADD COLUMN position TEXT`)
    if (done()) return
    db.prepare('UPDATE read_models SET position = (SELECT position FROM checkpoints WHERE name = ?) WHERE position IS NULL').run(MAIN_CHECKPOINT)
    db.prepare('INSERT INTO read_model_meta (key, value) VALUES (?, ?)').run(POSITIONS_KEY, '1')
  }).immediate()
}

/**
 * Moves the documents of a document table still in its first form (WITHOUT ROWID, see the
 * constructor) into the current form, in one transaction per table: same rows, same names.
 */
function migrateDocumentTables(db: Database.Database): void {
  const firstForm = (table: string): boolean => {
    const row = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) as { sql: string } | undefined
    return row !== undefined && /WITHOUT\s+ROWID/i.test(row.sql)
  }
  for (const table of ['read_models', 'read_models_shadow']) {
    if (!firstForm(table)) continue
    db.transaction(() => {
      // Checked again under the write lock: another process may have migrated it meanwhile.
      if (!firstForm(table)) return
      db.exec(`CREATE TABLE ${table}_migrated (${DOCUMENT_COLUMNS});
        INSERT INTO ${table}_migrated (projection, key, doc) SELECT projection, key, doc FROM ${table} ORDER BY projection, key;
        DROP TABLE ${table};
        ALTER TABLE ${table}_migrated RENAME TO ${table};`)
    }).immediate()
  }
}

/** Documents changed by one batch: projection name → key → document. */
export type DocumentChanges = Map<string, Map<string, unknown>>

/** A stored document and the position of the last event folded into it (`null`: unknown, a
 * document of a shadow or of a file migrated before any checkpoint). */
export interface StoredDocument {
  doc: unknown
  position: bigint | null
}

/** Why a document is not served: `damaged` (it cannot be read or parsed) or `differs` (the
 * self-check found it different from the fold of the log). */
export type MarkKind = 'damaged' | 'differs'

/** A document marked not to be served until a rebuild of its projection rewrites it. */
export interface DocumentMark {
  projection: string
  key: string
  kind: MarkKind
  /** What was found, for the log and the 503 problem. */
  reason: string
  /** The position at which it was found (a checkpoint), `null` when unknown. */
  position: bigint | null
}

/** Options of {@link ReadModelStore.commitBatch}. */
export interface CommitOptions {
  /**
   * Compare-and-set: the checkpoint this folder last committed or read (`null`: none). The commit
   * writes nothing and throws CheckpointMovedError when the stored checkpoint is another. Absent: no
   * check (a private file, e.g. the auditor's replay).
   */
  expected?: bigint | null
  /** The projector lease's owner id: the commit writes nothing and throws LeaseLostError when the
   * lease (see src/projector/lease.ts) is not held by it. Absent: no check. */
  leaseOwner?: string
  /** Documents found damaged while folding the batch: marked in the same transaction. */
  damaged?: readonly { projection: string; key: string; reason: string }[]
  /** Fault injection of the crash tests: runs after the documents are written and before the
   * checkpoint is. Never set in production. */
  beforeCheckpoint?: () => void
}

/** Options of {@link ReadModelStore}. */
export interface ReadModelStoreOptions {
  /** Busy timeout of this connection, milliseconds (a non-negative integer). Default {@link BUSY_TIMEOUT_MS}. */
  busyTimeoutMs?: number
}

/** Most shadow rows deleted in one transaction when a shadow is cleared. */
export const SHADOW_CHUNK = 1_000

/** What {@link ReadModelStore.swapShadow} did. */
export type ShadowSwap =
  | {
      swapped: true
      /** The live checkpoint the swapped documents are folded up to (unchanged by the swap). */
      checkpoint: bigint | null
      /** Live documents written or deleted by the swap. */
      replaced: number
    }
  | {
      swapped: false
      /** The live checkpoint read inside the (rolled back) transaction. */
      checkpoint: bigint | null
    }

/** Meta row counting the swaps made on this file (see {@link ReadModelsSwappedError}). */
const GENERATION_KEY = 'swap-generation'
/** Meta row naming the rebuild that owns a projection's shadow: `rebuild:{projection}` → claim. */
const claimKey = (projection: string): string => `rebuild:${projection}`

/**
 * Read models and checkpoints in SQLite: one table of JSON documents keyed by (projection, key),
 * each with the position of the last event folded into it, and one row per checkpoint. The
 * projector writes a batch of documents and its checkpoint in ONE transaction, so after any crash
 * the documents and the checkpoint agree; that transaction also checks the projector lease
 * (`projector_lease`, see lease.ts) and compares-and-sets the checkpoint.
 *
 * Documents found damaged (by the projector) or different from the log (by the self-check,
 * self-check.ts) are marked in `read_model_marks`: they are not served ({@link readDocument}) until
 * a rebuild's swap rewrites them and clears the marks of the projection.
 *
 * A projection rebuild (src/projector/rebuild.ts) folds into `read_models_shadow`, marks the keys
 * whose documents differ from the live ones in `read_models_shadow_keys`, and swaps them in
 * ({@link ReadModelStore.swapShadow}); `read_model_meta` holds its claim and the swap count.
 *
 * Its own connection (WAL, synchronous=FULL), on the event store's file for the embedded store or on
 * a local file beside a remote store. `':memory:'` for tests.
 */
export class ReadModelStore {
  readonly db: Database.Database
  private readonly getDocStmt: Database.Statement<[string, string], { doc: string; position: string | null }>
  private readonly putDocStmt: Database.Statement<[string, string, string, string | null]>
  private readonly getMarkStmt: Database.Statement<[string, string], MarkRow>
  private readonly putMarkStmt: Database.Statement<[{ projection: string; key: string; kind: MarkKind; reason: string; position: string | null; at: string }]>
  private readonly leaseOwnerStmt: Database.Statement<[], { owner: string; pid: number; hostname: string; heartbeat: string }>
  private readonly getCheckpointStmt: Database.Statement<[string], { position: string }>
  private readonly putCheckpointStmt: Database.Statement<[string, string, string]>
  private readonly getMetaStmt: Database.Statement<[string], { value: string }>
  private readonly putMetaStmt: Database.Statement<[string, string]>
  private readonly deleteMetaStmt: Database.Statement<[string]>
  private readonly getShadowStmt: Database.Statement<[string, string], { doc: string }>
  private readonly putShadowStmt: Database.Statement<[string, string, string]>
  private readonly markKeyStmt: Database.Statement<[string, string]>
  /** The swap generation seen by the first getDocument since the last commitBatch (see there). */
  private observedGeneration: string | undefined

  /** Opens (and creates when missing) the database at `file`; creates its parent directory. */
  constructor(file: string, options: ReadModelStoreOptions = {}) {
    const busyTimeoutMs = options.busyTimeoutMs ?? BUSY_TIMEOUT_MS
    if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) throw new RangeError(`busyTimeoutMs must be a non-negative integer, got ${busyTimeoutMs}`)
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
    this.db = new Database(file, { timeout: busyTimeoutMs })
    if (file !== ':memory:') this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL')
    this.db.pragma(`busy_timeout = ${busyTimeoutMs}`)
    // Documents (1-25 KB of JSON, growing with a person's history) live in rowid tables with a
    // UNIQUE (projection, key) index: as WITHOUT ROWID tables (their first form) every lookup took
    // 20 µs and every upsert 48 µs instead of 6 and 15, since such a table keeps whole rows in its
    // b-tree (SQLite advises it only for rows under ~1/20 of a page). Files of the first form are
    // migrated on open (migrateDocumentTables).
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS read_models (${DOCUMENT_COLUMNS});
      CREATE TABLE IF NOT EXISTS read_model_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS checkpoints (
        name TEXT PRIMARY KEY,
        position TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS read_models_shadow (${DOCUMENT_COLUMNS});
      CREATE TABLE IF NOT EXISTS read_models_shadow_keys (
        projection TEXT NOT NULL,
        key TEXT NOT NULL,
        PRIMARY KEY (projection, key)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS read_model_marks (
        projection TEXT NOT NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        position TEXT,
        marked_at TEXT NOT NULL,
        PRIMARY KEY (projection, key)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS projector_lease (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        owner TEXT NOT NULL,
        pid INTEGER NOT NULL,
        hostname TEXT NOT NULL,
        since TEXT NOT NULL,
        heartbeat TEXT NOT NULL
      );`)
    migrateDocumentTables(this.db)
    migrateDocumentPositions(this.db)
    this.getDocStmt = this.db.prepare('SELECT doc, position FROM read_models WHERE projection = ? AND key = ?')
    this.putDocStmt = this.db.prepare(
      'INSERT INTO read_models (projection, key, doc, position) VALUES (?, ?, ?, ?) ON CONFLICT (projection, key) DO UPDATE SET doc = excluded.doc, position = excluded.position',
    )
    this.getMarkStmt = this.db.prepare('SELECT projection, key, kind, reason, position FROM read_model_marks WHERE projection = ? AND key = ?')
    this.putMarkStmt = this.db.prepare(
      `INSERT INTO read_model_marks (projection, key, kind, reason, position, marked_at) VALUES (@projection, @key, @kind, @reason, @position, @at)
       ON CONFLICT (projection, key) DO UPDATE SET kind = excluded.kind, reason = excluded.reason, position = excluded.position, marked_at = excluded.marked_at
        WHERE read_model_marks.kind <> 'damaged'`,
    )
    this.leaseOwnerStmt = this.db.prepare('SELECT owner, pid, hostname, heartbeat FROM projector_lease WHERE id = 1')
    this.getCheckpointStmt = this.db.prepare('SELECT position FROM checkpoints WHERE name = ?')
    this.putCheckpointStmt = this.db.prepare(
      'INSERT INTO checkpoints (name, position, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at',
    )
    this.getMetaStmt = this.db.prepare('SELECT value FROM read_model_meta WHERE key = ?')
    this.putMetaStmt = this.db.prepare('INSERT INTO read_model_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
    this.deleteMetaStmt = this.db.prepare('DELETE FROM read_model_meta WHERE key = ?')
    this.getShadowStmt = this.db.prepare('SELECT doc FROM read_models_shadow WHERE projection = ? AND key = ?')
    this.putShadowStmt = this.db.prepare(
      'INSERT INTO read_models_shadow (projection, key, doc) VALUES (?, ?, ?) ON CONFLICT (projection, key) DO UPDATE SET doc = excluded.doc',
    )
    this.markKeyStmt = this.db.prepare('INSERT OR IGNORE INTO read_models_shadow_keys (projection, key) VALUES (?, ?)')
  }

  /**
   * Binds these read models to one event store (`identity`, e.g. `sqlite` or `kurrentdb`): the
   * first call records it; a later call with another identity throws, since the checkpoint and the
   * documents were folded from another log and would be double-counted or skip events.
   * @throws ReadModelMismatchError naming both identities.
   */
  bindToStore(identity: string): void {
    const row = this.db.prepare('SELECT value FROM read_model_meta WHERE key = ?').get('store') as { value: string } | undefined
    if (!row) {
      this.db.prepare('INSERT INTO read_model_meta (key, value) VALUES (?, ?)').run('store', identity)
      return
    }
    if (row.value !== identity) {
      throw new ReadModelMismatchError(`the read models in this file were built from the ${row.value} event store, not ${identity}`)
    }
  }

  /** The log these read models were folded from, as recorded by {@link recordLog}: its first event's
   * id and position; `undefined` when none is recorded (a new file, or one of an earlier version). */
  boundLog(): { id: string; position: bigint } | undefined {
    const value = this.getMetaStmt.get(LOG_KEY)?.value
    if (value === undefined) return undefined
    const parsed = JSON.parse(value) as { id: string; position: string }
    return { id: parsed.id, position: BigInt(parsed.position) }
  }

  /** Records the log these read models are folded from (see log-binding.ts). */
  recordLog(first: { id: string; position: bigint }): void {
    this.putMetaStmt.run(LOG_KEY, JSON.stringify({ id: first.id, position: first.position.toString() }))
  }

  /** The stored document, parsed, or `undefined`.
   * @throws SyntaxError when the stored text is not JSON (see {@link loadDocument} for a typed error). */
  getDocument<Doc>(projection: string, key: string): Doc | undefined {
    this.observedGeneration ??= this.generation()
    const row = this.getDocStmt.get(projection, key)
    return row ? (JSON.parse(row.doc) as Doc) : undefined
  }

  /**
   * The stored document, parsed, with the position of the last event folded into it; `undefined`
   * when there is none. What the projector folds from (see foldBatch).
   * @throws DocumentDamagedError when the row cannot be read (SQLITE_CORRUPT…) or its text is not JSON.
   */
  loadDocument(projection: string, key: string): StoredDocument | undefined {
    this.observedGeneration ??= this.generation()
    return this.storedDocument(projection, key)
  }

  /** Whether the file has a row for the document (not parsed); like {@link loadDocument}, it starts
   * a fold's observation of the swap generation (what it saw is checked at the commit). */
  hasDocument(projection: string, key: string): boolean {
    this.observedGeneration ??= this.generation()
    return this.db.prepare('SELECT 1 FROM read_models WHERE projection = ? AND key = ?').get(projection, key) !== undefined
  }

  /** {@link loadDocument} without starting a fold's observation of the swap generation. */
  private storedDocument(projection: string, key: string): StoredDocument | undefined {
    let row: { doc: string; position: string | null } | undefined
    try {
      row = this.getDocStmt.get(projection, key)
    } catch (err) {
      if (isCorrupt(err)) throw new DocumentDamagedError(projection, key, `the row cannot be read (${(err as { code: string }).code})`)
      throw err
    }
    if (!row) return undefined
    return { doc: parseDocument(projection, key, row.doc), position: row.position === null ? null : BigInt(row.position) }
  }

  /**
   * The document to serve, parsed, or `undefined` when there is none.
   * @throws ReadModelDocumentUnavailableError when it is marked damaged or differing (until a
   *   rebuild of its projection), or cannot be read or parsed.
   */
  readDocument<Doc>(projection: string, key: string): Doc | undefined {
    const mark = this.markOf(projection, key)
    if (mark) throw new ReadModelDocumentUnavailableError(mark)
    try {
      return this.storedDocument(projection, key)?.doc as Doc | undefined
    } catch (err) {
      if (err instanceof DocumentDamagedError) throw new ReadModelDocumentUnavailableError({ projection, key, kind: 'damaged', reason: err.reason, position: null })
      throw err
    }
  }

  /** The mark of one document (damaged, differs), or `undefined`. */
  markOf(projection: string, key: string): DocumentMark | undefined {
    const row = this.getMarkStmt.get(projection, key)
    return row ? markOfRow(row) : undefined
  }

  /** The first mark of the file, damaged ones first (readiness), or `undefined` when none. */
  firstMark(): DocumentMark | undefined {
    const row = this.db.prepare('SELECT projection, key, kind, reason, position FROM read_model_marks ORDER BY kind, projection, key LIMIT 1').get() as MarkRow | undefined
    return row ? markOfRow(row) : undefined
  }

  /** Every mark of `projection` (a few: marks are faults), in key order. */
  marksOf(projection: string): DocumentMark[] {
    return (this.db.prepare('SELECT projection, key, kind, reason, position FROM read_model_marks WHERE projection = ? ORDER BY key').all(projection) as MarkRow[]).map(markOfRow)
  }

  /** Marks documents (one transaction); a damaged mark is never turned into a differing one. With
   * `generation` (see {@link swapGeneration}), writes nothing and answers `false` when the file's
   * swap generation is no longer that one; else `true`.
   * @throws SqliteError SQLITE_BUSY when the write lock is not had within the busy timeout. */
  markDocuments(marks: readonly DocumentMark[], options: { generation?: string } = {}): boolean {
    if (marks.length === 0) return true
    const at = new Date().toISOString()
    return this.db.transaction(() => {
      // Found in an older snapshot: a rebuild swapped documents in since, the marks may name cured ones.
      if (options.generation !== undefined && this.generation() !== options.generation) return false
      for (const m of marks) this.putMarkStmt.run({ projection: m.projection, key: m.key, kind: m.kind, reason: m.reason, position: m.position?.toString() ?? null, at })
      return true
    }).immediate()
  }

  /** The swap generation (the number of rebuild swaps made on this file, a decimal string): read
   * inside {@link snapshot}, it names the documents that snapshot saw. */
  swapGeneration(): string {
    return this.generation()
  }

  /**
   * Runs `read` in one read transaction: everything it reads (documents, checkpoint) is one
   * snapshot of the file, whatever other connections commit meanwhile. `read` must be synchronous.
   */
  snapshot<T>(read: () => T): T {
    return this.db.transaction(read).deferred()
  }

  /** Stored rows of one projection in key order (text as stored, not parsed), after `afterKey`, at
   * most `limit` (all without it). For checks that must see damaged documents too. */
  documentRows(projection: string, options: { afterKey?: string; limit?: number } = {}): { key: string; doc: string; position: bigint | null }[] {
    const rows = this.db
      .prepare(`SELECT key, doc, position FROM read_models WHERE projection = ? AND key > ? ORDER BY key${options.limit !== undefined ? ' LIMIT ?' : ''}`)
      .all(...[projection, options.afterKey ?? '', ...(options.limit !== undefined ? [options.limit] : [])]) as { key: string; doc: string; position: string | null }[]
    return rows.map((r) => ({ key: r.key, doc: r.doc, position: r.position === null ? null : BigInt(r.position) }))
  }

  /** Sets this connection's busy timeout, milliseconds (a non-negative integer). */
  setBusyTimeout(ms: number): void {
    if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`busy timeout must be a non-negative integer, got ${ms}`)
    this.db.pragma(`busy_timeout = ${ms}`)
  }

  /**
   * Documents of one projection in key order, after `afterKey`, at most `limit` of them that pass
   * `keep` (scanning stops there: bounded work for a page). With `refuseUnavailable` (what a
   * client is served), a document among them that is unparseable, not of the projection's shape
   * (`valid` answers false), or marked and kept by `keep` (a marked one the filter leaves out is
   * skipped) throws ReadModelDocumentUnavailableError.
   * @throws SyntaxError for a document that is not JSON (without `refuseUnavailable`).
   */
  listDocuments<Doc>(
    projection: string,
    options: { limit: number; afterKey?: string; keep?: (doc: Doc) => boolean; valid?: (doc: unknown) => boolean; refuseUnavailable?: boolean },
  ): { key: string; doc: Doc }[] {
    const out: { key: string; doc: Doc }[] = []
    const rows = this.db
      .prepare('SELECT key, doc FROM read_models WHERE projection = ? AND key > ? ORDER BY key')
      .iterate(projection, options.afterKey ?? '') as IterableIterator<{ key: string; doc: string }>
    for (const row of rows) {
      let doc: Doc
      const mark = options.refuseUnavailable === true ? this.markOf(projection, row.key) : undefined
      if (options.refuseUnavailable === true) {
        const damaged = (reason: string) => new ReadModelDocumentUnavailableError(mark ?? { projection, key: row.key, kind: 'damaged', reason, position: null })
        try {
          doc = parseDocument(projection, row.key, row.doc) as Doc
        } catch (err) {
          if (err instanceof DocumentDamagedError) throw damaged(err.reason)
          throw err
        }
        if (options.valid && !options.valid(doc)) throw damaged(`it is not a ${projection} document`)
      } else doc = JSON.parse(row.doc) as Doc
      // The filter first: a marked document the page would not show does not refuse the page.
      if (options.keep && !options.keep(doc)) continue
      if (mark) throw new ReadModelDocumentUnavailableError(mark)
      out.push({ key: row.key, doc })
      if (out.length >= options.limit) break
    }
    return out
  }

  /** Keys of one projection's documents in key order, after `afterKey`, at most `limit` (documents
   * not parsed). */
  listKeys(projection: string, options: { limit: number; afterKey?: string }): string[] {
    const rows = this.db
      .prepare('SELECT key FROM read_models WHERE projection = ? AND key > ? ORDER BY key LIMIT ?')
      .all(projection, options.afterKey ?? '', options.limit) as { key: string }[]
    return rows.map((r) => r.key)
  }

  /** The checkpoint's position (last event applied), or `null` when nothing was applied yet. */
  getCheckpoint(name: string): bigint | null {
    const row = this.getCheckpointStmt.get(name)
    return row ? BigInt(row.position) : null
  }

  /**
   * Writes changed documents (each with `position`, the last event folded into it) and moves the
   * checkpoint to `position`, in one transaction; marks the documents found damaged (see
   * {@link CommitOptions}).
   *
   * Waits up to the busy timeout for another writer's lock; SQLITE_BUSY after it (nothing written:
   * the same batch may be committed again).
   * @throws ReadModelsSwappedError, writing nothing, when a rebuild swapped documents in since the
   *   first {@link getDocument} after the previous commitBatch: the changes may have been folded from
   *   documents the swap replaced (the projector then refolds from its checkpoint).
   * @throws LeaseLostError, writing nothing, when `leaseOwner` does not hold the projector lease.
   * @throws CheckpointMovedError, writing nothing, when the checkpoint is not `expected`.
   */
  commitBatch(name: string, changes: DocumentChanges, position: bigint, options: CommitOptions = {}): void {
    const observed = this.observedGeneration
    try {
      this.db.transaction(() => {
        if (observed !== undefined && this.generation() !== observed) {
          throw new ReadModelsSwappedError('a projection rebuild swapped documents in while this batch was folded; fold it again from the checkpoint')
        }
        if (options.leaseOwner !== undefined) {
          const holder = this.leaseOwnerStmt.get()
          if (holder?.owner !== options.leaseOwner) {
            const by = holder === undefined ? 'nobody holds it' : `held by pid ${holder.pid} on ${holder.hostname}, last heartbeat ${holder.heartbeat}`
            throw new LeaseLostError(`this projector no longer holds the projector lease of the read-model file (${by}); nothing written`)
          }
        }
        if (options.expected !== undefined) {
          const stored = this.getCheckpoint(name)
          if (stored !== options.expected) {
            throw new CheckpointMovedError(
              `the checkpoint ${name} is ${stored ?? 'none'} in the file, not ${options.expected ?? 'none'} as this projector last committed or read; nothing written`,
              stored,
            )
          }
        }
        const at = position.toString()
        for (const [projection, docs] of changes) {
          for (const [key, doc] of docs) this.putDocStmt.run(projection, key, JSON.stringify(doc), at)
        }
        if (options.damaged && options.damaged.length > 0) {
          const now = new Date().toISOString()
          for (const d of options.damaged) this.putMarkStmt.run({ projection: d.projection, key: d.key, kind: 'damaged', reason: d.reason, position: at, at: now })
        }
        options.beforeCheckpoint?.()
        this.putCheckpointStmt.run(name, at, new Date().toISOString())
      }).immediate()
      this.observedGeneration = undefined
    } catch (err) {
      // A busy file wrote nothing and changed nothing: the same batch, retried, is checked against
      // the same generation. Any other failure makes the next fold start a fresh observation.
      if (!isBusy(err)) this.observedGeneration = undefined
      throw err
    }
  }

  /** The number of swaps made on this file, as stored (`'0'` before the first). */
  private generation(): string {
    return this.getMetaStmt.get(GENERATION_KEY)?.value ?? '0'
  }

  /**
   * Starts a rebuild of `projection`: records a new claim on its shadow and clears the shadow (left
   * over by a rebuild that stopped), in transactions of at most {@link SHADOW_CHUNK} rows. A rebuild
   * started later takes the claim over; the earlier one's next shadow write or swap then fails
   * ({@link ShadowClaimLostError}), so two rebuilds never mix documents.
   * @returns the claim, to pass to the other shadow methods.
   */
  beginShadow(projection: string): string {
    const claim = randomUUID()
    this.db.transaction(() => this.putMetaStmt.run(claimKey(projection), claim)).immediate()
    const deleteChunk = this.db.transaction(() => {
      this.checkClaim(claim, projection)
      return this.deleteShadowChunk(projection)
    })
    while (deleteChunk.immediate() > 0) {
      // one chunk a transaction, until the leftovers are gone
    }
    return claim
  }

  /** A shadow document of `projection`, parsed, or `undefined`. */
  getShadowDocument<Doc>(projection: string, key: string): Doc | undefined {
    const row = this.getShadowStmt.get(projection, key)
    return row ? (JSON.parse(row.doc) as Doc) : undefined
  }

  /**
   * Writes shadow documents of `projection` (key → document) in one transaction; with `mark`, also
   * marks their keys to be swapped (see {@link diffShadow}).
   * @throws ShadowClaimLostError, writing nothing, when `claim` is no longer the projection's claim.
   */
  commitShadow(claim: string, projection: string, docs: ReadonlyMap<string, unknown>, options: { mark?: boolean } = {}): void {
    this.db.transaction(() => {
      this.checkClaim(claim, projection)
      this.putShadowDocs(projection, docs, options.mark === true)
    }).immediate()
  }

  /**
   * Compares one chunk of shadow documents of `projection` with the live ones and marks the keys
   * that differ (a document only on one side included) to be swapped: the keys after `afterKey`
   * (`''`: from the first) up to and including the `limit`-th shadow key (or all the rest). The
   * comparison is one read (no lock); the marks one short write transaction.
   *
   * Why the swap may then skip unmarked keys: a key compared equal while the shadow was at position
   * S and the live documents at a checkpoint C′ ≥ S can only differ again through an event after S
   * that touches it, and every such event is folded into the shadow with `mark` before the swap.
   * @returns `nextKey`, to pass as `afterKey` for the next chunk (`null`: this was the last one), and
   *   the documents compared (shadow ones) and marked in this chunk.
   * @throws ShadowClaimLostError when `claim` is no longer the projection's claim.
   */
  diffShadow(claim: string, projection: string, afterKey: string, limit: number): { nextKey: string | null; compared: number; marked: number } {
    const hi = this.db
      .prepare('SELECT key FROM read_models_shadow WHERE projection = ? AND key > ? ORDER BY key LIMIT 1 OFFSET ?')
      .pluck()
      .get(projection, afterKey, limit - 1) as string | undefined
    // Two forms, so that both bounds of the range are used by the primary key (an `@hi IS NULL OR`
    // would make every chunk scan to the end).
    const inRange = (alias: string) => (hi === undefined ? `${alias}.key > @lo` : `${alias}.key > @lo AND ${alias}.key <= @hi`)
    const range = hi === undefined ? { projection, lo: afterKey } : { projection, lo: afterKey, hi }
    const compared = this.db.prepare(`SELECT COUNT(*) FROM read_models_shadow s WHERE s.projection = @projection AND ${inRange('s')}`).pluck().get(range) as number
    const differing = this.db
      .prepare(
        `SELECT s.key FROM read_models_shadow s LEFT JOIN read_models r ON r.projection = s.projection AND r.key = s.key
          WHERE s.projection = @projection AND ${inRange('s')} AND (r.doc IS NULL OR r.doc <> s.doc)
         UNION ALL
         SELECT r.key FROM read_models r
          WHERE r.projection = @projection AND ${inRange('r')}
            AND NOT EXISTS (SELECT 1 FROM read_models_shadow s WHERE s.projection = r.projection AND s.key = r.key)`,
      )
      .pluck()
      .all(range) as string[]
    this.db.transaction(() => {
      this.checkClaim(claim, projection)
      for (const key of differing) this.markKeyStmt.run(projection, key)
    }).immediate()
    return { nextKey: hi ?? null, compared, marked: differing.length }
  }

  /**
   * Swaps the shadow documents of `projection` in, in ONE `BEGIN IMMEDIATE` transaction (it waits up
   * to the busy timeout for the lock; other writers, e.g. the live projector's commit, wait for it;
   * readers do not):
   * 1. reads the checkpoint `checkpointName`;
   * 2. calls `complete(checkpoint)`, which returns the shadow documents still to write so that the
   *    shadow is the fold of the log up to that checkpoint (it may read {@link getShadowDocument}),
   *    or `undefined` to roll back without swapping (e.g. it lacks the events);
   * 3. writes them (marked), then makes the live documents of `projection` those of the shadow: with
   *    `all`, every one (DELETE + INSERT … SELECT, work in proportion to the projection's size);
   *    otherwise only the marked keys ({@link diffShadow}: work in proportion to the differences);
   * 4. releases the claim and counts the swap (see {@link ReadModelsSwappedError}); the checkpoint is
   *    left as it is. The shadow rows are left for {@link clearShadow} (in chunks, after this
   *    transaction: deleting them here would hold the lock in proportion to the projection's size).
   * @returns whether it swapped, the checkpoint, and the live documents written or deleted (with
   *   `all`: the larger of the documents deleted and written).
   * @throws ShadowClaimLostError, swapping nothing, when `claim` is no longer the projection's claim.
   * @throws SqliteError SQLITE_BUSY when the lock is not had within the busy timeout.
   */
  swapShadow(
    claim: string,
    projection: string,
    checkpointName: string,
    complete: (checkpoint: bigint | null) => ReadonlyMap<string, unknown> | undefined,
    options: { all?: boolean } = {},
  ): ShadowSwap {
    return this.db.transaction((): ShadowSwap => {
      this.checkClaim(claim, projection)
      const checkpoint = this.getCheckpoint(checkpointName)
      const docs = complete(checkpoint)
      if (docs === undefined) return { swapped: false, checkpoint }
      this.putShadowDocs(projection, docs, true)
      // Marked documents (damaged, differing) are rewritten whatever the comparison found: a mark
      // set after the comparison would otherwise outlive the swap's clearing of the marks.
      this.db
        .prepare('INSERT OR IGNORE INTO read_models_shadow_keys (projection, key) SELECT projection, key FROM read_model_marks WHERE projection = ?')
        .run(projection)
      // The swapped documents are the fold of the log up to the checkpoint.
      const at = checkpoint?.toString() ?? null
      let replaced: number
      if (options.all === true) {
        const deleted = this.db.prepare('DELETE FROM read_models WHERE projection = ?').run(projection).changes
        const copied = this.db
          .prepare('INSERT INTO read_models (projection, key, doc, position) SELECT projection, key, doc, @at FROM read_models_shadow WHERE projection = @projection')
          .run({ projection, at }).changes
        replaced = Math.max(deleted, copied) // every document rewritten, the strays deleted
      } else {
        const deleted = this.db
          .prepare(
            `DELETE FROM read_models WHERE projection = @projection
               AND key IN (SELECT key FROM read_models_shadow_keys WHERE projection = @projection)
               AND NOT EXISTS (SELECT 1 FROM read_models_shadow s WHERE s.projection = read_models.projection AND s.key = read_models.key)`,
          )
          .run({ projection }).changes
        const written = this.db
          .prepare(
            `INSERT INTO read_models (projection, key, doc, position)
               SELECT s.projection, s.key, s.doc, @at FROM read_models_shadow_keys k
                 CROSS JOIN read_models_shadow s ON s.projection = k.projection AND s.key = k.key
                WHERE k.projection = @projection
             ON CONFLICT (projection, key) DO UPDATE SET doc = excluded.doc, position = excluded.position`,
          )
          .run({ projection, at }).changes
        replaced = deleted + written
      }
      // Every document of the projection is now the fold of the log: its marks are cured.
      this.db.prepare('DELETE FROM read_model_marks WHERE projection = ?').run(projection)
      this.deleteMetaStmt.run(claimKey(projection))
      this.putMetaStmt.run(GENERATION_KEY, String(Number(this.generation()) + 1))
      return { swapped: true, checkpoint, replaced }
    }).immediate()
  }

  /** Deletes the shadow rows of `projection` when it has no claim (after a swap, or a failed
   * rebuild whose claim was released), {@link SHADOW_CHUNK} rows a transaction; stops when a rebuild
   * claims it meanwhile (that rebuild clears it). */
  clearShadow(projection: string): void {
    const deleteChunk = this.db.transaction(() => (this.getMetaStmt.get(claimKey(projection)) ? 0 : this.deleteShadowChunk(projection)))
    while (deleteChunk.immediate() > 0) {
      // one chunk a transaction, until the shadow is empty or claimed
    }
  }

  /** Deletes up to SHADOW_CHUNK shadow rows and marks of `projection`; the number deleted. */
  private deleteShadowChunk(projection: string): number {
    const docs = this.db
      .prepare(`DELETE FROM read_models_shadow WHERE projection = @projection AND key IN (SELECT key FROM read_models_shadow WHERE projection = @projection LIMIT ${SHADOW_CHUNK})`)
      .run({ projection }).changes
    const marks = this.db
      .prepare(`DELETE FROM read_models_shadow_keys WHERE projection = @projection AND key IN (SELECT key FROM read_models_shadow_keys WHERE projection = @projection LIMIT ${SHADOW_CHUNK})`)
      .run({ projection }).changes
    return docs + marks
  }

  /** Releases the claim of `projection` when `claim` still holds it and clears its shadow (after a
   * failed rebuild; a later rebuild clears it anyway). */
  abandonShadow(claim: string, projection: string): void {
    const released = this.db.transaction(() => {
      if (this.getMetaStmt.get(claimKey(projection))?.value !== claim) return false
      this.deleteMetaStmt.run(claimKey(projection))
      return true
    }).immediate()
    if (released) this.clearShadow(projection)
  }

  /** Number of live documents of `projection`. */
  countDocuments(projection: string): number {
    return this.db.prepare('SELECT COUNT(*) FROM read_models WHERE projection = ?').pluck().get(projection) as number
  }

  private checkClaim(claim: string, projection: string): void {
    if (this.getMetaStmt.get(claimKey(projection))?.value !== claim) {
      throw new ShadowClaimLostError(`another rebuild of ${projection} started after this one; this one stops`)
    }
  }

  private putShadowDocs(projection: string, docs: ReadonlyMap<string, unknown>, mark: boolean): void {
    for (const [key, doc] of docs) {
      this.putShadowStmt.run(projection, key, JSON.stringify(doc))
      if (mark) this.markKeyStmt.run(projection, key)
    }
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}

/**
 * A batch folded from documents a projection rebuild has since replaced: not committed. Thrown by
 * commitBatch once after a swap (also when the batch read the documents after the swap: the check
 * starts at the first read since the previous commit); the projector retries from its checkpoint.
 */
export class ReadModelsSwappedError extends Error {
  override readonly name = 'ReadModelsSwappedError'
}

/** A rebuild's shadow was claimed by a later rebuild of the same projection. */
export class ShadowClaimLostError extends Error {
  override readonly name = 'ShadowClaimLostError'
}

/** Read models that do not belong to the event store they are opened with. */
/** Meta key of the log the read models were folded from (its first event: `{ id, position }`). */
const LOG_KEY = 'log-first-event'

export class ReadModelMismatchError extends Error {
  override readonly name = 'ReadModelMismatchError'
}

/** A commit refused because the projector lease of the file is held by another (or nobody). */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError'
}

/** A commit refused because the checkpoint in the file is not the one the folder last committed or
 * read (moved back by hand, or another folder): the folder reloads it and folds again. */
export class CheckpointMovedError extends Error {
  override readonly name = 'CheckpointMovedError'
  constructor(
    message: string,
    /** The checkpoint found in the file. */
    readonly stored: bigint | null,
  ) {
    super(message)
  }
}

/** A document that cannot be read or parsed. */
export class DocumentDamagedError extends Error {
  override readonly name = 'DocumentDamagedError'
  constructor(
    readonly projection: string,
    readonly key: string,
    /** What is wrong with it. */
    readonly reason: string,
  ) {
    super(`the document ${projection}/${key} is damaged: ${reason}`)
  }
}

/** A document not served: marked damaged or differing, or unreadable. The HTTP reads answer 503. */
export class ReadModelDocumentUnavailableError extends Error {
  override readonly name = 'ReadModelDocumentUnavailableError'
  constructor(readonly mark: DocumentMark) {
    super(`the document ${mark.projection}/${mark.key} is ${mark.kind === 'damaged' ? 'damaged' : 'different from the fold of the log'}: ${mark.reason}`)
  }
}

interface MarkRow {
  projection: string
  key: string
  kind: string
  reason: string
  position: string | null
}

const markOfRow = (row: MarkRow): DocumentMark => ({
  projection: row.projection,
  key: row.key,
  kind: row.kind === 'damaged' ? 'damaged' : 'differs',
  reason: row.reason,
  position: row.position === null ? null : BigInt(row.position),
})

/** The document's JSON, parsed.
 * @throws DocumentDamagedError when it is not JSON. */
function parseDocument(projection: string, key: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new DocumentDamagedError(projection, key, `its text is not JSON (${(err as Error).message})`)
  }
}

/** Whether `err` is SQLite's SQLITE_BUSY (any extended code). */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY')
}

/** Whether `err` is SQLite's SQLITE_CORRUPT or SQLITE_NOTADB (a damaged page). */
function isCorrupt(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
}
