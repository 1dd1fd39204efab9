import type { Decimal } from 'decimal.js'
import {
  CONTRIBUTION_LINE_VOIDED,
  CONTRIBUTION_RECORDED,
  type ContributionLineVoidedData,
  type ContributionRecordedData,
} from '../contribution/events.js'
import { LEGACY_HISTORY_IMPORTED, type LegacyHistoryImportedData } from '../legacy/events.js'
import { ZERO, yuan } from '../money.js'
import { INTEREST_CREDITED, type InterestCreditedData } from '../interest/events.js'
import { PAYOUT_RECORDED, type PayoutRecordedData } from '../payout/events.js'
import { RETIREMENT_RECORDED, type RetirementRecordedData } from '../retirement/events.js'
import { CONTRIBUTION_REVERSED, PAYOUT_REVERSED, type ContributionReversedData, type PayoutReversedData } from '../reversal/events.js'
import {
  PENSION_TRANSFER_CLOSED,
  PENSION_TRANSFER_OPENED,
  PENSION_TRANSFERRED,
  type PensionTransferClosedData,
  type PensionTransferOpenedData,
  type TransferSentData,
} from '../transfer/events.js'

/** First year whose contribution bases count for the pooled-fund transfer (Guo Ban Fa [2009] No.66 Art. 4). */
export const POOLED_TRANSFER_FROM_YEAR = 1998

/**
 * A change of the pension individual account, dated for the yearly interest (RULES.md §4): money
 * credited or debited during month `month` of `year`, or, with `atMonthEnd`, at the end of that
 * month (an imported balance as of its date; a year's interest at the end of December).
 */
export interface AccountMovement {
  year: number
  /** 1..12 */
  month: number
  atMonthEnd: boolean
  /** Signed: a credit is positive, a debit negative. */
  amount: Decimal
}

/** A person's pension record in one region. */
export interface PensionRegion {
  /** Recorded periods not yet moved by a transfer: period (YYYY-MM) → the pension contribution
   * base and the individual-account part credited for it. */
  pending: Map<string, { base: Decimal; individualAccount: Decimal }>
  /** Recorded periods a transfer has moved. */
  transferred: Set<string>
  /** Imported (legacy) months in this region, and the sum of their bases from 1998 on. */
  legacyMonths: number
  legacyBaseTotal: Decimal
  /** Whether a transfer has moved the imported years. */
  legacyTransferred: boolean
}

/**
 * What the pension rules need to know about a person: a fold over `person-{personId}`.
 * Segments stay per region (the pension is "calculated in segments, paid as one").
 */
export interface PensionState {
  /** Pension individual account balance: contributions' individual parts, the imported opening
   * balance and interest, less what payouts took from it. */
  individualAccount: Decimal
  /** Region that holds the account: the last transfer's destination, else the first region
   * contributed in. */
  heldIn: string | undefined
  regions: Map<string, PensionRegion>
  /** The transfer open for the person, if any (at most one). */
  openTransferId: string | undefined
  /** Whether any transfer has sent money for the person. */
  transfersSent: boolean
  /** The retirement, once recorded (the pension in payment). */
  retirement: RetirementRecordedData | undefined
  /** Pension payouts not reversed: period (YYYY-MM) → payoutId. */
  pensionPayouts: Map<string, string>
  /** Every change of the individual account, in log order (for the yearly interest). */
  movements: AccountMovement[]
  /** Interest credited per year. */
  interestYears: Map<number, string>
  /** Date of the imported legacy history (YYYY-MM-DD), if any: the previous system's figures hold
   * up to it, interest included. */
  legacyAsOf: string | undefined
}

export const initialPensionState = (): PensionState => ({
  individualAccount: ZERO,
  heldIn: undefined,
  regions: new Map(),
  openTransferId: undefined,
  transfersSent: false,
  retirement: undefined,
  pensionPayouts: new Map(),
  movements: [],
  interestYears: new Map(),
  legacyAsOf: undefined,
})

/** A movement during the month of `period` (YYYY-MM). */
function during(period: string, amount: Decimal): AccountMovement {
  return { year: Number(period.slice(0, 4)), month: Number(period.slice(5, 7)), atMonthEnd: false, amount }
}

/** Moves the account by `amount` (signed) and records the movement. */
function move(state: PensionState, movement: AccountMovement): void {
  state.individualAccount = state.individualAccount.plus(movement.amount)
  state.movements.push(movement)
}

