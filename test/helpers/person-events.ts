import { personStream, type ContributionLineVoidedData, type ContributionRecordedData, type SchemeContribution } from '../../src/domain/contribution/events.js'
import type { InterestCreditedData } from '../../src/domain/interest/events.js'
import type { LegacyHistoryImportedData } from '../../src/domain/legacy/events.js'
import { citizenIdCheckChar } from '../../src/domain/ids.js'
import type { PayoutRecordedData } from '../../src/domain/payout/events.js'
import { evolvePersonAccounts, initialPersonAccounts, type PersonAccountsState } from '../../src/domain/person/person-accounts.js'
import type { RetirementRecordedData } from '../../src/domain/retirement/events.js'
import type { ContributionReversedData, PayoutReversedData } from '../../src/domain/reversal/events.js'
import type { PensionTransferClosedData, PensionTransferOpenedData, TransferSentData } from '../../src/domain/transfer/events.js'

/**
 * Builders for the events of one person's stream (`person-{personId}`), for the domain tests of
 * retirement, payouts, reversals and interest, and a fold of such events into the person's accounts.
 *
 * The builders are bound to a person by {@link personEvents}; what differs between tests (the line
 * index, the submission id, the schemes of a line, the years of a legacy import) is a default given
 * there. Every amount a builder writes is fixed here or given by the caller: nothing is computed, so
 * the tests' hand-worked figures stay the only arithmetic.
 */

/** An event as a test writes it: a type and its data (the fold gives it its revision). */
export interface Ev<D = unknown> {
  type: string
  data: D
}

// ---------------------------------------------------------------------------------------------
// Persons
// ---------------------------------------------------------------------------------------------

/**
 * A citizen identity number (GB 11643-1999) of a person born on `birth` (YYYYMMDD, positions 7-14,
 * where the retirement rule reads the age from): address code 310101 (Shanghai, Huangpu), sequence
 * `sequence`, and the check character that makes it valid.
 */
export function citizenId(birth: string, sequence = '001'): string {
  const first17 = `310101${birth}${sequence}`
  return first17 + citizenIdCheckChar(first17)
}

// ---------------------------------------------------------------------------------------------
// Folding
// ---------------------------------------------------------------------------------------------

/**
 * A person's stream in memory: each event added is folded at the next revision (0, 1, 2, …) and kept
 * in `log`, so a test can extend the stream and point at an event by its revision.
 */
export class PersonStream {
  readonly state: PersonAccountsState = initialPersonAccounts()
  readonly log: Ev[] = []
  constructor(events: readonly Ev[] = []) {
    for (const e of events) this.add(e)
  }
  /** Appends and folds `e`; returns its revision. */
  add(e: Ev): number {
    const revision = this.log.length
    this.log.push(e)
    evolvePersonAccounts(this.state, { type: e.type, data: e.data, revision: BigInt(revision) })
    return revision
  }
}

/** Folds events as revisions 0, 1, 2, … of the person's stream. */
export function fold(events: readonly Ev[]): PersonAccountsState {
  return new PersonStream(events).state
}

// ---------------------------------------------------------------------------------------------
// Schemes and legacy years
// ---------------------------------------------------------------------------------------------

export type SchemeName = 'pension' | 'medical' | 'unemployment'

/** Base 10000.00: pension 16% / 8% (IA 800.00), medical 9% / 2% (IA 200.00), unemployment 0.5% / 0.5%. */
export const SCHEME_AMOUNTS: Record<SchemeName, SchemeContribution> = {
  pension: { scheme: 'pension', base: '10000.00', employerRate: '0.16', employeeRate: '0.08', employer: '1600.00', employee: '800.00', individualAccount: '800.00', pool: '1600.00' },
  medical: { scheme: 'medical', base: '10000.00', employerRate: '0.09', employeeRate: '0.02', employer: '900.00', employee: '200.00', individualAccount: '200.00', pool: '900.00' },
  unemployment: { scheme: 'unemployment', base: '10000.00', employerRate: '0.005', employeeRate: '0.005', employer: '50.00', employee: '50.00', individualAccount: '0.00', pool: '100.00' },
}

/** The three schemes of {@link SCHEME_AMOUNTS}. */
export const ALL_SCHEMES: SchemeName[] = ['pension', 'medical', 'unemployment']

/** A year of a legacy import as [year, region, months] (its base total is always 60000.00). */
export type LegacyYearSpec = [year: number, region: string, months: number]

/** `count` whole years of 12 months in `region`, the last one `lastYear`. */
export const wholeYears = (lastYear: number, count: number, region: string): LegacyYearSpec[] =>
  Array.from({ length: count }, (_, i) => [lastYear - count + 1 + i, region, 12] as LegacyYearSpec)

