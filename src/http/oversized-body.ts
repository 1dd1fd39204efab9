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

/**
 * Adds the `onSend` hook that drains the rest of a body after an answer sent before it arrived,
 * when that answer closes the connection (see the file's comment).
 */
export function installOversizedBodyDrain(app: FastifyInstance, bounds: DrainBounds = DEFAULT_BOUNDS): void {
  app.addHook('onSend', async (request, reply, payload) => {
    if (!request.raw.complete && closesConnection(reply)) drainAfterAnswer(request.raw, bounds, (drained, why) => request.log.debug({ drainedBytes: drained, why }, 'rest of the body drained after the answer'))
    return payload
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
