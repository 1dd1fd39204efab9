import {
  CONTRIBUTION_LINE_VOIDED,
  CONTRIBUTION_RECORDED,
  type ContributionLineVoidedData,
  type ContributionRecordedData,
} from '../src/domain/contribution/events.js'
import { LEGACY_HISTORY_IMPORTED, type LegacyHistoryImportedData } from '../src/domain/legacy/events.js'
import { addYuan, subtractYuan } from '../src/domain/money.js'
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
}

/** Document of the `person-balances` projection, keyed by personId. */
export interface PersonBalancesDoc {
  personId: string
  schemes: Record<Scheme, PersonSchemeBalance>
  /** Region holding the pension account: the last transfer's destination, else the first region
   * contributed in (recorded or imported). */
  pensionHeldIn?: string
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

/** Per person and scheme: individual account, employer and employee contributions, months, regions. */
export const personBalances: DocumentProjection<PersonBalancesDoc> = {
  name: 'person-balances',
  keysOf: (event: ProjectedEvent) =>
    event.type === CONTRIBUTION_RECORDED ||
    event.type === CONTRIBUTION_LINE_VOIDED ||
    event.type === LEGACY_HISTORY_IMPORTED ||
    event.type === PENSION_TRANSFERRED
      ? [(event.data as { personId: string }).personId]
      : [],
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
    if (event.type !== CONTRIBUTION_RECORDED && event.type !== CONTRIBUTION_LINE_VOIDED) return doc
    const data = event.data as ContributionRecordedData | ContributionLineVoidedData
    const voided = event.type === CONTRIBUTION_LINE_VOIDED
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
    return { ...doc, schemes, ...(heldIn ? { pensionHeldIn: heldIn } : {}) }
  },
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
