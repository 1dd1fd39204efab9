import t from 'tap'
import { createTestLedger } from '../helpers/ledger.js'
import { employerId, json, problem, personId, submission, withAppendLatency, type FieldErrorOut, type InjectedResponse } from '../helpers/http.js'

/**
 * POST /v1/contribution-submissions end to end over `app.inject` (issue #2 §4, §6, §8).
 *
 * Every amount below is worked out by hand from the rule of §4:
 *   base = wage clamped to [floor, cap];
 *   employer = base × employer rate, employee = base × employee rate, each rounded half-up to 0.01;
 *   individual account = employee amount for pension and medical, 0.00 otherwise;
 *   pool = employer + employee − individual account.
 * Shanghai (310000) 2024-07..2025-06 (policy row 310000/2024-07/v1): floor 7384.00, cap 36921.00,
 * pension 16 / 8, medical 9 / 2, unemployment 0.5 / 0.5, work injury by class I..VIII
 * 0.2 0.4 0.7 0.9 1.1 1.3 1.6 1.9 (employer only), no separate maternity.
 * Shanghai 2023-07..2024-06 (310000/2023-07/v1): floor 7310.00, cap 36549.00, same rates.
 * Beijing (110000) 2024-07..2025-06: floor 6821.00, cap 35283.00, medical 9.8 / 2, else as above.
 */

type Ledger = Awaited<ReturnType<typeof createTestLedger>>
type App = Ledger['app']

const URL = '/v1/contribution-submissions'
const JSON_TYPE = /^application\/json/
const POSITION = /^\d+$/
const SCHEMES = ['pension', 'medical', 'unemployment', 'work_injury', 'maternity'] as const

const post = (app: App, body: unknown): Promise<InjectedResponse> =>
  app.inject({ method: 'POST', url: URL, payload: body as object })

const getJson = async (app: App, url: string) => {
  const res = await app.inject({ method: 'GET', url })
  return { res, body: json(res) }
}

/** One scheme's expected person balance. */
const bal = (individualAccount: string, employerContributed: string, employeeContributed: string, months = 1, regions = ['310000']) => ({
  individualAccount,
  employerContributed,
  employeeContributed,
  months,
  regions,
  paidOut: '0.00',
})
/** The pension's balances: the same, and no interest credited yet. */
const pensionBal = (...args: Parameters<typeof bal>) => ({ ...bal(...args), interestCredited: '0.00', interestByYear: {} })
/** A scheme nothing was contributed to (maternity is not in force in any shipped row). */
const NONE = bal('0.00', '0.00', '0.00', 0, [])


/** Number of events in the log. */
const logLength = async (ledger: Ledger) => (await ledger.allEvents()).length

// ---------------------------------------------------------------------------------------------
// Worked examples
// ---------------------------------------------------------------------------------------------

