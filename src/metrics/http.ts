import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { submissionOutcomeOfStatus, type LedgerMetrics, type SubmissionOutcome } from './metrics.js'

/** The `route` label of a request no route matched (a 404): never its raw URL. */
export const UNMATCHED_ROUTE = 'none'

/**
 * Counts and times every answered request (`ledger_http_requests_total`,
 * `ledger_http_request_duration_seconds`) by method, matched route pattern
 * (`request.routeOptions.url`, e.g. `/v1/persons/:personId/balances`: never the raw URL, which holds
 * person ids) and status code; and serves `GET /metrics` (Prometheus text format, no token: see
 * PUBLIC_ROUTES in src/http/auth.ts). Call on the root instance, before the routes. Returns what
 * counts a request answered 408 outside Fastify (give it to http/limits.ts clientErrorHandlerWith).
 */
export function installHttpMetrics(app: FastifyInstance, metrics: LedgerMetrics): (request: IncomingMessage | undefined) => void {
  // The route pattern of each routed request, for a 408 answered outside Fastify (below).
  const routeOf = new WeakMap<IncomingMessage, string>()
  app.addHook('onRequest', async (request) => {
    routeOf.set(request.raw, request.routeOptions.url ?? UNMATCHED_ROUTE)
  })
  app.addHook('onResponse', async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? UNMATCHED_ROUTE, status_code: String(reply.statusCode) }
    metrics.httpRequests.inc(labels)
    metrics.httpRequestDuration.observe(labels, reply.elapsedTime / 1000)
  })
  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics()
    return reply.type(metrics.registry.contentType).send(body)
  })
  return (request) => countRequestTimeout(metrics, request && { method: request.method ?? UNKNOWN_METHOD, route: routeOf.get(request) ?? UNMATCHED_ROUTE })
}

/** The `method` label of a request whose request line had not all arrived. */
export const UNKNOWN_METHOD = 'unknown'

/** The submissions route, whose timeouts are also a submission outcome. */
const SUBMISSIONS_ROUTE = '/v1/contribution-submissions'

/**
 * Counts a request answered 408 by the client error handler (http/limits.ts: its body or headers
 * did not arrive in time; Fastify's hooks never see that answer): in `ledger_http_requests_total`
 * with status 408 (`request` undefined: headers incomplete, method `unknown`, route `none`), and, for
 * a POST to the submissions route, in `ledger_submissions_total{outcome="timeout"}` (0 lines: its
 * body never arrived). No duration is observed (the request never started being handled).
 */
export function countRequestTimeout(metrics: LedgerMetrics, request: { method: string; route: string } | undefined): void {
  const labels = { method: request?.method ?? UNKNOWN_METHOD, route: request?.route ?? UNMATCHED_ROUTE, status_code: '408' }
  metrics.httpRequests.inc(labels)
  if (labels.method === 'POST' && labels.route === SUBMISSIONS_ROUTE) {
    const outcome = submissionOutcomeOfStatus(408)
    metrics.submissions.inc({ outcome })
    metrics.submissionLines.inc({ outcome }, 0)
  }
}

/** Records the outcome of each payroll submission (`ledger_submissions_total`,
 * `ledger_submission_lines_total`) once it is answered. */
export interface SubmissionMetrics {
  /** Names the outcome of `request` and its line count (the route knows them: recorded,
   * already-recorded, a refusal of the use case). */
  note(request: FastifyRequest, outcome: SubmissionOutcome, lines: number): void
  /** The route's `onResponse` hook: counts the noted outcome, or else one named from the status
   * (400 `invalid`, 413 `too-large` …; see submissionOutcomeOfStatus), with the body's lines when
   * it was parsed and has a `lines` array (else 0). */
  onResponse(request: FastifyRequest, reply: FastifyReply): Promise<void>
}

/** The submission recorder over `metrics`. */
export function submissionMetrics(metrics: LedgerMetrics): SubmissionMetrics {
  const noted = new WeakMap<FastifyRequest, { outcome: SubmissionOutcome; lines: number }>()
  return {
    note(request, outcome, lines) {
      noted.set(request, { outcome, lines })
    },
    async onResponse(request, reply) {
      const known = noted.get(request)
      const outcome = known?.outcome ?? submissionOutcomeOfStatus(reply.statusCode)
      const body = request.body as { lines?: unknown } | null | undefined
      const lines = known?.lines ?? (typeof body === 'object' && body !== null && Array.isArray(body.lines) ? body.lines.length : 0)
      metrics.submissions.inc({ outcome })
      metrics.submissionLines.inc({ outcome }, lines)
    },
  }
}
