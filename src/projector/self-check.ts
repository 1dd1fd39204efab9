/**
 * Read models that check themselves (issue #14): in the background, every `intervalMs`, a pass
 * compares stored documents with the fold of the log.
 *
 * - Documents of a projection that names its streams (`streamsOf`: person balances, transfers): a
 *   sample of {@link SELF_CHECK_SAMPLE_DOCUMENTS} per pass, taken in key order from where the last
 *   pass stopped (every document is checked in turn), each refolded from its streams up to the
 *   snapshot's checkpoint (or its own position when later).
 * - Documents fed by the whole log (pool balances): the check keeps an in-memory fold of the whole
 *   log for those projections, advanced each pass to the checkpoint, and compares EVERY document
 *   (a document the fold has and the file lacks is a difference: it is no longer read as zeros).
 *
 * The documents and the checkpoint are read in one SQLite read transaction (one snapshot), so events
 * committed while the pass runs never make a false difference. A difference (or a document that
 * cannot be parsed) is logged as an error with projection, key (person ids masked), position and
 * both values, counted (`onDifference`: the metric), and marked in the file: the document's reads
 * answer 503 and `/readyz` fails (`read-model-differs`, `read-model-damaged`) until
 * `ledger projections rebuild <projection>` rewrites it.
 */
import { setImmediate } from 'node:timers/promises'
import type { EventStore, RecordedEvent } from '../eventstore/port.js'
import type { DocumentProjection } from '../../projections/projection.js'
import { canonicalJson } from '../canonical-json.js'
import { LEDGER_STREAM_PREFIXES } from '../domain/streams.js'
import { maskPersonIdsInText } from '../logging.js'
import { foldBatch } from './fold-batch.js'
import { MAIN_CHECKPOINT, type DocumentMark, type ReadModelStore } from './read-model-store.js'

/** Default interval between two passes, milliseconds (LEDGER_READ_MODEL_CHECK_INTERVAL_MS; 0: off). */
export const DEFAULT_READ_MODEL_CHECK_INTERVAL_MS = 60_000
/** Documents of each stream-fed projection checked per pass. */
export const SELF_CHECK_SAMPLE_DOCUMENTS = 200
/** Events of the whole-log fold between two turns given to the event loop. */
const LOG_FOLD_YIELD_EVENTS = 1_000

/** Minimal logger (pino's). */
export interface SelfCheckLogger {
  error(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
}

export interface SelfCheckOptions {
  store: EventStore
  readModels: ReadModelStore
  projections: readonly DocumentProjection<unknown>[]
  /** The live projector's checkpoint row. Default `main`. */
  checkpointName?: string
  /** Between two passes, milliseconds (0: no background passes; {@link ReadModelSelfCheck.runPass} still works). */
  intervalMs: number
  /** Documents of each stream-fed projection per pass. Default {@link SELF_CHECK_SAMPLE_DOCUMENTS}. */
  sampleSize?: number
  logger?: SelfCheckLogger
  /** Called once per difference found (the metric `ledger_read_model_differences_total`). */
  onDifference?: (projection: string) => void
}

/** What one pass did. */
export interface SelfCheckPass {
  /** The checkpoint of the snapshot (`null`: nothing projected, nothing checked). */
  checkpoint: bigint | null
  /** Documents compared. */
  checked: number
  /** Documents found different or damaged in this pass (already marked ones are not counted again). */
  differences: DocumentMark[]
}

const isLedgerStream = (stream: string) => LEDGER_STREAM_PREFIXES.some((prefix) => stream.startsWith(prefix))
const same = (a: unknown, b: unknown): boolean => canonicalJson(a) === canonicalJson(b)

/** The background self-check of one read-model file. */
export class ReadModelSelfCheck {
  private readonly checkpointName: string
  private readonly sampleSize: number
  private readonly streamFed: DocumentProjection<unknown>[]
  private readonly logFed: DocumentProjection<unknown>[]
  /** Per stream-fed projection, the last key checked. */
  private readonly cursors = new Map<string, string>()
  /** The whole-log fold of the log-fed projections: projection → key → document. */
  private readonly folded = new Map<string, Map<string, unknown>>()
  /** Position the whole-log fold has reached (`null`: nothing folded). */
  private foldedTo: bigint | null = null
  /** Marks not yet written (the file was busy), with the swap generation of the snapshot they were
   * found in (a rebuild's swap since then drops them: they may name cured documents). */
  private pending: { generation: string; marks: DocumentMark[] } | undefined
  private timer: NodeJS.Timeout | undefined
  private running: Promise<unknown> | undefined
  private stopped = false

