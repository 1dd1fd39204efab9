import { setImmediate, setTimeout as delay } from 'node:timers/promises'
import type { EventStore, RecordedEvent } from '../eventstore/port.js'
import type { DocumentProjection } from '../../projections/projection.js'
import type { ReadModelStore } from './read-model-store.js'
import { foldBatch } from './fold-batch.js'

/** Minimal logger shape (pino's). */
export interface ProjectorLogger {
  info(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

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
}

const TIMED_OUT = Symbol('timed out')

/**
 * Runs the projections: a catch-up subscription to the whole log from the stored checkpoint, events
 * folded in batches, each batch's documents and the new checkpoint written in one SQLite
 * transaction. An event at or before the checkpoint is never applied again; a failed batch is not
 * committed and the subscription resumes from the checkpoint after a bounded backoff.
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
        this.options.logger?.error({ err, position: this.current?.toString() ?? null, backoffMs }, 'projector failed; resubscribing from checkpoint')
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
          this.commit(batch.splice(0))
          continue
        }
        if (next.done) break
        batch.push(next.value)
        pending = iterator.next()
        if (batch.length >= this.maxBatchEvents) {
          this.commit(batch.splice(0))
          // Catching up only ever awaits resolved promises; give timers and sockets a turn.
          await setImmediate()
        }
      }
      this.commit(batch.splice(0))
    } finally {
      signal.removeEventListener('abort', stopAttempt)
      attempt.abort()
      await pending.catch(() => undefined)
      await iterator.return?.()
    }
  }

  /** Folds a batch and writes documents + checkpoint in one transaction. */
  private commit(events: RecordedEvent[]): void {
    const fresh = events.filter((e) => this.current === null || e.position > this.current)
    const last = fresh.at(-1)
    if (!last) return
    const changes = foldBatch(fresh, this.options.projections, (projection, key) => this.options.readModels.getDocument(projection, key))
    this.options.readModels.commitBatch(this.name, changes, last.position, this.options.beforeCheckpoint)
    this.current = last.position
    for (const w of this.waiters) if (w.min <= last.position) w.resolve()
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
