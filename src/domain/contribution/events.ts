import type { Scheme, WorkInjuryClass } from '../schemes.js'

/**
 * Events of the contribution part of the ledger. Amounts are yuan strings with two places,
 * rates are fractions of the base as decimal strings ("0.16"). Events store the computed amounts and
 * the policy row used, so a later policy change never changes history.
 */

/** One scheme's amounts inside a ContributionRecorded event. */
export interface SchemeContribution {
  scheme: Scheme
  base: string
  employerRate: string
  employeeRate: string
  employer: string
  employee: string
  individualAccount: string
  pool: string
}

/**
 * On `person-{personId}`: one worker's line of a payroll submission, all schemes in one event.
 * One event per line (not per scheme) because the line is the payroll's unit of fact: it is
 * appended, checked for duplicates and (later) reversed as a whole, and 10,000 lines stay 10,000
 * events rather than 40,000.
 */
export interface ContributionRecordedData {
  submissionId: string
  /** 0-based index of the line in the submission. */
  lineIndex: number
  personId: string
  employerId: string
  region: string
  period: string
  wage: string
  workInjuryClass: WorkInjuryClass
  policyId: string
  policyTableVersion: string
  schemes: SchemeContribution[]
}

/** Yuan totals of a submission (employer + employee = individualAccount + pool). */
export interface ContributionTotals {
  employer: string
  employee: string
  individualAccount: string
  pool: string
}

/**
 * On `submission-{submissionId}` (appended with expected revision `no_stream`, last in the same
 * atomic append as its lines): the payroll submission itself, with a SHA-256 of its canonical
 * content for idempotent retries.
 */
export interface ContributionSubmissionRecordedData {
  submissionId: string
  contentHash: string
  /** SHA-256 of the lines alone (see submissionLinesHash). */
  linesHash: string
  employerId: string
  region: string
  period: string
  workInjuryClass: WorkInjuryClass
  lineCount: number
  policyId: string
  policyTableVersion: string
  totals: ContributionTotals
}

/**
 * On `person-{personId}`: a line of a submission that was never completed is withdrawn. Only a
 * store without atomic multi-stream appends can leave such a line (a submission half-written, whose
 * retry was then refused); the void carries the line's amounts so folds subtract exactly them.
 */
export interface ContributionLineVoidedData {
  submissionId: string
  lineIndex: number
  personId: string
  employerId: string
  region: string
  period: string
  reason: string
  schemes: SchemeContribution[]
}

export const CONTRIBUTION_RECORDED = 'ContributionRecorded' as const
export const CONTRIBUTION_LINE_VOIDED = 'ContributionLineVoided' as const
export const SUBMISSION_RECORDED = 'ContributionSubmissionRecorded' as const

export type ContributionEvent =
  | { type: typeof CONTRIBUTION_RECORDED; data: ContributionRecordedData }
  | { type: typeof SUBMISSION_RECORDED; data: ContributionSubmissionRecordedData }
  | { type: typeof CONTRIBUTION_LINE_VOIDED; data: ContributionLineVoidedData }

/** Stream names (DESIGN.md, "Streams"). */
export const personStream = (personId: string): string => `person-${personId}`
export const submissionStream = (submissionId: string): string => `submission-${submissionId}`
