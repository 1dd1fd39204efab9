/**
 * Load on `POST /v1/contribution-submissions` with autocannon's programmatic API: every request
 * carries the next of a list of prebuilt bodies (so each submission is posted once), every answer
 * is checked (status, and the receipt's `lineCount` for a 201), and every response time is kept
 * (exact, in milliseconds) for the percentiles.
 *
 * Why our own percentiles rather than autocannon's: its histogram records whole milliseconds, and
 * with a rate set it "corrects" for coordinated omission with an expected interval of
 * `Math.ceil(1 / perConnectionRate)` = 1 ms (a per-second rate read as per-millisecond), which adds
 * made-up samples. The times here are what each request took from its write to its answer.
 */
import autocannon from 'autocannon'
import { now } from './phases/phase.js'

/** Path of the submissions resource. */
export const SUBMISSIONS_PATH = '/v1/contribution-submissions'
/** Characters kept of the first answer that was not a 201. */
export const PROBLEM_BODY_CHARS = 2_000

/** Options of {@link postBodies}. */
export interface LoadOptions {
  /** `http://127.0.0.1:{port}`. */
  baseUrl: string
  /** Bearer token of a payroll key whose scope holds every body's employer. */
  token: string
  /** JSON bodies, handed out in order, each at most once. */
  bodies: readonly string[]
  connections: number
  /** Stop after this many requests (the bulk phase), or … */
  amount?: number
  /** … run for `durationS` seconds at `overallRate` requests a second over all connections (the single phase). */
  overallRate?: number
  durationS?: number
  /** Per-request timeout, seconds (autocannon's `timeout`). */
  requestTimeoutS: number
  /** Longest the whole load may run before it is stopped, milliseconds. */
  maxRunMs: number
}

/** What {@link postBodies} saw. */
export interface LoadResult {
  /** Answers received. */
  responses: number
  /** Answers by status code. */
  statusCounts: Record<string, number>
  /** Answers that were 201 Created with a receipt (a 201 without one counts as a problem). */
  created: number
  /** Sum of `lineCount` over the 201 receipts. */
  linesRecorded: number
  /** autocannon's connection errors (timeouts included) and timeouts. */
  errors: number
  timeouts: number
  /** autocannon's count of answers outside 2xx. */
  non2xx: number
  /** Response times, milliseconds, ascending. */
  latenciesMs: number[]
  /** From the start of the load to the last answer, seconds. */
  seconds: number
  /** Bodies handed out. */
  bodiesUsed: number
  /** Most requests written and not yet answered at any moment (autocannon's rate limit lets each
   * connection send its share of a second back to back, so this is up to `connections`). */
  maxInFlight: number
  /** Whether the bodies ran out (the last one was then sent again, a retry). */
  exhausted: boolean
  /** Whether the load was stopped at {@link LoadOptions.maxRunMs}. */
  stoppedAtLimit: boolean
  /** The first answer that was not a 201: its status and body (cut to {@link PROBLEM_BODY_CHARS}). */
  firstProblem?: { status: number; body: string }
}

/**
 * Posts bodies with autocannon as `options` says, and reports every answer.
 * @throws Error when autocannon cannot start (bad options, connections above `amount`).
 */
export async function postBodies(options: LoadOptions): Promise<LoadResult> {
  const { bodies } = options
  let next = 0
  let exhausted = false
  let stoppedAtLimit = false
  let created = 0
  let linesRecorded = 0
  let firstProblem: LoadResult['firstProblem']
  const latenciesMs: number[] = []
  // Requests written and not yet answered (a body is handed out right before its request is written).
  let inFlight = 0
  let maxInFlight = 0
  let instance: autocannon.Instance | undefined

  const headers = { 'content-type': 'application/json', authorization: `Bearer ${options.token}` }
  const request: autocannon.Request = {
    method: 'POST',
    path: SUBMISSIONS_PATH,
    headers,
    setupRequest: (req) => {
      let body = bodies[next]
      if (body === undefined) {
        exhausted = true
        instance?.stop()
        body = bodies[bodies.length - 1] ?? '{}'
      } else {
        next++
      }
      inFlight++
      if (inFlight > maxInFlight) maxInFlight = inFlight
      return { ...req, body }
    },
    onResponse: (status, body) => {
      const lineCount = status === 201 ? receiptLineCount(body) : undefined
      if (lineCount !== undefined) {
        created++
        linesRecorded += lineCount
      } else if (firstProblem === undefined) {
        firstProblem = { status, body: body.slice(0, PROBLEM_BODY_CHARS) }
      }
    },
  }

  const started = now()
  let lastAnswer = started
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const limit = setTimeout(() => {
      stoppedAtLimit = true
      instance?.stop()
    }, options.maxRunMs)
    try {
      instance = autocannon(
        {
          url: `${options.baseUrl}${SUBMISSIONS_PATH}`,
          connections: options.connections,
          timeout: options.requestTimeoutS,
          requests: [request],
          ...(options.amount !== undefined ? { amount: options.amount } : {}),
          // (autocannon refuses ignoreCoordinatedOmission without a rate; its latencies are not used anyway)
          ...(options.overallRate !== undefined ? { overallRate: options.overallRate, ignoreCoordinatedOmission: true } : {}),
          ...(options.durationS !== undefined ? { duration: options.durationS } : {}),
        },
        (err: unknown, res: autocannon.Result) => {
          clearTimeout(limit)
          if (err) reject(err instanceof Error ? err : new Error(String(err)))
          else resolve(res)
        },
      )
      instance.on('response', (_client, _status, _bytes, responseTimeMs) => {
        inFlight--
        lastAnswer = now()
        latenciesMs.push(responseTimeMs)
      })
    } catch (err) {
      clearTimeout(limit)
      reject(err instanceof Error ? err : new Error(String(err)))
    }
  })

  latenciesMs.sort((a, b) => a - b)
  const statusCounts: Record<string, number> = {}
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCounts[code] = stat.count ?? 0
  return {
    responses: latenciesMs.length,
    statusCounts,
    created,
    linesRecorded,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    latenciesMs,
    seconds: (lastAnswer - started) / 1000,
    bodiesUsed: Math.min(next, bodies.length),
    maxInFlight,
    exhausted,
    stoppedAtLimit,
    ...(firstProblem !== undefined ? { firstProblem } : {}),
  }
}

/** The `lineCount` of a 201 receipt, or undefined when the body is not one. */
function receiptLineCount(body: string): number | undefined {
  try {
    const receipt = JSON.parse(body) as { lineCount?: unknown }
    return typeof receipt.lineCount === 'number' ? receipt.lineCount : undefined
  } catch {
    return undefined
  }
}

/**
 * The `q`-quantile (0 < q ≤ 1) of ascending `sorted` by the nearest-rank method, or null when empty.
 */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)))
  return sorted[rank - 1]!
}

/** What is wrong with a load that should have been all 201s, or undefined when nothing. */
export function loadProblem(r: LoadResult): string | undefined {
  const problems: string[] = []
  if (r.stoppedAtLimit) problems.push('stopped at its time limit')
  if (r.exhausted) problems.push('ran out of prebuilt bodies')
  if (r.errors > 0) problems.push(`${r.errors} connection errors (${r.timeouts} timeouts)`)
  if (r.non2xx > 0) problems.push(`${r.non2xx} answers outside 2xx`)
  const other = r.responses - r.created
  if (other > 0) problems.push(`${other} answers not 201 (${JSON.stringify(r.statusCounts)})`)
  return problems.length > 0 ? problems.join('; ') : undefined
}
