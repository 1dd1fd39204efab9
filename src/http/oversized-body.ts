import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance, FastifyReply } from 'fastify'

/**
 * An answer given before the request's body has all arrived (413 for a body over
 * LEDGER_MAX_BODY_BYTES, a 415, a 400 from the body parser) that closes the connection: Fastify
 * sets `Connection: close` on it, and Node then closes the socket as soon as the answer is written.
 * With body bytes still arriving, the kernel answers them with a reset, which makes the client's
 * send fail (EPIPE, ECONNRESET) and discards the answer it had not read yet. So, after such an
 * answer, the service half-closes the socket (the answer and a FIN are sent) and keeps reading and
 * discarding what the client still sends, for a bounded time and number of bytes ("lingering
 * close", as nginx does), before closing it.
 */

/** Most bytes of a refused body read and discarded after the answer (body bytes, after
 * de-chunking), before the socket is closed anyway (the client has had the time to read its
 * answer). Four times the default body limit. */
export const OVERSIZED_BODY_DRAIN_MAX_BYTES = 16 * 1024 * 1024

/** Longest the rest of a refused body is read and discarded after the answer, milliseconds. */
export const OVERSIZED_BODY_DRAIN_MAX_MS = 5_000

/** The drain's bounds. */
export interface DrainBounds {
  maxBytes: number
  maxMs: number
}

const DEFAULT_BOUNDS: DrainBounds = { maxBytes: OVERSIZED_BODY_DRAIN_MAX_BYTES, maxMs: OVERSIZED_BODY_DRAIN_MAX_MS }

/** Marks a socket on which an answer that closes the connection was sent (or is being sent). */
const CLOSING_ANSWER = Symbol('ledger.closingAnswerSent')

type MarkedSocket = Socket & { [CLOSING_ANSWER]?: true }

/**
 * Adds the `onSend` hook that drains the rest of a body after an answer sent before it arrived,
 * when that answer closes the connection (see the file's comment), and the guard that no later
 * request on such a connection runs (see installClosedConnectionGuard).
 */
export function installOversizedBodyDrain(app: FastifyInstance, bounds: DrainBounds = DEFAULT_BOUNDS): void {
  installClosedConnectionGuard(app)
  app.addHook('onSend', async (request, reply, payload) => {
    if (closesConnection(reply)) (request.raw.socket as MarkedSocket)[CLOSING_ANSWER] = true
    if (!request.raw.complete && closesConnection(reply)) drainAfterAnswer(request.raw, bounds, (drained, why) => request.log.debug({ drainedBytes: drained, why }, 'rest of the body drained after the answer'))
    return payload
  })
}

/**
 * No request runs on a connection after an answer that closes it. The lingering close keeps reading
 * (and Node's parser keeps parsing) what the client sends behind a refused body: a second request in
 * the same write (pipelined) would otherwise be dispatched, executed (events appended) and its answer
 * never sent (request smuggling past the 413). An `onRequest` hook, to be added before every other:
 * - a request whose answer waits behind another on the same connection (HTTP/1.1 pipelining; Node
 *   queues its response) is held until its turn comes (Node gives it the socket), so that it runs
 *   only once the answers before it are known not to close the connection;
 * - a request on a connection marked by a closing answer (or closed meanwhile) is dropped: not run,
 *   not answered (`reply.hijack()`: no later hook, no handler, nothing written); the connection is
 *   closing anyway.
 * Pipelined requests on a connection that stays open are answered as before, in order (they run one
 * after the other instead of side by side, which HTTP/1.1 allows).
 */
export function installClosedConnectionGuard(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    const socket = request.raw.socket as MarkedSocket | null
    const response = reply.raw
    if (socket && response.socket == null && !socket.destroyed && socket[CLOSING_ANSWER] !== true) {
      // Queued behind an answer in progress: wait for Node to hand this answer the socket (the one
      // before it finished and kept the connection) or for the connection to close.
      await new Promise<void>((resolve) => {
        const done = () => {
          response.off('socket', done)
          socket.off('close', done)
          resolve()
        }
        response.once('socket', done)
        socket.once('close', done)
      })
    }
    // Ended (Node's close after a last answer, or the lingering close): no answer can be written.
    if (!socket || socket.destroyed || socket.writableEnded || socket[CLOSING_ANSWER] === true) {
      request.log.debug('request behind an answer that closed the connection: dropped, not run')
      reply.hijack()
    }
  })
}

const closesConnection = (reply: FastifyReply) => String(reply.getHeader('connection') ?? '').toLowerCase() === 'close'

/**
 * Reads the rest of `request`'s body from now on, into nothing, and replaces the socket's
 * close-after-answer (`destroySoon`, called by Node once the answer is written) by: end (the answer
 * and a FIN go out; Node's HTTP server allows half-open sockets, so reading goes on), go on reading
 * until the body has all arrived, the client ends its side, `bounds.maxBytes` more body bytes have
 * arrived or `bounds.maxMs` have passed since the answer, then destroy. `done(drainedBytes, why)` is
 * told how it ended. Call before the answer is written (an `onSend` hook).
 */
export function drainAfterAnswer(request: IncomingMessage, bounds: DrainBounds, done: (drainedBytes: number, why: string) => void = () => undefined): void {
  const socket: Socket = request.socket
  if (Object.hasOwn(socket, 'destroySoon')) return
  // Read here, not left to Node: once the answer is written Node "dumps" an unread body, which reads
  // it without 'data' events (nothing to count by), and pauses a socket whose body nobody reads.
  let drained = 0
  let bound: ((why: string) => void) | undefined
  const count = (chunk: Buffer) => {
    drained += chunk.length
    if (bound !== undefined && drained > bounds.maxBytes) bound('byte bound')
  }
  request.on('data', count)
  request.resume()
  const original = socket.destroySoon
  // Node's HTTP server closes a socket after an answer with `Connection: close` by calling its
  // destroySoon (end, then destroy once written); this socket's own replaces the prototype's once.
  socket.destroySoon = function lingeringClose() {
    Reflect.deleteProperty(socket, 'destroySoon')
    if (request.complete || socket.destroyed) {
      request.off('data', count)
      return original.call(socket)
    }
    drained = 0
    let finished = false
    const finish = (why: string) => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      request.off('data', count)
      request.off('end', onBodyEnd)
      socket.off('end', onClientEnd)
      done(drained, why)
      // Destroyed once the answer is written (never cut short).
      if (socket.writableFinished) socket.destroy()
      else socket.once('finish', () => socket.destroy())
    }
    const onBodyEnd = () => finish('body complete')
    const onClientEnd = () => finish('client ended')
    const timer = setTimeout(() => finish('time bound'), bounds.maxMs)
    bound = finish
    request.once('end', onBodyEnd)
    socket.once('end', onClientEnd)
    socket.once('close', () => finish('closed'))
    socket.resume()
    socket.end()
  }
}