t.test('Shanghai 2024-07: worked examples at, below and above the floor and cap', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  const P = Array.from({ length: 8 }, (_, i) => personId(100 + i))

  // ---- Submission SH-1, work injury class VIII (1.9%) ----
  // Base 7384.00 (wage 5000.00 below the floor, and 7384.00 exactly at it):
  //   pension   7384 × 16% = 1181.44   7384 × 8% = 590.72
  //   medical   7384 × 9%  =  664.56   7384 × 2% = 147.68
  //   unemploy  7384 × 0.5% = 36.92 (both)
  //   work inj. 7384 × 1.9% = 140.296 → 140.30
  //   employer 1181.44 + 664.56 + 36.92 + 140.30 = 2023.22; employee 590.72 + 147.68 + 36.92 = 775.32
  //   individual account 590.72 + 147.68 = 738.40; pool 2023.22 + 36.92 = 2060.14
  // Base 8500.00 (within):
  //   pension 1360.00 / 680.00; medical 765.00 / 170.00; unemployment 42.50 / 42.50; wi 161.50
  //   employer 1360 + 765 + 42.50 + 161.50 = 2329.00; employee 680 + 170 + 42.50 = 892.50
  //   individual account 850.00; pool 2329.00 + 42.50 = 2371.50
  // Base 8333.33:
  //   pension 8333.33 × 16% = 1333.3328 → 1333.33   × 8% = 666.6664 → 666.67
  //   medical 8333.33 × 9% = 749.9997 → 750.00       × 2% = 166.6666 → 166.67
  //   unemployment 8333.33 × 0.5% = 41.66665 → 41.67 (both)
  //   work injury 8333.33 × 1.9% = 158.33327 → 158.33
  //   employer 1333.33 + 750.00 + 41.67 + 158.33 = 2283.33; employee 666.67 + 166.67 + 41.67 = 875.01
  //   individual account 666.67 + 166.67 = 833.34; pool 2283.33 + 41.67 = 2325.00
  // Base 36921.00 (wage 36921.00 exactly at the cap, and 50000.00 above it):
  //   pension 36921 × 16% = 5907.36   × 8% = 2953.68
  //   medical 36921 × 9% = 3322.89    × 2% = 738.42
  //   unemployment 36921 × 0.5% = 184.605 → 184.61 (a half-up tie, both)
  //   work injury 36921 × 1.9% = 701.499 → 701.50
  //   employer 5907.36 + 3322.89 + 184.61 + 701.50 = 10116.36; employee 2953.68 + 738.42 + 184.61 = 3876.71
  //   individual account 2953.68 + 738.42 = 3692.10; pool 10116.36 + 184.61 = 10300.97
  // Totals of SH-1 (lines 7384, 7384, 8500, 8333.33, 36921, 36921):
  //   employer 2023.22×2 + 2329.00 + 2283.33 + 10116.36×2 = 28891.49
  //   employee 775.32×2 + 892.50 + 875.01 + 3876.71×2 = 11071.57
  //   individual account 738.40×2 + 850.00 + 833.34 + 3692.10×2 = 10544.34
  //   pool 2060.14×2 + 2371.50 + 2325.00 + 10300.97×2 = 29418.72
  //   (check: 28891.49 + 11071.57 = 39963.06 = 10544.34 + 29418.72)
  const sh1 = submission({
    submissionId: 'SH-2024-07-0001',
    workInjuryClass: 8,
    lines: [
      { personId: P[0]!, wage: '5000.00' },
      { personId: P[1]!, wage: '7384.00' },
      { personId: P[2]!, wage: '8500.00' },
      { personId: P[3]!, wage: '8333.33' },
      { personId: P[4]!, wage: '36921.00' },
      { personId: P[5]!, wage: '50000.00' },
    ],
  })
  const r1 = await post(app, sh1)
  t.equal(r1.statusCode, 201, 'SH-1 recorded')
  t.match(String(r1.headers['content-type']), JSON_TYPE)
  const b1 = json(r1)
  t.equal(b1.submissionId, 'SH-2024-07-0001')
  t.equal(b1.status, 'recorded')
  t.equal(b1.lineCount, 6)
  t.match(b1.position, POSITION, 'position is a decimal string')
  t.same(b1.totals, { employer: '28891.49', employee: '11071.57', individualAccount: '10544.34', pool: '29418.72' })

  // ---- Submission SH-2, work injury class I (0.2%) ----
  // Base 8333.00 (the half-up tie case):
  //   pension 8333 × 16% = 1333.28   × 8% = 666.64
  //   medical 8333 × 9% = 749.97     × 2% = 166.66
  //   unemployment 8333 × 0.5% = 41.665 → 41.67 (both; half-up, not half-even 41.66)
  //   work injury 8333 × 0.2% = 16.666 → 16.67
  //   employer 1333.28 + 749.97 + 41.67 + 16.67 = 2141.59; employee 666.64 + 166.66 + 41.67 = 874.97
  //   individual account 666.64 + 166.66 = 833.30; pool 2141.59 + 41.67 = 2183.26
  // Base 7384.00 at class I: work injury 7384 × 0.2% = 14.768 → 14.77
  //   employer 1181.44 + 664.56 + 36.92 + 14.77 = 1897.69; employee 775.32; individual account 738.40
  //   pool 1897.69 + 36.92 = 1934.61
  // Totals of SH-2: employer 2141.59 + 1897.69 = 4039.28; employee 874.97 + 775.32 = 1650.29;
  //   individual account 833.30 + 738.40 = 1571.70; pool 2183.26 + 1934.61 = 4117.87
  //   (check: 4039.28 + 1650.29 = 5689.57 = 1571.70 + 4117.87)
  const sh2 = submission({
    submissionId: 'SH-2024-07-0002',
    workInjuryClass: 1,
    lines: [
      { personId: P[6]!, wage: '8333.00' },
      { personId: P[7]!, wage: '7384.00' },
    ],
  })
  const r2 = await post(app, sh2)
  t.equal(r2.statusCode, 201, 'SH-2 recorded')
  const b2 = json(r2)
  t.equal(b2.status, 'recorded')
  t.equal(b2.lineCount, 2)
  t.match(b2.position, POSITION)
  t.ok(BigInt(b2.position) > BigInt(b1.position), 'a later submission has a later position')
  t.same(b2.totals, { employer: '4039.28', employee: '1650.29', individualAccount: '1571.70', pool: '4117.87' })

  // ---- Person balances, read at the position of the last write ----
  const min = b2.position
  const expected: Record<string, Record<(typeof SCHEMES)[number], ReturnType<typeof bal>>> = {
    // wage 5000.00 → base 7384.00, class VIII
    [P[0]!]: { pension: pensionBal('590.72', '1181.44', '590.72'), medical: bal('147.68', '664.56', '147.68'), unemployment: bal('0.00', '36.92', '36.92'), work_injury: bal('0.00', '140.30', '0.00'), maternity: NONE },
    // wage 7384.00 at the floor, class VIII
    [P[1]!]: { pension: pensionBal('590.72', '1181.44', '590.72'), medical: bal('147.68', '664.56', '147.68'), unemployment: bal('0.00', '36.92', '36.92'), work_injury: bal('0.00', '140.30', '0.00'), maternity: NONE },
    // wage 8500.00, class VIII
    [P[2]!]: { pension: pensionBal('680.00', '1360.00', '680.00'), medical: bal('170.00', '765.00', '170.00'), unemployment: bal('0.00', '42.50', '42.50'), work_injury: bal('0.00', '161.50', '0.00'), maternity: NONE },
    // wage 8333.33, class VIII
    [P[3]!]: { pension: pensionBal('666.67', '1333.33', '666.67'), medical: bal('166.67', '750.00', '166.67'), unemployment: bal('0.00', '41.67', '41.67'), work_injury: bal('0.00', '158.33', '0.00'), maternity: NONE },
    // wage 36921.00 at the cap, class VIII
    [P[4]!]: { pension: pensionBal('2953.68', '5907.36', '2953.68'), medical: bal('738.42', '3322.89', '738.42'), unemployment: bal('0.00', '184.61', '184.61'), work_injury: bal('0.00', '701.50', '0.00'), maternity: NONE },
    // wage 50000.00 → base 36921.00, class VIII
    [P[5]!]: { pension: pensionBal('2953.68', '5907.36', '2953.68'), medical: bal('738.42', '3322.89', '738.42'), unemployment: bal('0.00', '184.61', '184.61'), work_injury: bal('0.00', '701.50', '0.00'), maternity: NONE },
    // wage 8333.00, class I
    [P[6]!]: { pension: pensionBal('666.64', '1333.28', '666.64'), medical: bal('166.66', '749.97', '166.66'), unemployment: bal('0.00', '41.67', '41.67'), work_injury: bal('0.00', '16.67', '0.00'), maternity: NONE },
    // wage 7384.00, class I
    [P[7]!]: { pension: pensionBal('590.72', '1181.44', '590.72'), medical: bal('147.68', '664.56', '147.68'), unemployment: bal('0.00', '36.92', '36.92'), work_injury: bal('0.00', '14.77', '0.00'), maternity: NONE },
  }
  for (const [id, schemes] of Object.entries(expected)) {
    const { res, body } = await getJson(app, `/v1/persons/${id}/balances?minPosition=${min}`)
    t.equal(res.statusCode, 200, `balances of ${id}`)
    t.match(String(res.headers['content-type']), JSON_TYPE)
    t.equal(body.personId, id)
    t.match(body.position, POSITION)
    t.ok(BigInt(body.position) >= BigInt(min), 'the read waited for its own write')
    t.same(body.schemes, schemes, `every scheme of ${id}`)
  }

  // ---- The events carry the clamped base and the wage as given ----
  const baseOf = async (id: string) => {
    const { body } = await getJson(app, `/v1/persons/${id}/events`)
    const data = body.events[0].data
    return { wage: data.wage, bases: [...new Set(data.schemes.map((s: { base: string }) => s.base))] }
  }
  t.same(await baseOf(P[0]!), { wage: '5000.00', bases: ['7384.00'] }, 'below the floor: base is the floor')
  t.same(await baseOf(P[5]!), { wage: '50000.00', bases: ['36921.00'] }, 'above the cap: base is the cap')
  t.same(await baseOf(P[3]!), { wage: '8333.33', bases: ['8333.33'] }, 'within: base is the wage')

  // ---- Pool balances of Shanghai (pool = employer + employee − individual account) ----
  //   pension: employer parts only
  //     SH-1 1181.44×2 + 1360.00 + 1333.33 + 5907.36×2 = 16870.93; SH-2 1333.28 + 1181.44 = 2514.72
  //     → 19385.65
  //   medical: employer parts only
  //     SH-1 664.56×2 + 765.00 + 750.00 + 3322.89×2 = 9489.90; SH-2 749.97 + 664.56 = 1414.53
  //     → 10904.43
  //   unemployment: employer + employee
  //     SH-1 36.92×4 + 42.50×2 + 41.67×2 + 184.61×4 = 1054.46; SH-2 41.67×2 + 36.92×2 = 157.18
  //     → 1211.64
  //   work injury: SH-1 140.30×2 + 161.50 + 158.33 + 701.50×2 = 2003.43; SH-2 16.67 + 14.77 = 31.44
  //     → 2034.87
  //   (check: 19385.65 + 10904.43 + 1211.64 + 2034.87 = 33536.59 = 29418.72 + 4117.87)
  const pool = await getJson(app, `/v1/pools/310000/balances?minPosition=${min}`)
  t.equal(pool.res.statusCode, 200)
  t.equal(pool.body.region, '310000')
  t.ok(BigInt(pool.body.position) >= BigInt(min))
  t.same(pool.body.schemes, {
    pension: { balance: '19385.65', contributions: '19385.65', payouts: '0.00' },
    medical: { balance: '10904.43', contributions: '10904.43', payouts: '0.00' },
    unemployment: { balance: '1211.64', contributions: '1211.64', payouts: '0.00' },
    work_injury: { balance: '2034.87', contributions: '2034.87', payouts: '0.00' },
    maternity: { balance: '0.00', contributions: '0.00', payouts: '0.00' },
  })
  // Nothing reached another region's pools.
  const bj = await getJson(app, `/v1/pools/110000/balances?minPosition=${min}`)
  t.equal(bj.res.statusCode, 200)
  for (const s of SCHEMES) t.equal(bj.body.schemes[s].balance, '0.00', `Beijing ${s} untouched`)
})

