import t from 'tap'
import { createTestLedger } from '../helpers/ledger.js'
import { json, personId, problem, submission, withAppendLatency, type FieldErrorOut, type InjectedResponse } from '../helpers/http.js'

/**
 * POST /v1/persons/{personId}/legacy-history and POST /v1/pools/{region}/legacy-balance over
 * `app.inject` (issue #4, "Legacy history"), and what the balances show afterwards.
 *
 * Amounts worked out by hand. Shanghai 2024-07..2025-06 (floor 7384.00, cap 36921.00), wage
 * 8500.00, class I: pension 8500 × 16% = 1360.00 employer, × 8% = 680.00 employee (individual
 * account); medical × 9% = 765.00, × 2% = 170.00 (individual account); unemployment × 0.5% = 42.50
 * each (both to the pool); work injury × 0.2% = 17.00 (employer).
 */

type Ledger = Awaited<ReturnType<typeof createTestLedger>>
type App = Ledger['app']

const P = personId(401)
const Q = personId(402)

const postHistory = (app: App, person: string, body: unknown, headers: Record<string, string> = {}): Promise<InjectedResponse> =>
  app.inject({ method: 'POST', url: `/v1/persons/${person}/legacy-history`, payload: body as object, headers })
const postPool = (app: App, region: string, body: unknown): Promise<InjectedResponse> =>
  app.inject({ method: 'POST', url: `/v1/pools/${region}/legacy-balance`, payload: body as object })
const postSubmission = (app: App, body: unknown): Promise<InjectedResponse> =>
  app.inject({ method: 'POST', url: '/v1/contribution-submissions', payload: body as object })
const getJson = async (app: App, url: string) => json(await app.inject({ method: 'GET', url }))
const logLength = async (ledger: Ledger) => (await ledger.allEvents()).length

/** A legacy history body: 1998-2000 in Shanghai, 2016 split between Beijing and Shanghai. */
const HISTORY = {
  importId: 'LEGACY-2024-06',
  asOf: '2024-06-30',
  individualAccountBalance: '86000.50',
  years: [
    { year: 1998, region: '310000', months: 12, baseTotal: '18000.00' },
    { year: 1999, region: '310000', months: 12, baseTotal: '19200.00' },
    { year: 2000, region: '310000', months: 6, baseTotal: '10200.00' },
    { year: 2016, region: '110000', months: 5, baseTotal: '42500.00' },
    { year: 2016, region: '310000', months: 7, baseTotal: '63000.00' },
  ],
}

t.test('an import is one event; the same import again is 200 with the same position; balances include it', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger

  const res = await postHistory(app, P, HISTORY)
  t.equal(res.statusCode, 201)
  const body = json(res)
  t.same(Object.keys(body), ['importId', 'personId', 'status', 'position'])
  t.same(body, { importId: 'LEGACY-2024-06', personId: P, status: 'imported', position: body.position })
  t.match(body.position, /^\d+$/)

  const events = await ledger.allEvents()
  t.equal(events.length, 1, 'one event')
  t.equal(events[0]!.stream, `person-${P}`)
  t.equal(events[0]!.type, 'LegacyHistoryImported')
  t.equal(events[0]!.metadata.actor, 'ledger', 'the system principal of the test ledger')
  t.same(events[0]!.data, { ...HISTORY, personId: P })

  // The same import, years in another order and amounts written differently: the same content.
  const again = await postHistory(app, P, { ...HISTORY, individualAccountBalance: '86000.5', years: [...HISTORY.years].reverse() })
  t.equal(again.statusCode, 200)
  t.same(json(again), { importId: 'LEGACY-2024-06', personId: P, status: 'already-imported', position: body.position })
  t.equal(await logLength(ledger), 1, 'the retry appended nothing')

  const bal = await getJson(app, `/v1/persons/${P}/balances?minPosition=${body.position}`)
  // months: 12 + 12 + 6 + 5 + 7 = 42; regions Beijing and Shanghai
  t.same(bal.schemes.pension, {
    individualAccount: '86000.50',
    employerContributed: '0.00',
    employeeContributed: '0.00',
    months: 42,
    regions: ['110000', '310000'],
    openingBalance: '86000.50',
    paidOut: '0.00',
    interestCredited: '0.00',
    interestByYear: {},
  })
  t.same(bal.schemes.medical, { individualAccount: '0.00', employerContributed: '0.00', employeeContributed: '0.00', months: 0, regions: [], paidOut: '0.00' }, 'the record is the pension’s')

  // A contribution after asOf adds to the account and to the months.
  const sub = await postSubmission(app, submission({ submissionId: 'SH-2024-07', lines: [{ personId: P, wage: '8500.00' }] }))
  t.equal(sub.statusCode, 201)
  const after = await getJson(app, `/v1/persons/${P}/balances?minPosition=${json(sub).position}`)
  // 86000.50 + 680.00 = 86680.50; months 42 + 1 = 43
  t.same(after.schemes.pension, {
    individualAccount: '86680.50',
    employerContributed: '1360.00',
    employeeContributed: '680.00',
    months: 43,
    regions: ['110000', '310000'],
    openingBalance: '86000.50',
    paidOut: '0.00',
    interestCredited: '0.00',
    interestByYear: {},
  })
})

