import type { FastifyInstance } from 'fastify'
import { HttpProblem } from './problem.js'

/** `Retry-After` of the 503 answered while the service shuts down, seconds. */
export const CLOSING_RETRY_AFTER_S = 5

/**
 * How the app behaves once it starts closing (a graceful shutdown, issue #9). Installed after the
 * security headers (its 503 carries them) and before authentication and the routes.
 *
 * - A request that arrives on a kept-alive connection after the close began is answered 503 as a
 *   problem (`application/problem+json`, `Retry-After`), like every other error, instead of
 *   Fastify's own plain-JSON 503 (`return503OnClosing` is off in app.ts).
 * - `app.close()` waits only for the requests in flight, not for their keep-alive connections:
 *   Fastify closes the idle connections once when it starts closing, and a connection whose request
 *   was in flight then would stay open until its keep-alive timeout (72 s) and hold the close. Once
 *   closing, every answer says `Connection: close`, and each finished answer closes the connections
 *   that became idle.
 */
export function installClosingGate(app: FastifyInstance): void {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async () => {
    if (closing)
      throw new HttpProblem(
        503,
        'shutting-down',
        'Service shutting down',
        'the service is shutting down; send the request again shortly (it will be answered by this service once restarted, or by another instance)',
        {},
        { 'retry-after': String(CLOSING_RETRY_AFTER_S) },
      )
  })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })
  app.addHook('onResponse', async () => {
    if (closing) setImmediate(() => app.server.closeIdleConnections())
  })
}
