/**
 * Rebuilding one projection from the log while the service keeps answering (issue #6).
 *
 * The service's projector (another process, or the same one) goes on folding the log into the live
 * documents `read_models` and its checkpoint. A rebuild folds the whole log into a shadow table
 * (`read_models_shadow`) and swaps it in, so that afterwards the projection's documents are exactly
 * the fold of the log up to the live checkpoint:
 *
 * - Phase 1, no lock held between batches: the log is read in position order and folded with
 *   {@link foldBatch} (this projection only) in batches of `batchEvents`, each batch's shadow
 *   documents committed on their own (memory holds one batch), up to the live checkpoint C1 read
 *   when the phase starts. Folding up to the checkpoint (not the log's head) keeps the shadow at or
 *   behind the live projector, which never goes back: the swap need not wait for a lagging one.
 * - Compare, no lock held: the shadow documents are compared with the live ones, `compareChunk`
 *   keys at a time, and the keys that differ are marked; from here on every shadow document written
 *   (events after C1) is marked too. The swap then writes the marked keys only, so the time it holds
 *   the lock grows with the differences, not with the projection (a full copy of 100,000 documents
 *   of 1.5 KB took about 7 s on a 2-core test machine: longer than the live projector's busy timeout).
 * - Phase 2, the swap, in ONE `BEGIN IMMEDIATE` transaction on the read-model file (the live
 *   projector's commit waits for it, up to its busy timeout; readers do not): the live checkpoint C
 *   is read; the events (shadow position, C], read into memory just before, are folded into the
 *   shadow; the live documents of the marked keys are replaced with the shadow's (deleted when the
 *   shadow has none); the claim is released. The checkpoint is not changed: the live projector
 *   continues after C. The shadow is cleared afterwards, in chunks.
 *   When the events read before the transaction do not reach C (the projector committed more in
 *   between), the transaction is rolled back and the shadow catches up to the new checkpoint; when C
 *   is behind the shadow (the read models were reset meanwhile), the swap is retried every
 *   `retryDelayMs` until C has caught up, and then replaces every document. Both are bounded by
 *   `swapTimeoutMs`.
 *
 * A live batch folded from documents the swap replaced is refused at its commit
 * (ReadModelsSwappedError) and folded again from the checkpoint.
 */
import { setImmediate, setTimeout as delay } from 'node:timers/promises'
import type { EventStore, RecordedEvent } from '../eventstore/port.js'
import type { DocumentProjection } from '../../projections/projection.js'
import type { ReadModelStore, StoredDocument } from './read-model-store.js'
import { foldBatch } from './fold-batch.js'

/** Events folded into the shadow per transaction in phase 1 (and most events held for the swap). */
export const DEFAULT_REBUILD_BATCH_EVENTS = 1_000
/** Shadow documents compared with the live ones per step. */
export const DEFAULT_COMPARE_CHUNK = 1_000
/** Events (or documents compared) between two progress reports. */
export const DEFAULT_PROGRESS_EVERY = 100_000
/** Longest the swap may keep being retried (from the first attempt), milliseconds. */
export const DEFAULT_SWAP_TIMEOUT_MS = 30_000
/** Pause before retrying a swap while the live checkpoint is behind the shadow, milliseconds. */
export const DEFAULT_SWAP_RETRY_DELAY_MS = 100

/** Where a rebuild is, as given to `onProgress`: `fold` counts events folded into the shadow (the
 * last one at `position`), `compare` shadow documents compared with the live ones. */
export type RebuildProgress =
  | { projection: string; phase: 'fold'; events: number; position: bigint }
  | { projection: string; phase: 'compare'; documents: number; differing: number }

/** Options of {@link rebuildProjection}. */
export interface RebuildOptions {
  /** The log. */
  store: EventStore
  /**
   * The read models to rebuild in (the file the live projector writes). A connection of its own is
   * usual (the CLI's); sharing the live projector's is correct too, every transaction being
   * synchronous.
   */
  readModels: ReadModelStore
  /** The projection to rebuild (its name is its namespace in the read models). */
  projection: DocumentProjection<unknown>
  /** The live projector's checkpoint row. Default `main`. */
  checkpointName?: string
  /** Events per shadow transaction, a positive integer. Default {@link DEFAULT_REBUILD_BATCH_EVENTS}. */
  batchEvents?: number
  /** Documents compared per step, a positive integer. Default {@link DEFAULT_COMPARE_CHUNK}. */
  compareChunk?: number
  /** Events (documents, when comparing) between two `onProgress` calls, a positive integer. Default {@link DEFAULT_PROGRESS_EVERY}. */
  progressEvery?: number
  /** Longest the swap is retried, milliseconds from the first attempt. Default {@link DEFAULT_SWAP_TIMEOUT_MS}. */
  swapTimeoutMs?: number
  /** Pause between swap attempts while the live checkpoint is behind the shadow, milliseconds. Default {@link DEFAULT_SWAP_RETRY_DELAY_MS}. */
  retryDelayMs?: number
  /** Called every `progressEvery` events folded, and every `progressEvery` documents compared. */
  onProgress?: (progress: RebuildProgress) => void
  /** Test hook: awaited before each swap attempt, after the events for it were read. Never set in production. */
  beforeSwapAttempt?: (attempt: number) => void | Promise<void>
}

