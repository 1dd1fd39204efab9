import {
  CONTRIBUTION_LINE_VOIDED,
  CONTRIBUTION_RECORDED,
  personStream,
  type ContributionLineVoidedData,
  type ContributionRecordedData,
} from '../src/domain/contribution/events.js'
import { INTEREST_CREDITED, type InterestCreditedData } from '../src/domain/interest/events.js'
import { LEGACY_HISTORY_IMPORTED, type LegacyHistoryImportedData } from '../src/domain/legacy/events.js'
import { ZERO, addYuan, subtractYuan, yuan } from '../src/domain/money.js'
import { PAYOUT_RECORDED, type PayoutRecordedData } from '../src/domain/payout/events.js'
import { RETIREMENT_RECORDED, type RetirementRecordedData } from '../src/domain/retirement/events.js'
import {
  CONTRIBUTION_REVERSED,
  PAYOUT_REVERSED,
  type ContributionReversedData,
  type PayoutReversedData,
} from '../src/domain/reversal/events.js'
import { SCHEMES, type Scheme } from '../src/domain/schemes.js'
import { PENSION_TRANSFERRED, type TransferSentData } from '../src/domain/transfer/events.js'
import type { DocumentProjection, ProjectedEvent } from './projection.js'

/** One person's balances in one scheme. Amounts are yuan strings with two places. */
export interface PersonSchemeBalance {
  /** Balance of the individual account ("0.00" for schemes without one). */
  individualAccount: string
  employerContributed: string
  employeeContributed: string
  /** Contribution lines credited per period (`YYYY-MM`); a period with none is absent. Two
   * employers can both credit work injury for one month, so these are counts. */
  periods: Record<string, number>
  /** Contribution lines credited per region (GB/T 2260). */
  regions: Record<string, number>
  /** Pension only, once legacy history is imported: the imported individual account balance (also
   * inside `individualAccount`). */
  openingBalance?: string
  /** Pension only, once legacy history is imported: imported months per region. Imported years
   * carry a count, not periods, so they are kept apart from `periods`; months contributed are the
   * distinct periods plus these. */
  legacyMonths?: Record<string, number>
  /** What payouts in this scheme paid the person (individual-account and pool parts together), less
   * reversed payouts. Absent until the first payout. */
  paidOut?: string
  /** Pension only: the yearly interest credited to the individual account (also inside
   * `individualAccount`), all years together. Absent until the first credit. */
  interestCredited?: string
  /** Pension only: the interest credited per year (`"2024"` → amount). Absent until the first credit. */
  interestByYear?: Record<string, string>
}

/** A compensating event folded into the document: which event it undid and why. */
export interface ReversedEntry {
  /** The reversal's id (its idempotency key). */
  reversalId: string
  /** Stream of the reversed event (`person-{personId}`). */
  stream: string
  /** 0-based revision of the reversed event in `stream`, a decimal string. */
  revision: string
  /** Type of the reversed event. */
  reversedType: 'ContributionRecorded' | 'PayoutRecorded'
  /** Period (YYYY-MM) of the reversed contribution line or payout. */
  period: string
  /** Scheme of a reversed payout; absent for a contribution line (it carries every scheme). */
  scheme?: Scheme
  /** Why it was reversed, as the request gave it. */
  reason: string
}

/** The pension in payment: the retirement's figures (RetirementRecordedData, without the person and
 * the tables' version) and the pension payouts made on them. */
export interface PensionInPayment extends Omit<RetirementRecordedData, 'personId' | 'pensionTablesVersion'> {
  /** Pension periods paid and not reversed (the number of keys of `paid`). */
  paidPeriods: number
  /** The latest period (YYYY-MM) paid and not reversed; absent until the first payout. */
  lastPaidPeriod?: string
  /** Whether the pool has had to pay an individual-account part (the account ran out): some payout
   * not reversed has `poolCoversAccount` above zero. */
  accountExhausted: boolean
  /** Pension periods paid and not reversed (YYYY-MM) → the individual-account part the pool covered
   * for it (`"0.00"` when the account paid its part in full). The ledger pays a period once; a
   * reversal frees it. */
  paid: Record<string, string>
}

/** Document of the `person-balances` projection, keyed by personId. */
export interface PersonBalancesDoc {
  personId: string
  schemes: Record<Scheme, PersonSchemeBalance>
  /** Region holding the pension account: the last transfer's destination, else the first region
   * contributed in (recorded or imported). */
  pensionHeldIn?: string
  /** Reversals folded into the document, in log order. Absent until the first. */
  reversed?: ReversedEntry[]
  /** Once a retirement is recorded: the pension in payment. */
  pensionInPayment?: PensionInPayment
}

const emptyScheme = (): PersonSchemeBalance => ({
  individualAccount: '0.00',
  employerContributed: '0.00',
  employeeContributed: '0.00',
  periods: {},
  regions: {},
})

