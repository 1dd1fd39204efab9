/**
 * Open-loop load at a fixed rate for the single-line phase: request i is due at start + i / rate
 * (evenly spaced, 0.5 ms apart at 2,000/s), sent over a keep-alive agent of at most `connections`
 * sockets, and its latency is measured FROM ITS DUE TIME to its last response byte, so a request
 * that waited for a socket (the service fell behind) counts that wait: no coordinated omission.
 *
 * Why our own and not autocannon's `overallRate`: autocannon gives each connection its quota of a
 * one-second window and sends it back to back at the start of the window (64 requests at once every
 * second with 64 connections), which measures how a burst queues, not a steady 2,000 a second.
 * The client here is node:http only, so it takes as little of the machine's CPU as we can make it
 * (the service runs on the same two cores).
 */
import http from 'node:http'
import { SUBMISSIONS_PATH, PROBLEM_BODY_CHARS } from './http-load.js'
import { now } from './phases/phase.js'

/** Options of {@link pacedLoad}. */
export interface PacedLoadOptions {
  /** `http://127.0.0.1:{port}`. */
  baseUrl: string
  token: string
  /** JSON bodies, one per request, in order; the load stops early when they run out. */
  bodies: readonly string[]
  /** Requests a second. */
  ratePerSecond: number
  durationS: number
  /** Most sockets open at once (requests beyond wait for one, and that wait is counted). */
  connections: number
  /** Per-request timeout, milliseconds. */
  requestTimeoutMs: number
}

/** What {@link pacedLoad} saw. */
export interface PacedLoadResult {
  /** Requests sent, and answers received by status. */
  sent: number
  statusCounts: Record<string, number>
  created: number
  errors: number
  /** Latencies from due time to answer, milliseconds, ascending (answered requests only). */
  latenciesMs: number[]
  /** From the first due time to the last answer, seconds. */
  seconds: number
  /** Most requests due and not yet answered at one moment. */
  maxInFlight: number
  /** The first answer that was not a 201 (status and body, cut), or the first error. */
  firstProblem?: { status: number; body: string }
}

/**
 * Sends `ratePerSecond × durationS` requests (at most `bodies.length`) evenly spaced, and waits for
 * every answer (each bounded by `requestTimeoutMs`).
 */
export async function pacedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const url = new URL(SUBMISSIONS_PATH, options.baseUrl)
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections })
  const total = Math.min(options.bodies.length, Math.round(options.ratePerSecond * options.durationS))
  const intervalMs = 1000 / options.ratePerSecond
  const result: PacedLoadResult = { sent: 0, statusCounts: {}, created: 0, errors: 0, latenciesMs: [], seconds: 0, maxInFlight: 0 }
  let inFlight = 0
  let lastAnswer = 0
  const answers: Promise<void>[] = []
  const start = now()

  const send = (body: string, dueMs: number): Promise<void> =>
    new Promise((resolve) => {
      inFlight += 1
      result.maxInFlight = Math.max(result.maxInFlight, inFlight)
      const done = (status: number | undefined, text: string): void => {
        inFlight -= 1
        lastAnswer = now()
        if (status === undefined) {
          result.errors += 1
          result.firstProblem ??= { status: 0, body: text.slice(0, PROBLEM_BODY_CHARS) }
        } else {
          result.statusCounts[status] = (result.statusCounts[status] ?? 0) + 1
          result.latenciesMs.push(lastAnswer - dueMs)
          if (status === 201) result.created += 1
          else result.firstProblem ??= { status, body: text.slice(0, PROBLEM_BODY_CHARS) }
        }
        resolve()
      }
      const req = http.request(
        url,
        {
          method: 'POST',
          agent,
          timeout: options.requestTimeoutMs,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}`, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => {
            if (text.length < PROBLEM_BODY_CHARS) text += chunk
          })
          res.on('end', () => done(res.statusCode, text))
          res.on('error', (err) => done(undefined, String(err)))
        },
      )
      req.on('timeout', () => req.destroy(new Error(`no answer within ${options.requestTimeoutMs} ms`)))
      req.on('error', (err) => done(undefined, String(err)))
      req.end(body)
    })

  // Each turn sends every request that has come due (timers fire at about 1 ms granularity, so a
  // turn sends one or two at 2,000/s); its latency still counts from its own due time.
  while (result.sent < total) {
    const elapsed = now() - start
    while (result.sent < total && result.sent * intervalMs <= elapsed) {
      answers.push(send(options.bodies[result.sent]!, start + result.sent * intervalMs))
      result.sent += 1
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(1, result.sent * intervalMs - (now() - start)))))
  }
  await Promise.all(answers)
  agent.destroy()
  result.latenciesMs.sort((a, b) => a - b)
  result.seconds = (lastAnswer - start) / 1000
  return result
}