t.test('same importId with other content is 409 naming the fields; a second import is 409', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  t.equal((await postHistory(app, P, HISTORY)).statusCode, 201)

  const other = problem(t, await postHistory(app, P, { ...HISTORY, individualAccountBalance: '86000.51' }), 409, 'other content')
  t.match(other.type, /import-exists-with-different-content$/)
  t.same(other.differences, ['individualAccountBalance'])
  const years = problem(t, await postHistory(app, P, { ...HISTORY, years: HISTORY.years.slice(1) }), 409, 'fewer years')
  t.same(years.differences, ['years (count)'])

  const second = problem(t, await postHistory(app, P, { ...HISTORY, importId: 'LEGACY-2' }), 409, 'a second import')
  t.match(second.type, /legacy-history-already-imported$/)
  t.equal(second.existingImportId, 'LEGACY-2024-06')
  t.equal(await logLength(ledger), 1, 'nothing more appended')

  // The same importId for another person is that person's own import.
  t.equal((await postHistory(app, Q, HISTORY)).statusCode, 201)
})

t.test('an import overlapping recorded months is 409 naming them, and appends nothing', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  t.equal((await postSubmission(app, submission({ submissionId: 'SH-2024-07', lines: [{ personId: P, wage: '8500.00' }] }))).statusCode, 201)
  t.equal((await postSubmission(app, submission({ submissionId: 'SH-2024-08', period: '2024-08', lines: [{ personId: P, wage: '8500.00' }] }))).statusCode, 201)
  const length = await logLength(ledger)

  // asOf 2024-12-31 with 2024 imported (3 months, in Beijing): which months is unknown, so the
  // recorded July and August (Shanghai) overlap.
  const body = { ...HISTORY, asOf: '2024-12-31', years: [...HISTORY.years, { year: 2024, region: '110000', months: 3, baseTotal: '30000.00' }] }
  const p = problem(t, await postHistory(app, P, body), 409, 'overlap')
  t.match(p.type, /legacy-history-overlaps-recorded-months$/)
  t.match(p.detail, /2024-07 \(310000, submission SH-2024-07\), 2024-08 \(310000, submission SH-2024-08\)/)
  t.same(p.overlaps, [
    { period: '2024-07', region: '310000', submissionId: 'SH-2024-07' },
    { period: '2024-08', region: '310000', submissionId: 'SH-2024-08' },
  ])
  t.same(
    p.errors.map((e: FieldErrorOut) => e.pointer),
    ['/years/5', '/years/5'],
    'the entry of the imported year',
  )
  t.equal(await logLength(ledger), length, 'nothing appended')

  // As of 2024-06-30, 2024 covers January to June at most: no overlap.
  const ok = await postHistory(app, P, { ...HISTORY, years: [...HISTORY.years, { year: 2024, region: '110000', months: 6, baseTotal: '60000.00' }] })
  t.equal(ok.statusCode, 201)
  const bal = await getJson(app, `/v1/persons/${P}/balances?minPosition=${json(ok).position}`)
  // 680.00 × 2 + 86000.50 = 87360.50; months 2 recorded + 42 + 6 imported = 50
  t.equal(bal.schemes.pension.individualAccount, '87360.50')
  t.equal(bal.schemes.pension.months, 50)
  t.same(bal.schemes.pension.regions, ['110000', '310000'])
})

t.test('a submission for a month inside an imported year is 409 (month already credited), appending nothing', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  // Imported: 2024 January to June (asOf 2024-06-30), 3 months in Shanghai.
  const imported = await postHistory(app, P, { ...HISTORY, years: [{ year: 2024, region: '310000', months: 3, baseTotal: '22152.00' }] })
  t.equal(imported.statusCode, 201)
  const length = await logLength(ledger)

  // A Shanghai submission for 2024-03 (policy window 2023-07..2024-06) naming Q and P.
  const res = await postSubmission(app, submission({ submissionId: 'SH-2024-03', period: '2024-03', lines: [{ personId: Q, wage: '8500.00' }, { personId: P, wage: '8500.00' }] }))
  const p = problem(t, res, 409, 'a month of an imported year')
  t.match(p.type, /month-already-credited$/)
  t.same(p.earlierSubmissions, ['legacy:LEGACY-2024-06'])
  t.same(
    p.errors.map((e: FieldErrorOut) => [e.pointer, e.message]),
    ['pension', 'medical', 'unemployment'].map((s) => ['/lines/1/personId', `${s} for 2024-03 already credited by submission legacy:LEGACY-2024-06 (line 0)`]),
  )
  t.equal(await logLength(ledger), length, 'nothing appended, not even Q’s line')

  // July 2024 is after asOf: recorded.
  t.equal((await postSubmission(app, submission({ submissionId: 'SH-2024-07', lines: [{ personId: P, wage: '8500.00' }] }))).statusCode, 201)
})

