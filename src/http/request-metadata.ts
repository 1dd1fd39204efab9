import type { FastifyRequest } from 'fastify'
import { HttpProblem } from './problem.js'
import { ACTOR_PATTERN } from './schemas.js'

/**
 * The event metadata of a write request: the `x-actor` header (who acts, until authentication comes
 * with issue #7; `anonymous` when absent) and the request id as `correlationId`.
 * @throws HttpProblem 400 for an `x-actor` that is not 1-64 characters of ACTOR_PATTERN.
 */
export function metadataOf(request: FastifyRequest): { actor: string; correlationId: string } {
  const actor = request.headers['x-actor']
  if (actor !== undefined && (typeof actor !== 'string' || !ACTOR_PATTERN.test(actor)))
    throw new HttpProblem(400, 'validation', 'Malformed request', 'header x-actor must be 1-64 characters from A-Z a-z 0-9 . _ @ : -', {
      errors: [{ pointer: '/', message: 'bad x-actor header', in: 'headers' }],
    })
  return { actor: actor ?? 'anonymous', correlationId: request.id }
}
