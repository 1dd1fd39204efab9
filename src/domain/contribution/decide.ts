import type { Decimal } from 'decimal.js'
import { formatYuan, sum, yuan } from '../money.js'
import type { Policy } from '../policy.js'
import type { Scheme } from '../schemes.js'
import { computeContribution, type SchemeAmounts } from './calculate.js'
import {
  CONTRIBUTION_LINE_VOIDED,
  CONTRIBUTION_RECORDED,
  SUBMISSION_RECORDED,
  type ContributionRecordedData,
  type ContributionSubmissionRecordedData,
  type ContributionLineVoidedData,
  type ContributionTotals,
  type SchemeContribution,
} from './events.js'
import { creditKey, type CreditedBy, type PersonContributionState } from './person-state.js'
import { submissionLinesHash, type RecordSubmission } from './submission.js'

/** A line of the submission that would credit a month already credited. */
export interface DuplicateMonth {
  lineIndex: number
  personId: string
  scheme: Scheme
  period: string
  earlier: CreditedBy
}

/** A field-level rule violation (HTTP 422). `line` is the 0-based line index when it is about a line. */
export interface RuleViolation {
  line?: number
  field: string
  message: string
}

/** What recording a submission decides, given the current state. */
export type SubmissionDecision =
  | {
      outcome: 'record'
      /** One event per line, in line order, for `person-{personId}`. */
      lineEvents: { personId: string; type: typeof CONTRIBUTION_RECORDED; data: ContributionRecordedData }[]
      submissionEvent: { type: typeof SUBMISSION_RECORDED; data: ContributionSubmissionRecordedData }
    }
  /** Same submission id, same content: a retry. Answer with what was recorded. */
  | { outcome: 'already-recorded'; recorded: ContributionSubmissionRecordedData }
  /** Same submission id, other content. `differences` names the fields that differ. */
  | { outcome: 'submission-conflict'; submissionId: string; differences: string[] }
  /** No policy row for the region and period. */
  | { outcome: 'no-policy'; region: string; period: string }
  | { outcome: 'rule-violation'; violations: RuleViolation[] }
  /** Months already credited by another submission. */
  | { outcome: 'duplicate-months'; duplicates: DuplicateMonth[] }

/** The state `decideSubmission` needs. */
export interface SubmissionState {
  /** The recorded submission with this id, if any. */
  recorded: ContributionSubmissionRecordedData | undefined
  /** Contribution state of every person named in the lines. Missing persons have no events. */
  persons: ReadonlyMap<string, PersonContributionState>
  /** The policy in force for the submission's region and period, if any. */
  policy: Policy | undefined
}

/**
 * Whether an earlier credit of (period, scheme) blocks a new one. Pension, medical, unemployment
 * and maternity credit one month once whoever the employer (one insured month per person);
 * work injury only blocks the same employer, since each employer insures its own workers
 * (a person with two employers is covered by both).
 */
function blocks(scheme: Scheme, earlier: CreditedBy, employerId: string): boolean {
  return scheme === 'work_injury' ? earlier.employerId === employerId : true
}

/**
 * Decides a payroll submission: pure, the command and the current state in, events out.
 *
 * Checks, in order: an existing submission with this id (retry or conflict), the policy, no person
 * twice and no person retired before the period, no month credited twice. Then computes every line (RULES.md §1-2) and the totals.
 */
export function decideSubmission(cmd: RecordSubmission, contentHash: string, state: SubmissionState): SubmissionDecision {
  if (state.recorded) {
    if (state.recorded.contentHash === contentHash) return { outcome: 'already-recorded', recorded: state.recorded }
    return { outcome: 'submission-conflict', submissionId: cmd.submissionId, differences: differences(cmd, state.recorded) }
  }
  const policy = state.policy
  if (!policy) return { outcome: 'no-policy', region: cmd.region, period: cmd.period }

  const firstLine = new Map<string, number>()
  const violations: RuleViolation[] = []
  cmd.lines.forEach((line, i) => {
    const first = firstLine.get(line.personId)
    if (first === undefined) firstLine.set(line.personId, i)
    else violations.push({ line: i, field: 'personId', message: `person already on line ${first} of this submission` })
    const retiredOn = state.persons.get(line.personId)?.retiredOn
    if (retiredOn !== undefined && cmd.period > retiredOn.slice(0, 7))
      violations.push({ line: i, field: 'personId', message: `the person retired on ${retiredOn}: no contributions for months after the retirement` })
  })
  if (violations.length > 0) return { outcome: 'rule-violation', violations }

  const computed = cmd.lines.map((line) => computeContribution(policy, line.wage, cmd.workInjuryClass))

  // Lines this submission already wrote: only possible on a store without atomic multi-stream
  // appends, where a crash can leave a submission half-written; the retry completes it.
  const written = cmd.lines.map((line) => state.persons.get(line.personId)?.lines.get(cmd.submissionId))
  const differentLine = written.findIndex((w, i) => w !== undefined && !sameLine(w, cmd, i))
  if (differentLine >= 0) {
    return {
      outcome: 'submission-conflict',
      submissionId: cmd.submissionId,
      differences: [`lines (line ${differentLine} was recorded with other content)`],
    }
  }

  const duplicates: DuplicateMonth[] = []
  cmd.lines.forEach((line, i) => {
    const person = state.persons.get(line.personId)
    if (!person || written[i]) return
    for (const s of computed[i] ?? []) {
      const earlier = person.credited
        .get(creditKey(cmd.period, s.scheme))
        ?.find((c) => c.submissionId !== cmd.submissionId && blocks(s.scheme, c, cmd.employerId))
      if (earlier) duplicates.push({ lineIndex: i, personId: line.personId, scheme: s.scheme, period: cmd.period, earlier })
    }
  })
  if (duplicates.length > 0) return { outcome: 'duplicate-months', duplicates }

  const rateText = new Map<Decimal, string>()
  const allLineEvents = cmd.lines.map((line, i) => ({
    personId: line.personId,
    type: CONTRIBUTION_RECORDED,
    data: {
      submissionId: cmd.submissionId,
      lineIndex: i,
      personId: line.personId,
      employerId: cmd.employerId,
      region: cmd.region,
      period: cmd.period,
      wage: formatYuan(line.wage),
      workInjuryClass: cmd.workInjuryClass,
      policyId: policy.id,
      policyTableVersion: policy.tableVersion,
      schemes: (computed[i] ?? []).map((amounts) => toEventAmounts(amounts, rateText)),
    },
  }))
  // Totals over every line: the amounts computed now for new lines, the recorded ones for lines a
  // half-written attempt already wrote (a policy table replaced in between changes nothing written).
  const all = computed.flatMap((amounts, i) => (written[i] ? written[i].schemes.map(parseAmounts) : amounts))
  const totals: ContributionTotals = {
    employer: total(all, (s) => s.employer),
    employee: total(all, (s) => s.employee),
    individualAccount: total(all, (s) => s.individualAccount),
    pool: total(all, (s) => s.pool),
  }
  const lineEvents = allLineEvents.filter((_, i) => !written[i])
  return {
    outcome: 'record',
    lineEvents,
    submissionEvent: {
      type: SUBMISSION_RECORDED,
      data: {
        submissionId: cmd.submissionId,
        contentHash,
        linesHash: submissionLinesHash(cmd),
        employerId: cmd.employerId,
        region: cmd.region,
        period: cmd.period,
        workInjuryClass: cmd.workInjuryClass,
        lineCount: cmd.lines.length,
        policyId: policy.id,
        policyTableVersion: policy.tableVersion,
        totals,
      },
    },
  }
}

