import { CONTRIBUTION_LINE_VOIDED, CONTRIBUTION_RECORDED, type ContributionLineVoidedData, type ContributionRecordedData } from './events.js'
import type { Scheme } from '../schemes.js'
import { LEGACY_HISTORY_IMPORTED, type LegacyHistoryImportedData } from '../legacy/events.js'
import { LEGACY_CREDITED_SCHEMES, legacyCoveredPeriods } from '../legacy/decide.js'
import { CONTRIBUTION_REVERSED, type ContributionReversedData } from '../reversal/events.js'
import { RETIREMENT_RECORDED, type RetirementRecordedData } from '../retirement/events.js'

/** Who already credited one (period, scheme) of a person. */
export interface CreditedBy {
  submissionId: string
  employerId: string
  lineIndex: number
  /** Set when the credit is a year imported from the previous system (legacy history): then
   * `submissionId` is `legacy:{importId}` (no submission id has a colon), `employerId` is empty and
   * `lineIndex` is the index of the year in the import's `years`. */
  legacyImportId?: string
}

/**
 * What the contribution rules need to know about one person: which (period, scheme) pairs are
 * already credited, and by whom. A fold over the events of `person-{personId}`.
 */
export interface PersonContributionState {
  credited: Map<string, CreditedBy[]>
  /** The person's recorded line of each submission, by submissionId (a person is on one line of a
   * submission at most): lets a retry of a half-written submission see which lines are written. */
  lines: Map<string, ContributionRecordedData>
  /** The person's legacy history import (at most one), if any. */
  legacy: LegacyHistoryImportedData | undefined
  /** Date of the person's retirement (YYYY-MM-DD), once recorded: no contributions after its month. */
  retiredOn: string | undefined
}

/** The state of a person with no events. */
export const initialPersonState = (): PersonContributionState => ({ credited: new Map(), lines: new Map(), legacy: undefined, retiredOn: undefined })

/** Key of a (period, scheme) pair in `credited`. */
export const creditKey = (period: string, scheme: Scheme): string => `${period}|${scheme}`

/**
 * Folds one event of the person's stream into the state (mutates and returns `state`; callers own
 * the state object). Unknown event types leave it unchanged.
 */
export function evolvePerson(state: PersonContributionState, event: { type: string; data: unknown }): PersonContributionState {
  if (event.type === CONTRIBUTION_RECORDED) {
    const data = event.data as ContributionRecordedData
    state.lines.set(data.submissionId, data)
    for (const s of data.schemes) {
      const key = creditKey(data.period, s.scheme)
      const list = state.credited.get(key) ?? []
      list.push({ submissionId: data.submissionId, employerId: data.employerId, lineIndex: data.lineIndex })
      state.credited.set(key, list)
    }
  }
  // A voided or reversed line no longer credits its months: a corrected line may be posted.
  if (event.type === CONTRIBUTION_LINE_VOIDED || event.type === CONTRIBUTION_REVERSED) {
    const data = event.data as ContributionLineVoidedData | ContributionReversedData
    state.lines.delete(data.submissionId)
    for (const s of data.schemes) {
      const key = creditKey(data.period, s.scheme)
      const rest = (state.credited.get(key) ?? []).filter((c) => c.submissionId !== data.submissionId)
      if (rest.length > 0) state.credited.set(key, rest)
      else state.credited.delete(key)
    }
  }
  if (event.type === RETIREMENT_RECORDED) state.retiredOn = (event.data as RetirementRecordedData).retiredOn
  if (event.type === LEGACY_HISTORY_IMPORTED) {
    // An imported year says how many months, not which: every month it can cover counts as credited
    // (legacy/decide.ts, "Which months an imported year covers"), for the schemes of the record.
    const data = event.data as LegacyHistoryImportedData
    state.legacy = data
    for (const period of legacyCoveredPeriods(data)) {
      const year = Number(period.slice(0, 4))
      const credit: CreditedBy = {
        submissionId: `legacy:${data.importId}`,
        employerId: '',
        lineIndex: data.years.findIndex((y) => y.year === year),
        legacyImportId: data.importId,
      }
      for (const scheme of LEGACY_CREDITED_SCHEMES) {
        const key = creditKey(period, scheme)
        state.credited.set(key, [...(state.credited.get(key) ?? []), credit])
      }
    }
  }
  return state
}
