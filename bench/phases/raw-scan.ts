/**
 * Phase `raw-scan`: the baseline for catch-up and replay. One statement walks the whole log in
 * position order and parses each event's data and metadata: the least any reader of the log does.
 */
import Database from 'better-sqlite3'
import { now, perSecond, type BenchContext } from './phase.js'

/** Figures of {@link rawScan}. */
export interface RawScanFigures {
  rows: number
  /** Time of the scan (statement, iteration, JSON.parse of data and metadata). */
  seconds: number
  rowsPerSecond: number
}

/** A row as the scan reads it. */
interface ScanRow {
  position: bigint
  id: string
  stream: string
  revision: bigint
  type: string
  data: string
  metadata: string
  recorded_at: string
}

/**
 * Reads every row of the log (read-only connection, `safeIntegers`), parsing `data` and `metadata`.
 * @returns the rows read and the time taken.
 */
export function rawScan(ctx: BenchContext): RawScanFigures {
  const db = new Database(ctx.logPath, { readonly: true })
  try {
    const stmt = db
      .prepare<[], ScanRow>('SELECT position, id, stream, revision, type, data, metadata, recorded_at FROM events ORDER BY position')
      .safeIntegers(true)
    ctx.progress('raw-scan: reading the log')
    let rows = 0
    let keys = 0 // uses the parsed values, so that the parsing is never optimised away
    const started = now()
    for (const row of stmt.iterate()) {
      const data = JSON.parse(row.data) as object
      const metadata = JSON.parse(row.metadata) as object
      if (data !== null && metadata !== null) keys++
      rows++
    }
    const seconds = (now() - started) / 1000
    if (keys !== rows) throw new Error('raw-scan: an event with null data or metadata')
    return { rows, seconds, rowsPerSecond: perSecond(rows, seconds) }
  } finally {
    db.close()
  }
}
