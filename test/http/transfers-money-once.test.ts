import t, { type Test } from 'tap'
import { createTestLedger } from '../helpers/ledger.js'
import { movableClock } from '../helpers/clock.js'
import { json, personId, submission } from '../helpers/http.js'
import { LEGACY_HISTORY_IMPORTED, type LegacyHistoryImportedData } from '../../src/domain/legacy/events.js'

/**
 * Money moved twice or left behind by transfers (found in review, fixed). Each test states the correct
 * behaviour (RULES.md §3: the individual account moves whole, once).
 */

const FROM = '310000'
const TO = '110000'


type Ledger = Awaited<ReturnType<typeof createTestLedger>>
const post = (ledger: Ledger, url: string, payload?: object) => ledger.app.inject({ method: 'POST', url, ...(payload ? { payload } : {}) })

/** Imported 1998-2022 in Shanghai (60000.00 a year, account 80000.00) and recorded 2023-08 (8500.00), 2024-08 (10000.00). */
async function personWithHistory(t: Test, ledger: Ledger, P: string) {
  const legacy: LegacyHistoryImportedData = {
    importId: `LEG-${P}`,
    personId: P,
    asOf: '2022-12-31',
    individualAccountBalance: '80000.00',
    years: Array.from({ length: 25 }, (_, i) => ({ year: 1998 + i, region: FROM, months: 12, baseTotal: '60000.00' })),
  }
  await ledger.store.append(`person-${P}`, [{ type: LEGACY_HISTORY_IMPORTED, data: legacy }], 'no_stream')
  for (const [period, wage] of [['2023-08', '8500.00'], ['2024-08', '10000.00']] as const) {
    const res = await post(ledger, '/v1/contribution-submissions', submission({ submissionId: `S-${P}-${period}`, period, lines: [{ personId: P, wage }] }))
    t.equal(res.statusCode, 201, `contribution ${period} recorded`)
  }
}

async function fullTransfer(t: Test, ledger: Ledger, id: string, P: string, from: string, to: string) {
  t.equal((await post(ledger, '/v1/transfers', { transferId: id, personId: P, fromRegion: from, toRegion: to })).statusCode, 201, `${id} registered`)
  t.equal((await post(ledger, `/v1/transfers/${id}/accept`)).statusCode, 201, `${id} accepted`)
  const sent = await post(ledger, `/v1/transfers/${id}/send`)
  t.equal(sent.statusCode, 201, `${id} sent`)
  t.equal((await post(ledger, `/v1/transfers/${id}/complete`)).statusCode, 201, `${id} completed`)
  return json(sent)
}

t.test('a second transfer out of a region the account already left does not move the account again', async (t) => {
  const ledger = await createTestLedger({ clock: movableClock('2024-09-02T02:00:00Z').clock })
  t.teardown(ledger.close)
  const P = personId(801)
  await personWithHistory(t, ledger, P)
  const first = await fullTransfer(t, ledger, 'R-1', P, FROM, TO)
  t.equal(first.sends[0].individualAccount, '81480.00', 'the whole account left Shanghai for Beijing')

  // Nothing is left in Shanghai: no pending month, no legacy year, the account is held in Beijing.
  const reg = await post(ledger, '/v1/transfers', { transferId: 'R-2', personId: P, fromRegion: FROM, toRegion: '440000' })
  if (reg.statusCode === 201) {
    await post(ledger, '/v1/transfers/R-2/accept')
    const sent = json(await post(ledger, '/v1/transfers/R-2/send'))
    t.equal(sent.sends[0].individualAccount, '0.00', 'Shanghai no longer holds the account: nothing of it can move out of Shanghai again')
    const moved = (await ledger.allEvents()).filter((e) => e.type === 'TransferSent').map((e) => (e.data as { individualAccount: string }).individualAccount)
    t.same(moved, ['81480.00', '0.00'], 'the account moved once in all')
  } else {
    t.equal(reg.statusCode, 422, 'registration refused: nothing to transfer from Shanghai')
  }
})

