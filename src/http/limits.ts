import { isPublic } from './auth.js'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import { STATUS_CODES, type IncomingMessage, type ServerOptions } from 'node:http'
import type { Socket } from 'node:net'
import { HttpProblem } from './problem.js'
import { installOversizedBodyDrain } from './oversized-body.js'
import { maskPersonIds } from '../logging.js'

/**
 * Limits at the HTTP edge (issue #7): timeouts, a rate limit per caller, and security headers.
 * The body limit is `LEDGER_MAX_BODY_BYTES` (Fastify's `bodyLimit`); lines per submission and string
 * lengths are in the zod schemas of each route; the strict JSON body parser (json-body.ts) bounds
 * nesting and refuses other content types.
 */

/** Longest a request (headers and body) may take to arrive, milliseconds: a body shorter than its
 * Content-Length is answered 408 instead of holding the connection. */
export const REQUEST_TIMEOUT_MS = 30_000

/** Longest the request line and headers may take to arrive, milliseconds (Node's default is 60 s,
 * above the whole request's timeout; a client sends its headers at once, a slow-loris does not). */
export const HEADERS_TIMEOUT_MS = 10_000

/** How often Node compares each open connection with HEADERS_TIMEOUT_MS and REQUEST_TIMEOUT_MS,
 * milliseconds (Node's `connectionsCheckingInterval`, settable only when the server is created).
 * Node's default, 30 s, made the 10 s header timeout fire at 30 s and the 30 s request timeout at
 * 60 s; a timeout fires between its value and its value plus this interval. A check walks the open
 * connections only: cheap once a second. */
export const CONNECTIONS_CHECK_INTERVAL_MS = 1_000

/** The timeouts Node enforces on a request as it arrives (the service uses the constants above;
 * tests shorten them). Milliseconds; `headersMs` at most `requestMs` (Node refuses otherwise). */
export interface HttpTimeouts {
  /** Request line and headers: HEADERS_TIMEOUT_MS. */
  headersMs: number
  /** Whole request, headers and body: REQUEST_TIMEOUT_MS. */
  requestMs: number
  /** How often they are checked: CONNECTIONS_CHECK_INTERVAL_MS. */
  checkIntervalMs: number
}

/** The service's timeouts. */
export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  headersMs: HEADERS_TIMEOUT_MS,
  requestMs: REQUEST_TIMEOUT_MS,
  checkIntervalMs: CONNECTIONS_CHECK_INTERVAL_MS,
}

/**
 * The options of Node's `http.createServer` carrying `timeouts` (Fastify forwards its `http` option
 * there; Fastify's own `requestTimeout` option must be the same `requestMs`, it is set again after
 * creation). The checking interval can be set only here, at creation.
 * @throws RangeError (Node's ERR_OUT_OF_RANGE, when the server is created) if headersMs > requestMs.
 */
export function httpServerOptions(timeouts: HttpTimeouts): ServerOptions {
  return { headersTimeout: timeouts.headersMs, requestTimeout: timeouts.requestMs, connectionsCheckingInterval: timeouts.checkIntervalMs }
}

/** Told of each request answered 408 by the client error handler: its request when one was
 * dispatched (its body was arriving), undefined when its headers had not all arrived. */
export type RequestTimeoutObserver = (request: IncomingMessage | undefined) => void

/**
 * Fastify's `clientErrorHandler`: an error on a connection before a request reached a route (a
 * timeout above, headers too large, a malformed request) is answered as a problem and the socket
 * closed: 408 `request-timeout`, 431 `headers-too-large`, else 400 `malformed-request`. Nothing is
 * written when the socket is gone, or when a response has begun on it (Node's own rule); a reset
 * by the client is silently dropped. A 408 written is logged (one warn line: method and URL, person
 * ids masked, `reason: 'timeout'`) and told to `onTimeout` (app.ts counts it in the metrics), as
 * Fastify's own log and hooks never see it.
 */
