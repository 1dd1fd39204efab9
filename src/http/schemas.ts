import { z } from 'zod'
import { validateCitizenId, validateUscc } from '../domain/ids.js'
import { PERIOD_PATTERN } from '../domain/period.js'
import { MAX_LINES_PER_SUBMISSION, SUBMISSION_ID_PATTERN } from '../domain/contribution/submission.js'

/**
 * Zod schemas of the HTTP contract (issue #2). What fails here is malformed (400); what passes here
 * and breaks a ledger rule is refused later (409 / 422).
 */

/** 18-character citizen identity number, check character verified (GB 11643-1999). */
export const CitizenId = z.string().superRefine((id, ctx) => {
  const v = validateCitizenId(id)
  if (!v.ok) ctx.addIssue({ code: 'custom', message: `not a valid citizen identity number: ${v.reason}` })
})

/** 18-character unified social credit code, check character verified (GB 32100-2015). */
export const EmployerId = z.string().superRefine((id, ctx) => {
  const v = validateUscc(id)
  if (!v.ok) ctx.addIssue({ code: 'custom', message: `not a valid unified social credit code: ${v.reason}` })
})

/** GB/T 2260 administrative division code of a pooling region. */
export const Region = z.string().regex(/^\d{6}$/, 'a 6-digit administrative division code (GB/T 2260), e.g. "310000"')

export const Period = z.string().regex(PERIOD_PATTERN, 'a contribution period YYYY-MM with month 01-12')

/**
 * A monthly contribution wage: a decimal string in yuan, > 0, at most 99999999.99, at most two
 * places, no exponent, no sign, no leading zeros.
 */
export const Wage = z
  .string()
  .regex(
    /^(?!0+(\.0+)?$)(0|[1-9]\d{0,7})(\.\d{1,2})?$/,
    'a decimal string in yuan, greater than 0, at most 99999999.99, with at most two places, e.g. "8500.00"',
  )

/** A submission's id, its idempotency key. */
export const SubmissionId = z.string().regex(SUBMISSION_ID_PATTERN, '1 to 64 characters from A-Z a-z 0-9 . _ -')

/** Body of `POST /v1/contribution-submissions`. */
export const SubmissionBody = z.strictObject({
  submissionId: SubmissionId,
  employerId: EmployerId,
  region: Region,
  period: Period,
  workInjuryClass: z.number().int().min(1).max(8).default(1),
  lines: z
    .array(z.strictObject({ personId: CitizenId, wage: Wage }))
    .min(1, 'at least one line')
    .max(MAX_LINES_PER_SUBMISSION, `at most ${MAX_LINES_PER_SUBMISSION} lines`),
})
export type SubmissionBody = z.infer<typeof SubmissionBody>

/** Largest stream revision a store holds (SQLite's and KurrentDB's signed 64-bit range). */
export const MAX_REVISION = 2n ** 63n - 1n
/** Largest log position on the wire: KurrentDB's (commit, prepare) pair encoded as one integer
 * (commit × 2^64 + prepare) stays below 2^128. */
export const MAX_POSITION = 2n ** 128n - 1n

/** A decimal string from 0 to `max`, at most `digits` digits. */
const boundedInteger = (digits: number, max: bigint, what: string) =>
  z
    .string()
    .regex(new RegExp(`^\\d{1,${digits}}$`), `${what}: a decimal string of at most ${digits} digits`)
    .refine((p) => !/^\d+$/.test(p) || p.length > digits || BigInt(p) <= max, `${what}: at most ${max}`)

/** A log position on the wire (opaque decimal string, see MAX_POSITION). */
export const PositionString = boundedInteger(39, MAX_POSITION, 'a log position')
/** A stream revision on the wire: 0 .. 2^63-1. */
export const RevisionString = boundedInteger(19, MAX_REVISION, 'a stream revision')

/** `?limit=`: a plain decimal count from 1 to `max`. */
export const Limit = (max: number) =>
  z
    .string()
    .regex(/^[1-9]\d{0,5}$/, `a whole number from 1 to ${max}`)
    .transform(Number)
    .refine((n) => n <= max, `at most ${max}`)
    .optional()

/** An actor name the CLI records in event metadata (`--actor`): 1-64 characters, no blanks. Over
 * HTTP the actor is the authenticated principal (issue #7). */
export const ACTOR_PATTERN = /^[A-Za-z0-9._@:-]{1,64}$/

/** `?minPosition=`: wait (bounded) until the projections have reached this position. */
export const ReadQuery = z.strictObject({ minPosition: PositionString.optional() })

/** A non-negative amount in yuan: 0 … 99999999.99, at most two places, no sign, no exponent. */
export const Amount = z
  .string()
  .regex(/^(0|[1-9]\d{0,7})(\.\d{1,2})?$/, 'a decimal string in yuan, from 0 to 99999999.99, with at most two places, e.g. "3000.00"')

/** A positive amount in yuan: more than 0, at most 99999999.99, at most two places. */
export const PositiveAmount = Wage

/** An idempotency key chosen by the caller (payoutId, reversalId): 1-64 characters. */
export const RequestKey = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, '1 to 64 characters from A-Z a-z 0-9 . _ -')