t.test('an import racing a submission for the same person: both decided on fresh state', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  withAppendLatency(ledger.store, 20)
  // The import covers 2024 to June; the submission is for 2024-03: whichever is decided second is refused.
  const [imp, sub] = await Promise.all([
    postHistory(app, P, { ...HISTORY, years: [{ year: 2024, region: '310000', months: 6, baseTotal: '44304.00' }] }),
    postSubmission(app, submission({ submissionId: 'SH-2024-03', period: '2024-03', lines: [{ personId: P, wage: '8500.00' }] })),
  ])
  t.same([imp.statusCode, sub.statusCode].sort(), [201, 409], 'one wins, the other is refused')
  const types = (await ledger.allEvents()).map((e) => e.type)
  t.ok(types.length === 1 || types.length === 2, 'only the winner’s events are in the log')
})

t.test('malformed imports are 400 problems naming the field, and append nothing', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  const year = (over: object) => ({ ...HISTORY, years: [{ year: 2010, region: '310000', months: 12, baseTotal: '60000.00', ...over }] })
  const cases: [string, string, unknown, string][] = [
    ['unknown field', P, { ...HISTORY, extra: 1 }, '/extra'],
    ['importId with a space', P, { ...HISTORY, importId: 'a b' }, '/importId'],
    ['importId of 65 characters', P, { ...HISTORY, importId: 'x'.repeat(65) }, '/importId'],
    ['asOf not a calendar date', P, { ...HISTORY, asOf: '2023-02-29' }, '/asOf'],
    ['asOf a timestamp', P, { ...HISTORY, asOf: '2024-06-30T00:00:00Z' }, '/asOf'],
    ['negative balance', P, { ...HISTORY, individualAccountBalance: '-1.00' }, '/individualAccountBalance'],
    ['three places', P, { ...HISTORY, individualAccountBalance: '1.005' }, '/individualAccountBalance'],
    ['a number, not a string', P, { ...HISTORY, individualAccountBalance: 100 }, '/individualAccountBalance'],
    ['over 99999999.99', P, { ...HISTORY, individualAccountBalance: '100000000.00' }, '/individualAccountBalance'],
    ['no years', P, { ...HISTORY, years: [] }, '/years'],
    ['81 years', P, { ...HISTORY, years: Array.from({ length: 81 }, (_, i) => ({ year: 1992 + (i % 32), region: String(110000 + i), months: 1, baseTotal: '1.00' })) }, '/years'],
    ['year 1991', P, year({ year: 1991 }), '/years/0/year'],
    ['year after asOf', P, year({ year: 2025 }), '/years/0/year'],
    ['year as a string', P, year({ year: '2010' }), '/years/0/year'],
    ['months 0', P, year({ months: 0 }), '/years/0/months'],
    ['months 13', P, year({ months: 13 }), '/years/0/months'],
    ['months 1.5', P, year({ months: 1.5 }), '/years/0/months'],
    ['7 months in 2024 with asOf in June', P, year({ year: 2024, months: 7 }), '/years/0/months'],
    ['bad region', P, year({ region: '31000' }), '/years/0/region'],
    ['negative base total', P, year({ baseTotal: '-5.00' }), '/years/0/baseTotal'],
    ['unknown field in a year', P, year({ employer: 'x' }), '/years/0/employer'],
    ['(year, region) twice', P, { ...HISTORY, years: [HISTORY.years[0], HISTORY.years[0]] }, '/years/1/region'],
    ['13 months in one year across regions', P, { ...HISTORY, years: [HISTORY.years[3], { ...HISTORY.years[4], months: 8 }] }, '/years/1/months'],
    ['bad person id', '11010519491231002Y', HISTORY, '/personId'],
  ]
  for (const [what, person, body, pointer] of cases) {
    const p = problem(t, await postHistory(app, person, body), 400, what)
    t.ok(
      p.errors.some((e: FieldErrorOut) => e.pointer === pointer),
      `${what}: names ${pointer} (got ${p.errors.map((e: FieldErrorOut) => e.pointer).join(', ')})`,
    )
  }
  problem(t, await postHistory(app, P, HISTORY, { 'x-actor': 'migration@hr' }), 400, 'x-actor is replaced by authentication')
  t.equal(await logLength(ledger), 0, 'nothing appended')
})

