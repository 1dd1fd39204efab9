import { z } from 'zod'
import type { Decimal } from 'decimal.js'
import { Yuan, MONEY_PATTERN } from './money.js'
import type { Scheme, WorkInjuryClass } from './schemes.js'
import { PERIOD_PATTERN, periodFirstDay } from './period.js'

/**
 * The versioned policy table: per region and window, the contribution base floor and cap and the
 * scheme rates (RULES.md §1-2). Data, not code: shipped in `policy/policy-table.json`, replaceable
 * whole with `LEDGER_POLICY_PATH`. Every event that used a row records the row's `id`.
 */

const percent = z
  .string()
  .regex(/^\d{1,3}(\.\d{1,4})?$/, 'a percent as a decimal string, e.g. "16" or "0.5"')
  .refine((p) => new Yuan(p).lte(100), 'at most 100')
const money = z.string().regex(MONEY_PATTERN, 'yuan with two places, e.g. "7384.00"')
const isoDate = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, 'YYYY-MM-DD')
const provenance = { source: z.string().min(1), confidence: z.string().min(1) }

const splitRate = z.object({ employerPercent: percent, employeePercent: percent, ...provenance }).strict()

/** Schema of one policy row as stored in the table file. */
export const PolicyRowSchema = z
  .object({
    id: z.string().min(1).max(64),
    region: z.string().regex(/^\d{6}$/),
    regionName: z.string().optional(),
    effectiveFrom: isoDate,
    effectiveTo: isoDate,
    base: z.object({ floor: money, cap: money, averageWage: money.optional(), ...provenance }).strict(),
    rates: z
      .object({
        pension: splitRate.optional(),
        medical: splitRate.optional(),
        unemployment: splitRate.optional(),
        maternity: splitRate.optional(),
        work_injury: z
          .object({
            employerPercentByClass: z.array(percent).length(8),
            employeePercent: percent,
            ...provenance,
          })
          .strict()
          .optional(),
      })
      .strict(),
    note: z.string().optional(),
  })
  .strict()
  .refine((r) => r.effectiveFrom <= r.effectiveTo, { message: 'effectiveFrom after effectiveTo', path: ['effectiveTo'] })
  .refine((r) => new Yuan(r.base.floor).lte(new Yuan(r.base.cap)), { message: 'floor above cap', path: ['base', 'floor'] })

/** Schema of the whole table file. */
export const PolicyTableSchema = z
  .object({ tableVersion: z.string().min(1), note: z.string().optional(), policies: z.array(PolicyRowSchema).min(1) })
  .strict()
  .superRefine((table, ctx) => {
    const ids = new Set<string>()
    table.policies.forEach((row, i) => {
      if (ids.has(row.id)) ctx.addIssue({ code: 'custom', message: `duplicate policy id ${row.id}`, path: ['policies', i, 'id'] })
      ids.add(row.id)
      table.policies.forEach((other, j) => {
        if (j > i && other.region === row.region && other.effectiveFrom <= row.effectiveTo && row.effectiveFrom <= other.effectiveTo)
          ctx.addIssue({ code: 'custom', message: `windows of ${row.id} and ${other.id} overlap`, path: ['policies', j] })
      })
    })
  })

export type PolicyRow = z.infer<typeof PolicyRowSchema>
export type PolicyTable = z.infer<typeof PolicyTableSchema>

/** A scheme's rates as fractions of the base (16% → 0.16). */
export interface SchemeRates {
  employer: Decimal
  employee: Decimal
}

/** A policy row ready for computation: rates as Decimal fractions. */
export interface Policy {
  /** Row id, recorded in every event that used it, e.g. `310000/2024-07/v1`. */
  id: string
  tableVersion: string
  region: string
  effectiveFrom: string
  effectiveTo: string
  /** Contribution base floor and cap, yuan per month. */
  floor: Decimal
  cap: Decimal
  /** Rates of the schemes in force, in the order of SCHEMES; work injury per class separately. */
  rates: Partial<Record<Exclude<Scheme, 'work_injury'>, SchemeRates>>
  /** Work-injury employer rate by risk class 1..8 (index 0 = class I); absent when not in force. */
  workInjuryByClass?: readonly Decimal[]
}

const fraction = (p: string): Decimal => new Yuan(p).div(100)

function toPolicy(row: PolicyRow, tableVersion: string): Policy {
  const rates: Policy['rates'] = {}
  for (const scheme of ['pension', 'medical', 'unemployment', 'maternity'] as const) {
    const r = row.rates[scheme]
    if (r) rates[scheme] = { employer: fraction(r.employerPercent), employee: fraction(r.employeePercent) }
  }
  const wi = row.rates.work_injury
  return {
    id: row.id,
    tableVersion,
    region: row.region,
    effectiveFrom: row.effectiveFrom,
    effectiveTo: row.effectiveTo,
    floor: new Yuan(row.base.floor),
    cap: new Yuan(row.base.cap),
    rates,
    ...(wi ? { workInjuryByClass: wi.employerPercentByClass.map(fraction) } : {}),
  }
}

/** Lookup over a validated policy table. */
export class PolicyBook {
  private readonly byRegion = new Map<string, Policy[]>()
  constructor(readonly table: PolicyTable) {
    for (const row of table.policies) {
      const list = this.byRegion.get(row.region) ?? []
      list.push(toPolicy(row, table.tableVersion))
      this.byRegion.set(row.region, list)
    }
  }

  /**
   * The policy in force for `region` in contribution period `period` (`YYYY-MM`): the row whose
   * window contains the period's first day. `undefined` when none (HTTP answers 422).
   */
  find(region: string, period: string): Policy | undefined {
    if (!PERIOD_PATTERN.test(period)) return undefined
    const day = periodFirstDay(period)
    return this.byRegion.get(region)?.find((p) => p.effectiveFrom <= day && day <= p.effectiveTo)
  }

  /** Regions that have at least one policy row. */
  regions(): string[] {
    return [...this.byRegion.keys()].sort()
  }
}

/** Employer rate for work injury for a risk class, or undefined when the scheme is not in force. */
export function workInjuryRate(policy: Policy, riskClass: WorkInjuryClass): Decimal | undefined {
  return policy.workInjuryByClass?.[riskClass - 1]
}
