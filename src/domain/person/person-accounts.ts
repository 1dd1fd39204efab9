import type { Decimal } from 'decimal.js'
import {
  CONTRIBUTION_LINE_VOIDED,
  CONTRIBUTION_RECORDED,
  type ContributionLineVoidedData,
  type ContributionRecordedData,
} from '../contribution/events.js'
import { evolvePerson, initialPersonState, type PersonContributionState } from '../contribution/person-state.js'
import { ZERO, yuan } from '../money.js'
import { evolvePension, initialPensionState, type PensionState } from '../pension/pension-state.js'
import { PAYOUT_RECORDED, type PayoutRecordedData } from '../payout/events.js'
import {
  CONTRIBUTION_REVERSED,
  PAYOUT_REVERSED,
  type ContributionReversedData,
  type PayoutReversedData,
} from '../reversal/events.js'
import type { Scheme } from '../schemes.js'
import { RETIREMENT_RECORDED } from '../retirement/events.js'

/** An event of the person's stream as the fold reads it. */
export interface PersonEvent {
  type: string
  data: unknown
  revision: bigint
}

/**
 * Everything the payout, reversal, retirement and interest rules need to know about one person: a
 * fold over `person-{personId}` (the contribution and pension folds, plus the medical individual
 * account, the regions contributed in per scheme, and which events were reversed).
 */
export interface PersonAccountsState {
  contribution: PersonContributionState
  pension: PensionState
  /** Medical individual account balance (the employee's medical contributions, less payouts from it). */
  medicalAccount: Decimal
  /** Contribution lines that count (not voided, not reversed), by the revision that recorded them. */
  lines: Map<bigint, ContributionRecordedData>
  /** Reversed events: revision → reversalId. */
  reversed: Map<bigint, string>
  /** Revision of each payout not reversed: payoutId → revision. */
  payouts: Map<string, bigint>
  /** Revision of the retirement, once recorded: lines before it are counted in the pension in payment. */
  retirementRevision: bigint | undefined
  /** Revision of the last event folded (`undefined` for a person without events). */
  revision: bigint | undefined
}

export const initialPersonAccounts = (): PersonAccountsState => ({
  contribution: initialPersonState(),
  pension: initialPensionState(),
  medicalAccount: ZERO,
  lines: new Map(),
  reversed: new Map(),
  payouts: new Map(),
  retirementRevision: undefined,
  revision: undefined,
})

const medicalPart = (schemes: { scheme: Scheme; individualAccount: string }[]): Decimal =>
  yuan(schemes.find((s) => s.scheme === 'medical')?.individualAccount ?? '0.00')

/** Folds one event of the person's stream (mutates and returns `state`). */
export function evolvePersonAccounts(state: PersonAccountsState, event: PersonEvent): PersonAccountsState {
  evolvePerson(state.contribution, event)
  evolvePension(state.pension, event)
  state.revision = event.revision
  switch (event.type) {
    case RETIREMENT_RECORDED:
      state.retirementRevision = event.revision
      break
    case CONTRIBUTION_RECORDED: {
      const d = event.data as ContributionRecordedData
      state.lines.set(event.revision, d)
      state.medicalAccount = state.medicalAccount.plus(medicalPart(d.schemes))
      break
    }
    case CONTRIBUTION_LINE_VOIDED: {
      const d = event.data as ContributionLineVoidedData
      for (const [revision, line] of state.lines) if (line.submissionId === d.submissionId) state.lines.delete(revision)
      state.medicalAccount = state.medicalAccount.minus(medicalPart(d.schemes))
      break
    }
    case CONTRIBUTION_REVERSED: {
      const d = event.data as ContributionReversedData
      const revision = BigInt(d.eventRef.revision)
      state.lines.delete(revision)
      state.reversed.set(revision, d.reversalId)
      state.medicalAccount = state.medicalAccount.minus(medicalPart(d.schemes))
      break
    }
    case PAYOUT_RECORDED: {
      const d = event.data as PayoutRecordedData
      state.payouts.set(d.payoutId, event.revision)
      if (d.scheme === 'medical') state.medicalAccount = state.medicalAccount.minus(yuan(d.fromIndividualAccount))
      break
    }
    case PAYOUT_REVERSED: {
      const d = event.data as PayoutReversedData
      state.payouts.delete(d.payout.payoutId)
      state.reversed.set(BigInt(d.eventRef.revision), d.reversalId)
      if (d.payout.scheme === 'medical') state.medicalAccount = state.medicalAccount.plus(yuan(d.payout.fromIndividualAccount))
      break
    }
  }
  return state
}

/**
 * The region whose `scheme` pool pays the person's benefits: the region of the person's latest
 * contribution period for that scheme (lines that count only). `undefined` when none.
 */
export function latestRegion(state: PersonAccountsState, scheme: Scheme): string | undefined {
  let best: { period: string; region: string } | undefined
  for (const line of state.lines.values()) {
    if (!line.schemes.some((s) => s.scheme === scheme)) continue
    if (!best || line.period >= best.period) best = { period: line.period, region: line.region }
  }
  return best?.region
}

/** Pension months contributed, recorded and imported, in every region (transferred ones included). */
export function pensionMonths(state: PersonAccountsState): number {
  let months = 0
  for (const r of state.pension.regions.values()) months += r.pending.size + r.transferred.size + r.legacyMonths
  return months
}