// ---------------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------------

const POOL = { importId: 'POOL-310000', asOf: '2024-06-30', schemes: { pension: '1000000.00', unemployment: '2500.50' } }

t.test('a pool opening balance: 201, 200 again, 409 other content or a second import, 404 without a policy', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger

  const res = await postPool(app, '310000', POOL)
  t.equal(res.statusCode, 201)
  const body = json(res)
  t.same(body, { importId: 'POOL-310000', region: '310000', status: 'imported', position: body.position })
  const events = await ledger.allEvents()
  t.same(
    events.map((e) => [e.stream, e.type, e.data]),
    [['pool-310000', 'PoolLegacyBalanceImported', { importId: 'POOL-310000', region: '310000', asOf: '2024-06-30', schemes: { pension: '1000000.00', unemployment: '2500.50' } }]],
  )

  const again = await postPool(app, '310000', { ...POOL, schemes: { unemployment: '2500.5', pension: '1000000' } })
  t.equal(again.statusCode, 200)
  t.same(json(again), { ...body, status: 'already-imported' })

  const other = problem(t, await postPool(app, '310000', { ...POOL, schemes: { pension: '1000000.00' } }), 409, 'other content')
  t.same(other.differences, ['schemes.unemployment'])
  const second = problem(t, await postPool(app, '310000', { ...POOL, importId: 'POOL-2' }), 409, 'a second import')
  t.match(second.type, /opening-balance-already-imported$/)
  problem(t, await postPool(app, '999999', POOL), 404, 'a region without a policy')
  t.equal(await logLength(ledger), 1, 'nothing more appended')

  // The pools with a contribution of 8500.00 (class I) after the opening balance:
  //   pension 1000000.00 + 1360.00 = 1001360.00; medical 0.00 + 765.00;
  //   unemployment 2500.50 + 42.50 + 42.50 = 2585.50; work injury 17.00
  const sub = await postSubmission(app, submission({ submissionId: 'SH-2024-07', lines: [{ personId: P, wage: '8500.00' }] }))
  const pools = await getJson(app, `/v1/pools/310000/balances?minPosition=${json(sub).position}`)
  t.same(pools.schemes, {
    pension: { balance: '1001360.00', contributions: '1360.00', payouts: '0.00', openingBalance: '1000000.00' },
    medical: { balance: '765.00', contributions: '765.00', payouts: '0.00', openingBalance: '0.00' },
    unemployment: { balance: '2585.50', contributions: '85.00', payouts: '0.00', openingBalance: '2500.50' },
    work_injury: { balance: '17.00', contributions: '17.00', payouts: '0.00', openingBalance: '0.00' },
    maternity: { balance: '0.00', contributions: '0.00', payouts: '0.00', openingBalance: '0.00' },
  })
  // Beijing has no opening balance: no openingBalance field.
  const bj = await getJson(app, '/v1/pools/110000/balances')
  t.same(bj.schemes.pension, { balance: '0.00', contributions: '0.00', payouts: '0.00' })
})

t.test('malformed pool imports are 400 and append nothing', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  const cases: [string, string, unknown, string][] = [
    ['no schemes', '310000', { ...POOL, schemes: {} }, '/schemes'],
    ['unknown scheme', '310000', { ...POOL, schemes: { pensions: '1.00' } }, '/schemes/pensions'],
    ['negative amount', '310000', { ...POOL, schemes: { pension: '-1.00' } }, '/schemes/pension'],
    ['16 integer digits', '310000', { ...POOL, schemes: { pension: '1000000000000000.00' } }, '/schemes/pension'],
    ['bad asOf', '310000', { ...POOL, asOf: '2024-02-30' }, '/asOf'],
    ['missing importId', '310000', { asOf: POOL.asOf, schemes: POOL.schemes }, '/importId'],
    ['bad region', '31000', POOL, '/region'],
  ]
  for (const [what, region, body, pointer] of cases) {
    const p = problem(t, await postPool(app, region, body), 400, what)
    t.ok(p.errors.some((e: FieldErrorOut) => e.pointer === pointer), `${what}: names ${pointer} (got ${p.errors.map((e: FieldErrorOut) => e.pointer).join(', ')})`)
  }
  t.equal((await postPool(app, '310000', { ...POOL, schemes: { pension: '999999999999999.99' } })).statusCode, 201, 'the largest amount')
  t.equal(await logLength(ledger), 1)
})