t.test('Beijing 2024-07: worked example', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  const low = personId(200)
  const high = personId(201)
  // Line 0, wage 5000.00 → base 6821.00 (Beijing's floor), class I:
  //   pension 6821 × 16% = 1091.36   × 8% = 545.68
  //   medical 6821 × 9.8% = 668.458 → 668.46   × 2% = 136.42
  //   unemployment 6821 × 0.5% = 34.105 → 34.11 (both)
  //   work injury 6821 × 0.2% = 13.642 → 13.64
  //   employer 1091.36 + 668.46 + 34.11 + 13.64 = 1807.57; employee 545.68 + 136.42 + 34.11 = 716.21
  //   individual account 545.68 + 136.42 = 682.10; pool 1807.57 + 34.11 = 1841.68
  // Line 1, wage 40000.00 → base 35283.00 (Beijing's cap), class I:
  //   pension 35283 × 16% = 5645.28   × 8% = 2822.64
  //   medical 35283 × 9.8% = 3457.734 → 3457.73   × 2% = 705.66
  //   unemployment 35283 × 0.5% = 176.415 → 176.42 (both)
  //   work injury 35283 × 0.2% = 70.566 → 70.57
  //   employer 5645.28 + 3457.73 + 176.42 + 70.57 = 9350.00; employee 2822.64 + 705.66 + 176.42 = 3704.72
  //   individual account 2822.64 + 705.66 = 3528.30; pool 9350.00 + 176.42 = 9526.42
  // Totals: employer 11157.57, employee 4420.93, individual account 4210.40, pool 11368.10
  //   (check: 11157.57 + 4420.93 = 15578.50 = 4210.40 + 11368.10)
  const res = await post(
    app,
    submission({
      submissionId: 'BJ-2024-07-0001',
      employerId: employerId('B001'),
      region: '110000',
      period: '2024-07',
      lines: [
        { personId: low, wage: '5000.00' },
        { personId: high, wage: '40000.00' },
      ],
    }),
  )
  t.equal(res.statusCode, 201)
  const body = json(res)
  t.equal(body.status, 'recorded')
  t.equal(body.lineCount, 2)
  t.same(body.totals, { employer: '11157.57', employee: '4420.93', individualAccount: '4210.40', pool: '11368.10' })

  const person = await getJson(app, `/v1/persons/${low}/balances?minPosition=${body.position}`)
  t.equal(person.res.statusCode, 200)
  const bjBal = (ia: string, er: string, ee: string) => bal(ia, er, ee, 1, ['110000'])
  t.same(person.body.schemes, {
    pension: { ...bjBal('545.68', '1091.36', '545.68'), interestCredited: '0.00', interestByYear: {} },
    medical: bjBal('136.42', '668.46', '136.42'),
    unemployment: bjBal('0.00', '34.11', '34.11'),
    work_injury: bjBal('0.00', '13.64', '0.00'),
    maternity: NONE,
  })
  // Pools of 110000: pension 1091.36 + 5645.28 = 6736.64; medical 668.46 + 3457.73 = 4126.19;
  // unemployment 34.11×2 + 176.42×2 = 421.06; work injury 13.64 + 70.57 = 84.21
  // (check: 6736.64 + 4126.19 + 421.06 + 84.21 = 11368.10 = the pool total)
  const pool = await getJson(app, `/v1/pools/110000/balances?minPosition=${body.position}`)
  t.equal(pool.res.statusCode, 200)
  t.same(pool.body.schemes, {
    pension: { balance: '6736.64', contributions: '6736.64', payouts: '0.00' },
    medical: { balance: '4126.19', contributions: '4126.19', payouts: '0.00' },
    unemployment: { balance: '421.06', contributions: '421.06', payouts: '0.00' },
    work_injury: { balance: '84.21', contributions: '84.21', payouts: '0.00' },
    maternity: { balance: '0.00', contributions: '0.00', payouts: '0.00' },
  })
})

