import t, { type Test } from 'tap'
import { createTestLedger } from '../helpers/ledger.js'
import { movableClock } from '../helpers/clock.js'
import { json, personId, problem, submission } from '../helpers/http.js'
import { LEGACY_HISTORY_IMPORTED, type LegacyHistoryImportedData } from '../../src/domain/legacy/events.js'

/**
 * Cross-province transfer of basic pension insurance (issue #4; Guo Ban Fa [2009] No.66), through
 * HTTP. Amounts are worked out by hand in the comments from RULES.md §3.
 */

const P = personId(700)
const FROM = '310000'
const TO = '110000'


type Ledger = Awaited<ReturnType<typeof createTestLedger>>

/**
 * The person of the example: imported years 1998-2022 in Shanghai (12 months a year, bases
 * 60000.00 a year, individual account 80000.00 at the end of 2022), and recorded months 2023-08
 * (wage 8500.00) and 2024-08 (wage 10000.00) in Shanghai.
 */
async function personWithHistory(t: Test, ledger: Ledger) {
  const legacy: LegacyHistoryImportedData = {
    importId: 'LEG-700',
    personId: P,
    asOf: '2022-12-31',
    individualAccountBalance: '80000.00',
    years: Array.from({ length: 25 }, (_, i) => ({ year: 1998 + i, region: FROM, months: 12, baseTotal: '60000.00' })),
  }
  await ledger.store.append(`person-${P}`, [{ type: LEGACY_HISTORY_IMPORTED, data: legacy }], 'no_stream')
  for (const [period, wage] of [['2023-08', '8500.00'], ['2024-08', '10000.00']] as const) {
    const res = await ledger.app.inject({ method: 'POST', url: '/v1/contribution-submissions', payload: submission({ submissionId: `S-${period}`, period, lines: [{ personId: P, wage }] }) })
    t.equal(res.statusCode, 201, `contribution ${period} recorded`)
  }
}

const post = (ledger: Ledger, url: string, payload?: object) => ledger.app.inject({ method: 'POST', url, ...(payload ? { payload } : {}) })

t.test('the issue example: imported years and recorded months in Shanghai, moving to Beijing', async (t) => {
  const time = movableClock('2024-09-02T02:00:00Z') // Monday 2024-09-02 in Shanghai
  const ledger = await createTestLedger({ clock: time.clock })
  t.teardown(ledger.close)
  await personWithHistory(t, ledger)

  const reg = await post(ledger, '/v1/transfers', { transferId: 'T-1', personId: P, fromRegion: FROM, toRegion: TO })
  t.equal(reg.statusCode, 201)
  t.match(json(reg), { transferId: 'T-1', state: 'registered', registeredOn: '2024-09-02', deadlines: { decision: '2024-09-23' }, overdue: false })
  t.equal((await post(ledger, '/v1/transfers/T-1/accept')).statusCode, 201)

  time.set('2024-09-04T02:00:00Z')
  const sent = await post(ledger, '/v1/transfers/T-1/send')
  t.equal(sent.statusCode, 201)
  // Individual account: 80000.00 imported + 8500.00 × 8% (680.00) + 10000.00 × 8% (800.00) = 81480.00
  // Pooled fund: 12% × (25 × 60000.00 + 8500.00 + 10000.00) = 12% × 1518500.00 = 182220.00
  // Months: 25 × 12 + 2 = 302
  t.match(json(sent), {
    state: 'sent',
    sends: [{ sendNumber: 1, sentOn: '2024-09-04', individualAccount: '81480.00', pooledFund: '182220.00', months: 302, baseTotal: '1518500.00' }],
    moved: { individualAccount: '81480.00', pooledFund: '182220.00' },
    deadlines: { decision: '2024-09-23', send: '2024-09-23', complete: '2024-09-25' },
  })
  t.notOk(json(sent).supplementaryNeeded, 'nothing left to send')

  // Balances after the send. Shanghai's pension pool: opening 1000000.00 (imported after the send;
  // the order does not change the sum) + employer parts 16% × 8500.00 = 1360.00 and 16% × 10000.00 =
  // 1600.00, − 182220.00 sent = 820740.00. Beijing's: 182220.00 received.
  t.equal((await post(ledger, '/v1/pools/310000/legacy-balance', { importId: 'POOL-310000', asOf: '2022-12-31', schemes: { pension: '1000000.00' } })).statusCode, 201)
  const head = (await ledger.store.headPosition())!.toString()
  const shanghai = json(await ledger.app.inject({ method: 'GET', url: `/v1/pools/310000/balances?minPosition=${head}` }))
  t.same(shanghai.schemes.pension, { balance: '820740.00', contributions: '2960.00', payouts: '0.00', openingBalance: '1000000.00', transfersIn: '0.00', transfersOut: '182220.00' })
  const beijing = json(await ledger.app.inject({ method: 'GET', url: `/v1/pools/110000/balances?minPosition=${head}` }))
  t.same(beijing.schemes.pension, { balance: '182220.00', contributions: '0.00', payouts: '0.00', transfersIn: '182220.00', transfersOut: '0.00' })
  const person = json(await ledger.app.inject({ method: 'GET', url: `/v1/persons/${P}/balances?minPosition=${head}` }))
  t.same(person.pensionAccount, { heldIn: '110000', monthsByRegion: { '310000': 302 } }, 'held in Beijing; the Shanghai segment stays visible')
  t.equal(person.schemes.pension.individualAccount, '81480.00', 'the account moved whole, nothing lost')
  t.equal(person.schemes.pension.months, 302)

  const done = await post(ledger, '/v1/transfers/T-1/complete')
  t.equal(done.statusCode, 201)
  t.equal(json(done).state, 'completed')
  const again = await post(ledger, '/v1/transfers/T-1/complete')
  t.equal(again.statusCode, 200, 'completing again is a retry')
  t.equal(json(again).position, json(done).position)
})