/** A count map with `key` moved by `delta` (a key whose count reaches 0 is removed). */
function count(map: Record<string, number>, key: string, delta: 1 | -1): Record<string, number> {
  const next = { ...map, [key]: (map[key] ?? 0) + delta }
  if (next[key]! <= 0) delete next[key]
  return next
}

/** Events of person streams this projection folds (all carry `personId` at the top, except
 * PayoutReversed, which carries it in `payout`). The markers on `payout-…`, `reversal-…` and
 * `interest-runs` are left out: they repeat what the person events say. */
const PERSON_EVENTS = new Set<string>([
  CONTRIBUTION_RECORDED,
  CONTRIBUTION_LINE_VOIDED,
  CONTRIBUTION_REVERSED,
  LEGACY_HISTORY_IMPORTED,
  PENSION_TRANSFERRED,
  PAYOUT_RECORDED,
  PAYOUT_REVERSED,
  RETIREMENT_RECORDED,
  INTEREST_CREDITED,
])

/** Per person and scheme: individual account, employer and employee contributions, months, regions,
 * payouts and interest; the pension in payment; reversals. */
export const personBalances: DocumentProjection<PersonBalancesDoc> = {
  name: 'person-balances',
  keysOf: (event: ProjectedEvent) => {
    if (!PERSON_EVENTS.has(event.type)) return []
    if (event.type === PAYOUT_REVERSED) return [(event.data as PayoutReversedData).payout.personId]
    return [(event.data as { personId: string }).personId]
  },
  // Every event this projection folds for a person is on the person's stream (see PERSON_EVENTS).
  streamsOf: (personId) => [personStream(personId)],
  initial: (personId) => ({
    personId,
    schemes: Object.fromEntries(SCHEMES.map((s) => [s, emptyScheme()])) as Record<Scheme, PersonSchemeBalance>,
  }),
  evolve(doc, event) {
    if (event.type === PENSION_TRANSFERRED) {
      // Only a transfer's first send moves the account (see evolvePension).
      const d = event.data as TransferSentData
      return d.sendNumber === 1 ? { ...doc, pensionHeldIn: d.toRegion } : doc
    }
    if (event.type === LEGACY_HISTORY_IMPORTED) {
      const data = event.data as LegacyHistoryImportedData
      const first = [...data.years].sort((a, b) => a.year - b.year)[0]
      return { ...withLegacyHistory(doc, data), pensionHeldIn: doc.pensionHeldIn ?? first?.region }
    }
    if (event.type === PAYOUT_RECORDED) return withPayout(doc, event.data as PayoutRecordedData)
    if (event.type === PAYOUT_REVERSED) return withPayoutReversed(doc, event.data as PayoutReversedData)
    if (event.type === RETIREMENT_RECORDED) return withRetirement(doc, event.data as RetirementRecordedData)
    if (event.type === INTEREST_CREDITED) return withInterest(doc, event.data as InterestCreditedData)
    if (event.type !== CONTRIBUTION_RECORDED && event.type !== CONTRIBUTION_LINE_VOIDED && event.type !== CONTRIBUTION_REVERSED) return doc
    const data = event.data as ContributionRecordedData | ContributionLineVoidedData | ContributionReversedData
    const voided = event.type !== CONTRIBUTION_RECORDED
    const move = voided ? subtractYuan : addYuan
    const schemes = { ...doc.schemes }
    for (const s of data.schemes) {
      const b = schemes[s.scheme]
      schemes[s.scheme] = {
        ...b, // keeps the pension's legacy fields
        individualAccount: move(b.individualAccount, s.individualAccount),
        employerContributed: move(b.employerContributed, s.employer),
        employeeContributed: move(b.employeeContributed, s.employee),
        periods: count(b.periods, data.period, voided ? -1 : 1),
        regions: count(b.regions, data.region, voided ? -1 : 1),
      }
    }
    const heldIn = doc.pensionHeldIn ?? (event.type === CONTRIBUTION_RECORDED && data.schemes.some((x) => x.scheme === 'pension') ? data.region : undefined)
    const next = { ...doc, schemes, ...(heldIn ? { pensionHeldIn: heldIn } : {}) }
    if (event.type !== CONTRIBUTION_REVERSED) return next
    const r = data as ContributionReversedData
    return withReversedEntry(next, r, 'ContributionRecorded', r.period, undefined)
  },
}

/** The document with a reversal appended to `reversed`. */
function withReversedEntry(
  doc: PersonBalancesDoc,
  data: ContributionReversedData | PayoutReversedData,
  reversedType: ReversedEntry['reversedType'],
  period: string,
  scheme: Scheme | undefined,
): PersonBalancesDoc {
  const entry: ReversedEntry = {
    reversalId: data.reversalId,
    stream: data.eventRef.stream,
    revision: data.eventRef.revision,
    reversedType,
    period,
    ...(scheme !== undefined ? { scheme } : {}),
    reason: data.reason,
  }
  return { ...doc, reversed: [...(doc.reversed ?? []), entry] }
}

