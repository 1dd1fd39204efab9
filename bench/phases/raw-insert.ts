/**
 * Phase `raw-insert`: the baseline for posting. The rows of the in-process log are inserted again,
 * as they are, into a fresh SQLite file with the store's schema and durability settings, by one
 * prepared INSERT in transactions of the size posting writes (a submission's lines + its marker).
 * This is the cost of the writes alone: no reads of person streams, no decisions, no hashing, no
 * JSON encoding.
 */
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { PhaseError, PROGRESS_INTERVAL_MS, now, perSecond, type BenchContext } from './phase.js'

/** Rows held in memory at a time (loaded untimed, then inserted timed); rounded up to whole transactions. */
export const RAW_INSERT_CHUNK_ROWS = 50_000
/** The store's settings (DESIGN.md, "Durability"): WAL, fsync at every commit. */
export const STORE_PRAGMAS = ['journal_mode = WAL', 'synchronous = FULL', 'busy_timeout = 5000', 'foreign_keys = ON'] as const

/** Figures of {@link rawInsert}. */
export interface RawInsertFigures {
  rows: number
  /** Rows per transaction (linesPerSubmission + 1). */
  transactionRows: number
  /** Time inside the insert transactions only. */
  seconds: number
  rowsPerSecond: number
}

/** A row of the `events` table as an array, in the order of its columns; INTEGER columns as bigint. */
type RawRow = unknown[]

/**
 * Copies the log's `events` rows, every column, into `<dir>/raw-insert.sqlite` (the same
 * `CREATE TABLE` and indexes, read from the log's `sqlite_master`; the pragmas of
 * {@link STORE_PRAGMAS}), in transactions of `linesPerSubmission + 1` rows (`BEGIN IMMEDIATE`, as
 * the store), which fall on the same boundaries as posting's (one submission each).
 * @throws PhaseError when the log has no `events` table or the copy does not match it.
 */
export function rawInsert(ctx: BenchContext): RawInsertFigures {
  const target = path.join(ctx.dir, 'raw-insert.sqlite')
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(target + suffix, { force: true })
  const source = new Database(ctx.logPath, { readonly: true })
  const db = new Database(target)
  try {
    const schema = source
      .prepare<[], { type: string; sql: string }>("SELECT type, sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL ORDER BY type = 'table' DESC, rowid")
      .all()
    if (schema[0]?.type !== 'table') throw new PhaseError(`the log ${ctx.logPath} has no events table`)
    for (const pragma of STORE_PRAGMAS) db.pragma(pragma)
    const mode = String(db.pragma('journal_mode', { simple: true }))
    if (mode.toLowerCase() !== 'wal') throw new PhaseError(`cannot put ${target} in WAL mode (journal_mode is ${mode})`)
    for (const { sql } of schema) db.exec(sql)

    // Every column of the table (today: position, id, stream, revision, type, data, metadata,
    // recorded_at), so that a column added to the store is copied too.
    const columns = source.prepare<[], { name: string }>('SELECT name FROM pragma_table_info(\'events\') ORDER BY cid').all().map((c) => c.name)
    const positionIndex = columns.indexOf('position')
    if (positionIndex < 0) throw new PhaseError(`the log's events table has no position column (${columns.join(', ')})`)
    const list = columns.map((c) => `"${c}"`).join(', ')
    const read = source
      .prepare<[bigint, number], RawRow>(`SELECT ${list} FROM events WHERE position > ? ORDER BY position LIMIT ?`)
      .raw(true)
      .safeIntegers(true)
    const insert = db.prepare<[RawRow]>(`INSERT INTO events (${list}) VALUES (${columns.map(() => '?').join(', ')})`)
    const insertMany = db.transaction((rows: RawRow[], from: number, to: number) => {
      for (let i = from; i < to; i++) insert.run(rows[i]!) // an array binds its items in order
    })

    const transactionRows = ctx.options.linesPerSubmission + 1
    const chunkRows = Math.ceil(RAW_INSERT_CHUNK_ROWS / transactionRows) * transactionRows
    let after = 0n
    let rows = 0
    let timedMs = 0
    let lastProgress = now()
    for (;;) {
      const chunk = read.all(after, chunkRows) // untimed: loading the rows is not part of the baseline
      if (chunk.length === 0) break
      const started = now()
      for (let from = 0; from < chunk.length; from += transactionRows) {
        insertMany.immediate(chunk, from, Math.min(from + transactionRows, chunk.length))
      }
      timedMs += now() - started
      rows += chunk.length
      after = chunk[chunk.length - 1]![positionIndex] as bigint
      if (now() - lastProgress >= PROGRESS_INTERVAL_MS) {
        lastProgress = now()
        ctx.progress(`raw-insert: ${rows} rows, ${Math.round(perSecond(rows, timedMs / 1000))} rows/s`)
      }
    }
    const copied = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM events').get()?.n ?? 0
    if (copied !== rows) throw new PhaseError(`raw-insert: ${copied} rows in the copy, ${rows} read from the log`)
    const seconds = timedMs / 1000
    return { rows, transactionRows, seconds, rowsPerSecond: perSecond(rows, seconds) }
  } finally {
    db.close()
    source.close()
  }
}
