import type { Projector } from '../projector/projector.js'

/**
 * Waits (at most `waitMs`) for the projections to reach `minPosition` when the client asked for it,
 * so a client can read its own write. Returns the position the projections are at, as a decimal
 * string ("0" before the first event).
 */
export async function readPosition(projector: Projector, minPosition: string | undefined, waitMs: number): Promise<string> {
  const reached = minPosition === undefined ? projector.position : await projector.waitForPosition(BigInt(minPosition), waitMs)
  return (reached ?? 0n).toString()
}
