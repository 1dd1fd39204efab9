/**
 * Phase `http-bulk`: bulk submissions over HTTP. `--http-submissions` bodies of
 * `--lines-per-submission` lines each, posted by `--http-connections` concurrent connections to
 * the running service; every answer must be 201.
 */
import { health, type Service } from '../service.js'
import { loadProblem, percentile, postBodies } from '../http-load.js'
import type { Workload } from '../workload.js'
import { PhaseError, perSecond, type BenchContext } from './phase.js'

/** Per-request timeout of the bulk phase, seconds (above the service's own 30 s request timeout,
 * so that a slow answer is the service's 503/timeout, not the client giving up). */
export const HTTP_BULK_REQUEST_TIMEOUT_S = 120
/** Longest the whole bulk phase may run, milliseconds (1 hour). */
export const HTTP_BULK_MAX_RUN_MS = 60 * 60 * 1000

/** Figures of {@link httpBulk}. */
export interface HttpBulkFigures {
  submissions: number
  lines: number
  /** Lines plus one marker per submission. */
  events: number
  connections: number
  /** From the first request to the last answer. */
  seconds: number
  linesPerSecond: number
  eventsPerSecond: number
  p50Ms: number | null
  p99Ms: number | null
  /** The service's log head after the phase (should equal `events`). */
  headPosition: string | null
}

/**
 * Posts every submission of `workload` (its JSON bodies built before the clock starts) to `service`.
 * @throws PhaseError when any answer is not a 201, or any request failed (with the first problem body).
 */
export async function httpBulk(ctx: BenchContext, service: Service, workload: Workload): Promise<HttpBulkFigures> {
  const { httpConnections } = ctx.options
  const bodies: string[] = []
  for (const s of workload.submissions()) bodies.push(JSON.stringify(s))
  ctx.progress(`http-bulk: ${bodies.length} submissions (${workload.lineCount} lines) over ${httpConnections} connections`)
  const r = await postBodies({
    baseUrl: service.baseUrl,
    token: service.token,
    bodies,
    connections: httpConnections,
    amount: bodies.length,
    requestTimeoutS: HTTP_BULK_REQUEST_TIMEOUT_S,
    maxRunMs: HTTP_BULK_MAX_RUN_MS,
  })
  const problem = loadProblem(r) ?? (r.created !== bodies.length ? `${r.created} of ${bodies.length} submissions recorded` : undefined)
  if (problem !== undefined) {
    throw new PhaseError(
      `http-bulk: ${problem}`,
      r.firstProblem ? `first problem: ${r.firstProblem.status} ${r.firstProblem.body}` : service.child.tail(),
    )
  }
  const events = r.linesRecorded + r.created
  return {
    submissions: r.created,
    lines: r.linesRecorded,
    events,
    connections: httpConnections,
    seconds: r.seconds,
    linesPerSecond: perSecond(r.linesRecorded, r.seconds),
    eventsPerSecond: perSecond(events, r.seconds),
    p50Ms: percentile(r.latenciesMs, 0.5),
    p99Ms: percentile(r.latenciesMs, 0.99),
    headPosition: (await health(service.baseUrl))?.headPosition ?? null,
  }
}
