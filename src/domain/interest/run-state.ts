import type { Decimal } from 'decimal.js'
import { ZERO, yuan } from '../money.js'
import { interestRate, type MonthCounting, type PensionTables } from '../pension/pension-tables.js'
import {
  INTEREST_RUN_BATCH_COMPLETED,
  INTEREST_RUN_COMPLETED,
  INTEREST_RUN_STARTED,
  type InterestRunBatchCompletedData,
  type InterestRunCompletedData,
  type InterestRunStartedData,
} from './events.js'

/** Totals of one pass. */
export interface PassProgress {
  pass: number
  batches: number
  examined: number
  credited: number
  interest: Decimal
  alreadyCredited: number
  skipped: number
  /** The last person a committed batch examined: a resumed pass continues after it. */
  lastPersonId: string | undefined
  completed: boolean
}

/** The run for one year: its rate and its passes (a rerun is a new pass that credits only persons
 * not credited yet). */
export interface YearRun {
  year: number
  ratePercent: string
  rateSource: 'table' | 'request'
  monthCounting: MonthCounting
  pensionTablesVersion: string
  passes: PassProgress[]
}

/** Rates outside these bounds (percent a year) are refused as mistakes: the record-keeping rates
 * published since 1992 lie between about 1.5% and 8.31%; a fraction such as 0.0262 falls below. */
export const MIN_PLAUSIBLE_RATE_PERCENT = 0.5
export const MAX_PLAUSIBLE_RATE_PERCENT = 20

/** A fold over the `interest-runs` stream. */
export interface InterestRunsState {
  years: Map<number, YearRun>
}

export const initialInterestRuns = (): InterestRunsState => ({ years: new Map() })

/** Folds one event of `interest-runs` (mutates and returns `state`). */
export function evolveInterestRuns(state: InterestRunsState, event: { type: string; data: unknown }): InterestRunsState {
  switch (event.type) {
    case INTEREST_RUN_STARTED: {
      const d = event.data as InterestRunStartedData
      const run = state.years.get(d.year) ?? {
        year: d.year,
        ratePercent: d.ratePercent,
        rateSource: d.rateSource,
        monthCounting: d.monthCounting,
        pensionTablesVersion: d.pensionTablesVersion,
        passes: [],
      }
      run.passes.push({ pass: d.pass, batches: 0, examined: 0, credited: 0, interest: ZERO, alreadyCredited: 0, skipped: 0, lastPersonId: undefined, completed: false })
      state.years.set(d.year, run)
      break
    }
    case INTEREST_RUN_BATCH_COMPLETED: {
      const d = event.data as InterestRunBatchCompletedData
      const p = state.years.get(d.year)?.passes.find((x) => x.pass === d.pass)
      if (!p) break
      p.batches += 1
      p.examined += d.examined
      p.credited += d.credited
      p.interest = p.interest.plus(yuan(d.interest))
      p.alreadyCredited += d.alreadyCredited
      p.skipped += d.skipped
      p.lastPersonId = d.lastPersonId
      break
    }
    case INTEREST_RUN_COMPLETED: {
      const d = event.data as InterestRunCompletedData
      const p = state.years.get(d.year)?.passes.find((x) => x.pass === d.pass)
      if (p) p.completed = true
      break
    }
  }
  return state
}

/** The pass of a run not completed yet, if any. */
export const openPass = (run: YearRun | undefined): PassProgress | undefined => run?.passes.find((p) => !p.completed)

/** `POST /v1/interest-runs`. */
export interface StartInterestRun {
  year: number
  /** Percent ("2.62"); omitted: the run's rate, else the shipped table's. */
  ratePercent?: string
  /** The current year in Asia/Shanghai (a year is credited once it is over). */
  currentYear: number
}

export type StartDecision =
  /** Append this InterestRunStarted and run the pass. */
  | { outcome: 'start'; event: { type: typeof INTEREST_RUN_STARTED; data: InterestRunStartedData } }
  /** A pass of this year is open (interrupted or running): continue it. */
  | { outcome: 'resume'; pass: number }
  | { outcome: 'invalid'; pointer: string; detail: string }
  | { outcome: 'conflict'; detail: string }