t.test('a retried send moves money once; concurrent sends too', async (t) => {
  const ledger = await createTestLedger({ clock: movableClock('2024-09-02T02:00:00Z').clock })
  t.teardown(ledger.close)
  await personWithHistory(t, ledger)
  await post(ledger, '/v1/transfers', { transferId: 'T-2', personId: P, fromRegion: FROM, toRegion: TO })
  await post(ledger, '/v1/transfers/T-2/accept')
  const answers = await Promise.all(Array.from({ length: 5 }, () => post(ledger, '/v1/transfers/T-2/send')))
  t.same(answers.map((a) => a.statusCode).sort(), [200, 200, 200, 200, 201], 'one send, four retries')
  t.ok(answers.every((a) => json(a).moved.pooledFund === '182220.00'), 'every answer shows the one send')
  const events = (await ledger.allEvents()).filter((e) => e.type === 'TransferSent')
  t.equal(events.length, 1, 'one TransferSent in the log')
})

t.test('steps out of order are 409 naming the state; a rejected transfer; another open transfer', async (t) => {
  const ledger = await createTestLedger({ clock: movableClock('2024-09-02T02:00:00Z').clock })
  t.teardown(ledger.close)
  await personWithHistory(t, ledger)
  await post(ledger, '/v1/transfers', { transferId: 'T-3', personId: P, fromRegion: FROM, toRegion: TO })
  let p = problem(t, await post(ledger, '/v1/transfers/T-3/send'), 409, 'send before accept')
  t.equal(p.state, 'registered')
  p = problem(t, await post(ledger, '/v1/transfers/T-3/complete'), 409, 'complete before send')
  t.equal(p.state, 'registered')
  p = problem(t, await post(ledger, '/v1/transfers', { transferId: 'T-4', personId: P, fromRegion: FROM, toRegion: '440000' }), 409, 'a second open transfer')
  t.match(p.detail, /T-3/)
  t.equal(p.openTransferId, 'T-3')
  // a step posted with a JSON content type and no body runs like one without
  const empty = await ledger.app.inject({ method: 'POST', url: '/v1/transfers/T-3/send', headers: { 'content-type': 'application/json' } })
  t.equal(problem(t, empty, 409, 'empty JSON body, send before accept').state, 'registered')

  const rejected = await post(ledger, '/v1/transfers/T-3/reject', { reason: 'not enrolled at the destination' })
  t.equal(rejected.statusCode, 201)
  t.match(json(rejected), { state: 'rejected', rejected: { reason: 'not enrolled at the destination', on: '2024-09-02' } })
  t.equal((await post(ledger, '/v1/transfers/T-3/reject', { reason: 'not enrolled at the destination' })).statusCode, 200, 'same refusal again')
  problem(t, await post(ledger, '/v1/transfers/T-3/accept'), 409, 'accept after reject')
  // the rejection closed it: a new transfer may be registered
  t.equal((await post(ledger, '/v1/transfers', { transferId: 'T-4', personId: P, fromRegion: FROM, toRegion: TO })).statusCode, 201)
  t.equal((await post(ledger, '/v1/transfers/T-4/cancel', { reason: 'person withdrew' })).statusCode, 201)
  problem(t, await post(ledger, '/v1/transfers/T-4/send'), 409, 'send after cancel')
})

