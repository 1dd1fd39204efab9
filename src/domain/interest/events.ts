import type { MonthCounting } from '../pension/pension-tables.js'

/**
 * Events of the yearly record-keeping interest on individual pension accounts (Ren She Bu Fa [2017]
 * No.31; RULES.md §4). Amounts are yuan strings with two places; rates are percent strings ("2.62").
 */

/**
 * On `person-{personId}`: one year's interest credited to the pension individual account (at most
 * one per person and year). Posting: debits `interest:{region}:pension`, credits
 * `person:{id}:pension:individual`. Effective at the end of `year`: it is part of the next year's
 * opening balance and earns nothing in its own year.
 */
export interface InterestCreditedData {
  personId: string
  year: number
  ratePercent: string
  monthCounting: MonthCounting
  /** Region holding the account at the time of crediting. */
  region: string
  /** Balance held the whole year (everything effective before 1 January). */
  openingBalance: string
  /** Sums of the year's credits and debits (not weighted; a reversal counts on the side of its
   * sign: a reversed contribution as a debit, a reversed payout as a credit). */
  credits: string
  debits: string
  /** opening × rate + Σ credit × rate × months/12 − Σ debit × rate × months/12, rounded half-up to 0.01. */
  amount: string
}

/** On `interest-runs`: a pass of the run for a year started (one pass at a time in the ledger). */
export interface InterestRunStartedData {
  year: number
  pass: number
  ratePercent: string
  rateSource: 'table' | 'request'
  monthCounting: MonthCounting
  pensionTablesVersion: string
}

/** On `interest-runs`, in the same atomic append as the batch's InterestCredited events: progress. */
export interface InterestRunBatchCompletedData {
  year: number
  pass: number
  batch: number
  /** Persons examined in this batch, and the last one (the next batch starts after it). */
  examined: number
  lastPersonId: string
  /** Persons credited by this batch and the interest it credited. */
  credited: number
  interest: string
  /** Persons already credited for the year (by an earlier pass or an interrupted batch). */
  alreadyCredited: number
  /** Persons with no pension account in the year, or whose year the previous system covers. */
  skipped: number
}

/** On `interest-runs`: a pass went through every person. */
export interface InterestRunCompletedData {
  year: number
  pass: number
  batches: number
  examined: number
  credited: number
  interest: string
  alreadyCredited: number
  skipped: number
}

export const INTEREST_CREDITED = 'InterestCredited' as const
export const INTEREST_RUN_STARTED = 'InterestRunStarted' as const
export const INTEREST_RUN_BATCH_COMPLETED = 'InterestRunBatchCompleted' as const
export const INTEREST_RUN_COMPLETED = 'InterestRunCompleted' as const

/** The one stream of every interest run's progress. */
export const INTEREST_RUNS_STREAM = 'interest-runs'
