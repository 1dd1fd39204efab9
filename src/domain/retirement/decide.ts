import { formatYuan, roundHalfUpToFen, yuan } from '../money.js'
import type { PensionTables } from '../pension/pension-tables.js'
import { pensionMonths, type PersonAccountsState } from '../person/person-accounts.js'
import { RETIREMENT_RECORDED, type RetirementRecordedData } from './events.js'

/** Months of contributions a pension needs: 15 years (Guo Fa [2005] No.38). */
export const MIN_PENSION_MONTHS = 180
/** From 2030 the minimum rises by six months a year up to 20 years (NPC Standing Committee decision
 * of 2024-09-13 on the gradual raising of the retirement age). */
export const MIN_PENSION_MONTHS_FROM_2030 = { firstYear: 2030, stepMonths: 6, maxMonths: 240 } as const

/**
 * Months of contributions needed to draw a pension for a retirement on `retiredOn` (YYYY-MM-DD):
 * 180 until 2029, then 186 in 2030, 192 in 2031 … 240 from 2039.
 */
export function minimumPensionMonths(retiredOn: string): number {
  const year = Number(retiredOn.slice(0, 4))
  const { firstYear, stepMonths, maxMonths } = MIN_PENSION_MONTHS_FROM_2030
  if (year < firstYear) return MIN_PENSION_MONTHS
  return Math.min(maxMonths, MIN_PENSION_MONTHS + stepMonths * (year - firstYear + 1))
}

/** `POST /v1/persons/{personId}/retirement`. */
export interface RecordRetirement {
  personId: string
  region: string
  /** YYYY-MM-DD */
  retiredOn: string
  ageYears: number
  ageMonths: number
  /** Pooled (basic) monthly pension as the region computed it, yuan with two places. */
  pooledMonthlyAmount: string
}

/** A rule the request breaks (HTTP 422), with the JSON Pointer of the field at fault. */
export interface Violation {
  pointer: string
  message: string
}

export type RetirementDecision =
  | { outcome: 'record'; event: { type: typeof RETIREMENT_RECORDED; data: RetirementRecordedData } }
  /** The same retirement again: answer with it (200). */
  | { outcome: 'already-recorded'; recorded: RetirementRecordedData }
  /** Retired already, with other facts (409); `differences` names the fields. */
  | { outcome: 'conflict'; recorded: RetirementRecordedData; differences: string[] }
  | { outcome: 'invalid'; violations: Violation[] }

/**
 * Records a retirement (Guo Fa [2005] No.38; RULES.md §5): the individual-account monthly pension is
 * the pension individual account balance now divided by the months divisor for the age at
 * retirement (completed years), rounded half-up to 0.01.
 *
 * Refused (invalid): an open transfer; a region other than the one holding the account (the pension
 * is paid where the account is held: transfer it first); fewer months than `minimumPensionMonths`;
 * an age the divisor table lacks.
 */
export function decideRetirement(cmd: RecordRetirement, state: PersonAccountsState, tables: PensionTables): RetirementDecision {
  const recorded = state.pension.retirement
  if (recorded) {
    const differences = (['region', 'retiredOn', 'ageYears', 'ageMonths', 'pooledMonthlyAmount'] as const).filter(
      (f) => String(recorded[f]) !== String(cmd[f]),
    )
    return differences.length === 0 ? { outcome: 'already-recorded', recorded } : { outcome: 'conflict', recorded, differences }
  }
  const violations: Violation[] = []
  if (state.pension.openTransferId !== undefined)
    violations.push({ pointer: '/personId', message: `the person has an open transfer (${state.pension.openTransferId}); it must be completed or cancelled first` })
  const heldIn = state.pension.heldIn
  if (heldIn !== undefined && heldIn !== cmd.region)
    violations.push({ pointer: '/region', message: `the pension account is held in region ${heldIn}; the pension is paid there (transfer the account first)` })
  const months = pensionMonths(state)
  const needed = minimumPensionMonths(cmd.retiredOn)
  if (months < needed)
    violations.push({ pointer: '/personId', message: `${months} months of pension contributions; a pension needs at least ${needed} (${needed / 12} years)` })
  const divisor = tables.monthsDivisor(cmd.ageYears)
  if (divisor === undefined)
    violations.push({ pointer: '/ageYears', message: `the months divisor table has no row for age ${cmd.ageYears} (it covers ${tables.ages().join(', ')})` })
  if (violations.length > 0 || divisor === undefined) return { outcome: 'invalid', violations }
  const balance = state.pension.individualAccount
  const monthly = roundHalfUpToFen(balance.div(divisor))
  const pooled = yuan(cmd.pooledMonthlyAmount)
  return {
    outcome: 'record',
    event: {
      type: RETIREMENT_RECORDED,
      data: {
        personId: cmd.personId,
        region: cmd.region,
        retiredOn: cmd.retiredOn,
        ageYears: cmd.ageYears,
        ageMonths: cmd.ageMonths,
        monthsContributed: months,
        individualAccountBalance: formatYuan(balance),
        monthsDivisor: divisor,
        individualAccountMonthly: formatYuan(monthly),
        pooledMonthlyAmount: formatYuan(pooled),
        monthlyPension: formatYuan(monthly.plus(pooled)),
        pensionTablesVersion: tables.tableVersion,
      },
    },
  }
}