// ---------------------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------------------

t.test('a retried submission answers 200 with the same receipt; other content is 409', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  const body = submission({
    submissionId: 'PAY-2024-07-0001',
    workInjuryClass: 1,
    lines: [
      { personId: personId(300), wage: '8500.00' },
      { personId: personId(301), wage: '8333.00' },
    ],
  })
  // 8500.00 class I: employer 1360 + 765 + 42.50 + 17.00 = 2184.50; employee 892.50; individual
  //   account 850.00; pool 2184.50 + 42.50 = 2227.00
  // 8333.00 class I (see the Shanghai example): employer 2141.59; employee 874.97; individual
  //   account 833.30; pool 2183.26
  // Totals: employer 4326.09, employee 1767.47, individual account 1683.30, pool 4410.26
  const totals = { employer: '4326.09', employee: '1767.47', individualAccount: '1683.30', pool: '4410.26' }
  const first = await post(app, body)
  t.equal(first.statusCode, 201)
  const receipt = json(first)
  t.same(receipt.totals, totals)
  const length = await logLength(ledger)
  t.equal(length, 3, 'two person events and the submission event')

  const again = await post(app, body)
  t.equal(again.statusCode, 200, 'retry → 200')
  t.same(json(again), { submissionId: 'PAY-2024-07-0001', status: 'already-recorded', position: receipt.position, lineCount: 2, totals })
  t.equal(await logLength(ledger), length, 'the retry appended nothing')

  // Same id, other content: a wage changed, an employer changed, a line dropped, the class changed.
  const others = {
    'a wage': { ...body, lines: [body.lines[0]!, { ...body.lines[1]!, wage: '8333.01' }] },
    'the employer': { ...body, employerId: employerId('0002') },
    'a line dropped': { ...body, lines: [body.lines[0]!] },
    'the work injury class': { ...body, workInjuryClass: 2 },
    'the period': { ...body, period: '2024-08' },
  }
  for (const [what, other] of Object.entries(others)) {
    const res = await post(app, other)
    const p = problem(t, res, 409, `same id, other ${what}`)
    t.match(p.detail, /PAY-2024-07-0001/, 'names the submission')
    t.equal(await logLength(ledger), length, `${what}: log unchanged`)
  }
  // And the original is still answered as before.
  t.equal((await post(app, body)).statusCode, 200)
})

t.test('workInjuryClass omitted and 1 are the same content (default 1)', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  const omitted = submission({ submissionId: 'WIC-1', lines: [{ personId: personId(310), wage: '8500.00' }] })
  t.notOk('workInjuryClass' in omitted)
  const first = await post(app, omitted)
  t.equal(first.statusCode, 201)
  // Class I by default: work injury 8500 × 0.2% = 17.00 → employer 1360 + 765 + 42.50 + 17.00 = 2184.50
  t.equal(json(first).totals.employer, '2184.50', 'the default class is I (0.2%)')
  const length = await logLength(ledger)
  const explicit = await post(app, { ...omitted, workInjuryClass: 1 })
  t.equal(explicit.statusCode, 200, 'explicit 1 after omitted → retry')
  t.equal(json(explicit).status, 'already-recorded')
  t.equal(json(explicit).position, json(first).position)

  // The other way round: explicit 1 first, then omitted.
  const explicitFirst = submission({ submissionId: 'WIC-2', workInjuryClass: 1, lines: [{ personId: personId(311), wage: '8500.00' }] })
  t.equal((await post(app, explicitFirst)).statusCode, 201)
  const { workInjuryClass: _omit, ...omittedAfter } = explicitFirst
  const res = await post(app, omittedAfter)
  t.equal(res.statusCode, 200, 'omitted after explicit 1 → retry')
  t.equal(json(res).status, 'already-recorded')
  t.equal(await logLength(ledger), length + 2, 'only WIC-2 was appended')
})