/** The pension in payment with its derived fields recomputed from `paid`. */
function withPaid(pension: PensionInPayment, paid: Record<string, string>): PensionInPayment {
  const periods = Object.keys(paid).sort()
  const last = periods[periods.length - 1]
  const next: PensionInPayment = {
    ...pension,
    paid,
    paidPeriods: periods.length,
    lastPaidPeriod: last,
    accountExhausted: Object.values(paid).some((covers) => yuan(covers).gt(ZERO)),
  }
  if (last === undefined) delete next.lastPaidPeriod
  return next
}

/** A payout (or, with `sign` -1, its reversal): the scheme's individual account gives (gets back)
 * `fromIndividualAccount`, `paidOut` moves by `amount`; a pension period is paid (freed). */
function movePayout(doc: PersonBalancesDoc, p: PayoutRecordedData, sign: 1 | -1): PersonBalancesDoc {
  const b = doc.schemes[p.scheme]
  const scheme: PersonSchemeBalance = {
    ...b,
    individualAccount: (sign === 1 ? subtractYuan : addYuan)(b.individualAccount, p.fromIndividualAccount),
    paidOut: (sign === 1 ? addYuan : subtractYuan)(b.paidOut ?? '0.00', p.amount),
  }
  const next: PersonBalancesDoc = { ...doc, schemes: { ...doc.schemes, [p.scheme]: scheme } }
  // A pension payout without a recorded retirement cannot be decided; should one appear, only the
  // balances move.
  if (p.scheme !== 'pension' || !doc.pensionInPayment) return next
  const paid = { ...doc.pensionInPayment.paid }
  if (sign === 1) paid[p.period] = p.poolCoversAccount ?? '0.00'
  else delete paid[p.period]
  return { ...next, pensionInPayment: withPaid(doc.pensionInPayment, paid) }
}

function withPayout(doc: PersonBalancesDoc, data: PayoutRecordedData): PersonBalancesDoc {
  return movePayout(doc, data, 1)
}

function withPayoutReversed(doc: PersonBalancesDoc, data: PayoutReversedData): PersonBalancesDoc {
  return withReversedEntry(movePayout(doc, data.payout, -1), data, 'PayoutRecorded', data.payout.period, data.payout.scheme)
}

/** The retirement's figures; payouts folded before it (none, in a valid log) are kept. */
function withRetirement(doc: PersonBalancesDoc, d: RetirementRecordedData): PersonBalancesDoc {
  const pension: PensionInPayment = {
    region: d.region,
    retiredOn: d.retiredOn,
    ageYears: d.ageYears,
    ageMonths: d.ageMonths,
    monthsContributed: d.monthsContributed,
    individualAccountBalance: d.individualAccountBalance,
    monthsDivisor: d.monthsDivisor,
    individualAccountMonthly: d.individualAccountMonthly,
    pooledMonthlyAmount: d.pooledMonthlyAmount,
    monthlyPension: d.monthlyPension,
    paidPeriods: 0,
    accountExhausted: false,
    paid: {},
  }
  return { ...doc, pensionInPayment: withPaid(pension, doc.pensionInPayment?.paid ?? {}) }
}

/** A year's interest: into the pension individual account, and counted per year. */
function withInterest(doc: PersonBalancesDoc, d: InterestCreditedData): PersonBalancesDoc {
  const b = doc.schemes.pension
  const year = String(d.year)
  const pension: PersonSchemeBalance = {
    ...b,
    individualAccount: addYuan(b.individualAccount, d.amount),
    interestCredited: addYuan(b.interestCredited ?? '0.00', d.amount),
    // At most one credit per person and year; should a second appear, the year shows their sum.
    interestByYear: { ...b.interestByYear, [year]: addYuan(b.interestByYear?.[year] ?? '0.00', d.amount) },
  }
  return { ...doc, schemes: { ...doc.schemes, pension } }
}

/** The pension balance with a legacy import: its balance opens the individual account, its months
 * count per region. */
function withLegacyHistory(doc: PersonBalancesDoc, data: LegacyHistoryImportedData): PersonBalancesDoc {
  const pension = doc.schemes.pension
  const legacyMonths = { ...pension.legacyMonths }
  for (const y of data.years) legacyMonths[y.region] = (legacyMonths[y.region] ?? 0) + y.months
  return {
    ...doc,
    schemes: {
      ...doc.schemes,
      pension: {
        ...pension,
        individualAccount: addYuan(pension.individualAccount, data.individualAccountBalance),
        openingBalance: addYuan(pension.openingBalance ?? '0.00', data.individualAccountBalance),
        legacyMonths,
      },
    },
  }
}
