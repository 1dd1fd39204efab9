import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { HttpProblem } from './problem.js'

/** `Retry-After` of the 503 answered while the service shuts down, seconds. */
export const CLOSING_RETRY_AFTER_S = 5

/** At shutdown, how long a connection with no request being handled (part of its headers, or of a
 * body, or nothing) may go on without receiving a byte before it is closed, milliseconds. A client
 * still sending finishes its request (answered as usual); a stalled one no longer holds the close
 * until LEDGER_SHUTDOWN_TIMEOUT_MS. */
export const SHUTDOWN_STALL_MS = 2_000

/** How often a connection watched at shutdown is checked for bytes received, milliseconds (a
 * stalled connection is closed between SHUTDOWN_STALL_MS and that plus this). */
const STALL_CHECK_INTERVAL_MS = 250

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
 * - A connection with no request being handled (nothing received yet but part of the headers, or a
 *   request whose body has not all arrived: nothing of it ran) would hold `app.close()` until its
 *   own timeouts (10 s headers, 30 s request) and the shutdown past its bound (exit 1). From the
 *   close on, such a connection is closed once nothing arrives on it for SHUTDOWN_STALL_MS; one whose
 *   request completes meanwhile is handled and answered as any other.
 */
export function installClosingGate(app: FastifyInstance): void {
  let closing = false
  const connections = trackConnections(app)
  app.addHook('preClose', async () => {
    closing = true
    connections.closeStalled()
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

/**
 * Follows the app's connections and, on each, the requests not answered yet (from the server's
 * `connection` and `request` events). `closeStalled()` (at the close) watches every connection that
 * has no complete request in progress, and those opened later: one that receives nothing for
 * SHUTDOWN_STALL_MS and still has no complete request is destroyed.
 */
function trackConnections(app: FastifyInstance): { closeStalled(): void } {
  const sockets = new Set<Socket>()
  const unanswered = new WeakMap<Socket, Set<IncomingMessage>>()
  let closing = false
  /** A request on `socket` has all arrived and is not answered yet: it is being handled. */
  const handling = (socket: Socket) => [...(unanswered.get(socket) ?? [])].some((request) => request.complete)
  // Progress is read from the socket's count of bytes received: Node's HTTP parser reads most
  // sockets natively, without 'data' events to listen to.
  const closeWhenStalled = (socket: Socket) => {
    let seen = socket.bytesRead
    let quietSince = performance.now()
    const stop = () => clearInterval(timer)
    const timer = setInterval(() => {
      if (socket.destroyed || handling(socket)) return stop()
      if (socket.bytesRead !== seen) {
        seen = socket.bytesRead
        quietSince = performance.now()
      } else if (performance.now() - quietSince >= SHUTDOWN_STALL_MS) {
        stop()
        app.log.info({ stalledMs: SHUTDOWN_STALL_MS }, 'connection with no request being handled closed at shutdown: nothing arrived for SHUTDOWN_STALL_MS')
        socket.destroy()
      }
    }, STALL_CHECK_INTERVAL_MS)
    socket.once('close', stop)
  }
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    if (closing) closeWhenStalled(socket)
  })
  app.server.on('request', (request: IncomingMessage, response: { once(event: 'close', listener: () => void): unknown }) => {
    let requests = unanswered.get(request.socket)
    if (requests === undefined) unanswered.set(request.socket, (requests = new Set()))
    requests.add(request)
    response.once('close', () => requests.delete(request))
  })
  return {
    closeStalled() {
      closing = true
      for (const socket of sockets) if (!handling(socket)) closeWhenStalled(socket)
    },
  }
}
