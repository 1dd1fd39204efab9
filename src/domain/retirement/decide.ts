import { legacyCoveredPeriods } from '../legacy/decide.js'
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
  /** Age at `retiredOn` in completed years, and (optionally) the months beyond them; both must
   * agree with the birth date of the identity number. */
  ageYears: number
  ageMonths?: number
  /** Pooled (basic) monthly pension as the region computed it, yuan with two places. */
  pooledMonthlyAmount: string
}

/**
 * Age at `date` (YYYY-MM-DD) of a person born on `birth` (YYYYMMDD, as in the identity number,
 * GB 11643-1999 positions 7-14): completed years and the completed months beyond them.
 */
export function ageAt(birth: string, date: string): { years: number; months: number } {
  const [by, bm, bd] = [birth.slice(0, 4), birth.slice(4, 6), birth.slice(6, 8)].map(Number) as [number, number, number]
  const [y, m, d] = date.split('-').map(Number) as [number, number, number]
  // A birthday the month lacks (29 February, the 31st) falls on the month's last day (Civil Code
  // Art. 202: a period ending on a day the month does not have ends on its last day).
  const lastDay = new Date(Date.UTC(y, m, 0)).getUTCDate()
  const total = (y - by) * 12 + (m - bm) - (d < Math.min(bd, lastDay) ? 1 : 0)
  return { years: Math.floor(total / 12), months: total % 12 }
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
 * Refused (invalid): a retirement date after `today` (YYYY-MM-DD, Asia/Shanghai); an age that disagrees with the identity number's birth date; pension months
 * recorded after the month of retirement; an open transfer; a region other than the one holding the account (the pension
 * is paid where the account is held: transfer it first); fewer months than `minimumPensionMonths`;
 * an age the divisor table lacks.
 */
export function decideRetirement(cmd: RecordRetirement, state: PersonAccountsState, tables: PensionTables, today: string): RetirementDecision {
  const recorded = state.pension.retirement
  if (recorded) {
    const differences = (['region', 'retiredOn', 'ageYears', 'ageMonths', 'pooledMonthlyAmount'] as const).filter(
      (f) => cmd[f] !== undefined && String(recorded[f]) !== String(cmd[f]),
    )
    return differences.length === 0 ? { outcome: 'already-recorded', recorded } : { outcome: 'conflict', recorded, differences }
  }
  const violations: Violation[] = []
  if (cmd.retiredOn > today)
    violations.push({ pointer: '/retiredOn', message: `${cmd.retiredOn} is after today (${today}): a retirement is recorded once it has happened, and cannot be changed afterwards` })
  const age = ageAt(cmd.personId.slice(6, 14), cmd.retiredOn)
  if (age.years !== cmd.ageYears || (cmd.ageMonths !== undefined && age.months !== cmd.ageMonths))
    violations.push({
      pointer: cmd.ageYears !== age.years ? '/ageYears' : '/ageMonths',
      message: `the identity number gives a birth date of ${cmd.personId.slice(6, 10)}-${cmd.personId.slice(10, 12)}-${cmd.personId.slice(12, 14)}: on ${cmd.retiredOn} the person is ${age.years} years and ${age.months} months old`,
    })
  const later = latestPensionPeriod(state)
  if (later !== undefined && later > cmd.retiredOn.slice(0, 7))
    violations.push({ pointer: '/retiredOn', message: `pension contributions are recorded up to ${later}, after the month of retirement` })
  if (state.pension.openTransferId !== undefined)
    violations.push({ pointer: '/personId', message: `the person has an open transfer (${state.pension.openTransferId}); it must be completed or cancelled first` })
  const heldIn = state.pension.heldIn
  if (heldIn !== undefined && heldIn !== cmd.region)
    violations.push({ pointer: '/region', message: `the pension account is held in region ${heldIn}; the pension is paid there (transfer the account first)` })
  const months = pensionMonths(state)
  const needed = minimumPensionMonths(cmd.retiredOn)
  if (months < needed)
    violations.push({ pointer: '/personId', message: `${months} months of pension contributions; a pension needs at least ${needed} (${needed / 12} years)` })
  const divisor = tables.monthsDivisor(age.years)
  if (divisor === undefined)
    violations.push({ pointer: '/ageYears', message: `the months divisor table has no row for age ${age.years} (it covers ${tables.ages().join(', ')})` })
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
        ageMonths: age.months,
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

/** The latest period with a pension contribution recorded or imported for the person (any region), if any. */
function latestPensionPeriod(state: PersonAccountsState): string | undefined {
  // An imported year covers its months up to December, or to the month of asOf in asOf's year.
  const legacy = state.contribution.legacy
  let latest: string | undefined = legacy ? legacyCoveredPeriods(legacy).at(-1) : undefined
  for (const r of state.pension.regions.values())
    for (const p of [...r.pending.keys(), ...r.transferred]) if (latest === undefined || p > latest) latest = p
  return latest
}