t.test('registration rules: regions differ, contributions in the source region, same id same content', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  await personWithHistory(t, ledger)
  problem(t, await post(ledger, '/v1/transfers', { transferId: 'T-5', personId: P, fromRegion: FROM, toRegion: FROM }), 422, 'same region')
  problem(t, await post(ledger, '/v1/transfers', { transferId: 'T-5', personId: P, fromRegion: '440000', toRegion: TO }), 422, 'nothing in the source region')
  problem(t, await post(ledger, '/v1/transfers', { transferId: 'T-5', personId: P, fromRegion: FROM }), 400, 'missing toRegion')
  problem(t, await post(ledger, '/v1/transfers/NOPE/accept'), 404, 'unknown transfer')
  problem(t, await post(ledger, '/v1/transfers', { transferId: 'T-5', personId: P, fromRegion: FROM, toRegion: '999999' }), 422, 'a region without pools')
  const legacy = await post(ledger, `/v1/persons/${personId(701)}/legacy-history`, {
    importId: 'L-1', asOf: '2020-12-31', individualAccountBalance: '1.00', years: [{ year: 2019, region: '999999', months: 12, baseTotal: '1.00' }],
  })
  t.match(problem(t, legacy, 400, 'legacy years in a region without pools').errors, [{ pointer: '/years/0/region' }])
  t.equal((await post(ledger, '/v1/transfers', { transferId: 'T-5', personId: P, fromRegion: FROM, toRegion: TO })).statusCode, 201)
  t.equal((await post(ledger, '/v1/transfers', { transferId: 'T-5', personId: P, fromRegion: FROM, toRegion: TO })).statusCode, 200, 'a retry')
  problem(t, await post(ledger, '/v1/transfers', { transferId: 'T-5', personId: P, fromRegion: FROM, toRegion: '440000' }), 409, 'same id, other content')
})

t.test('a contribution recorded in the source region after the send needs a supplementary send', async (t) => {
  const time = movableClock('2024-09-02T02:00:00Z')
  const ledger = await createTestLedger({ clock: time.clock })
  t.teardown(ledger.close)
  await personWithHistory(t, ledger)
  await post(ledger, '/v1/transfers', { transferId: 'T-6', personId: P, fromRegion: FROM, toRegion: TO })
  await post(ledger, '/v1/transfers/T-6/accept')
  await post(ledger, '/v1/transfers/T-6/send')
  // A late payroll for 2024-06 in Shanghai (window 2023-07, floor 7310): wage 9000.00
  const late = await ledger.app.inject({ method: 'POST', url: '/v1/contribution-submissions', payload: submission({ submissionId: 'LATE', period: '2024-06', lines: [{ personId: P, wage: '9000.00' }] }) })
  t.equal(late.statusCode, 201, 'accepted')
  const view = json(await ledger.app.inject({ method: 'GET', url: '/v1/transfers/T-6' }))
  // 12% × 9000.00 = 1080.00
  t.same(view.supplementaryNeeded, { months: 1, periods: ['2024-06'], baseTotal: '9000.00', pooledFund: '1080.00' })
  const second = await post(ledger, '/v1/transfers/T-6/send')
  t.equal(second.statusCode, 201)
  // the late month's individual part: 9000.00 × 8% = 720.00
  t.match(json(second).sends[1], { sendNumber: 2, individualAccount: '720.00', pooledFund: '1080.00', months: 1, baseTotal: '9000.00' })
  t.same(json(second).moved, { individualAccount: '82200.00', pooledFund: '183300.00' }, '81480.00 + 720.00; 182220.00 + 1080.00')
  t.equal((await post(ledger, '/v1/transfers/T-6/send')).statusCode, 200, 'nothing more to send')
})

t.test('deadlines: 15 working days per step, holidays from the calendar, overdue in the list', async (t) => {
  const time = movableClock('2024-09-30T02:00:00Z') // Monday 2024-09-30
  const daysOff = new Set(['2024-10-01', '2024-10-02', '2024-10-03', '2024-10-04', '2024-10-07'])
  const ledger = await createTestLedger({ clock: time.clock, daysOff })
  t.teardown(ledger.close)
  await personWithHistory(t, ledger)
  const reg = json(await post(ledger, '/v1/transfers', { transferId: 'T-7', personId: P, fromRegion: FROM, toRegion: TO }))
  // From Monday 2024-09-30: working days 10-08 (1) .. 10-11 (4), 10-14..18 (9), 10-21..25 (14), 10-28 (15)
  t.equal(reg.deadlines.decision, '2024-10-28')
  const list = async (query: string) => json(await ledger.app.inject({ method: 'GET', url: `/v1/transfers?${query}&minPosition=${reg.position}` }))
  t.same((await list('overdue=true')).transfers, [], 'not overdue yet')
  time.set('2024-10-29T02:00:00Z')
  const overdue = await list('overdue=true')
  t.same(overdue.transfers.map((x: { transferId: string }) => x.transferId), ['T-7'])
  t.match(overdue.transfers[0], { state: 'registered', personId: P, fromRegion: FROM, toRegion: TO, overdue: true })
  t.same((await list(`personId=${P}&state=registered`)).transfers.length, 1)
  t.same((await list('region=440000')).transfers, [])
  t.equal(json(await ledger.app.inject({ method: 'GET', url: '/v1/transfers/T-7' })).overdue, true)
})