  constructor(private readonly options: SelfCheckOptions) {
    this.checkpointName = options.checkpointName ?? MAIN_CHECKPOINT
    this.sampleSize = options.sampleSize ?? SELF_CHECK_SAMPLE_DOCUMENTS
    this.streamFed = options.projections.filter((p) => p.streamsOf !== undefined)
    this.logFed = options.projections.filter((p) => p.streamsOf === undefined)
  }

  /** Schedules the passes (none when the interval is 0). Idempotent. */
  start(): void {
    if (this.options.intervalMs <= 0 || this.timer || this.stopped) return
    this.schedule()
  }

  /** Stops scheduling and waits for a pass in flight. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    await this.running?.catch(() => undefined)
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.runPass()
        .catch((err: unknown) => this.options.logger?.warn({ err }, 'read-model self-check: the pass failed; trying again at the next one'))
        .finally(() => {
          this.running = undefined
          if (!this.stopped) this.schedule()
        })
    }, this.options.intervalMs)
    this.timer.unref()
  }

  /**
   * One pass (see the module's comment).
   * @throws whatever the log or the file throws (the pass is retried at the next interval).
   */
  async runPass(): Promise<SelfCheckPass> {
    const rm = this.options.readModels
    // One snapshot: the checkpoint, a sample of each stream-fed projection, every log-fed document.
    const snap = rm.snapshot(() => {
      const checkpoint = rm.getCheckpoint(this.checkpointName)
      const sampled = this.streamFed.map((p) => {
        const after = this.cursors.get(p.name) ?? ''
        const rows = rm.documentRows(p.name, { afterKey: after, limit: this.sampleSize })
        if (rows.length < this.sampleSize && after !== '') {
          // wrap around: the first keys again, up to the one this sample started after
          for (const row of rm.documentRows(p.name, { limit: this.sampleSize - rows.length })) if (row.key <= after) rows.push(row)
        }
        return { projection: p, rows }
      })
      const whole = this.logFed.map((p) => ({ projection: p, rows: rm.documentRows(p.name) }))
      return { checkpoint, sampled, whole, generation: rm.swapGeneration() }
    })
    const found: DocumentMark[] = []
    let checked = 0
    if (snap.checkpoint === null) return { checkpoint: null, checked, differences: found }
    const checkpoint = snap.checkpoint
    // Read after the snapshot (the head only grows): a document folded beyond it cannot be right.
    const head = await this.options.store.headPosition()
    const beyondHead = (projection: string, key: string, position: bigint) => {
      found.push({ projection, key, kind: 'differs', reason: `its position ${position} is beyond the head of the log (${head ?? 'empty'})`, position })
      this.options.logger?.error(
        { projection, key: maskPersonIdsInText(key), position: position.toString(), head: head?.toString() ?? null },
        `read model differs from the log: ${projection}/${maskPersonIdsInText(key)} is folded beyond the log's head; not served until \`ledger projections rebuild ${projection}\``,
      )
    }
    const marked = (projection: string, key: string) => rm.markOf(projection, key) !== undefined
    const parse = (projection: string, key: string, text: string, position: bigint | null): { ok: true; doc: unknown } | { ok: false } => {
      try {
        return { ok: true, doc: JSON.parse(text) as unknown }
      } catch (err) {
        found.push({ projection, key, kind: 'damaged', reason: `its text is not JSON (${(err as Error).message})`, position: position ?? checkpoint })
        return { ok: false }
      }
    }
    const differ = (projection: string, key: string, position: bigint, stored: unknown, expected: unknown) => {
      const reason = `the stored document differs from the fold of the log up to position ${position}`
      found.push({ projection, key, kind: 'differs', reason, position })
      this.options.logger?.error(
        { projection, key: maskPersonIdsInText(key), position: position.toString(), stored: stored ?? null, expected: expected ?? null },
        `read model differs from the log: ${projection}/${maskPersonIdsInText(key)} is not served until \`ledger projections rebuild ${projection}\``,
      )
    }

    // Stream-fed documents: each refolded from its streams up to the checkpoint (every event of its
    // streams up to there must be in it: a document that missed events is a difference too), or up
    // to its own position when that is later (a checkpoint moved back by hand).
    for (const { projection, rows } of snap.sampled) {
      for (const row of rows) {
        this.cursors.set(projection.name, row.key)
        if (row.position === null || marked(projection.name, row.key)) continue
        if (head === null || row.position > head) {
          beyondHead(projection.name, row.key, row.position)
          continue
        }
        const parsed = parse(projection.name, row.key, row.doc, row.position)
        if (!parsed.ok) continue
        const upTo = row.position > checkpoint ? row.position : checkpoint
        const expected = await this.refold(projection, row.key, upTo)
        // The embedded store's reads only await resolved promises: give timers and sockets a turn.
        await setImmediate()
        checked++
        if (expected === undefined || !same(parsed.doc, expected)) differ(projection.name, row.key, upTo, parsed.doc, expected)
      }
    }

    // Log-fed documents: the whole-log fold advanced to the snapshot's checkpoint, every document compared.
    // Decided per document: one folded ahead of the checkpoint (a checkpoint moved back by hand) is
    // left until the projector is past it again, unless it is beyond the log's head (a difference).
    // A fold already beyond the checkpoint cannot go back: such a pass compares no log-fed document.
    for (const { projection, rows } of snap.whole)
      for (const row of rows)
        if (row.position !== null && (head === null || row.position > head) && !marked(projection.name, row.key)) beyondHead(projection.name, row.key, row.position)
    const comparable = this.logFed.length > 0 && (this.foldedTo === null || this.foldedTo <= checkpoint)
    if (comparable) await this.advance(checkpoint)
    if (comparable && this.foldedTo === checkpoint) {
      for (const { projection, rows } of snap.whole) {
        const fold = this.folded.get(projection.name) ?? new Map<string, unknown>()
        const stored = new Set<string>()
        for (const row of rows) {
          stored.add(row.key)
          if (marked(projection.name, row.key)) continue
          if (row.position !== null && row.position > checkpoint) continue
          const parsed = parse(projection.name, row.key, row.doc, row.position)
          if (!parsed.ok) continue
          checked++
          const expected = fold.get(row.key)
          if (expected === undefined || !same(parsed.doc, expected)) differ(projection.name, row.key, checkpoint, parsed.doc, expected)
        }
        for (const [key, expected] of fold) {
          if (stored.has(key) || marked(projection.name, key)) continue
          checked++
          differ(projection.name, key, checkpoint, undefined, expected)
        }
      }
    }

    for (const d of found) {
      if (d.kind === 'damaged')
        this.options.logger?.error(
          { projection: d.projection, key: maskPersonIdsInText(d.key), position: d.position?.toString() ?? null, reason: d.reason },
          `read-model document damaged: not served until \`ledger projections rebuild ${d.projection}\``,
        )
      this.options.onDifference?.(d.projection)
    }
    // Marks of an older snapshot left by a busy file: kept only while no swap happened since.
    if (this.pending !== undefined && this.pending.generation !== snap.generation) this.pending = undefined
    this.pending = { generation: snap.generation, marks: [...(this.pending?.marks ?? []), ...found] }
    this.writeMarks()
    return { checkpoint, checked, differences: found }
  }