export function clientErrorHandlerWith(onTimeout: RequestTimeoutObserver = () => undefined) {
  return function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Socket): void {
    if (error.code === 'ECONNRESET' || socket.destroyed) return
    const [status, kind, title, detail] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? ([408, 'request-timeout', 'Request timeout', 'the request did not arrive in time; nothing was recorded'] as const)
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? ([431, 'headers-too-large', 'Request headers too large', 'the request headers are too large'] as const)
          : ([400, 'malformed-request', 'Malformed request', 'the request is not valid HTTP'] as const)
    this.log.debug({ err: error, status }, 'client error')
    const message = socket as Socket & { _httpMessage?: { headersSent?: boolean; req?: IncomingMessage } }
    if (socket.writable && !message._httpMessage?.headersSent) {
      const body = JSON.stringify(new HttpProblem(status, kind, title, detail).toProblem())
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/problem+json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
      )
      if (status === 408) {
        // The request whose body was arriving (Node's response to it holds it), if any.
        const request = message._httpMessage?.req
        this.log.warn(
          { req: request ? { method: request.method, url: maskPersonIds(request.url ?? '') } : undefined, reason: 'timeout', status },
          'request did not arrive in time: answered 408',
        )
        onTimeout(request)
      }
    }
    socket.destroy(error)
  }
}

/** The client error handler without an observer (see clientErrorHandlerWith). */
export const clientErrorHandler = clientErrorHandlerWith()

/** Longest a socket may stay idle (nothing received, nothing sent), milliseconds: longer than the
 * longest read wait for `minPosition` (30 s), so only a stalled client is cut off. */
export const CONNECTION_TIMEOUT_MS = 60_000

/** How long an idle keep-alive connection stays open between requests, milliseconds (Fastify's
 * default, named: above the idle timeout of common load balancers, 60 s, so the balancer closes
 * first and never sends on a socket the service is closing). */
export const KEEP_ALIVE_TIMEOUT_MS = 72_000

/** Requests a caller may make in a minute unless `LEDGER_RATE_LIMIT_PER_MINUTE` says otherwise. */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 600

/** The window of the rate limit, milliseconds. */
const RATE_WINDOW_MS = 60_000

/** Whose budget a request spends: the authenticated caller (API key id or JWT subject), else the
 * client address. Prefixed so an actor named like an address never shares a budget with it. */
export function rateLimitKey(request: FastifyRequest): string {
  return request.principal ? `actor:${request.principal.actor}` : `ip:${request.ip}`
}

/**
 * Registers the security headers and the rate limit (the timeouts are server options: app.ts,
 * httpServerOptions). Call before any route is registered (the rate
 * limit attaches itself to each route as it is added) and before authentication's hook (so a 401
 * carries the security headers too).
 *
 * - **Rate limit** (`@fastify/rate-limit`): `perMinute` requests a minute per caller over the whole
 *   `/v1` API, counted in a `preParsing` hook: after authentication (`onRequest`, which sets
 *   `request.principal`) and before the body is read, so a caller over its budget cannot make the
 *   service parse megabytes. Over the budget: 429 problem with `Retry-After` (seconds). Not counted:
 *   the public routes (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`: `isPublic` in
 *   auth.ts) and anything outside `/v1`, the system principal (the ledger itself, tests), and
 *   everything when `perMinute` is 0. One process keeps the counts in memory (several instances
 *   behind a balancer each allow the budget).
 * - **Security headers** (`@fastify/helmet`): helmet's defaults with a Content-Security-Policy for
 *   an API that serves no documents (`default-src 'none'; frame-ancestors 'none'`), framing denied,
 *   HSTS (one year), `no-referrer`, `nosniff`; and `Cache-Control: no-store` on every answer (they
 *   carry personal data), unless a route sets its own.
 * - **Answers before the body** (a 413): the rest of the body is drained, bounded, before the
 *   connection closes, so that the client reads its answer (oversized-body.ts).
 */
export async function installLimits(app: FastifyInstance, options: { perMinute: number }): Promise<void> {
  // A 413 (or any answer that closes the connection) before the body is in: readable by the client;
  // and no request behind such an answer runs. First: its onRequest guard must run before any other.
  installOversizedBodyDrain(app)
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    frameguard: { action: 'deny' },
    strictTransportSecurity: { maxAge: 365 * 24 * 3600, includeSubDomains: true },
  })
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
  })
  if (options.perMinute <= 0) return
  await app.register(rateLimit, {
    global: true,
    max: options.perMinute,
    timeWindow: RATE_WINDOW_MS,
    hook: 'preParsing',
    keyGenerator: rateLimitKey,
    allowList: (request) => isPublic(request) || request.principal?.role === 'system',
    errorResponseBuilder: (_request, context) => {
      const seconds = Math.max(1, Math.ceil(context.ttl / 1000))
      return new HttpProblem(
        429,
        'rate-limited',
        'Too many requests',
        `at most ${context.max} requests a minute per caller; retry in ${seconds} s`,
        { limit: context.max, retryAfterSeconds: seconds },
        { 'retry-after': String(seconds) },
      )
    },
  })
}