// ---------------------------------------------------------------------------------------------
// Business rules: one month credited once, policies, one line per person
// ---------------------------------------------------------------------------------------------

t.test('a month already credited by another submission is 409 and nothing is appended', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  const [a, b, c] = [personId(400), personId(401), personId(402)]
  const first = await post(app, submission({ submissionId: 'DUP-1', lines: [{ personId: a, wage: '8500.00' }, { personId: b, wage: '9000.00' }] }))
  t.equal(first.statusCode, 201)
  const before = await ledger.allEvents()

  // Same employer, another submission: line 1 (person b) is already credited for 2024-07.
  const sameEmployer = await post(app, submission({ submissionId: 'DUP-2', lines: [{ personId: c, wage: '8500.00' }, { personId: b, wage: '9000.00' }] }))
  const p1 = problem(t, sameEmployer, 409, 'same employer, same month')
  t.match(p1.detail, /DUP-1/, 'detail names the earlier submission')
  t.ok(Array.isArray(p1.errors) && p1.errors.length > 0, 'errors[] lists the lines')
  const errors1 = p1.errors as FieldErrorOut[]
  t.same([...new Set(errors1.map((e) => e.line))], [1], 'only line 1 is named')
  for (const e of errors1) {
    t.equal(e.pointer, '/lines/1/personId')
    t.match(e.message, /DUP-1/, 'each error names the earlier submission')
  }
  for (const scheme of ['pension', 'medical', 'unemployment', 'work_injury']) {
    t.ok(errors1.some((e) => e.message.includes(scheme)), `same employer: ${scheme} conflicts`)
  }
  t.equal((await ledger.allEvents()).length, before.length, 'nothing appended')
  // Person c (the valid line) got nothing either: the submission is all or nothing.
  const cEvents = await app.inject({ method: 'GET', url: `/v1/persons/${c}/events` })
  t.equal(cEvents.statusCode, 404, 'the other line of the refused submission was not recorded')
  const bEvents = await app.inject({ method: 'GET', url: `/v1/persons/${b}/events` })
  t.equal(json(bEvents).events.length, 1, 'person b still has only the first credit')

  // Another employer, same month: work injury alone would be allowed (each employer insures its
  // own workers), but pension, medical and unemployment are credited once per month.
  const otherEmployer = await post(
    app,
    submission({ submissionId: 'DUP-3', employerId: employerId('0002'), lines: [{ personId: b, wage: '9000.00' }] }),
  )
  const p2 = problem(t, otherEmployer, 409, 'other employer, same month')
  t.match(p2.detail, /DUP-1/)
  const errors2 = p2.errors as FieldErrorOut[]
  t.ok(errors2.some((e) => e.line === 0 && e.message.includes('pension')), 'the 409 names pension on line 0')
  t.notOk(errors2.some((e) => e.message.includes('work_injury')), 'work injury from another employer is not a conflict')
  t.same((await ledger.allEvents()).map((e) => e.id), before.map((e) => e.id), 'log unchanged')

  // Another period for the same person is fine.
  const nextMonth = await post(app, submission({ submissionId: 'DUP-4', period: '2024-08', lines: [{ personId: b, wage: '9000.00' }] }))
  t.equal(nextMonth.statusCode, 201)
  // A refused submission left no marker: its id records once the duplicate line is dropped.
  const dup2Again = await post(app, submission({ submissionId: 'DUP-2', lines: [{ personId: c, wage: '8500.00' }] }))
  t.equal(dup2Again.statusCode, 201, 'the refused submission id is still free')
})

t.test('no policy for the region and period is 422', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  const cases = {
    'Shanghai before the first window': { region: '310000', period: '2022-01' },
    'an unknown region': { region: '999999', period: '2024-07' },
    'Beijing after the last window': { region: '110000', period: '2025-07' },
  }
  for (const [what, where] of Object.entries(cases)) {
    const res = await post(app, submission({ submissionId: 'NOPOL-1', ...where, lines: [{ personId: personId(500), wage: '8500.00' }] }))
    const p = problem(t, res, 422, what)
    t.match(p.detail, where.region, `${what}: detail names the region`)
    t.match(p.detail, where.period, `${what}: detail names the period`)
    t.ok(Array.isArray(p.errors) && p.errors.length > 0, `${what}: errors[]`)
    t.equal(await logLength(ledger), 0, `${what}: nothing appended`)
  }
})

t.test('the same person twice in one submission is 422 naming the line', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  const [a, b] = [personId(600), personId(601)]
  const res = await post(
    app,
    submission({
      submissionId: 'TWICE-1',
      lines: [
        { personId: a, wage: '8500.00' },
        { personId: b, wage: '8500.00' },
        { personId: a, wage: '9000.00' },
      ],
    }),
  )
  const p = problem(t, res, 422, 'person twice')
  t.match(p.errors, [{ pointer: '/lines/2/personId', line: 2 }])
  t.equal(p.errors.length, 1, 'only the repeated line')
  t.match(p.errors[0].message, /line 0/, 'names the first line of that person')
  t.equal(await logLength(ledger), 0)
})

// ---------------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------------

