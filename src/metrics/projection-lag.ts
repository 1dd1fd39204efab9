import type { EventStore } from '../eventstore/port.js'

/** What the lag is measured against: the projector's checkpoint and whether it is live. */
export interface ProjectionSource {
  /** Position of the last event applied (the checkpoint), or `null` before the first. */
  readonly position: bigint | null
  /** Whether the subscription is live (has caught up and not dropped since). */
  readonly caughtUp: boolean
}

/** How far the projections are behind the log, at one instant. */
export interface ProjectionLag {
  /** The log's head position, `0n` for an empty log. */
  headPosition: bigint
  /** The projections' checkpoint, `0n` before the first event applied. */
  projectionPosition: bigint
  /** Events not yet applied. On a store with dense positions (SQLite) head − checkpoint; on
   * others (KurrentDB, whose positions are commit positions) counted by reading the log after the
   * checkpoint, at most MAX_COUNTED_LAG_EVENTS (a larger lag reads as that many). */
  lagEvents: bigint
  /** Age of the oldest event not yet applied (now − its recordedAt), seconds; 0 when caught up. */
  lagSeconds: number
  /** Whether the projector's subscription is live. */
  live: boolean
}

/** Most events counted to measure the lag on a store without dense positions (one bounded read). */
export const MAX_COUNTED_LAG_EVENTS = 10_000

/** The store did not answer within the timeout, or failed. */
export class StoreUnreachableError extends Error {
  override readonly name = 'StoreUnreachableError'
}

/**
 * Measures the projection lag: reads the log's head and, when the projections are behind, the
 * first event after the checkpoint (for its age). At most `timeoutMs` milliseconds in all.
 * @throws StoreUnreachableError when the store throws or does not answer within `timeoutMs`
 * (its `cause` is the store's error).
 */
export async function measureProjectionLag(
  store: Pick<EventStore, 'headPosition' | 'readAll' | 'densePositions'>,
  projector: ProjectionSource,
  options: { timeoutMs: number; now?: () => Date },
): Promise<ProjectionLag> {
  const now = options.now ?? (() => new Date())
  return withTimeout(
    (async () => {
      const head = (await store.headPosition()) ?? 0n
      const checkpoint = projector.position
      const position = checkpoint ?? 0n
      let lagEvents = 0n
      let lagSeconds = 0
      if (head > position) {
        const dense = store.densePositions === true
        // From the checkpoint inclusive (a KurrentDB position plus one is no position), skipping it.
        const from = checkpoint !== null ? { fromPosition: checkpoint } : {}
        for await (const e of store.readAll({ ...from, maxCount: dense ? 2 : MAX_COUNTED_LAG_EVENTS + 1 })) {
          if (checkpoint !== null && e.position <= checkpoint) continue
          if (lagEvents === 0n) lagSeconds = Math.max(0, (now().getTime() - Date.parse(e.recordedAt)) / 1000)
          lagEvents += 1n
          if (dense || lagEvents >= BigInt(MAX_COUNTED_LAG_EVENTS)) break
        }
        if (dense) lagEvents = head - position
      }
      return { headPosition: head, projectionPosition: position, lagEvents, lagSeconds, live: projector.caughtUp }
    })(),
    options.timeoutMs,
  )
}

/** `promise`, or a StoreUnreachableError after `timeoutMs` milliseconds or when it rejects. */
async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnreachableError(`the event store did not answer within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    return await Promise.race([
      promise.catch((err: unknown) => {
        throw new StoreUnreachableError(`the event store failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
      }),
      timeout,
    ])
  } finally {
    clearTimeout(timer)
    // A store answering after the timeout must not surface as an unhandled rejection.
    promise.catch(() => undefined)
  }
}
