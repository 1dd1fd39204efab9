import type { FastifyRequest } from 'fastify'
import { principalOf } from './auth.js'
import { HttpProblem } from './problem.js'

/**
 * The event metadata of a write request (issue #7): `actor` is the authenticated principal's (the
 * API key's id, the JWT's subject, `ledger` for the system principal) and `correlationId` the
 * request id.
 *
 * The `x-actor` header said who acted before authentication existed; a client still sending it
 * would believe it names the actor, so it is refused rather than silently ignored.
 * @throws HttpProblem 400 when the request carries `x-actor`; 401 without a principal.
 */
export function metadataOf(request: FastifyRequest): { actor: string; correlationId: string } {
  if (request.headers['x-actor'] !== undefined)
    throw new HttpProblem(
      400,
      'validation',
      'Malformed request',
      'the x-actor header is replaced by authentication: the actor recorded is the API key id or the token subject; send no x-actor',
      { errors: [{ pointer: '/', message: 'x-actor is replaced by authentication', in: 'headers' }] },
    )
  return { actor: principalOf(request).actor, correlationId: request.id }
}
