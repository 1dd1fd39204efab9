import t from 'tap'
import { evolvePension, initialPensionState } from '../../src/domain/pension/pension-state.js'
import { decideSend, pooledTransfer } from '../../src/domain/transfer/decide.js'
import { evolveTransfer, initialTransferState } from '../../src/domain/transfer/transfer-state.js'
import { formatYuan } from '../../src/domain/money.js'

const P = '11010519491231002X'
const line = (period: string, region: string, base: string, ia: string) => ({
  type: 'ContributionRecorded',
  data: { submissionId: `S-${period}`, lineIndex: 0, personId: P, employerId: 'E', region, period, wage: base, workInjuryClass: 1, policyId: 'p', policyTableVersion: 'v',
    schemes: [{ scheme: 'pension', base, employerRate: '0.16', employeeRate: '0.08', employer: '0.00', employee: ia, individualAccount: ia, pool: '0.00' }] },
})

t.test('pooled part: 12% of the bases from 1998-01 on, imported and recorded, rounded once', async (t) => {
  const s = initialPensionState()
  evolvePension(s, {
    type: 'LegacyHistoryImported',
    data: { importId: 'L', personId: P, asOf: '1999-12-31', individualAccountBalance: '1000.00', years: [
      { year: 1997, region: '310000', months: 12, baseTotal: '9999.99' }, // before 1998: months count, bases do not
      { year: 1998, region: '310000', months: 12, baseTotal: '12345.67' },
      { year: 1999, region: '310000', months: 6, baseTotal: '6000.01' },
    ] },
  })
  evolvePension(s, line('2024-07', '310000', '8333.33', '666.67'))
  evolvePension(s, line('2024-08', '110000', '9000.00', '720.00')) // another region: not part of this transfer
  const moved = pooledTransfer(s, '310000')
  // bases: 12345.67 + 6000.01 + 8333.33 = 26679.01; 12% = 3201.4812 → 3201.48
  t.equal(formatYuan(moved.baseTotal), '26679.01')
  t.equal(formatYuan(moved.pooledFund), '3201.48')
  t.equal(moved.months, 12 + 12 + 6 + 1)
  t.same(moved.periods, ['2024-07'])
  t.equal(moved.legacyYears, true)
  // individual account: 1000.00 + 666.67 + 720.00 = 2386.67
  t.equal(formatYuan(s.individualAccount), '2386.67')
  t.equal(s.heldIn, '310000', 'the first region contributed in')
})

t.test('a send moves the pending months once; later months need a supplementary send', async (t) => {
  const pension = initialPensionState()
  evolvePension(pension, line('2024-07', '310000', '10000.00', '800.00'))
  const transfer = initialTransferState()
  evolveTransfer(transfer, { type: 'TransferRegistered', data: { transferId: 'T', personId: P, fromRegion: '310000', toRegion: '110000', registeredOn: '2024-09-02' } })
  evolveTransfer(transfer, { type: 'TransferAccepted', data: { transferId: 'T', acceptedOn: '2024-09-03' } })
  const first = decideSend({ transferId: 'T', today: '2024-09-04' }, transfer, pension)
  if (first.outcome !== 'append') throw new Error(first.outcome)
  // 12% × 10000.00 = 1200.00; the individual account 800.00 moves whole
  t.match(first.transferEvents[0]!.data, { sendNumber: 1, individualAccount: '800.00', pooledFund: '1200.00', months: 1, periods: ['2024-07'] })
  for (const e of first.transferEvents) evolveTransfer(transfer, e)
  for (const e of first.personEvents) evolvePension(pension, e)
  t.equal(pension.heldIn, '110000')
  t.same(decideSend({ transferId: 'T', today: '2024-09-05' }, transfer, pension), { outcome: 'unchanged' }, 'nothing more: a retry')
  evolvePension(pension, line('2024-06', '310000', '7310.00', '584.80'))
  const second = decideSend({ transferId: 'T', today: '2024-09-06' }, transfer, pension)
  if (second.outcome !== 'append') throw new Error(second.outcome)
  // 12% × 7310.00 = 877.20; the late month's individual part (7310.00 × 8% = 584.80) follows the
  // account, already held in Beijing
  t.match(second.transferEvents[0]!.data, { sendNumber: 2, individualAccount: '584.80', pooledFund: '877.20', months: 1, periods: ['2024-06'] })
  for (const e of second.personEvents) evolvePension(pension, e)
  t.equal(pension.heldIn, '110000', 'a supplementary send does not move the account')
})