/**
 * `count` years in `region` up to the year of `asOf` (a month end, YYYY-MM-DD): whole years, except
 * the last, which has the months up to `asOf` (2024-06-30: 6 months of 2024).
 */
export const yearsTo = (asOf: string, count: number, region: string): LegacyYearSpec[] =>
  wholeYears(Number(asOf.slice(0, 4)), count, region).map(([year, r, months], i) =>
    i === count - 1 ? [year, r, Number(asOf.slice(5, 7))] : [year, r, months],
  )

// ---------------------------------------------------------------------------------------------
// The builders
// ---------------------------------------------------------------------------------------------

/** What a test file sets once for all its events; every field has a default. */
export interface PersonEventDefaults {
  /** Region of lines, legacy years, retirement, payouts and interest when not given: '310000' (Shanghai). */
  region?: string
  /** Schemes of a line when not given: pension only. */
  schemes?: SchemeName[]
  /** `lineIndex` of every line: 0. */
  lineIndex?: number
  /** `submissionId` of a line: `S-{period}`. */
  submissionId?: (period: string, region: string) => string
  /**
   * Years of a legacy import when not given: a list, or a function of the import's `asOf`.
   * Default: 15 years up to `asOf` in `region` ({@link yearsTo}).
   */
  legacyYears?: LegacyYearSpec[] | ((asOf: string) => LegacyYearSpec[])
}

/** Data of a PensionTransferred event beyond the transfer's id, person and regions. */
export type TransferSent = Omit<TransferSentData, 'transferId' | 'personId' | 'fromRegion' | 'toRegion' | 'sendNumber'> & { sendNumber?: number }

