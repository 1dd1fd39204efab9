import { CONTRIBUTION_LINE_VOIDED, CONTRIBUTION_RECORDED, type ContributionLineVoidedData, type ContributionRecordedData } from './events.js'
import type { Scheme } from '../schemes.js'

/** Who already credited one (period, scheme) of a person. */
export interface CreditedBy {
  submissionId: string
  employerId: string
  lineIndex: number
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
}

/** The state of a person with no events. */
export const initialPersonState = (): PersonContributionState => ({ credited: new Map(), lines: new Map() })

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
  if (event.type === CONTRIBUTION_LINE_VOIDED) {
    const data = event.data as ContributionLineVoidedData
    state.lines.delete(data.submissionId)
    for (const s of data.schemes) {
      const key = creditKey(data.period, s.scheme)
      const rest = (state.credited.get(key) ?? []).filter((c) => c.submissionId !== data.submissionId)
      if (rest.length > 0) state.credited.set(key, rest)
      else state.credited.delete(key)
    }
  }
  return state
}
