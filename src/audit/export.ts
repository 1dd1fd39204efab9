/**
 * The log as NDJSON (issue #6, "Export"): one event per line, in log (position) order, UTF-8, each
 * line ending in `\n`:
 *
 *   {"position":"17","stream":"person-11010519491231002X","revision":"3","id":"0190…","type":"ContributionRecorded",
 *    "recordedAt":"2024-08-05T02:00:00.000Z","data":{…},"metadata":{"actor":"…",…,"hash":"<sha-256 hex>","recordedAt":"…"}}
 *
 * Positions and revisions are decimal strings; `data` is the event's data as stored; `metadata`
 * carries the audit hash (`hash`), so the file verifies offline (verify.ts, `verifyExportFile`), with
 * its keys in code-unit order: stores keep metadata keys in different orders (KurrentDB's
 * multi-stream append stores them as protobuf properties, read back sorted), and the same events
 * must export to the same bytes whichever store holds them. The same lines answer
 * `GET /v1/audit/events` and `ledger audit export` writes them.
 */
import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { EventMetadata, EventStore, RecordedEvent } from '../eventstore/port.js'

/** One exported event, as a line holds it. */
export interface ExportedEvent {
  position: string
  stream: string
  revision: string
  id: string
  type: string
  recordedAt: string
  data: unknown
  metadata: EventMetadata
}

/** The exported form of a recorded event. */
export function exportedEvent(e: RecordedEvent): ExportedEvent {
  return {
    position: e.position.toString(),
    stream: e.stream,
    revision: e.revision.toString(),
    id: e.id,
    type: e.type,
    recordedAt: e.recordedAt,
    data: e.data,
    metadata: sortedKeys(e.metadata),
  }
}

/** The metadata with its keys in code-unit order (see the file's docstring). */
function sortedKeys(metadata: EventMetadata): EventMetadata {
  const sorted: EventMetadata = {}
  for (const key of Object.keys(metadata).sort()) sorted[key] = metadata[key]
  return sorted
}

/** The NDJSON line of a recorded event, with its `\n`. */
export function exportLine(e: RecordedEvent): string {
  return JSON.stringify(exportedEvent(e)) + '\n'
}

const DECIMAL = /^\d{1,39}$/

/** Events written between two yields to the event loop (a store read may never wait on I/O). */
export const EXPORT_YIELD_EVERY = 500

/**
 * A line of an export read back as a recorded event (position and revision as bigint).
 * @returns the event, or a reason why the line is not an exported event.
 */
export function parseExportLine(text: string): { event: RecordedEvent } | { error: string } {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return { error: 'not JSON' }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: 'not a JSON object' }
  const o = v as Record<string, unknown>
  for (const key of ['position', 'revision'] as const) {
    if (typeof o[key] !== 'string' || !DECIMAL.test(o[key])) return { error: `${key} is not a decimal string` }
  }
  for (const key of ['stream', 'id', 'type', 'recordedAt'] as const) {
    if (typeof o[key] !== 'string' || o[key] === '') return { error: `${key} is not a non-empty string` }
  }
  if (!('data' in o)) return { error: 'data is missing' }
  if (typeof o.metadata !== 'object' || o.metadata === null || Array.isArray(o.metadata)) return { error: 'metadata is not an object' }
  return {
    event: {
      position: BigInt(o.position as string),
      stream: o.stream as string,
      revision: BigInt(o.revision as string),
      id: o.id as string,
      type: o.type as string,
      recordedAt: o.recordedAt as string,
      data: o.data,
      metadata: o.metadata as EventMetadata,
    },
  }
}

/**
 * Reads an export file line by line (bounded memory), skipping blank lines.
 * Yields `{ line, event }` for each exported event, `{ line, error }` for a line that is not one
 * (`line` 1-based).
 * @throws Error (ENOENT, EACCES ...) when the file cannot be read.
 */
export async function* readExportFile(file: string): AsyncGenerator<{ line: number; event: RecordedEvent } | { line: number; error: string }> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Number.POSITIVE_INFINITY })
  let line = 0
  for await (const text of lines) {
    line++
    if (text.trim() === '') continue
    yield { line, ...parseExportLine(text) }
  }
}

/** What {@link exportToFile} wrote. */
export interface ExportSummary {
  file: string
  events: number
  /** Positions of the first and last event written (null when none). */
  firstPosition: string | null
  lastPosition: string | null
}

/**
 * Writes every event of the log from `fromPosition` (inclusive; default the start) to `file` as
 * NDJSON, streaming: memory stays one page of the store and the file stream's buffer. The file is
 * written as `{file}.partial` and renamed when complete (removed on failure), so `file` is never
 * half written. An existing `file` is replaced. Yields to the event loop every
 * {@link EXPORT_YIELD_EVERY} events. A `fromPosition` beyond the log writes an empty file.
 * @throws StoreUnavailableError from the store; Error from the file system.
 */
export async function exportToFile(store: EventStore, file: string, options: { fromPosition?: bigint } = {}): Promise<ExportSummary> {
  const partial = `${file}.partial`
  const out = createWriteStream(partial, { encoding: 'utf8' })
  let failed: Error | undefined
  out.on('error', (err) => (failed = err))
  let events = 0
  let firstPosition: string | null = null
  let lastPosition: string | null = null
  try {
    await once(out, 'open')
    for await (const e of store.readAll(options.fromPosition !== undefined ? { fromPosition: options.fromPosition } : {})) {
      if (failed) throw failed
      if (!out.write(exportLine(e))) await once(out, 'drain')
      events++
      if (events % EXPORT_YIELD_EVERY === 0) await yieldToLoop()
      firstPosition ??= e.position.toString()
      lastPosition = e.position.toString()
    }
    out.end()
    await once(out, 'finish')
    if (failed) throw failed
    await rename(partial, file)
  } catch (err) {
    out.destroy()
    await rm(partial, { force: true })
    throw err
  }
  return { file, events, firstPosition, lastPosition }
}

/**
 * One page of the export for HTTP: at most `limit` lines from `fromPosition` (inclusive), and the
 * position of the next event when there is one (read one beyond the page). Yields to the event
 * loop every {@link EXPORT_YIELD_EVERY} events.
 */
export async function exportPage(store: EventStore, fromPosition: bigint | undefined, limit: number): Promise<{ lines: string[]; next?: bigint }> {
  const lines: string[] = []
  for await (const e of store.readAll({ ...(fromPosition !== undefined ? { fromPosition } : {}), maxCount: limit + 1 })) {
    if (lines.length === limit) return { lines, next: e.position }
    lines.push(exportLine(e))
    if (lines.length % EXPORT_YIELD_EVERY === 0) await yieldToLoop()
  }
  return { lines }
}
