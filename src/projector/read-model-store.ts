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

/** Columns of the two document tables (live and shadow). */
const DOCUMENT_COLUMNS = 'id INTEGER PRIMARY KEY, projection TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, UNIQUE (projection, key)'

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
 * and one row per checkpoint. The projector writes a batch of documents and its checkpoint in ONE
 * transaction, so after any crash the documents and the checkpoint agree.
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
  private readonly getDocStmt: Database.Statement<[string, string], { doc: string }>
  private readonly putDocStmt: Database.Statement<[string, string, string]>
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
      ) WITHOUT ROWID;`)
    migrateDocumentTables(this.db)
    this.getDocStmt = this.db.prepare('SELECT doc FROM read_models WHERE projection = ? AND key = ?')
    this.putDocStmt = this.db.prepare(
      'INSERT INTO read_models (projection, key, doc) VALUES (?, ?, ?) ON CONFLICT (projection, key) DO UPDATE SET doc = excluded.doc',
    )
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

  /** The stored document, parsed, or `undefined`. */
  getDocument<Doc>(projection: string, key: string): Doc | undefined {
    this.observedGeneration ??= this.generation()
    const row = this.getDocStmt.get(projection, key)
    return row ? (JSON.parse(row.doc) as Doc) : undefined
  }

  /**
   * Documents of one projection in key order, after `afterKey`, at most `limit` of them that pass
   * `keep` (scanning stops there: bounded work for a page).
   */
  listDocuments<Doc>(projection: string, options: { limit: number; afterKey?: string; keep?: (doc: Doc) => boolean }): { key: string; doc: Doc }[] {
    const out: { key: string; doc: Doc }[] = []
    const rows = this.db
      .prepare('SELECT key, doc FROM read_models WHERE projection = ? AND key > ? ORDER BY key')
      .iterate(projection, options.afterKey ?? '') as IterableIterator<{ key: string; doc: string }>
    for (const row of rows) {
      const doc = JSON.parse(row.doc) as Doc
      if (options.keep && !options.keep(doc)) continue
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
   * Writes changed documents and moves the checkpoint to `position`, in one transaction.
   * `beforeCheckpoint` runs inside the transaction after the documents are written and before the
   * checkpoint is: the fault-injection point of the crash tests (never set in production).
   *
   * Waits up to the busy timeout for another writer's lock (a rebuild's swap); SQLITE_BUSY after it.
   * @throws ReadModelsSwappedError, writing nothing, when a rebuild swapped documents in since the
   *   first {@link getDocument} after the previous commitBatch: the changes may have been folded from
   *   documents the swap replaced (the projector then refolds from its checkpoint).
   */
  commitBatch(name: string, changes: DocumentChanges, position: bigint, beforeCheckpoint?: () => void): void {
    const observed = this.observedGeneration
    this.observedGeneration = undefined
    this.db.transaction(() => {
      if (observed !== undefined && this.generation() !== observed) {
        throw new ReadModelsSwappedError('a projection rebuild swapped documents in while this batch was folded; fold it again from the checkpoint')
      }
      for (const [projection, docs] of changes) {
        for (const [key, doc] of docs) this.putDocStmt.run(projection, key, JSON.stringify(doc))
      }
      beforeCheckpoint?.()
      this.putCheckpointStmt.run(name, position.toString(), new Date().toISOString())
    }).immediate()
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
      let replaced: number
      if (options.all === true) {
        const deleted = this.db.prepare('DELETE FROM read_models WHERE projection = ?').run(projection).changes
        const copied = this.db
          .prepare('INSERT INTO read_models (projection, key, doc) SELECT projection, key, doc FROM read_models_shadow WHERE projection = ?')
          .run(projection).changes
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
            `INSERT INTO read_models (projection, key, doc)
               SELECT s.projection, s.key, s.doc FROM read_models_shadow_keys k
                 CROSS JOIN read_models_shadow s ON s.projection = k.projection AND s.key = k.key
                WHERE k.projection = ?
             ON CONFLICT (projection, key) DO UPDATE SET doc = excluded.doc`,
          )
          .run(projection).changes
        replaced = deleted + written
      }
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
export class ReadModelMismatchError extends Error {
  override readonly name = 'ReadModelMismatchError'
}
