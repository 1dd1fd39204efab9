/**
 * Phase `http-single`: single-line submissions over HTTP at a fixed rate (`--single-rate` a second,
 * evenly spaced, over at most `--single-connections` keep-alive connections, for
 * `--single-duration-s`; see bench/paced-load.ts), against the service the bulk phase used, latency
 * from each request's due time. Each body is its own submission for a (person, period) not posted
 * before.
 */
import { waitProjectionCaughtUp, type Service } from '../service.js'
import { percentile } from '../http-load.js'
import { pacedLoad } from '../paced-load.js'
import type { Workload } from '../workload.js'
import { PhaseError, perSecond, type BenchContext } from './phase.js'

/** Bodies prebuilt per request the rate and duration ask for (the rest is margin). */
export const SINGLE_BODIES_MARGIN = 1.3
/** Per-request timeout of the single phase, seconds. */
export const HTTP_SINGLE_REQUEST_TIMEOUT_S = 30
/** Longest the phase waits, before its clock starts, for the service's projector to apply what the
 * bulk phase appended, milliseconds (10 minutes). */
export const PROJECTION_SETTLE_WAIT_MS = 10 * 60 * 1000
/** Persons of one employer in the single-line workload (keeps the key's employer list short). */
export const SINGLE_PERSONS_PER_EMPLOYER = 1_000

/** Number of single-line bodies to prebuild for `rate` × `durationS` (with the margin, and one per connection). */
export function singleBodiesNeeded(rate: number, durationS: number, connections: number): number {
  return Math.ceil(rate * durationS * SINGLE_BODIES_MARGIN) + connections
}

/** Figures of {@link httpSingle}. */
export interface HttpSingleFigures {
  /** Answers received (all 201). */
  requests: number
  askedRatePerSecond: number
  achievedRatePerSecond: number
  connections: number
  /** From the first request's due time to the last answer. */
  seconds: number
  p50Ms: number | null
  p99Ms: number | null
  maxMs: number | null
  /** Whether the service's projector had applied everything appended before the clock started
   * (else it was still folding the bulk phase's events during this one). */
  projectionCaughtUpAtStart: boolean
  /** Time waited for that, seconds (untimed). */
  settleSeconds: number
  /** Most requests due and not yet answered at one moment (open loop: requests are sent when due). */
  maxInFlight: number
  non2xx: number
  /** Requests without an answer (connection errors and timeouts of HTTP_SINGLE_REQUEST_TIMEOUT_S). */
  errors: number
}

/**
 * Posts the single-line submissions of `workload` (bodies built before the clock starts) at the
 * asked rate.
 * @throws PhaseError when an answer is not a 201 or a request failed (with the first problem body).
 */
export async function httpSingle(ctx: BenchContext, service: Service, workload: Workload): Promise<HttpSingleFigures> {
  const { singleRate, singleDurationS, singleConnections } = ctx.options
  const bodies: string[] = []
  for (const s of workload.submissions()) bodies.push(JSON.stringify(s))
  // Steady state: the projector folding the bulk phase's backlog would compete with these requests.
  const settled = await waitProjectionCaughtUp(service.baseUrl, PROJECTION_SETTLE_WAIT_MS)
  if (!settled.caughtUp) ctx.progress(`http-single: the projector has not caught up after ${PROJECTION_SETTLE_WAIT_MS} ms; starting anyway`)
  ctx.progress(`http-single: ${singleRate}/s for ${singleDurationS} s over ${singleConnections} connections (${bodies.length} bodies ready)`)
  const r = await pacedLoad({
    baseUrl: service.baseUrl,
    token: service.token,
    bodies,
    ratePerSecond: singleRate,
    durationS: singleDurationS,
    connections: singleConnections,
    requestTimeoutMs: HTTP_SINGLE_REQUEST_TIMEOUT_S * 1000,
  })
  const problems: string[] = []
  if (r.errors > 0) problems.push(`${r.errors} requests failed`)
  if (r.created < r.sent - r.errors) problems.push(`${r.sent - r.errors - r.created} answers not 201 (${JSON.stringify(r.statusCounts)})`)
  if (r.sent < Math.round(singleRate * singleDurationS)) problems.push(`ran out of prebuilt bodies after ${r.sent}`)
  if (problems.length > 0) {
    throw new PhaseError(
      `http-single: ${problems.join('; ')}`,
      r.firstProblem ? `first problem: ${r.firstProblem.status} ${r.firstProblem.body}` : service.child.tail(),
    )
  }
  const seconds = r.seconds
  return {
    requests: r.created,
    askedRatePerSecond: singleRate,
    achievedRatePerSecond: perSecond(r.created, seconds),
    connections: singleConnections,
    seconds,
    p50Ms: percentile(r.latenciesMs, 0.5),
    p99Ms: percentile(r.latenciesMs, 0.99),
    maxMs: r.latenciesMs.at(-1) ?? null,
    projectionCaughtUpAtStart: settled.caughtUp,
    settleSeconds: settled.seconds,
    maxInFlight: r.maxInFlight,
    non2xx: r.sent - r.created - r.errors,
    errors: r.errors,
  }
}
