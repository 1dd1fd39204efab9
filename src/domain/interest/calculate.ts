import { ZERO, formatYuan, roundHalfUpToFen } from '../money.js'
import type { InterestRate, MonthCounting } from '../pension/pension-tables.js'
import type { AccountMovement, PensionState } from '../pension/pension-state.js'
import { INTEREST_CREDITED, type InterestCreditedData } from './events.js'

export type InterestDecision =
  | { outcome: 'credit'; event: { type: typeof INTEREST_CREDITED; data: InterestCreditedData } }
  /** The year is credited already (one event per person and year): nothing to add. */
  | { outcome: 'already-credited'; amount: string }
  /** No pension individual account by the end of the year, or a year the imported history covers
   * (the previous system's balance includes its interest). */
  | { outcome: 'skip'; reason: 'no-account' | 'covered-by-legacy' }

/**
 * Months of `year` a movement earns interest for (RULES.md §4): money credited (or debited) during
 * month m earns for the months from m to December (`inclusive`, 13 − m) or from the month after
 * (`exclusive`, 12 − m); money at the end of month m (an imported balance, a year's interest) for
 * the months after it (12 − m).
 */
export function monthsEarning(m: AccountMovement, counting: MonthCounting): number {
  if (m.atMonthEnd) return 12 - m.month
  return counting === 'inclusive' ? 13 - m.month : 12 - m.month
}

/**
 * The record-keeping interest of one person's pension individual account for `year` (Ren She Bu Fa
 * [2017] No.31; crediting rule RULES.md §4): opening balance × rate, plus each credit × rate ×
 * months / 12, minus each debit likewise, rounded half-up to 0.01 once, and never below 0.00. The
 * opening balance is everything effective before 1 January of `year`, earlier years' interest
 * included.
 */
export function decideInterest(
  personId: string,
  pension: PensionState,
  year: number,
  rate: InterestRate,
  counting: MonthCounting,
): InterestDecision {
  const credited = pension.interestYears.get(year)
  if (credited !== undefined) return { outcome: 'already-credited', amount: credited }
  if (pension.legacyAsOf !== undefined && pension.legacyAsOf >= `${year}-12-31`) return { outcome: 'skip', reason: 'covered-by-legacy' }
  let opening = ZERO
  let credits = ZERO
  let debits = ZERO
  /** Σ amount × months, in yuan-months. */
  let weighted = ZERO
  let hasAccount = false
  for (const m of pension.movements) {
    if (m.year > year) continue
    hasAccount = true
    if (m.year < year) {
      opening = opening.plus(m.amount)
      continue
    }
    if (m.amount.isNegative()) debits = debits.minus(m.amount)
    else credits = credits.plus(m.amount)
    weighted = weighted.plus(m.amount.times(monthsEarning(m, counting)))
  }
  if (!hasAccount) return { outcome: 'skip', reason: 'no-account' }
  // Never below zero: a debit dated before a credit of the same year (a pension paid for January from
  // a December line) would otherwise weigh more than the money it took.
  const computed = roundHalfUpToFen(opening.times(12).plus(weighted).times(rate.fraction).div(12))
  const amount = computed.isNegative() ? ZERO : computed
  return {
    outcome: 'credit',
    event: {
      type: INTEREST_CREDITED,
      data: {
        personId,
        year,
        ratePercent: rate.percent,
        monthCounting: counting,
        region: pension.heldIn ?? '',
        openingBalance: formatYuan(opening),
        credits: formatYuan(credits),
        debits: formatYuan(debits),
        amount: formatYuan(amount),
      },
    },
  }
}