/** Builders of the events of `personId`'s stream, with the test file's defaults. */
export function personEvents(personId: string, defaults: PersonEventDefaults = {}) {
  const homeRegion = defaults.region ?? '310000'
  const defaultSchemes = defaults.schemes ?? ['pension']
  const lineIndex = defaults.lineIndex ?? 0
  const submissionId = defaults.submissionId ?? ((period: string) => `S-${period}`)
  const legacyYears = defaults.legacyYears ?? ((asOf: string) => yearsTo(asOf, 15, homeRegion))
  const stream = personStream(personId)

  /**
   * A payroll line of employer E1, wage 10000.00, work-injury class 1. `schemes` are names of
   * {@link SCHEME_AMOUNTS} or whole scheme amounts; `over` replaces any other field (e.g. `wage`).
   */
  const lineData = (
    period: string,
    region: string = homeRegion,
    schemes: (SchemeName | SchemeContribution)[] = defaultSchemes,
    over: Partial<ContributionRecordedData> = {},
  ): ContributionRecordedData => ({
    submissionId: submissionId(period, region),
    lineIndex,
    personId,
    employerId: 'E1',
    region,
    period,
    wage: '10000.00',
    workInjuryClass: 1,
    policyId: 'p',
    policyTableVersion: 'v',
    schemes: schemes.map((s) => (typeof s === 'string' ? SCHEME_AMOUNTS[s] : s)),
    ...over,
  })

  /** A ContributionRecorded event of {@link lineData}'s line. */
  const line = (
    period: string,
    region: string = homeRegion,
    schemes: (SchemeName | SchemeContribution)[] = defaultSchemes,
    over: Partial<ContributionRecordedData> = {},
  ): Ev<ContributionRecordedData> => ({ type: 'ContributionRecorded', data: lineData(period, region, schemes, over) })

  /** A ContributionLineVoided event withdrawing `recorded` (a line's data) with its amounts. */
  const lineVoided = (recorded: ContributionRecordedData, reason: string): Ev<ContributionLineVoidedData> => {
    const { submissionId: sid, lineIndex: index, employerId, region, period, schemes } = recorded
    return { type: 'ContributionLineVoided', data: { submissionId: sid, lineIndex: index, personId, employerId, region, period, reason, schemes } }
  }

  /** A ContributionReversed event undoing `recorded` (a line's data), the event at `revision` (event id `e{revision}`). */
  const contributionReversed = (recorded: ContributionRecordedData, revision: number, reversalId = 'R1', reason = 'r'): Ev<ContributionReversedData> => ({
    type: 'ContributionReversed',
    data: { ...recorded, reversalId, reason, eventRef: { stream, revision: String(revision) }, reversedEventId: `e${revision}` },
  })

  /** A legacy import (import id L1): the balance holds as of `asOf`; `years` default as set for the file. */
  const legacy = (
    asOf: string,
    balance: string,
    years: LegacyYearSpec[] = typeof legacyYears === 'function' ? legacyYears(asOf) : legacyYears,
  ): Ev<LegacyHistoryImportedData> => ({
    type: 'LegacyHistoryImported',
    data: {
      importId: 'L1',
      personId,
      asOf,
      individualAccountBalance: balance,
      years: years.map(([year, region, months]) => ({ year, region, months, baseTotal: '60000.00' })),
    },
  })

  /**
   * A retirement as recorded: retired 2025-01-15 at 60 years 0 months (true of a person born
   * 1964-12-16 to 1965-01-15, e.g. `citizenId('19650115')`) after 180 months, balance 100000.00, divisor 139,
   * `iaMonthly` a month from the account, 3000.00 from the pool, monthly pension 3719.42 (as written,
   * not recomputed from `iaMonthly`); `over` replaces any field.
   */
  const retired = (iaMonthly: string, over: Partial<RetirementRecordedData> = {}): Ev<RetirementRecordedData> => ({
    type: 'RetirementRecorded',
    data: {
      personId, region: homeRegion, retiredOn: '2025-01-15', ageYears: 60, ageMonths: 0, monthsContributed: 180,
      individualAccountBalance: '100000.00', monthsDivisor: 139, individualAccountMonthly: iaMonthly,
      pooledMonthlyAmount: '3000.00', monthlyPension: '3719.42', pensionTablesVersion: 'test',
      ...over,
    },
  })

  /** A monthly pension payout's data, paid in the file's region; the pool covers nothing of the account part. */
  const pensionPayoutData = (payoutId: string, period: string, fromIndividualAccount: string, fromPool: string, amount: string): PayoutRecordedData => ({
    payoutId, personId, scheme: 'pension', kind: 'monthly', period, region: homeRegion, amount, fromIndividualAccount, fromPool, poolCoversAccount: '0.00',
  })

  /** A PayoutRecorded event of {@link pensionPayoutData}. */
  const pensionPayout = (payoutId: string, period: string, fromIndividualAccount: string, fromPool: string, amount: string): Ev<PayoutRecordedData> => ({
    type: 'PayoutRecorded',
    data: pensionPayoutData(payoutId, period, fromIndividualAccount, fromPool, amount),
  })

  /** A PayoutRecorded event: a medical reimbursement paid in the file's region. */
  const medicalPayout = (payoutId: string, period: string, fromIndividualAccount: string, fromPool: string, amount: string): Ev<PayoutRecordedData> => ({
    type: 'PayoutRecorded',
    data: { payoutId, personId, scheme: 'medical', kind: 'reimbursement', period, region: homeRegion, amount, fromIndividualAccount, fromPool },
  })

  /** A PayoutReversed event undoing `payout`, the event at `revision` (event id `e{revision}`). */
  const payoutReversed = (payout: PayoutRecordedData, revision: number, reversalId = 'R1', reason = 'r'): Ev<PayoutReversedData> => ({
    type: 'PayoutReversed',
    data: { reversalId, reason, eventRef: { stream, revision: String(revision) }, reversedEventId: `e${revision}`, payout },
  })

  /** An InterestCredited event of `amount` for `year` at `ratePercent`, inclusive months, in the file's region; its sums 0.00. */
  const interestCredited = (year: number, amount: string, ratePercent: string): Ev<InterestCreditedData> => ({
    type: 'InterestCredited',
    data: { personId, year, ratePercent, monthCounting: 'inclusive', region: homeRegion, openingBalance: '0.00', credits: '0.00', debits: '0.00', amount },
  })

  /** A PensionTransferOpened event. */
  const transferOpened = (transferId: string, fromRegion: string, toRegion: string): Ev<PensionTransferOpenedData> => ({
    type: 'PensionTransferOpened',
    data: { transferId, personId, fromRegion, toRegion },
  })

  /** A PensionTransferred event: what the send moved (`sendNumber` 1 unless given). */
  const pensionTransferred = (transferId: string, fromRegion: string, toRegion: string, sent: TransferSent): Ev<TransferSentData> => ({
    type: 'PensionTransferred',
    data: { transferId, personId, fromRegion, toRegion, sendNumber: 1, ...sent },
  })

  /** A PensionTransferClosed event. */
  const transferClosed = (transferId: string, outcome: PensionTransferClosedData['outcome']): Ev<PensionTransferClosedData> => ({
    type: 'PensionTransferClosed',
    data: { transferId, personId, outcome },
  })

  return {
    /** The person's stream name, `person-{personId}`. */
    stream,
    lineData,
    line,
    lineVoided,
    contributionReversed,
    legacy,
    retired,
    pensionPayoutData,
    pensionPayout,
    medicalPayout,
    payoutReversed,
    interestCredited,
    transferOpened,
    pensionTransferred,
    transferClosed,
  }
}
