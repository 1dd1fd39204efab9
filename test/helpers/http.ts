import { citizenIdCheckChar, usccCheckChar } from '../../src/domain/ids.js'
import type { Test } from 'tap'
import { WrongExpectedRevisionError, type EventStore } from '../../src/eventstore/port.js'

/**
 * Helpers for the HTTP tests (test/http/): valid identifiers built from the check-character
 * functions, a submission body builder, and a JSON reader for `app.inject` answers.
 */

/**
 * A valid citizen id (GB 11643-1999) for test person `n` (0..999): address 310104, born 1990-01-01,
 * sequence `n`, check character computed by `citizenIdCheckChar` (its arithmetic is checked by hand
 * in test/domain/ids.test.ts).
 */
export function personId(n: number, birth = '19900101'): string {
  const first17 = '310104' + birth + String(n).padStart(3, '0')
  return first17 + citizenIdCheckChar(first17)
}

/**
 * A valid unified social credit code (GB 32100-2015) for test employer `suffix` (4 characters of
 * the charset `0123456789ABCDEFGHJKLMNPQRTUWXY`), check character computed by `usccCheckChar`.
 */
export function employerId(suffix = '0001'): string {
  const first17 = '91310000MA1FL' + suffix
  return first17 + usccCheckChar(first17)
}

export interface SubmissionLine {
  personId: string
  wage: string
}

export interface SubmissionInput {
  submissionId: string
  employerId: string
  region: string
  period: string
  workInjuryClass?: number
  lines: SubmissionLine[]
}

/** A submission body with defaults (Shanghai, 2024-07, employer 0001, class omitted). */
export function submission(overrides: Partial<SubmissionInput> & Pick<SubmissionInput, 'submissionId' | 'lines'>): SubmissionInput {
  return { employerId: employerId(), region: '310000', period: '2024-07', ...overrides }
}

/** The shape of an `app.inject` response we read. */
export interface InjectedResponse {
  statusCode: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

/** Parses the JSON body of an injected response (throws with the raw body when it is not JSON). */
export function json<T = any>(res: InjectedResponse): T {
  try {
    return JSON.parse(res.body) as T
  } catch {
    throw new Error(`response body is not JSON (status ${res.statusCode}): ${res.body.slice(0, 200)}`)
  }
}

/** A problem detail's field error, as the API answers it. */
export interface FieldErrorOut {
  pointer: string
  line?: number
  message: string
}

/**
 * Makes every `appendMany` of `store` take `ms` milliseconds before it commits, as a networked store
 * (KurrentDB) or a group commit would. In-process SQLite commits synchronously, so without this the
 * read-decide-append of one request runs within one macrotask and concurrent requests through
 * `app.inject` never race on a stream's revision; with it, they read the same revision and race.
 * Returns a counter of the appends that lost on an expected revision.
 */
export function withAppendLatency(store: EventStore, ms: number): { conflicts: number; appends: number } {
  const stats = { conflicts: 0, appends: 0 }
  const appendMany = store.appendMany.bind(store)
  store.appendMany = async (appends) => {
    stats.appends++
    await new Promise((resolve) => setTimeout(resolve, ms))
    try {
      return await appendMany(appends)
    } catch (err) {
      if (err instanceof WrongExpectedRevisionError) stats.conflicts++
      throw err
    }
  }
  return stats
}

export const PROBLEM_TYPE = /^application\/problem\+json/

/** Asserts `res` is an RFC 9457 problem with the given status, and returns its body. */
export function problem(t: Test, res: InjectedResponse, status: number, what: string) {
  t.equal(res.statusCode, status, `${what}: status ${status}`)
  t.match(String(res.headers['content-type']), PROBLEM_TYPE, `${what}: application/problem+json`)
  const body = json(res)
  t.type(body.type, 'string', `${what}: type`)
  t.type(body.title, 'string', `${what}: title`)
  t.equal(body.status, status, `${what}: status member`)
  t.type(body.detail, 'string', `${what}: detail`)
  return body
}