/** What a rebuild did. */
export interface RebuildResult {
  projection: string
  /** Live documents of the projection right after the swap. */
  documents: number
  /** Live documents the swap wrote or deleted (those that differed from the rebuilt ones). */
  replaced: number
  /** The live checkpoint the documents are folded up to (`null`: nothing projected yet, no documents). */
  position: bigint | null
  /** Events folded (phase 1, catching up, and in the swap). */
  events: number
  /** Swap attempts (1 unless the live projector moved past the events read for the swap, or was behind). */
  attempts: number
  /** Duration, milliseconds. */
  ms: number
  /** Duration of the successful swap transaction, milliseconds, its wait for the lock included:
   * other writers on the file (the live projector's commit; on the embedded store, appends too)
   * waited at most this long for it. */
  lockMs: number
}

/** A rebuild that could not finish; nothing was swapped and the live documents are unchanged. */
export class RebuildError extends Error {
  override readonly name = 'RebuildError'
}

/**
 * Rebuilds `projection` from the log into the shadow table and swaps it in (see the module's
 * comment for the protocol). The live documents of other projections and the checkpoint are not
 * touched. On failure the shadow is cleared and the live documents are as they were.
 * @returns counts, the position the documents are folded up to, and durations.
 * @throws RangeError for a bad option.
 * @throws RebuildError when the live checkpoint is not an event of the log (read models of another
 *   log), or the swap could not be made within `swapTimeoutMs` (the checkpoint stayed behind the
 *   shadow, or kept moving past the events read for the swap).
 * @throws ShadowClaimLostError when another rebuild of the projection started meanwhile.
 * @throws SqliteError (SQLITE_BUSY) when a write lock was not had within the read models' busy
 *   timeout; StoreUnavailableError when the log cannot be read; any error of the projection.
 */
