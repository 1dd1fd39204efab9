import { CONTRIBUTION_RECORDED, type ContributionRecordedData } from '../src/domain/contribution/events.js'
import { addYuan } from '../src/domain/money.js'
import { SCHEMES, type Scheme } from '../src/domain/schemes.js'
import type { DocumentProjection, ProjectedEvent } from './projection.js'

/** One person's balances in one scheme. Amounts are yuan strings with two places. */
export interface PersonSchemeBalance {
  /** Balance of the individual account ("0.00" for schemes without one). */
  individualAccount: string
  employerContributed: string
  employeeContributed: string
  /** Distinct periods (`YYYY-MM`) contributed, sorted. */
  periods: string[]
  /** Regions (GB/T 2260) contributed in, sorted. */
  regions: string[]
}

/** Document of the `person-balances` projection, keyed by personId. */
export interface PersonBalancesDoc {
  personId: string
  schemes: Record<Scheme, PersonSchemeBalance>
}

const emptyScheme = (): PersonSchemeBalance => ({
  individualAccount: '0.00',
  employerContributed: '0.00',
  employeeContributed: '0.00',
  periods: [],
  regions: [],
})

const withSorted = (list: string[], item: string): string[] => (list.includes(item) ? list : [...list, item].sort())

/** Per person and scheme: individual account, employer and employee contributions, months, regions. */
export const personBalances: DocumentProjection<PersonBalancesDoc> = {
  name: 'person-balances',
  keysOf: (event: ProjectedEvent) =>
    event.type === CONTRIBUTION_RECORDED ? [(event.data as ContributionRecordedData).personId] : [],
  initial: (personId) => ({
    personId,
    schemes: Object.fromEntries(SCHEMES.map((s) => [s, emptyScheme()])) as Record<Scheme, PersonSchemeBalance>,
  }),
  evolve(doc, event) {
    if (event.type !== CONTRIBUTION_RECORDED) return doc
    const data = event.data as ContributionRecordedData
    const schemes = { ...doc.schemes }
    for (const s of data.schemes) {
      const b = schemes[s.scheme]
      schemes[s.scheme] = {
        individualAccount: addYuan(b.individualAccount, s.individualAccount),
        employerContributed: addYuan(b.employerContributed, s.employer),
        employeeContributed: addYuan(b.employeeContributed, s.employee),
        periods: withSorted(b.periods, data.period),
        regions: withSorted(b.regions, data.region),
      }
    }
    return { ...doc, schemes }
  },
}