function region(state: PensionState, code: string): PensionRegion {
  let r = state.regions.get(code)
  if (!r) {
    r = { pending: new Map(), transferred: new Set(), legacyMonths: 0, legacyBaseTotal: ZERO, legacyTransferred: false }
    state.regions.set(code, r)
  }
  return r
}

/** Folds one event of the person's stream (mutates and returns `state`). */
export function evolvePension(state: PensionState, event: { type: string; data: unknown }): PensionState {
  switch (event.type) {
    case CONTRIBUTION_RECORDED: {
      const d = event.data as ContributionRecordedData
      const pension = d.schemes.find((s) => s.scheme === 'pension')
      if (!pension) break
      region(state, d.region).pending.set(d.period, { base: yuan(pension.base), individualAccount: yuan(pension.individualAccount) })
      move(state, during(d.period, yuan(pension.individualAccount)))
      state.heldIn ??= d.region
      break
    }
    // A voided or reversed line is undone at its own period: it never earned interest.
    case CONTRIBUTION_LINE_VOIDED:
    case CONTRIBUTION_REVERSED: {
      const d = event.data as ContributionLineVoidedData | ContributionReversedData
      const pension = d.schemes.find((s) => s.scheme === 'pension')
      if (!pension) break
      region(state, d.region).pending.delete(d.period)
      move(state, during(d.period, yuan(pension.individualAccount).negated()))
      break
    }
    case RETIREMENT_RECORDED:
      state.retirement = event.data as RetirementRecordedData
      break
    case PAYOUT_RECORDED: {
      const d = event.data as PayoutRecordedData
      if (d.scheme !== 'pension') break
      state.pensionPayouts.set(d.period, d.payoutId)
      move(state, during(d.period, yuan(d.fromIndividualAccount).negated()))
      break
    }
    case PAYOUT_REVERSED: {
      const d = (event.data as PayoutReversedData).payout
      if (d.scheme !== 'pension') break
      state.pensionPayouts.delete(d.period)
      move(state, during(d.period, yuan(d.fromIndividualAccount)))
      break
    }
    case INTEREST_CREDITED: {
      const d = event.data as InterestCreditedData
      state.interestYears.set(d.year, d.amount)
      move(state, { year: d.year, month: 12, atMonthEnd: true, amount: yuan(d.amount) })
      break
    }
    case LEGACY_HISTORY_IMPORTED: {
      const d = event.data as LegacyHistoryImportedData
      // The imported balance holds at the end of its day's month (interest before it is the
      // previous system's).
      move(state, { year: Number(d.asOf.slice(0, 4)), month: Number(d.asOf.slice(5, 7)), atMonthEnd: true, amount: yuan(d.individualAccountBalance) })
      state.legacyAsOf = d.asOf
      for (const y of [...d.years].sort((a, b) => a.year - b.year)) {
        const r = region(state, y.region)
        r.legacyMonths += y.months
        if (y.year >= POOLED_TRANSFER_FROM_YEAR) r.legacyBaseTotal = r.legacyBaseTotal.plus(yuan(y.baseTotal))
        state.heldIn ??= y.region
      }
      break
    }
    case PENSION_TRANSFER_OPENED:
      state.openTransferId = (event.data as PensionTransferOpenedData).transferId
      break
    case PENSION_TRANSFER_CLOSED:
      if (state.openTransferId === (event.data as PensionTransferClosedData).transferId) state.openTransferId = undefined
      break
    case PENSION_TRANSFERRED: {
      const d = event.data as TransferSentData
      const from = region(state, d.fromRegion)
      for (const p of d.periods) {
        from.pending.delete(p)
        from.transferred.add(p)
      }
      if (d.legacyYears) from.legacyTransferred = true
      // Only a transfer's first send moves the account; a supplementary send moves late months'
      // money to wherever the account is held by then, and never pulls it back.
      if (d.sendNumber === 1) state.heldIn = d.toRegion
      state.transfersSent = true
      break
    }
  }
  return state
}

/** Months the person contributed in `code` (recorded and imported), transferred or not. */
export function monthsIn(state: PensionState, code: string): number {
  const r = state.regions.get(code)
  return r ? r.pending.size + r.transferred.size + r.legacyMonths : 0
}

/** Whether `code` still has something a transfer out of it would move: months not yet moved, or
 * the account itself when it is held there. */
export function hasSomethingToMove(state: PensionState, code: string): boolean {
  const r = state.regions.get(code)
  const months = r ? r.pending.size + (r.legacyTransferred ? 0 : r.legacyMonths) : 0
  return months > 0 || state.heldIn === code
}