/**
 * Decides whether an interest run for `year` can start (pure). Interest for a year is posted after
 * the year is over (the rate is published the next June, RULES.md §4); one rate per year (a rerun
 * with another rate is a conflict), a table rate not marked `strong` only when the request
 * confirms it, a requested rate never against a `strong` table rate nor outside the plausible
 * bounds; one pass at a time in the ledger; years in order, since each
 * year's interest is part of the next year's opening balance.
 */
export function decideStartRun(cmd: StartInterestRun, state: InterestRunsState, tables: PensionTables): StartDecision {
  if (cmd.year >= cmd.currentYear) return { outcome: 'invalid', pointer: '/year', detail: `${cmd.year} is not over yet; interest is credited after the year ends` }
  const run = state.years.get(cmd.year)
  const rate = cmd.ratePercent !== undefined ? interestRate(cmd.ratePercent) : run ? interestRate(run.ratePercent) : tables.interestRate(cmd.year)
  if (!rate) return { outcome: 'invalid', pointer: '/rate', detail: `the pension tables have no record-keeping interest rate for ${cmd.year}; give "rate" (percent)` }
  const confidence = tables.interestRateConfidence(cmd.year)
  const shipped = tables.interestRate(cmd.year)
  if (cmd.ratePercent !== undefined && !run) {
    if (rate.fraction.lt(MIN_PLAUSIBLE_RATE_PERCENT / 100) || rate.fraction.gt(MAX_PLAUSIBLE_RATE_PERCENT / 100))
      return {
        outcome: 'invalid',
        pointer: '/rate',
        detail: `${rate.percent}% is outside ${MIN_PLAUSIBLE_RATE_PERCENT}%..${MAX_PLAUSIBLE_RATE_PERCENT}%: "rate" is a percent ("2.62" for 2.62%), not a fraction`,
      }
    if (shipped && confidence === 'strong' && !shipped.fraction.eq(rate.fraction))
      return {
        outcome: 'invalid',
        pointer: '/rate',
        detail: `the published rate for ${cmd.year} is ${shipped.percent}% (pension tables, strong); leave "rate" out or give that rate`,
      }
  }
  if (cmd.ratePercent === undefined && !run && confidence !== 'strong')
    return {
      outcome: 'invalid',
      pointer: '/rate',
      detail: `the shipped rate for ${cmd.year} (${rate.percent}%) is marked ${confidence}; a year's rate cannot be changed once credited, so confirm it by giving "rate"`,
    }
  if (run && !interestRate(run.ratePercent).fraction.eq(rate.fraction))
    return { outcome: 'conflict', detail: `interest for ${cmd.year} was credited at ${run.ratePercent}%; a run for a year keeps its rate` }
  for (const other of state.years.values()) {
    if (other.year !== cmd.year && openPass(other)) return { outcome: 'conflict', detail: `the interest run for ${other.year} is not finished; run it again to resume it first` }
    if (other.year > cmd.year) return { outcome: 'conflict', detail: `interest for ${other.year} is credited already; years are credited in order (each year's interest opens the next)` }
  }
  const open = openPass(run)
  if (open) return { outcome: 'resume', pass: open.pass }
  const fromRequest = cmd.ratePercent !== undefined && !(run ? run.rateSource === 'table' : tables.interestRate(cmd.year)?.fraction.eq(rate.fraction))
  return {
    outcome: 'start',
    event: {
      type: INTEREST_RUN_STARTED,
      data: {
        year: cmd.year,
        pass: (run?.passes.length ?? 0) + 1,
        ratePercent: run?.ratePercent ?? (shipped?.fraction.eq(rate.fraction) ? shipped.percent : rate.percent),
        rateSource: run?.rateSource ?? (fromRequest ? 'request' : 'table'),
        monthCounting: run?.monthCounting ?? tables.monthCounting,
        pensionTablesVersion: run?.pensionTablesVersion ?? tables.tableVersion,
      },
    },
  }
}