export async function rebuildProjection(options: RebuildOptions): Promise<RebuildResult> {
  const { store, readModels, projection } = options
  const name = projection.name
  const checkpointName = options.checkpointName ?? 'main'
  const batchEvents = positiveInteger('batchEvents', options.batchEvents ?? DEFAULT_REBUILD_BATCH_EVENTS)
  const compareChunk = positiveInteger('compareChunk', options.compareChunk ?? DEFAULT_COMPARE_CHUNK)
  const progressEvery = positiveInteger('progressEvery', options.progressEvery ?? DEFAULT_PROGRESS_EVERY)
  const swapTimeoutMs = nonNegative('swapTimeoutMs', options.swapTimeoutMs ?? DEFAULT_SWAP_TIMEOUT_MS)
  const retryDelayMs = nonNegative('retryDelayMs', options.retryDelayMs ?? DEFAULT_SWAP_RETRY_DELAY_MS)
  const started = performance.now()
  // Shadow documents carry no position: the shadow folds each event once by construction (it reads
  // the log after its own position).
  const loadShadow = (p: string, key: string): StoredDocument | undefined => {
    const doc = readModels.getShadowDocument(p, key)
    return doc === undefined ? undefined : { doc, position: null }
  }

  /** The position the shadow is folded up to (`null`: nothing folded). */
  let shadowAt: bigint | null = null
  /** Whether shadow writes mark their keys (from the comparison on). */
  let marking = false
  let events = 0
  let nextProgress = progressEvery
  const counted = (n: number, position: bigint | undefined) => {
    events += n
    if (position !== undefined && events >= nextProgress) {
      options.onProgress?.({ projection: name, phase: 'fold', events, position })
      nextProgress = (Math.floor(events / progressEvery) + 1) * progressEvery
    }
  }

  /** Folds the events (shadowAt, target] into the shadow, a batch per transaction. */
  const catchUp = async (claim: string, target: bigint): Promise<void> => {
    const batch: RecordedEvent[] = []
    let last: bigint | null = shadowAt
    const flush = async () => {
      if (batch.length === 0) return
      const changes = foldBatch(batch, [projection], loadShadow)
      readModels.commitShadow(claim, name, changes.get(name) ?? new Map(), { mark: marking })
      counted(batch.length, batch.at(-1)!.position)
      batch.length = 0
      // The embedded store's reads only await resolved promises: give timers and sockets a turn
      // (a rebuild run inside the service must not hold its event loop for the whole log).
      await setImmediate()
    }
    for await (const event of store.readAll(shadowAt === null ? {} : { fromPosition: shadowAt })) {
      if (shadowAt !== null && event.position <= shadowAt) continue
      if (event.position > target) break
      batch.push(event)
      last = event.position
      if (batch.length >= batchEvents) await flush()
    }
    await flush()
    if (last !== target) {
      throw new RebuildError(
        `the live checkpoint ${checkpointName} (${target}) is not a position of the log (the last event read is ${last ?? 'none'}): these read models were not folded from this log`,
      )
    }
    shadowAt = target
  }

  /** At most `batchEvents` events after the shadow's position, for the swap. */
  const readTail = async (): Promise<RecordedEvent[]> => {
    const tail: RecordedEvent[] = []
    for await (const event of store.readAll(shadowAt === null ? { maxCount: batchEvents } : { fromPosition: shadowAt, maxCount: batchEvents + 1 })) {
      if (shadowAt !== null && event.position <= shadowAt) continue
      tail.push(event)
      if (tail.length >= batchEvents) break
    }
    return tail
  }

  /** Whether the live checkpoint went behind the shadow (the read models were reset). */
  const checkpointBehind = (): boolean => {
    const checkpoint = readModels.getCheckpoint(checkpointName)
    return shadowAt !== null && (checkpoint === null || checkpoint < shadowAt)
  }

  const claim = readModels.beginShadow(name)
  try {
    // Phase 1: the whole log up to the live checkpoint.
    const first = readModels.getCheckpoint(checkpointName)
    if (first !== null) await catchUp(claim, first)

    // Compare: mark the keys whose live documents differ.
    marking = true
    let compareAll = false
    let compared = 0
    let differing = 0
    let nextCompareProgress = progressEvery
    for (let after: string | null = ''; after !== null; ) {
      const chunk = readModels.diffShadow(claim, name, after, compareChunk)
      compared += chunk.compared
      differing += chunk.marked
      if (compared >= nextCompareProgress) {
        options.onProgress?.({ projection: name, phase: 'compare', documents: compared, differing })
        nextCompareProgress = (Math.floor(compared / progressEvery) + 1) * progressEvery
      }
      // Live documents older than the shadow were compared: the marks cannot be trusted.
      if (checkpointBehind()) compareAll = true
      after = chunk.nextKey
      await setImmediate()
    }

    // Phase 2: the swap.
    let deadline: number | undefined
    for (let attempt = 1; ; attempt++) {
      const target = readModels.getCheckpoint(checkpointName)
      if (target !== null && (shadowAt === null || target > shadowAt)) await catchUp(claim, target)
      const tail = await readTail()
      await options.beforeSwapAttempt?.(attempt)
      deadline ??= performance.now() + swapTimeoutMs

      let behind = false
      const lockStarted = performance.now()
      const swap = readModels.swapShadow(
        claim,
        name,
        checkpointName,
        (checkpoint) => {
          if (checkpoint === shadowAt) return new Map()
          if (checkpoint === null || (shadowAt !== null && checkpoint < shadowAt)) {
            behind = true
            return undefined
          }
          const lastRead = tail.at(-1)?.position
          if (lastRead === undefined || lastRead < checkpoint) return undefined // the projector moved past what was read
          const needed = tail.filter((e) => e.position <= checkpoint)
          const changes = foldBatch(needed, [projection], loadShadow)
          counted(needed.length, needed.at(-1)?.position)
          return changes.get(name) ?? new Map()
        },
        { all: compareAll },
      )
      if (swap.swapped) {
        const lockMs = Math.round(performance.now() - lockStarted)
        readModels.clearShadow(name)
        return {
          projection: name,
          documents: readModels.countDocuments(name),
          replaced: swap.replaced,
          position: swap.checkpoint,
          events,
          attempts: attempt,
          ms: Math.round(performance.now() - started),
          lockMs,
        }
      }
      if (behind) compareAll = true
      if (performance.now() >= deadline) {
        throw new RebuildError(
          behind
            ? `the live checkpoint ${checkpointName} (${swap.checkpoint ?? 'none'}) stayed behind the rebuilt position ${shadowAt ?? 'none'} for ${swapTimeoutMs} ms (were the read models reset during the rebuild?); nothing was swapped, run the rebuild again`
            : `the live projector kept moving past the events read for the swap for ${swapTimeoutMs} ms (last checkpoint ${swap.checkpoint ?? 'none'}); nothing was swapped, run the rebuild again`,
        )
      }
      if (behind) await delay(retryDelayMs)
    }
  } catch (err) {
    try {
      readModels.abandonShadow(claim, name)
    } catch {
      // the error that stopped the rebuild is the one to report; a later rebuild clears the shadow
    }
    throw err
  }
}

function positiveInteger(option: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${option} must be a positive integer, got ${value}`)
  return value
}

function nonNegative(option: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${option} must be a non-negative number of milliseconds, got ${value}`)
  return value
}
