import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'

/** How long a connection waits for another writer's lock before failing, milliseconds. */
export const BUSY_TIMEOUT_MS = 5_000

/** Documents changed by one batch: projection name → key → document. */
export type DocumentChanges = Map<string, Map<string, unknown>>

/**
 * Read models and checkpoints in SQLite: one table of JSON documents keyed by (projection, key),
 * and one row per checkpoint. The projector writes a batch of documents and its checkpoint in ONE
 * transaction, so after any crash the documents and the checkpoint agree.
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

  /** Opens (and creates when missing) the database at `file`; creates its parent directory. */
  constructor(file: string) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
    this.db = new Database(file)
    if (file !== ':memory:') this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL')
    this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS read_models (
        projection TEXT NOT NULL,
        key TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (projection, key)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS read_model_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS checkpoints (
        name TEXT PRIMARY KEY,
        position TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );`)
    this.getDocStmt = this.db.prepare('SELECT doc FROM read_models WHERE projection = ? AND key = ?')
    this.putDocStmt = this.db.prepare(
      'INSERT INTO read_models (projection, key, doc) VALUES (?, ?, ?) ON CONFLICT (projection, key) DO UPDATE SET doc = excluded.doc',
    )
    this.getCheckpointStmt = this.db.prepare('SELECT position FROM checkpoints WHERE name = ?')
    this.putCheckpointStmt = this.db.prepare(
      'INSERT INTO checkpoints (name, position, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at',
    )
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
   */
  commitBatch(name: string, changes: DocumentChanges, position: bigint, beforeCheckpoint?: () => void): void {
    this.db.transaction(() => {
      for (const [projection, docs] of changes) {
        for (const [key, doc] of docs) this.putDocStmt.run(projection, key, JSON.stringify(doc))
      }
      beforeCheckpoint?.()
      this.putCheckpointStmt.run(name, position.toString(), new Date().toISOString())
    }).immediate()
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}

/** Read models that do not belong to the event store they are opened with. */
export class ReadModelMismatchError extends Error {
  override readonly name = 'ReadModelMismatchError'
}
