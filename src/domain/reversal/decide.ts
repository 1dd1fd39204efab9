import { CONTRIBUTION_LINE_VOIDED, CONTRIBUTION_RECORDED, type ContributionRecordedData } from '../contribution/events.js'
import { formatYuan, yuan } from '../money.js'
import { PAYOUT_RECORDED, type PayoutRecordedData } from '../payout/events.js'
import type { PersonAccountsState } from '../person/person-accounts.js'
import { CONTRIBUTION_REVERSED, PAYOUT_REVERSED, type ContributionReversedData, type EventRef, type PayoutReversedData } from './events.js'

/** `POST /v1/reversals`. */
export interface ReverseEvent {
  reversalId: string
  eventRef: EventRef
  reason: string
}

/** The event a reversal names, as read from the log. */
export interface TargetEvent {
  id: string
  type: string
  data: unknown
}

export type ReversalDecision =
  | {
      outcome: 'record'
      event: { type: typeof CONTRIBUTION_REVERSED; data: ContributionReversedData } | { type: typeof PAYOUT_REVERSED; data: PayoutReversedData }
    }
  /** Not something a reversal can undo (422). */
  | { outcome: 'invalid'; pointer: string; detail: string }
  /** Reversed already (409), by `reversalId`. */
  | { outcome: 'already-reversed'; reversalId: string }
  /** Undoing it now would break an invariant (409). */
  | { outcome: 'conflict'; detail: string }

/** Event types a reversal can undo. */
export const REVERSIBLE_TYPES: readonly string[] = [CONTRIBUTION_RECORDED, PAYOUT_RECORDED]

/**
 * Decides a reversal (pure): a compensating event that undoes exactly the amounts of a contribution
 * line or a payout on a person's stream; the original stays in the log.
 *
 * Refused: no such event, or one of another type (a reversal is never reversed) → invalid; an event
 * reversed already → already-reversed; a line voided already, a pension line counted in a recorded
 * retirement, a line whose pension month a transfer
 * has moved to another region, or a line whose individual-account parts the account no longer holds
 * (paid out) → conflict.
 */
export function decideReversal(cmd: ReverseEvent, target: TargetEvent | undefined, state: PersonAccountsState): ReversalDecision {
  if (!target) return { outcome: 'invalid', pointer: '/eventRef/revision', detail: `${cmd.eventRef.stream} has no event at revision ${cmd.eventRef.revision}` }
  const revision = BigInt(cmd.eventRef.revision)
  const earlier = state.reversed.get(revision)
  if (earlier !== undefined) return { outcome: 'already-reversed', reversalId: earlier }
  if (target.type === CONTRIBUTION_REVERSED || target.type === PAYOUT_REVERSED)
    return { outcome: 'invalid', pointer: '/eventRef', detail: `${target.type} is a reversal; a reversal cannot be reversed` }
  if (!REVERSIBLE_TYPES.includes(target.type))
    return { outcome: 'invalid', pointer: '/eventRef', detail: `an event of type ${target.type} cannot be reversed; only ${REVERSIBLE_TYPES.join(' and ')}` }
  const common = { reversalId: cmd.reversalId, reason: cmd.reason, eventRef: cmd.eventRef, reversedEventId: target.id }
  if (target.type === PAYOUT_RECORDED) {
    const payout = target.data as PayoutRecordedData
    return { outcome: 'record', event: { type: PAYOUT_REVERSED, data: { ...common, payout } } }
  }
  const line = target.data as ContributionRecordedData
  if (!state.lines.has(revision)) return { outcome: 'conflict', detail: `the line was voided already (${CONTRIBUTION_LINE_VOIDED})` }
  const pension = line.schemes.find((s) => s.scheme === 'pension')
  if (pension && state.retirementRevision !== undefined && revision < state.retirementRevision)
    return {
      outcome: 'conflict',
      detail: `the line is counted in the pension in payment (retired on ${state.pension.retirement?.retiredOn}); reversing it would change the pension, which the ledger does not recompute`,
    }
  if (pension && state.pension.regions.get(line.region)?.transferred.has(line.period))
    return { outcome: 'conflict', detail: `the pension month ${line.period} was moved out of region ${line.region} by a transfer; it can no longer be reversed there` }
  for (const [scheme, balance] of [
    ['pension', state.pension.individualAccount],
    ['medical', state.medicalAccount],
  ] as const) {
    const part = yuan(line.schemes.find((s) => s.scheme === scheme)?.individualAccount ?? '0.00')
    if (part.gt(balance))
      return {
        outcome: 'conflict',
        detail: `the ${scheme} individual account holds ${formatYuan(balance)}, less than the ${formatYuan(part)} the line credited to it (paid out since)`,
      }
  }
  const data: ContributionReversedData = {
    ...common,
    submissionId: line.submissionId,
    lineIndex: line.lineIndex,
    personId: line.personId,
    employerId: line.employerId,
    region: line.region,
    period: line.period,
    schemes: line.schemes,
  }
  return { outcome: 'record', event: { type: CONTRIBUTION_REVERSED, data } }
}
