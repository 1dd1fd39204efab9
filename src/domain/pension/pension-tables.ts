import { z } from 'zod'
import type { Decimal } from 'decimal.js'
import { Yuan } from '../money.js'

/**
 * The pension tables, as data (`policy/pension-tables.json`, replaceable whole with
 * `LEDGER_PENSION_TABLES_PATH`):
 * - the months divisor of the individual-account pension by age at retirement (Guo Fa [2005] No.38
 *   annex; RULES.md §5);
 * - the national record-keeping interest rate of individual pension accounts per year (one national
 *   rate since 2016, Ren She Bu Fa [2017] No.31; RULES.md §4), and whether money credited in a month
 *   earns interest for that month (`inclusive`, Shanghai's published rule) or from the next
 *   (`exclusive`).
 * Every event that used a table records its `tableVersion`.
 */

const provenance = { source: z.string().min(1), confidence: z.string().min(1) }

/** An interest rate in percent per year, e.g. "2.62" (not a fraction). */
export const RATE_PERCENT_PATTERN = /^(0|[1-9]\d?)(\.\d{1,4})?$/

/** How months are counted for money credited or debited during a year (RULES.md §4). */
export const MONTH_COUNTINGS = ['inclusive', 'exclusive'] as const
export type MonthCounting = (typeof MONTH_COUNTINGS)[number]

/** Schema of the pension tables file. */
export const PensionTablesSchema = z
  .strictObject({
    tableVersion: z.string().min(1).max(64),
    note: z.string().optional(),
    interestMonthCounting: z.strictObject({ value: z.enum(MONTH_COUNTINGS), ...provenance }),
    monthsDivisors: z
      .array(z.strictObject({ ageYears: z.number().int().min(16).max(100), months: z.number().int().min(1).max(600), ...provenance }))
      .min(1),
    interestRates: z.array(
      z.strictObject({ year: z.number().int().min(1992).max(2099), percent: z.string().regex(RATE_PERCENT_PATTERN, 'a percent, e.g. "2.62"'), ...provenance }),
    ),
  })
  .superRefine((t, ctx) => {
    const ages = new Set<number>()
    t.monthsDivisors.forEach((d, i) => {
      if (ages.has(d.ageYears)) ctx.addIssue({ code: 'custom', message: `age ${d.ageYears} twice`, path: ['monthsDivisors', i, 'ageYears'] })
      ages.add(d.ageYears)
    })
    const years = new Set<number>()
    t.interestRates.forEach((r, i) => {
      if (years.has(r.year)) ctx.addIssue({ code: 'custom', message: `year ${r.year} twice`, path: ['interestRates', i, 'year'] })
      years.add(r.year)
    })
  })

export type PensionTablesFile = z.infer<typeof PensionTablesSchema>

/** A record-keeping interest rate: percent as published, and as a fraction for computing. */
export interface InterestRate {
  /** e.g. "2.62" for 2.62% a year. */
  percent: string
  /** e.g. 0.0262. */
  fraction: Decimal
}

/** Parses a percent string ("2.62") into a rate. @throws RangeError for a malformed percent. */
export function interestRate(percent: string): InterestRate {
  if (!RATE_PERCENT_PATTERN.test(percent)) throw new RangeError(`not a rate percent: ${JSON.stringify(percent)}`)
  return { percent, fraction: new Yuan(percent).div(100) }
}

/** Lookup over validated pension tables. */
export class PensionTables {
  private readonly divisors = new Map<number, number>()
  private readonly rates = new Map<number, { percent: string; confidence: string }>()
  readonly tableVersion: string
  readonly monthCounting: MonthCounting

  constructor(readonly file: PensionTablesFile) {
    this.tableVersion = file.tableVersion
    this.monthCounting = file.interestMonthCounting.value
    for (const d of file.monthsDivisors) this.divisors.set(d.ageYears, d.months)
    for (const r of file.interestRates) this.rates.set(r.year, { percent: r.percent, confidence: r.confidence })
  }

  /**
   * Months divisor of the individual-account pension for an age at retirement in completed years
   * (Guo Fa [2005] No.38 annex): 60 → 139. The table is by whole years; months of age beyond them do
   * not change the divisor. `undefined` when the table has no row for the age.
   */
  monthsDivisor(ageYears: number): number | undefined {
    return this.divisors.get(ageYears)
  }

  /** The shipped record-keeping interest rate for `year`, or undefined when the table has none. */
  interestRate(year: number): InterestRate | undefined {
    const row = this.rates.get(year)
    return row === undefined ? undefined : interestRate(row.percent)
  }

  /** The confidence the table gives the rate of `year` (`strong`, `weak` …), if it has one. */
  interestRateConfidence(year: number): string | undefined {
    return this.rates.get(year)?.confidence
  }

  /** Ages the divisor table covers, ascending. */
  ages(): number[] {
    return [...this.divisors.keys()].sort((a, b) => a - b)
  }
}