t.test('malformed submissions are 400/415 problems and append nothing', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  // One recorded submission first, so "log unchanged" compares a non-empty log.
  t.equal((await post(app, submission({ submissionId: 'OK-1', lines: [{ personId: personId(700), wage: '8500.00' }] }))).statusCode, 201)
  const length = await logLength(ledger)

  const good = submission({
    submissionId: 'BAD-1',
    workInjuryClass: 1,
    lines: [
      { personId: personId(701), wage: '8500.00' },
      { personId: personId(702), wage: '8500.00' },
    ],
  })
  const withLine1 = (line: Record<string, unknown>) => ({ ...good, lines: [good.lines[0], line] })
  const badCheck = (() => {
    const id = personId(702)
    const wrong = id.endsWith('1') ? '2' : '1'
    return id.slice(0, 17) + wrong
  })()
  const badEmployer = (() => {
    const id = employerId()
    const wrong = id.endsWith('1') ? '2' : '1'
    return id.slice(0, 17) + wrong
  })()
  const many = Array.from({ length: 10_001 }, (_, i) => ({
    personId: personId(i % 1000, `199001${String(1 + Math.floor(i / 1000)).padStart(2, '0')}`),
    wage: '8500.00',
  }))
  const { employerId: _e, ...noEmployer } = good

  /** [what, body, field pointer, line index]. The pointer is where the error must point. */
  const bodies: [string, unknown, string, number?][] = [
    ['blank wage', withLine1({ personId: personId(702), wage: '' }), '/lines/1/wage', 1],
    ['null wage', withLine1({ personId: personId(702), wage: null }), '/lines/1/wage', 1],
    ['wage as a number', withLine1({ personId: personId(702), wage: 8500 }), '/lines/1/wage', 1],
    ['negative wage', withLine1({ personId: personId(702), wage: '-1.00' }), '/lines/1/wage', 1],
    ['three decimals', withLine1({ personId: personId(702), wage: '1.005' }), '/lines/1/wage', 1],
    ['exponent', withLine1({ personId: personId(702), wage: '1e5' }), '/lines/1/wage', 1],
    ['zero wage "0"', withLine1({ personId: personId(702), wage: '0' }), '/lines/1/wage', 1],
    ['zero wage "0.00"', withLine1({ personId: personId(702), wage: '0.00' }), '/lines/1/wage', 1],
    ['wage above 99999999.99', withLine1({ personId: personId(702), wage: '100000000.00' }), '/lines/1/wage', 1],
    ['wage with spaces', withLine1({ personId: personId(702), wage: ' 8500.00' }), '/lines/1/wage', 1],
    ['missing wage', withLine1({ personId: personId(702) }), '/lines/1/wage', 1],
    ['10,001 lines', { ...good, lines: many }, '/lines'],
    ['0 lines', { ...good, lines: [] }, '/lines'],
    ['lines not an array', { ...good, lines: {} }, '/lines'],
    ['period 2024-13', { ...good, period: '2024-13' }, '/period'],
    ['period 2024-7', { ...good, period: '2024-7' }, '/period'],
    ['period 2024-00', { ...good, period: '2024-00' }, '/period'],
    ['region not 6 digits', { ...good, region: '31000' }, '/region'],
    ['missing employerId', noEmployer, '/employerId'],
    ['bad citizen id check digit', withLine1({ personId: badCheck, wage: '8500.00' }), '/lines/1/personId', 1],
    ['lowercase x in a citizen id', withLine1({ personId: '11010519491231002x', wage: '8500.00' }), '/lines/1/personId', 1],
    ['bad employer check character', { ...good, employerId: badEmployer }, '/employerId'],
    ['submissionId with a space', { ...good, submissionId: 'PAY 1' }, '/submissionId'],
    ['submissionId of 65 characters', { ...good, submissionId: 'A'.repeat(65) }, '/submissionId'],
    ['empty submissionId', { ...good, submissionId: '' }, '/submissionId'],
    ['workInjuryClass 9', { ...good, workInjuryClass: 9 }, '/workInjuryClass'],
    ['workInjuryClass 0', { ...good, workInjuryClass: 0 }, '/workInjuryClass'],
    ['workInjuryClass "1"', { ...good, workInjuryClass: '1' }, '/workInjuryClass'],
    ['workInjuryClass 1.5', { ...good, workInjuryClass: 1.5 }, '/workInjuryClass'],
  ]
  for (const [what, body, pointer, line] of bodies) {
    const res = await post(app, body)
    const p = problem(t, res, 400, what)
    t.ok(Array.isArray(p.errors) && p.errors.length > 0, `${what}: errors[]`)
    const hit = (p.errors as FieldErrorOut[]).find((e) => e.pointer === pointer)
    t.ok(hit, `${what}: an error points at ${pointer}`, { errors: p.errors })
    if (line !== undefined) t.equal(hit?.line, line, `${what}: names line ${line}`)
    t.equal(await logLength(ledger), length, `${what}: log unchanged`)
  }
  // The 65-character limit is exact: 64 characters are fine (the lines are valid, so this records).
  t.equal((await post(app, { ...good, submissionId: 'A'.repeat(64) })).statusCode, 201, '64 characters accepted')
  // Every character class of [A-Za-z0-9._-], and a JSON content type with a charset parameter.
  const charset = await app.inject({
    method: 'POST',
    url: URL,
    payload: JSON.stringify(submission({ submissionId: 'a.B_c-9', lines: [{ personId: personId(703), wage: '8500.00' }] })),
    headers: { 'content-type': 'application/json; charset=utf-8' },
  })
  t.equal(charset.statusCode, 201, 'submissionId a.B_c-9 with Content-Type application/json; charset=utf-8')
  const grown = await logLength(ledger)

  // Unknown fields: the error names the field (in its pointer or its message).
  const unknown: [string, unknown, string, number?][] = [
    ['unknown top-level field', { ...good, submissionId: 'BAD-2', note: 'x' }, 'note'],
    ['unknown field in a line', { ...withLine1({ personId: personId(702), wage: '8500.00', bonus: '1.00' }), submissionId: 'BAD-3' }, 'bonus', 1],
  ]
  for (const [what, body, field, line] of unknown) {
    const p = problem(t, await post(app, body), 400, what)
    const hit = (p.errors as FieldErrorOut[] | undefined)?.find((e) => e.pointer.endsWith('/' + field) || e.message.includes(field))
    t.ok(hit, `${what}: an error names ${field}`, { errors: p.errors })
    if (line !== undefined) t.equal(hit?.line, line, `${what}: names line ${line}`)
    t.equal(await logLength(ledger), grown, `${what}: log unchanged`)
  }

  // A JSON body that is not an object.
  for (const [what, body] of [
    ['an array', [good]],
    ['a string', 'hello'],
    ['null', null],
  ] as [string, unknown][]) {
    const res = await app.inject({ method: 'POST', url: URL, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
    const p = problem(t, res, 400, `body is ${what}`)
    t.ok(Array.isArray(p.errors) && p.errors.length > 0, `${what}: errors[]`)
    t.equal(await logLength(ledger), grown, `${what}: log unchanged`)
  }

  // Not JSON at all, or not declared as JSON.
  const raw: [string, string, string, number][] = [
    ['invalid JSON text', '{"submissionId": "BAD-4", ', 'application/json', 400],
    ['empty body', '', 'application/json', 400],
    ['Content-Type application/json<TAB>x', JSON.stringify({ ...good, submissionId: 'BAD-5' }), 'application/json\tx', 415],
  ]
  for (const [what, payload, contentType, status] of raw) {
    const res = await app.inject({ method: 'POST', url: URL, payload, headers: { 'content-type': contentType } })
    problem(t, res, status, what)
    t.equal(await logLength(ledger), grown, `${what}: log unchanged`)
  }
  // text/plain: Fastify parses it as a string by default, which the schema then refuses (400);
  // 415 would be the more precise answer. Either way it is a problem and nothing is written.
  const plain = await app.inject({ method: 'POST', url: URL, payload: JSON.stringify({ ...good, submissionId: 'BAD-6' }), headers: { 'content-type': 'text/plain' } })
  t.ok([400, 415].includes(plain.statusCode), `text/plain refused (${plain.statusCode})`)
  problem(t, plain, plain.statusCode, 'Content-Type text/plain')
  t.equal(await logLength(ledger), grown, 'text/plain: log unchanged')
})

t.test('a body larger than the limit is 413 and appends nothing', async (t) => {
  const ledger = await createTestLedger({ maxBodyBytes: 2_000 })
  t.teardown(ledger.close)
  const lines = Array.from({ length: 40 }, (_, i) => ({ personId: personId(720 + i), wage: '8500.00' }))
  const res = await post(ledger.app, submission({ submissionId: 'HUGE-1', lines }))
  problem(t, res, 413, 'body over maxBodyBytes')
  t.equal(await logLength(ledger), 0)
})

t.test('10,000 lines is the limit and is accepted in one append', { timeout: 60_000 }, async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const lines = Array.from({ length: 10_000 }, (_, i) => ({
    personId: personId(i % 1000, `199002${String(1 + Math.floor(i / 1000)).padStart(2, '0')}`),
    wage: '8500.00',
  }))
  const res = await post(ledger.app, submission({ submissionId: 'BIG-1', workInjuryClass: 1, lines }))
  t.equal(res.statusCode, 201)
  const body = json(res)
  t.equal(body.lineCount, 10_000)
  // Each line 8500.00 class I: employer 2184.50, employee 892.50, individual account 850.00,
  // pool 2227.00 (see the retry test); × 10,000.
  t.same(body.totals, { employer: '21845000.00', employee: '8925000.00', individualAccount: '8500000.00', pool: '22270000.00' })
  t.equal(await logLength(ledger), 10_001, '10,000 person events and the submission event')
})

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