t.test('a supplementary send moves the late months’ individual-account part too', async (t) => {
  const ledger = await createTestLedger({ clock: movableClock('2024-09-02T02:00:00Z').clock })
  t.teardown(ledger.close)
  const P = personId(802)
  await personWithHistory(t, ledger, P)
  await post(ledger, '/v1/transfers', { transferId: 'R-3', personId: P, fromRegion: FROM, toRegion: TO })
  await post(ledger, '/v1/transfers/R-3/accept')
  await post(ledger, '/v1/transfers/R-3/send')
  // Late Shanghai payroll for 2024-06, wage 9000.00: 8% = 720.00 paid into the account in Shanghai.
  const late = await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'LATE-802', period: '2024-06', lines: [{ personId: P, wage: '9000.00' }] }))
  t.equal(late.statusCode, 201)
  const second = json(await post(ledger, '/v1/transfers/R-3/send'))
  const head = (await ledger.store.headPosition())!.toString()
  const person = json(await ledger.app.inject({ method: 'GET', url: `/v1/persons/${P}/balances?minPosition=${head}` }))
  t.equal(person.schemes.pension.individualAccount, '82200.00', '81480.00 + 720.00')
  t.equal(second.sends[1].individualAccount, '720.00', 'the 720.00 collected in Shanghai after the send follows the account')
  t.equal(second.moved.individualAccount, person.schemes.pension.individualAccount, 'everything in the account has moved, nothing left in Shanghai')
})

t.test('an import after a send: the imported opening balance is not left behind', async (t) => {
  const ledger = await createTestLedger({ clock: movableClock('2024-09-02T02:00:00Z').clock })
  t.teardown(ledger.close)
  const P = personId(803)
  for (const [period, wage] of [['2023-08', '8500.00'], ['2024-08', '10000.00']] as const) {
    t.equal((await post(ledger, '/v1/contribution-submissions', submission({ submissionId: `S-803-${period}`, period, lines: [{ personId: P, wage }] }))).statusCode, 201)
  }
  await post(ledger, '/v1/transfers', { transferId: 'R-4', personId: P, fromRegion: FROM, toRegion: TO })
  await post(ledger, '/v1/transfers/R-4/accept')
  t.equal(json(await post(ledger, '/v1/transfers/R-4/send')).sends[0].individualAccount, '1480.00')
  const imp = await post(ledger, `/v1/persons/${P}/legacy-history`, {
    importId: 'LEG-803',
    asOf: '2022-12-31',
    individualAccountBalance: '50000.00',
    years: [{ year: 2010, region: FROM, months: 12, baseTotal: '60000.00' }],
  })
  if (imp.statusCode === 201) {
    const view = json(await ledger.app.inject({ method: 'GET', url: '/v1/transfers/R-4' }))
    t.ok(view.supplementaryNeeded, 'the imported Shanghai year is listed for a supplementary send')
    const second = json(await post(ledger, '/v1/transfers/R-4/send'))
    t.equal(second.sends[1].pooledFund, '7200.00', '12% × 60000.00')
    t.equal(second.sends[1].individualAccount, '50000.00', 'the imported opening balance, held in Shanghai, moves with it')
  } else {
    t.equal(imp.statusCode, 409, 'or the import is refused once the account has left the region')
  }
})

t.test('a supplementary send of an old transfer does not pull the account back to its destination', async (t) => {
  const time = movableClock('2024-09-02T02:00:00Z')
  const ledger = await createTestLedger({ clock: time.clock })
  t.teardown(ledger.close)
  const P = personId(804)
  await personWithHistory(t, ledger, P)
  await fullTransfer(t, ledger, 'R-5', P, FROM, TO) // Shanghai → Beijing
  const bj = await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'BJ-804', region: TO, period: '2024-09', lines: [{ personId: P, wage: '12000.00' }] }))
  t.equal(bj.statusCode, 201, 'a month in Beijing')
  await fullTransfer(t, ledger, 'R-6', P, TO, '440000') // Beijing → Guangdong
  // A late Shanghai month, then R-5's supplementary send.
  t.equal((await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'LATE-804', period: '2024-06', lines: [{ personId: P, wage: '9000.00' }] }))).statusCode, 201)
  t.equal((await post(ledger, '/v1/transfers/R-5/send')).statusCode, 201, 'supplementary send of R-5')
  const head = (await ledger.store.headPosition())!.toString()
  const person = json(await ledger.app.inject({ method: 'GET', url: `/v1/persons/${P}/balances?minPosition=${head}` }))
  t.equal(person.pensionAccount.heldIn, '440000', 'the account is in Guangdong since R-6; a late Shanghai month does not move it back to Beijing')
  // With the account (wrongly) "held" in Beijing again, Beijing could send the whole account a second time.
  const reg = await post(ledger, '/v1/transfers', { transferId: 'R-7', personId: P, fromRegion: TO, toRegion: '510000' })
  if (reg.statusCode === 201) {
    await post(ledger, '/v1/transfers/R-7/accept')
    t.equal(json(await post(ledger, '/v1/transfers/R-7/send')).sends[0].individualAccount, '0.00', 'Beijing no longer holds the account')
  }
})
