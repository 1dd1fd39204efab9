import { createHash } from 'node:crypto'
import { canonicalJson } from '../../canonical-json.js'
import type { Decimal } from 'decimal.js'
import { formatYuan } from '../money.js'
import type { WorkInjuryClass } from '../schemes.js'

/** Limits of one payroll submission (issue #2 §4). */
export const MAX_LINES_PER_SUBMISSION = 10_000
/** Largest monthly contribution wage accepted, yuan. */
export const MAX_WAGE_YUAN = '99999999.99'
export const SUBMISSION_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/

/** The command: record one payroll submission (already validated for shape). */
export interface RecordSubmission {
  submissionId: string
  /** Unified social credit code (GB 32100-2015). */
  employerId: string
  /** GB/T 2260 code of the pooling region. */
  region: string
  /** `YYYY-MM`. */
  period: string
  workInjuryClass: WorkInjuryClass
  lines: { personId: string; wage: Decimal }[]
}

/**
 * SHA-256 (hex) of the submission's canonical content (RFC 8785 JSON of every field, wages as
 * two-place strings, lines in the order given). Two submissions with the same hash are the same
 * submission; a retry with another hash is a conflict.
 */
export function submissionContentHash(cmd: RecordSubmission): string {
  return sha256(
    canonicalJson({
      submissionId: cmd.submissionId,
      employerId: cmd.employerId,
      region: cmd.region,
      period: cmd.period,
      workInjuryClass: cmd.workInjuryClass,
      lines: canonicalLines(cmd),
    }),
  )
}

/** SHA-256 (hex) of the lines alone (same canonical form), so a conflict can say whether the lines
 * differ as well as the other fields. */
export function submissionLinesHash(cmd: RecordSubmission): string {
  return sha256(canonicalJson(canonicalLines(cmd)))
}

const canonicalLines = (cmd: RecordSubmission) => cmd.lines.map((l) => ({ personId: l.personId, wage: formatYuan(l.wage) }))
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')
