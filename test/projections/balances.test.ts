import t from 'tap'
import { personBalances, poolBalances } from '../../projections/index.js'
import type { ContributionRecordedData } from '../../src/domain/contribution/events.js'

const line = (period: string, region: string, pension: [string, string], medical: [string, string]): { type: string; data: ContributionRecordedData } => ({
  type: 'ContributionRecorded',
  data: {
    submissionId: `S-${period}`,
    lineIndex: 0,
    personId: '11010519491231002X',
    employerId: '91310000MA1FL0000N',
    region,
    period,
    wage: '0.00',
    workInjuryClass: 1,
    policyId: 'p',
    policyTableVersion: 'v',
    schemes: [
      { scheme: 'pension', base: '0.00', employerRate: '0.16', employeeRate: '0.08', employer: pension[0], employee: pension[1], individualAccount: pension[1], pool: pension[0] },
      { scheme: 'medical', base: '0.00', employerRate: '0.09', employeeRate: '0.02', employer: medical[0], employee: medical[1], individualAccount: medical[1], pool: medical[0] },
    ],
  },
})

t.test('person balances: a fold over contribution lines', async (t) => {
  const events = [
    line('2024-07', '310000', ['1360.00', '680.00'], ['765.00', '170.00']),
    line('2024-08', '110000', ['1600.00', '800.00'], ['980.00', '200.00']),
  ]
  const doc = events.reduce((d, e) => personBalances.evolve(d, e, '11010519491231002X'), personBalances.initial('11010519491231002X'))
  // pension: 680.00 + 800.00 = 1480.00; employer 1360.00 + 1600.00 = 2960.00
  t.same(doc.schemes.pension, { individualAccount: '1480.00', employerContributed: '2960.00', employeeContributed: '1480.00', periods: { '2024-07': 1, '2024-08': 1 }, regions: { '310000': 1, '110000': 1 } })
  // medical: 170.00 + 200.00 = 370.00
  t.equal(doc.schemes.medical.individualAccount, '370.00')
  t.same(doc.schemes.maternity, { individualAccount: '0.00', employerContributed: '0.00', employeeContributed: '0.00', periods: {}, regions: {} })
  t.same(personBalances.keysOf({ type: 'Other', data: {} }), [], 'other events do not concern it')
})

t.test('pool balances: each line credits its region', async (t) => {
  const e = line('2024-07', '310000', ['1360.00', '680.00'], ['765.00', '170.00'])
  t.same(poolBalances.keysOf(e), ['310000'])
  const doc = poolBalances.evolve(poolBalances.evolve(poolBalances.initial('310000'), e, '310000'), e, '310000')
  t.same(doc.schemes.pension, { balance: '2720.00', contributions: '2720.00' })
  t.same(doc.schemes.medical, { balance: '1530.00', contributions: '1530.00' })
})

t.test('a voided line is subtracted exactly, and its month no longer counts', async (t) => {
  const recorded = line('2024-07', '310000', ['1360.00', '680.00'], ['765.00', '170.00'])
  const other = line('2024-08', '310000', ['1600.00', '800.00'], ['980.00', '200.00'])
  const voided = { type: 'ContributionLineVoided', data: { ...recorded.data, reason: 'submission S-2024-07 refused' } }
  const id = '11010519491231002X'
  const doc = [recorded, other, voided].reduce((d, e) => personBalances.evolve(d, e, id), personBalances.initial(id))
  // only August remains: pension 800.00 in the individual account, employer 1600.00
  t.same(doc.schemes.pension, { individualAccount: '800.00', employerContributed: '1600.00', employeeContributed: '800.00', periods: { '2024-08': 1 }, regions: { '310000': 1 } })
  const pool = [recorded, other, voided].reduce((d, e) => poolBalances.evolve(d, e, '310000'), poolBalances.initial('310000'))
  t.same(pool.schemes.pension, { balance: '1600.00', contributions: '1600.00' })
})
