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
  /** head − checkpoint, never below 0. On SQLite positions are dense (1, 2, 3 …), so this is the
   * number of events not yet applied; on KurrentDB positions are commit positions in the log, so
   * it is a distance in the log (0 exactly when caught up). */
  lagEvents: bigint
  /** Age of the oldest event not yet applied (now − its recordedAt), seconds; 0 when caught up. */
  lagSeconds: number
  /** Whether the projector's subscription is live. */
  live: boolean
}

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
  store: Pick<EventStore, 'headPosition' | 'readAll'>,
  projector: ProjectionSource,
  options: { timeoutMs: number; now?: () => Date },
): Promise<ProjectionLag> {
  const now = options.now ?? (() => new Date())
  return withTimeout(
    (async () => {
      const head = (await store.headPosition()) ?? 0n
      const checkpoint = projector.position
      const position = checkpoint ?? 0n
      const lagEvents = head > position ? head - position : 0n
      let lagSeconds = 0
      if (lagEvents > 0n) {
        // From the checkpoint inclusive (a KurrentDB position plus one is no position), skipping it.
        for await (const e of store.readAll({ ...(checkpoint !== null ? { fromPosition: checkpoint } : {}), maxCount: 2 })) {
          if (checkpoint !== null && e.position <= checkpoint) continue
          lagSeconds = Math.max(0, (now().getTime() - Date.parse(e.recordedAt)) / 1000)
          break
        }
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