function total(amounts: Amounts[], pick: (s: Amounts) => Decimal): string {
  return formatYuan(sum(amounts.map(pick)))
}

/** A scheme's amounts as event data. `rateText` caches each rate's text (the same few Decimal
 * objects of one policy recur on every line). */
function toEventAmounts(s: SchemeAmounts, rateText: Map<Decimal, string>) {
  const text = (rate: Decimal) => {
    let t = rateText.get(rate)
    if (t === undefined) rateText.set(rate, (t = rate.toString()))
    return t
  }
  return {
    scheme: s.scheme,
    base: formatYuan(s.base),
    employerRate: text(s.employerRate),
    employeeRate: text(s.employeeRate),
    employer: formatYuan(s.employer),
    employee: formatYuan(s.employee),
    individualAccount: formatYuan(s.individualAccount),
    pool: formatYuan(s.pool),
  }
}

function differences(cmd: RecordSubmission, recorded: ContributionSubmissionRecordedData): string[] {
  const out: string[] = []
  if (cmd.employerId !== recorded.employerId) out.push('employerId')
  if (cmd.region !== recorded.region) out.push('region')
  if (cmd.period !== recorded.period) out.push('period')
  if (cmd.workInjuryClass !== recorded.workInjuryClass) out.push('workInjuryClass')
  if (cmd.lines.length !== recorded.lineCount) out.push('lines (count)')
  else if (submissionLinesHash(cmd) !== recorded.linesHash) out.push('lines (persons or wages)')
  return out
}

type Amounts = Pick<SchemeAmounts, 'employer' | 'employee' | 'individualAccount' | 'pool'>

function parseAmounts(s: SchemeContribution): Amounts {
  return { employer: yuan(s.employer), employee: yuan(s.employee), individualAccount: yuan(s.individualAccount), pool: yuan(s.pool) }
}

/** Whether a recorded line is line `i` of `cmd` (same person, index, employer, region, period,
 * class and wage). */
function sameLine(recorded: ContributionRecordedData, cmd: RecordSubmission, i: number): boolean {
  const line = cmd.lines[i]!
  return (
    recorded.lineIndex === i &&
    recorded.personId === line.personId &&
    recorded.employerId === cmd.employerId &&
    recorded.region === cmd.region &&
    recorded.period === cmd.period &&
    recorded.workInjuryClass === cmd.workInjuryClass &&
    recorded.wage === formatYuan(line.wage)
  )
}

/**
 * Voids for the lines this submission left on the persons' streams without its marker (possible
 * only on a store without atomic multi-stream appends), when the submission is refused: the refused
 * submission then leaves nothing behind that counts. Lines on persons the command does not name
 * cannot be seen here (the marker, which would list them, was never written).
 */
export function voidUnfinishedLines(
  cmd: RecordSubmission,
  persons: ReadonlyMap<string, PersonContributionState>,
  reason: string,
): { personId: string; type: typeof CONTRIBUTION_LINE_VOIDED; data: ContributionLineVoidedData }[] {
  const voids: { personId: string; type: typeof CONTRIBUTION_LINE_VOIDED; data: ContributionLineVoidedData }[] = []
  for (const [personId, person] of persons) {
    const line = person.lines.get(cmd.submissionId)
    if (!line) continue
    voids.push({
      personId,
      type: CONTRIBUTION_LINE_VOIDED,
      data: {
        submissionId: line.submissionId,
        lineIndex: line.lineIndex,
        personId,
        employerId: line.employerId,
        region: line.region,
        period: line.period,
        reason,
        schemes: line.schemes,
      },
    })
  }
  return voids
}