  /** Writes the pending marks, unless a rebuild swapped documents in since their snapshot (then they
   * are dropped: the next pass checks the new documents); a busy file keeps them for the next pass. */
  private writeMarks(): void {
    const pending = this.pending
    if (pending === undefined || pending.marks.length === 0) return
    try {
      if (!this.options.readModels.markDocuments(pending.marks, { generation: pending.generation }))
        this.options.logger?.warn({ marks: pending.marks.length }, 'read-model self-check: a rebuild swapped documents in since these differences were found; not marked (the next pass checks again)')
      this.pending = undefined
    } catch (err) {
      this.options.logger?.warn({ err, marks: pending.marks.length }, 'read-model self-check: could not record the differences now (the file is busy?); trying again at the next pass')
    }
  }

  /** The document for `key` folded from its streams' events up to `position`; `undefined` when no
   * such event touches it. */
  private async refold(projection: DocumentProjection<unknown>, key: string, position: bigint): Promise<unknown> {
    const events: RecordedEvent[] = []
    for (const stream of projection.streamsOf!(key)) {
      for await (const e of this.options.store.readStream(stream)) {
        if (e.position > position) break
        if (projection.keysOf(e).includes(key)) events.push(e)
      }
    }
    events.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0))
    let doc: unknown
    for (const e of events) doc = projection.evolve(doc ?? projection.initial(key), e, key)
    return doc
  }

  /** Advances the whole-log fold of the log-fed projections to `target`. */
  private async advance(target: bigint): Promise<void> {
    if (this.foldedTo !== null && this.foldedTo >= target) return
    const from = this.foldedTo
    let batch: RecordedEvent[] = []
    let read: bigint | null = from
    // The fold and its position move together (a read that fails leaves both where they were).
    const flush = async () => {
      foldBatch(batch, this.logFed, () => undefined, this.folded)
      this.foldedTo = read
      batch = []
      await setImmediate()
    }
    for await (const e of this.options.store.readAll(from === null ? {} : { fromPosition: from })) {
      if (from !== null && e.position <= from) continue
      if (e.position > target) break
      if (isLedgerStream(e.stream)) batch.push(e)
      read = e.position
      if (batch.length >= LOG_FOLD_YIELD_EVENTS) await flush()
    }
    await flush()
  }
}
