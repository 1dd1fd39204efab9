import { setImmediate, setTimeout as delay } from 'node:timers/promises'
import type { EventStore, RecordedEvent } from '../eventstore/port.js'
import type { DocumentProjection } from '../../projections/projection.js'
import { CheckpointMovedError, DocumentDamagedError, LeaseLostError, isBusy, type ReadModelStore } from './read-model-store.js'
import { DAMAGED, foldBatch } from './fold-batch.js'
import { firstFoldedPosition } from './first-folded.js'
import { maskPersonIdsInText } from '../logging.js'

/** Minimal logger shape (pino's). */
export interface ProjectorLogger {
  info(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

/** Pause before a commit that found the read-model file busy (another writer holds its lock) is
 * tried again, milliseconds. The connection's own busy wait is a few ms (it blocks the event loop);
 * this wait does not. */
export const COMMIT_BUSY_RETRY_MS = 20
/** Attempts at one commit while the file is busy, before the batch fails and the projector
 * resubscribes after its backoff (about 5 s of waiting at COMMIT_BUSY_RETRY_MS). */
export const COMMIT_BUSY_ATTEMPTS = 250

export interface ProjectorOptions {
  store: EventStore
  readModels: ReadModelStore
  projections: readonly DocumentProjection<unknown>[]
  /** Checkpoint row name. Default `main`. */
  checkpointName?: string
  /** Most events folded into one read-model transaction. Default 250 (about 50 ms of work, after
   * which the event loop gets a turn: HTTP stays responsive during a catch-up). */
  maxBatchEvents?: number
  /** How long a partial batch waits for more events before it is written, milliseconds. Default 5. */
  flushAfterMs?: number
  /** First pause after a failed subscription, milliseconds; doubles up to maxBackoffMs. Default 100. */
  initialBackoffMs?: number
  /** Longest pause between two subscription attempts, milliseconds. Default 5,000. */
  maxBackoffMs?: number
  logger?: ProjectorLogger
  /** Called each time the subscription is resumed after it dropped (the store resubscribes) or
   * failed (the projector resubscribes from its checkpoint after the backoff): feeds the
   * resubscriptions metric. Must not throw. */
  onResubscribe?: () => void
  /** Fault injection for crash tests: runs inside the batch transaction, between the read-model
   * write and the checkpoint write. Never set in production. */
  beforeCheckpoint?: () => void
  /** The projector lease's owner id (src/projector/lease.ts): every commit checks, in its
   * transaction, that it still holds the lease. Absent: no check (tests, the crash child). */
  leaseOwner?: string
  /** Called when a commit found the lease held by another (the projector goes on retrying, and
   * writes nothing, until stopped). */
  onLeaseLost?: (detail: string) => void
  /** Called once per document the projector found damaged and marked (the metric
   * `ledger_read_model_differences_total`), after the batch that marked it is committed. Must not throw. */
  onDamaged?: (projection: string) => void
}

const TIMED_OUT = Symbol('timed out')

/**
 * Runs the projections: a catch-up subscription to the whole log from the stored checkpoint, events
 * folded in batches, each batch's documents and the new checkpoint written in one SQLite
 * transaction. An event at or before the checkpoint, or at or before a document's own position, is
 * never applied again; a failed batch is not committed and the subscription resumes from the
 * checkpoint in the file (reloaded: a commit refused by the checkpoint's compare-and-set found it
 * moved) after a bounded backoff.
 */
export class Projector {
  private readonly name: string
  private readonly maxBatchEvents: number
  private readonly flushAfterMs: number
  private readonly initialBackoffMs: number
  private readonly maxBackoffMs: number
  private current: bigint | null
  private abort = new AbortController()
  private loop: Promise<void> | undefined
  private waiters = new Set<{ min: bigint; resolve: () => void }>()
  private live = false

  constructor(private readonly options: ProjectorOptions) {
    this.name = options.checkpointName ?? 'main'
    this.maxBatchEvents = options.maxBatchEvents ?? 250
    this.flushAfterMs = options.flushAfterMs ?? 5
    this.initialBackoffMs = options.initialBackoffMs ?? 100
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000
    this.current = options.readModels.getCheckpoint(this.name)
  }

  /** Whether the subscription has caught up with the log at least once (readiness). */
  get caughtUp(): boolean {
    return this.live
  }

  /** Position of the last event applied (the checkpoint), or `null` before the first. */
  get position(): bigint | null {
    return this.current
  }

  /** Starts the subscription loop in the background. Idempotent. */
  start(): void {
    this.loop ??= this.run()
  }

  /** Stops the loop and waits for it to end (a batch in flight is committed or not at all). */
  async stop(): Promise<void> {
    this.abort.abort()
    await this.loop
    for (const w of this.waiters) w.resolve()
    this.waiters.clear()
  }

  /**
   * Waits until the projections have applied `min`, at most `waitMs` milliseconds.
   * Resolves with the position reached (which may still be below `min` after the wait).
   */
  async waitForPosition(min: bigint, waitMs: number): Promise<bigint | null> {
    if (this.reached(min) || waitMs <= 0) return this.current
    await new Promise<void>((resolve) => {
      const waiter = { min, resolve: () => done() }
      const timer = setTimeout(() => done(), waitMs)
      const done = () => {
        clearTimeout(timer)
        this.waiters.delete(waiter)
        resolve()
      }
      this.waiters.add(waiter)
    })
    return this.current
  }

  private reached(min: bigint): boolean {
    return this.current !== null && this.current >= min
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal
    let backoffMs = this.initialBackoffMs
    while (!signal.aborted) {
      try {
        await this.consume(signal)
        backoffMs = this.initialBackoffMs
      } catch (err) {
        this.live = false
        if (signal.aborted) break
        if (err instanceof LeaseLostError) this.options.onLeaseLost?.(err.message)
        const position = this.current
        // The checkpoint in the file is the truth (a commit refused by its compare-and-set found it
        // elsewhere): resubscribe from it. Documents never fold an event twice (foldBatch).
        try {
          this.current = this.options.readModels.getCheckpoint(this.name)
        } catch {
          // the file cannot be read now: keep the last known position; the next attempt reads again
        }
        this.options.logger?.error(
          { err, position: position?.toString() ?? null, checkpoint: this.current?.toString() ?? null, backoffMs },
          err instanceof CheckpointMovedError
            ? 'projector: the checkpoint in the read-model file is not the one it committed; resubscribing from the file\'s checkpoint'
            : 'projector failed; resubscribing from checkpoint',
        )
        await sleep(backoffMs, signal)
        backoffMs = Math.min(backoffMs * 2, this.maxBackoffMs)
        if (!signal.aborted) this.options.onResubscribe?.()
      }
    }
  }

  /** One subscription: reads, batches and commits until the subscription ends or fails. */
  private async consume(signal: AbortSignal): Promise<void> {
    // A subscription of its own, ended when this attempt ends (a pending next() of a live
    // subscription only settles when the subscription is aborted).
    const attempt = new AbortController()
    const stopAttempt = () => attempt.abort()
    signal.addEventListener('abort', stopAttempt, { once: true })
    const subscription = this.options.store.subscribeAll({
      ...(this.current !== null ? { afterPosition: this.current } : {}),
      signal: attempt.signal,
      onCaughtUp: () => {
        this.live = true
      },
      onDropped: () => {
        this.live = false
        this.options.onResubscribe?.()
      },
    })
    const iterator = subscription[Symbol.asyncIterator]()
    const batch: RecordedEvent[] = []
    let pending = iterator.next()
    try {
      for (;;) {
        const next = batch.length === 0 ? await pending : await raceTimeout(pending, this.flushAfterMs)
        if (next === TIMED_OUT) {
          await this.commit(batch.splice(0), signal)
          continue
        }
        if (next.done) break
        batch.push(next.value)
        pending = iterator.next()
        if (batch.length >= this.maxBatchEvents) {
          await this.commit(batch.splice(0), signal)
          // Catching up only ever awaits resolved promises; give timers and sockets a turn.
          await setImmediate()
        }
      }
      await this.commit(batch.splice(0), signal)
    } finally {
      signal.removeEventListener('abort', stopAttempt)
      attempt.abort()
      await pending.catch(() => undefined)
      await iterator.return?.()
    }
  }

  /**
   * Folds a batch and writes documents + checkpoint in one transaction, with a compare-and-set of
   * the checkpoint (and of the lease, when held). A busy file is retried after
   * {@link COMMIT_BUSY_RETRY_MS}, without blocking the event loop, up to {@link COMMIT_BUSY_ATTEMPTS}
   * times (or until stopped). A document that cannot be read is marked damaged and left out; the
   * others are folded and the checkpoint advances.
   */
  private async commit(events: RecordedEvent[], signal: AbortSignal): Promise<void> {
    const fresh = events.filter((e) => this.current === null || e.position > this.current)
    const last = fresh.at(-1)
    if (!last) return
    const damaged: { projection: string; key: string; reason: string }[] = []
    const missing = await this.missingDocuments(fresh)
    const changes = foldBatch(fresh, this.options.projections, (projection, key) => {
      const lost = missing.get(`${projection}\u0000${key}`)
      if (lost !== undefined) {
        if (this.options.readModels.markOf(projection, key)?.kind !== 'damaged') damaged.push({ projection, key, reason: lost })
        return DAMAGED
      }
      try {
        return this.options.readModels.loadDocument(projection, key)
      } catch (err) {
        if (!(err instanceof DocumentDamagedError)) throw err
        // Marked already: skipped quietly (it stays damaged until a rebuild).
        if (this.options.readModels.markOf(projection, key)?.kind !== 'damaged') damaged.push({ projection, key, reason: err.reason })
        return DAMAGED
      }
    }, new Map(), (projection, key, reason) => {
      if (this.options.readModels.markOf(projection, key)?.kind !== 'damaged') damaged.push({ projection, key, reason })
    })
    for (const d of damaged)
      this.options.logger?.error(
        { projection: d.projection, key: maskPersonIdsInText(d.key), position: last.position.toString(), reason: d.reason },
        `read-model document damaged: not folded and not served until \`ledger projections rebuild ${d.projection}\``,
      )
    for (let attempt = 1; ; attempt++) {
      try {
        this.options.readModels.commitBatch(this.name, changes, last.position, {
          expected: this.current,
          ...(this.options.leaseOwner !== undefined ? { leaseOwner: this.options.leaseOwner } : {}),
          ...(damaged.length > 0 ? { damaged } : {}),
          ...(this.options.beforeCheckpoint ? { beforeCheckpoint: this.options.beforeCheckpoint } : {}),
        })
        break
      } catch (err) {
        if (!isBusy(err) || attempt >= COMMIT_BUSY_ATTEMPTS || signal.aborted) throw err
        await sleep(COMMIT_BUSY_RETRY_MS, signal)
      }
    }
    this.current = last.position
    for (const d of damaged) this.options.onDamaged?.(d.projection)
    for (const w of this.waiters) if (w.min <= last.position) w.resolve()
  }

  /**
   * The documents of stream-fed projections (`streamsOf`) this batch would fold onto an initial
   * document although they should exist: the first event of the batch that touches one is on the
   * document's own stream, after the stream's first event folded into it, yet the file has no row
   * (it was deleted). Folding on would make a wrong document (a balance from zero): such a document
   * is marked damaged (missing) and skipped until a rebuild. Only events of revision > 0 whose
   * document is absent are looked into (one stream read each: rare).
   * @returns `projection\u0000key` → why.
   */
  private async missingDocuments(events: readonly RecordedEvent[]): Promise<Map<string, string>> {
    const missing = new Map<string, string>()
    const seen = new Set<string>()
    for (const e of events) {
      for (const projection of this.options.projections) {
        if (projection.streamsOf === undefined) continue
        for (const key of projection.keysOf(e)) {
          const id = `${projection.name}\u0000${key}`
          if (seen.has(id)) continue
          seen.add(id)
          if (e.revision === 0n || !projection.streamsOf(key).includes(e.stream)) continue
          let present: boolean
          try {
            present = this.options.readModels.hasDocument(projection.name, key)
          } catch {
            continue // unreadable: the fold marks it damaged
          }
          if (present) continue
          const first = await firstFoldedPosition(this.options.store, projection, key, e.stream)
          if (first !== undefined && first < e.position)
            missing.set(id, `the document is missing: its first event (position ${first}) was applied, yet the file has no row for it`)
        }
      }
    }
    return missing
  }
}

async function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms)))
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Waits `ms`, or less when `signal` aborts (never rejects). */
const sleep = (ms: number, signal: AbortSignal): Promise<unknown> => delay(ms, undefined, { signal }).catch(() => undefined)