/** The 20 periods 2023-07 .. 2025-02 (both Shanghai windows 2023-07..2024-06 and 2024-07..2025-06). */
const TWENTY_PERIODS = Array.from({ length: 20 }, (_, i) => {
  const m = 6 + i // 0-based month index from 2023-01
  return `${2023 + Math.floor(m / 12)}-${String((m % 12) + 1).padStart(2, '0')}`
})

/**
 * Each concurrency test runs twice: as is (in-process SQLite commits synchronously), and with every
 * append taking 20 ms (`withAppendLatency`, as KurrentDB over a network or a group commit would), so
 * that without the handler's per-stream lock all requests would read the same revision and race.
 * Races between processes (optimistic retries) are tested in test/usecases/record-submission.test.ts.
 */
const LATENCIES = [
  { ms: 0, label: 'store commits at once' },
  { ms: 20, label: 'appends take 20 ms' },
]

for (const { ms, label } of LATENCIES) {
  // With 20 ms appends this FAILS against src today: RecordSubmissionHandler gives up after
  // MAX_APPEND_ATTEMPTS = 10 lost races (src/usecases/record-submission.ts) and answers 409
  // concurrency-conflict, while 20 contenders on one person stream need up to 20 rounds (about 6 of
  // the 20 get 409 on every run).
  t.test(`20 concurrent submissions for one person in 20 periods are all recorded (${label})`, { timeout: 60_000 }, async (t) => {
    t.equal(TWENTY_PERIODS[0], '2023-07')
    t.equal(TWENTY_PERIODS[19], '2025-02')
    const ledger = await createTestLedger()
    t.teardown(ledger.close)
    const { app } = ledger
    const stats = ms > 0 ? withAppendLatency(ledger.store, ms) : undefined
    const person = personId(800)
    const answers = await Promise.all(
      TWENTY_PERIODS.map((period, i) =>
        post(app, submission({ submissionId: `CONC-${i}`, period, workInjuryClass: 1, lines: [{ personId: person, wage: '10000.00' }] })),
      ),
    )
    if (stats) t.equal(stats.conflicts, 0, 'requests naming the same person queue inside the process: none lost a race')
    t.same(
      answers.map((r) => r.statusCode),
      Array(20).fill(201),
      'all 201',
      { refused: answers.filter((r) => r.statusCode !== 201).map((r) => json(r).type) },
    )
    const recorded = answers.filter((r) => r.statusCode === 201)
    const positions = recorded.map((r) => BigInt(json(r).position))
    t.equal(new Set(positions).size, recorded.length, 'distinct positions')
    const max = positions.reduce((a, b) => (a > b ? a : b), 0n)
    // Wage 10000.00 lies within both windows' [floor, cap] (7310..36549 and 7384..36921), so every
    // month has base 10000.00: pension 1600.00 / 800.00, medical 900.00 / 200.00, unemployment
    // 50.00 / 50.00, work injury class I 20.00. Over 20 months:
    //   pension individual account 20 × 800.00 = 16000.00, employer 32000.00, employee 16000.00
    //   medical individual account 20 × 200.00 = 4000.00, employer 18000.00, employee 4000.00
    //   unemployment employer 1000.00, employee 1000.00; work injury employer 400.00
    const { res, body } = await getJson(app, `/v1/persons/${person}/balances?minPosition=${max}`)
    t.equal(res.statusCode, 200)
    t.same(body.schemes, {
      pension: pensionBal('16000.00', '32000.00', '16000.00', 20),
      medical: bal('4000.00', '18000.00', '4000.00', 20),
      unemployment: bal('0.00', '1000.00', '1000.00', 20),
      work_injury: bal('0.00', '400.00', '0.00', 20),
      maternity: NONE,
    })
    const events = json(await app.inject({ method: 'GET', url: `/v1/persons/${person}/events` })).events
    t.equal(events.length, 20)
    t.same(
      events.map((e: { revision: string }) => e.revision),
      Array.from({ length: 20 }, (_, i) => String(i)),
      'revisions 0..19, no gap',
    )
  })

  t.test(`20 concurrent submissions for one person and one period: exactly one 201 (${label})`, { timeout: 60_000 }, async (t) => {
    const ledger = await createTestLedger()
    t.teardown(ledger.close)
    const { app } = ledger
    const stats = ms > 0 ? withAppendLatency(ledger.store, ms) : undefined
    const person = personId(801)
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(app, submission({ submissionId: `RACE-${i}`, employerId: employerId(`R0${String(i).padStart(2, '0')}`), lines: [{ personId: person, wage: '10000.00' }] })),
      ),
    )
    if (stats) t.equal(stats.conflicts, 0, 'requests naming the same person queue inside the process: none lost a race')
    const codes = answers.map((r) => r.statusCode)
    t.equal(codes.filter((c) => c === 201).length, 1, 'exactly one 201')
    t.equal(codes.filter((c) => c === 409).length, 19, 'nineteen 409')
    const winner = json(answers[codes.indexOf(201)]!).submissionId
    for (const r of answers.filter((r) => r.statusCode === 409)) {
      const p = json(r)
      t.match(p.type, /month-already-credited$/, 'the loser learns the month is credited (not a retryable race)')
      t.match(p.detail, winner, 'and by which submission')
    }
    const all = await ledger.allEvents()
    t.equal(all.filter((e) => e.stream === `person-${person}`).length, 1, 'the person has exactly one event')
    t.equal(all.filter((e) => e.stream.startsWith('submission-')).length, 1, 'one submission recorded')
    t.equal(all.length, 2)
  })

  t.test(`20 concurrent copies of one submission: one 201, nineteen 200 with the same receipt (${label})`, { timeout: 60_000 }, async (t) => {
    const ledger = await createTestLedger()
    t.teardown(ledger.close)
    const { app } = ledger
    const stats = ms > 0 ? withAppendLatency(ledger.store, ms) : undefined
    const body = submission({
      submissionId: 'SAME-1',
      lines: [
        { personId: personId(810), wage: '8500.00' },
        { personId: personId(811), wage: '8500.00' },
      ],
    })
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(app, body)))
    if (stats) t.equal(stats.conflicts, 0, 'requests naming the same person queue inside the process: none lost a race')
    const codes = answers.map((r) => r.statusCode)
    t.equal(codes.filter((c) => c === 201).length, 1, 'exactly one 201')
    t.equal(codes.filter((c) => c === 200).length, 19, 'nineteen 200 (the payroll retried while the first was in flight)')
    const first = json(answers[codes.indexOf(201)]!)
    // 8500.00 class I per line: employer 2184.50, employee 892.50, individual account 850.00,
    // pool 2227.00; two lines.
    t.same(first.totals, { employer: '4369.00', employee: '1785.00', individualAccount: '1700.00', pool: '4454.00' })
    for (const r of answers.filter((r) => r.statusCode === 200)) {
      t.same(json(r), { ...first, status: 'already-recorded' }, 'same position and totals')
    }
    t.equal(await logLength(ledger), 3, 'two person events and one submission event')
  })
}
