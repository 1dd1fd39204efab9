import type { FastifyReply } from 'fastify'
import type { KeyedResult, MarkerData } from '../usecases/keyed-person-command.js'
import { HttpProblem } from './problem.js'

/**
 * Answers a keyed command (payouts, reversals): 201 recorded, 200 the same request again (same
 * position), 409 the key used with another body (naming the fields), the refusal's problem, 501 on
 * a store without atomic multi-stream appends.
 */
export function keyedAnswer<Marker extends MarkerData, Refusal>(
  reply: FastifyReply,
  result: KeyedResult<Marker, Refusal>,
  how: { what: 'payout' | 'reversal'; key: string; body: (marker: Marker) => Record<string, unknown>; refusal: (r: Refusal) => HttpProblem },
) {
  switch (result.kind) {
    case 'recorded':
    case 'already-recorded':
      return reply.code(result.kind === 'recorded' ? 201 : 200).send({ status: result.kind, ...how.body(result.marker), position: result.position.toString() })
    case 'key-conflict':
      throw new HttpProblem(
        409,
        `${how.what}-exists-with-different-content`,
        `${how.what === 'payout' ? 'Payout' : 'Reversal'} id already used for another request`,
        `${how.what} ${how.key} was recorded for another request (differs in: ${result.differences.join(', ')})`,
        { differences: result.differences },
      )
    case 'refused':
      throw how.refusal(result.refusal)
    case 'unsupported':
      throw new HttpProblem(
        501,
        `${how.what}s-unsupported-by-store`,
        `${how.what === 'payout' ? 'Payouts' : 'Reversals'} not supported on this store`,
        `${how.what}s need atomic multi-stream appends: KurrentDB 25.1+ or the embedded store`,
      )
  }
}
