/**
 * RFC 9457 problem details: every error this service answers is `application/problem+json` with
 * `type`, `title`, `status`, `detail`, and `errors[]` naming each bad field.
 */

/** One bad field. `pointer` is a JSON Pointer into the request (RFC 6901); `line` the 0-based line
 * index of a submission line. */
export interface FieldError {
  pointer: string
  line?: number
  message: string
}

export interface ProblemDetails {
  type: string
  title: string
  status: number
  detail: string
  instance?: string
  errors?: FieldError[]
  [extension: string]: unknown
}

/** Base of the problem `type` URIs; each kind has a stable name after it. */
export const PROBLEM_BASE = 'https://ledger.example/problems/'

/** Most field errors listed in one answer; the rest are counted in `errorsOmitted`. */
export const MAX_FIELD_ERRORS = 100

/** An error the HTTP edge answers as a problem (thrown by routes, turned into a reply by the handler). */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    readonly title: string,
    readonly detail: string,
    readonly extensions: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail)
  }

  toProblem(instance?: string): ProblemDetails {
    return {
      type: PROBLEM_BASE + this.kind,
      title: this.title,
      status: this.status,
      detail: this.detail,
      ...(instance ? { instance } : {}),
      ...this.extensions,
    }
  }
}

/** Bounds a list of field errors to MAX_FIELD_ERRORS, saying how many were left out. */
export function boundedErrors(errors: FieldError[]): { errors: FieldError[]; errorsOmitted?: number } {
  if (errors.length <= MAX_FIELD_ERRORS) return { errors }
  return { errors: errors.slice(0, MAX_FIELD_ERRORS), errorsOmitted: errors.length - MAX_FIELD_ERRORS }
}

/** The 0-based line index in a pointer like `/lines/12/wage`, if any. */
export function lineOf(pointer: string): number | undefined {
  const m = /^\/lines\/(\d+)(\/|$)/.exec(pointer)
  return m ? Number(m[1]) : undefined
}
