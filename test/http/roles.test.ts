import t, { type Test } from 'tap'
import { createTestLedger } from '../helpers/ledger.js'
import { movableClock } from '../helpers/clock.js'
import { employerId, json, personId, problem, submission, type InjectedResponse } from '../helpers/http.js'
import { SYSTEM_PRINCIPAL, type Principal, type Role } from '../../src/auth/principal.js'
import type { Authenticator } from '../../src/http/auth.js'
import { PROBLEM_BASE } from '../../src/http/problem.js'

/**
 * Who may call what (issue #7, src/http/access.ts), through HTTP: for every /v1 route, each role in
 * and out of its scope (the exact status when allowed, 403 otherwise, and a refused write appends
 * nothing), and no token, an unknown token or a malformed header → 401. Data is seeded with the
 * `system` token (the system principal passes every rule).
 */

const SH = '310000'
const BJ = '110000'
const GD = '440000'
const E1 = employerId('0001')
const E2 = employerId('0002')

const principal = (actor: string, role: Role, scope: { employers?: string[]; regions?: string[] } = {}): Principal => ({
  actor,
  role,
  employers: new Set(scope.employers ?? []),
  regions: new Set(scope.regions ?? []),
  via: 'api-key',
})

/** The test tokens and their principals. */
const PRINCIPALS = new Map<string, Principal>([
  ['system', SYSTEM_PRINCIPAL],
  ['payroll-e1', principal('payroll-e1', 'payroll', { employers: [E1] })],
  ['payroll-e2', principal('payroll-e2', 'payroll', { employers: [E2] })],
  ['officer-sh', principal('officer-sh', 'region-officer', { regions: [SH] })],
  ['officer-bj', principal('officer-bj', 'region-officer', { regions: [BJ] })],
  ['officer-gd', principal('officer-gd', 'region-officer', { regions: [GD] })],
  ['officer-sh-bj', principal('officer-sh-bj', 'region-officer', { regions: [SH, BJ] })],
  ['auditor', principal('auditor', 'auditor')],
  ['admin', principal('admin', 'admin')],
])
type Token = 'payroll-e1' | 'payroll-e2' | 'officer-sh' | 'officer-bj' | 'officer-gd' | 'officer-sh-bj' | 'auditor' | 'admin'
/** Every non-system token: each route is called with all of them. */
const TOKENS: Token[] = ['payroll-e1', 'payroll-e2', 'officer-sh', 'officer-bj', 'officer-gd', 'officer-sh-bj', 'auditor', 'admin']

const authenticator: Authenticator = { authenticate: async (token) => PRINCIPALS.get(token) }

type Ledger = Awaited<ReturnType<typeof createTestLedger>>
interface Call {
  method: 'GET' | 'POST'
  url: string
  payload?: object
}

const call = (ledger: Ledger, token: string | undefined, c: Call): Promise<InjectedResponse> =>
  ledger.app.inject({
    method: c.method,
    url: c.url,
    ...(c.payload ? { payload: c.payload } : {}),
    ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}),
  })

/** Seeds through the system principal; the answer must be `status`. */
async function seed(t: Test, ledger: Ledger, c: Call, status = 201): Promise<any> {
  const res = await call(ledger, 'system', c)
  t.equal(res.statusCode, status, `seed ${c.method} ${c.url}: ${res.statusCode === status ? 'ok' : res.body}`)
  return json(res)
}

/** Every route called so far, for the 401 checks at the end. */
const called: Call[] = []

/**
 * Calls `c` with every token: first those not in `allowed` (each 403, `forbidden`, and nothing
 * appended), then the allowed ones in the order given, each with its exact status.
 */
async function matrix(t: Test, ledger: Ledger, label: string, c: Call, allowed: [Token, number][]) {
  called.push(c)
  const allowedTokens = new Set(allowed.map(([token]) => token))
  const head = await ledger.store.headPosition()
  for (const token of TOKENS.filter((x) => !allowedTokens.has(x))) {
    const res = await call(ledger, token, c)
    const body = problem(t, res, 403, `${label} as ${token}`)
    t.equal(body.type, `${PROBLEM_BASE}forbidden`, `${label} as ${token}: forbidden`)
    t.equal(body.role, PRINCIPALS.get(token)!.role)
    t.not(body.detail, 'this route has no access rule', `${label}: the route declares its rule`)
  }
  t.equal(await ledger.store.headPosition(), head, `${label}: refused calls appended nothing`)
  for (const [token, status] of allowed) {
    const res = await call(ledger, token, c)
    t.equal(res.statusCode, status, `${label} as ${token}: ${status}${res.statusCode === status ? '' : ` (got ${res.statusCode}: ${res.body.slice(0, 300)})`}`)
  }
}

/** One token, one exact status. */
async function expectStatus(t: Test, ledger: Ledger, label: string, token: Token, c: Call, status: number) {
  const res = await call(ledger, token, c)
  t.equal(res.statusCode, status, `${label} as ${token}: ${status}${res.statusCode === status ? '' : ` (got ${res.statusCode}: ${res.body.slice(0, 300)})`}`)
  return res
}

// Persons.
const A = personId(801, '19640801') // retires in Shanghai on 2024-08-15, aged 60
const M = personId(802) // contributes in Beijing (employer E2): medical payout, its reversal
const R = personId(803) // Shanghai line reversed
const T1 = personId(804) // transferred Shanghai → Beijing (accept, send, complete)
const T2 = personId(805) // transfer rejected
const T3 = personId(806) // transfer cancelled
const X = personId(807) // posted by payroll in the submission test
const L1 = personId(808) // legacy history in Shanghai only
const L2 = personId(809) // legacy history in Shanghai and Beijing
const NOBODY = personId(899)

t.test('every /v1 route: each role in and out of scope', async (t) => {
  const time = movableClock('2025-03-03T02:00:00Z') // Monday 2025-03-03 in Shanghai
  const ledger = await createTestLedger({ clock: time.clock, authenticator })
  t.teardown(ledger.close)
  // The routes the calls below reached with a principal, and whether each declares its rule.
  const reached = new Map<string, boolean>()
  ledger.app.addHook('onResponse', async (request) => {
    if (request.principal) reached.set(`${request.routeOptions.method} ${request.routeOptions.url}`, typeof request.routeOptions.config.access === 'function')
  })

  // ----- Seed: a Shanghai submission of employer E1, a Beijing one of E2, A's imported years.
  await seed(t, ledger, {
    method: 'POST',
    url: '/v1/contribution-submissions',
    payload: submission({ submissionId: 'S-SH', employerId: E1, region: SH, lines: [R, T1, T2, T3, A].map((p) => ({ personId: p, wage: '8500.00' })) }),
  })
  await seed(t, ledger, {
    method: 'POST',
    url: '/v1/contribution-submissions',
    payload: submission({ submissionId: 'S-BJ', employerId: E2, region: BJ, lines: [{ personId: M, wage: '8500.00' }] }),
  })
  await seed(t, ledger, {
    method: 'POST',
    url: `/v1/persons/${A}/legacy-history`,
    payload: {
      importId: 'LEG-A',
      asOf: '2023-12-31',
      individualAccountBalance: '100000.00',
      years: Array.from({ length: 15 }, (_, i) => ({ year: 2009 + i, region: SH, months: 12, baseTotal: '60000.00' })),
    },
  })

  t.test('POST /v1/contribution-submissions: payroll of the body’s employer', async (t) => {
    const body = submission({ submissionId: 'S-X', employerId: E1, region: SH, lines: [{ personId: X, wage: '9000.00' }] })
    await matrix(t, ledger, 'submission of E1', { method: 'POST', url: '/v1/contribution-submissions', payload: body }, [['payroll-e1', 201]])
    await expectStatus(t, ledger, 'the same submission again', 'payroll-e1', { method: 'POST', url: '/v1/contribution-submissions', payload: body }, 200)
    const other = await call(ledger, 'payroll-e1', { method: 'POST', url: '/v1/contribution-submissions', payload: { ...body, submissionId: 'S-X2', employerId: E2 } })
    t.match(problem(t, other, 403, 'payroll of E1 posting for E2'), { detail: new RegExp(E2) })
    await expectStatus(t, ledger, 'a malformed body is 400 before 403', 'auditor', { method: 'POST', url: '/v1/contribution-submissions', payload: { submissionId: 'S-Y' } }, 400)
  })

  t.test('GET /v1/contribution-submissions/{id}: payroll of its employer, auditor, admin', async (t) => {
    const c: Call = { method: 'GET', url: '/v1/contribution-submissions/S-SH' }
    await matrix(t, ledger, 'read S-SH', c, [
      ['payroll-e1', 200],
      ['auditor', 200],
      ['admin', 200],
    ])
    const res = await call(ledger, 'payroll-e1', c)
    const got = json(res)
    t.match(got, { submissionId: 'S-SH', status: 'recorded', employerId: E1, region: SH, period: '2024-07', workInjuryClass: 1, lineCount: 5, policyId: '310000/2024-07/v1' })
    t.match(got.totals, { employer: String, employee: String, individualAccount: String, pool: String })
    t.match(got.position, /^\d+$/)
    t.match(got.recordedAt, /^\d{4}-\d\d-\d\dT/)
    await matrix(t, ledger, 'read S-BJ', { method: 'GET', url: '/v1/contribution-submissions/S-BJ' }, [
      ['payroll-e2', 200],
      ['auditor', 200],
      ['admin', 200],
    ])
    const unknown: Call = { method: 'GET', url: '/v1/contribution-submissions/S-NONE' }
    problem(t, await call(ledger, 'payroll-e2', unknown), 404, 'an unknown submission, payroll')
    problem(t, await call(ledger, 'auditor', unknown), 404, 'an unknown submission, auditor')
    problem(t, await call(ledger, 'officer-sh', unknown), 403, 'an unknown submission, an officer (role first)')
    problem(t, await call(ledger, 'auditor', { method: 'GET', url: '/v1/contribution-submissions/bad%20id' }), 400, 'a malformed id')
  })

  t.test('POST /v1/persons/{id}/legacy-history: admin, or an officer of every imported region', async (t) => {
    const years = (regions: string[]) => regions.map((region, i) => ({ year: 2010 + i, region, months: 12, baseTotal: '60000.00' }))
    const shOnly: Call = {
      method: 'POST',
      url: `/v1/persons/${L1}/legacy-history`,
      payload: { importId: 'LEG-L1', asOf: '2023-12-31', individualAccountBalance: '1000.00', years: years([SH, SH]) },
    }
    await matrix(t, ledger, 'history in Shanghai', shOnly, [
      ['admin', 201],
      ['officer-sh', 200],
      ['officer-sh-bj', 200],
    ])
    const both: Call = {
      method: 'POST',
      url: `/v1/persons/${L2}/legacy-history`,
      payload: { importId: 'LEG-L2', asOf: '2023-12-31', individualAccountBalance: '1000.00', years: years([SH, BJ]) },
    }
    await matrix(t, ledger, 'history in Shanghai and Beijing', both, [
      ['officer-sh-bj', 201],
      ['admin', 200],
    ])
    t.match(json(await call(ledger, 'officer-sh', both)), { detail: /110000/ }, 'the denial names the region outside the scope')
  })

  t.test('POST /v1/pools/{region}/legacy-balance: admin, or an officer of the region', async (t) => {
    const c: Call = { method: 'POST', url: `/v1/pools/${SH}/legacy-balance`, payload: { importId: 'POOL-SH', asOf: '2023-12-31', schemes: { pension: '1000000.00' } } }
    await matrix(t, ledger, 'opening balance of Shanghai', c, [
      ['officer-sh', 201],
      ['officer-sh-bj', 200],
      ['admin', 200],
    ])
  })

  t.test('transfers: the destination registers, accepts, rejects, cancels, completes; the source sends', async (t) => {
    const register: Call = { method: 'POST', url: '/v1/transfers', payload: { transferId: 'T-1', personId: T1, fromRegion: SH, toRegion: BJ } }
    await matrix(t, ledger, 'register T-1 (Shanghai → Beijing)', register, [
      ['officer-bj', 201],
      ['officer-sh-bj', 200],
    ])
    await matrix(t, ledger, 'accept T-1', { method: 'POST', url: '/v1/transfers/T-1/accept' }, [
      ['officer-bj', 201],
      ['officer-sh-bj', 200],
    ])
    await matrix(t, ledger, 'send T-1', { method: 'POST', url: '/v1/transfers/T-1/send' }, [
      ['officer-sh', 201],
      ['officer-sh-bj', 200],
    ])
    await matrix(t, ledger, 'complete T-1', { method: 'POST', url: '/v1/transfers/T-1/complete' }, [
      ['officer-bj', 201],
      ['officer-sh-bj', 200],
    ])
    const denied = json(await call(ledger, 'officer-sh', { method: 'POST', url: '/v1/transfers/T-1/complete' }))
    t.notMatch(denied.detail, /110000/, 'a denial about a stored transfer does not name its regions')

    await seed(t, ledger, { method: 'POST', url: '/v1/transfers', payload: { transferId: 'T-2', personId: T2, fromRegion: SH, toRegion: BJ } })
    await matrix(t, ledger, 'reject T-2', { method: 'POST', url: '/v1/transfers/T-2/reject', payload: { reason: 'no job in Beijing' } }, [
      ['officer-bj', 201],
      ['officer-sh-bj', 200],
    ])
    await seed(t, ledger, { method: 'POST', url: '/v1/transfers', payload: { transferId: 'T-3', personId: T3, fromRegion: SH, toRegion: BJ } })
    await matrix(t, ledger, 'cancel T-3', { method: 'POST', url: '/v1/transfers/T-3/cancel' }, [
      ['officer-bj', 201],
      ['officer-sh-bj', 200],
    ])

    // An unknown transfer: an officer of any region reaches the route's 404; other roles are 403.
    for (const step of ['accept', 'reject', 'cancel', 'send', 'complete']) {
      const c: Call = { method: 'POST', url: `/v1/transfers/T-NONE/${step}`, ...(step === 'reject' ? { payload: { reason: 'x' } } : {}) }
      problem(t, await call(ledger, 'officer-gd', c), 404, `${step} an unknown transfer, an officer`)
      problem(t, await call(ledger, 'admin', c), 403, `${step} an unknown transfer, admin`)
    }
    // The register rule reads the body: an officer of the destination reaches the route's rules.
    await expectStatus(t, ledger, 'register to a region without pools', 'officer-sh', { method: 'POST', url: '/v1/transfers', payload: { transferId: 'T-9', personId: T2, fromRegion: '999999', toRegion: SH } }, 422)
  })

  t.test('GET /v1/transfers/{id} and /v1/transfers', async (t) => {
    await matrix(t, ledger, 'read T-1', { method: 'GET', url: '/v1/transfers/T-1' }, [
      ['officer-sh', 200],
      ['officer-bj', 200],
      ['officer-sh-bj', 200],
      ['auditor', 200],
      ['admin', 200],
    ])
    problem(t, await call(ledger, 'officer-gd', { method: 'GET', url: '/v1/transfers/T-NONE' }), 404, 'read an unknown transfer, an officer')
    problem(t, await call(ledger, 'payroll-e1', { method: 'GET', url: '/v1/transfers/T-NONE' }), 403, 'read an unknown transfer, payroll')

    await matrix(t, ledger, 'list without a region', { method: 'GET', url: '/v1/transfers' }, [
      ['auditor', 200],
      ['admin', 200],
    ])
    t.match(json(await call(ledger, 'officer-sh', { method: 'GET', url: '/v1/transfers' })), { detail: /\?region=/ })
    await matrix(t, ledger, 'list ?region=310000', { method: 'GET', url: `/v1/transfers?region=${SH}` }, [
      ['officer-sh', 200],
      ['officer-sh-bj', 200],
      ['auditor', 200],
      ['admin', 200],
    ])
    const head = (await ledger.store.headPosition())!.toString()
    const list = json(await call(ledger, 'officer-sh', { method: 'GET', url: `/v1/transfers?region=${SH}&minPosition=${head}` }))
    t.same(list.transfers.map((x: { transferId: string }) => x.transferId), ['T-1', 'T-2', 'T-3'])
    await matrix(t, ledger, 'list ?region=440000', { method: 'GET', url: `/v1/transfers?region=${GD}` }, [
      ['officer-gd', 200],
      ['auditor', 200],
      ['admin', 200],
    ])
  })

  t.test('POST /v1/persons/{id}/retirement: an officer of the body’s region', async (t) => {
    const c: Call = { method: 'POST', url: `/v1/persons/${A}/retirement`, payload: { region: SH, retiredOn: '2024-08-15', ageYears: 60, pooledMonthlyAmount: '3000.00' } }
    // In scope by the body, refused by the rule: Beijing does not hold A's account.
    await expectStatus(t, ledger, 'retire A in Beijing', 'officer-bj', { ...c, payload: { ...c.payload, region: BJ } }, 422)
    await matrix(t, ledger, 'retire A in Shanghai', c, [
      ['officer-sh', 201],
      ['officer-sh-bj', 200],
    ])
  })

  t.test('POST /v1/payouts: an officer of the paying region', async (t) => {
    const pension: Call = { method: 'POST', url: '/v1/payouts', payload: { payoutId: 'PAY-A-2024-08', personId: A, scheme: 'pension', period: '2024-08', kind: 'monthly' } }
    await matrix(t, ledger, 'A’s pension (Shanghai pays)', pension, [
      ['officer-sh', 201],
      ['officer-sh-bj', 200],
    ])
    const medical: Call = { method: 'POST', url: '/v1/payouts', payload: { payoutId: 'PAY-M-1', personId: M, scheme: 'medical', period: '2024-08', kind: 'reimbursement', amount: '100.00' } }
    await matrix(t, ledger, 'M’s medical payout (Beijing pays)', medical, [
      ['officer-bj', 201],
      ['officer-sh-bj', 200],
    ])
    // No paying region: through to the route's 422 for any officer.
    await expectStatus(t, ledger, 'a payout for a person without contributions', 'officer-gd', { method: 'POST', url: '/v1/payouts', payload: { payoutId: 'PAY-N', personId: NOBODY, scheme: 'medical', period: '2024-08', kind: 'benefit', amount: '1.00' } }, 422)
    await expectStatus(t, ledger, 'a pension for a person not retired', 'officer-gd', { method: 'POST', url: '/v1/payouts', payload: { payoutId: 'PAY-M-P', personId: M, scheme: 'pension', period: '2024-08', kind: 'monthly' } }, 422)
  })

  t.test('POST /v1/reversals: an officer of the referenced event’s region', async (t) => {
    const line: Call = { method: 'POST', url: '/v1/reversals', payload: { reversalId: 'REV-R', eventRef: { stream: `person-${R}`, revision: '0' }, reason: 'wrong person' } }
    await matrix(t, ledger, 'reverse R’s Shanghai line', line, [
      ['officer-sh', 201],
      ['officer-sh-bj', 200],
    ])
    const events = json(await call(ledger, 'auditor', { method: 'GET', url: `/v1/persons/${M}/events` })).events as { type: string; revision: string }[]
    const payoutRevision = events.find((e) => e.type === 'PayoutRecorded')!.revision
    const payout: Call = { method: 'POST', url: '/v1/reversals', payload: { reversalId: 'REV-M', eventRef: { stream: `person-${M}`, revision: payoutRevision }, reason: 'paid twice' } }
    await matrix(t, ledger, 'reverse M’s Beijing payout', payout, [
      ['officer-bj', 201],
      ['officer-sh-bj', 200],
    ])
    // Nothing a reversal can undo: through to the route's 422 for any officer.
    await expectStatus(t, ledger, 'a non-person stream', 'officer-gd', { method: 'POST', url: '/v1/reversals', payload: { reversalId: 'REV-X', eventRef: { stream: 'transfer-T-1', revision: '0' }, reason: 'x' } }, 422)
    await expectStatus(t, ledger, 'no event there', 'officer-gd', { method: 'POST', url: '/v1/reversals', payload: { reversalId: 'REV-Y', eventRef: { stream: `person-${R}`, revision: '99' }, reason: 'x' } }, 422)
    await expectStatus(t, ledger, 'an event of another type', 'officer-gd', { method: 'POST', url: '/v1/reversals', payload: { reversalId: 'REV-Z', eventRef: { stream: `person-${R}`, revision: '1' }, reason: 'x' } }, 422)
  })

  t.test('GET /v1/persons/{id}/balances and events: the region holding the account, auditor, admin', async (t) => {
    const head = (await ledger.store.headPosition())!.toString()
    for (const what of ['balances', 'events']) {
      await matrix(t, ledger, `${what} of A (held in Shanghai)`, { method: 'GET', url: `/v1/persons/${A}/${what}?minPosition=${head}` }, [
        ['officer-sh', 200],
        ['officer-sh-bj', 200],
        ['auditor', 200],
        ['admin', 200],
      ])
      // T1's account moved to Beijing with the send: Shanghai no longer reads it.
      await matrix(t, ledger, `${what} of T1 (transferred to Beijing)`, { method: 'GET', url: `/v1/persons/${T1}/${what}?minPosition=${head}` }, [
        ['officer-bj', 200],
        ['officer-sh-bj', 200],
        ['auditor', 200],
        ['admin', 200],
      ])
      problem(t, await call(ledger, 'officer-gd', { method: 'GET', url: `/v1/persons/${NOBODY}/${what}` }), 404, `${what} of a person without events, an officer`)
      problem(t, await call(ledger, 'payroll-e1', { method: 'GET', url: `/v1/persons/${NOBODY}/${what}` }), 403, `${what} of a person without events, payroll`)
    }
    await matrix(t, ledger, 'balances of A at a point in time', { method: 'GET', url: `/v1/persons/${A}/balances?asOfPeriod=2024-07` }, [
      ['officer-sh', 200],
      ['officer-sh-bj', 200],
      ['auditor', 200],
      ['admin', 200],
    ])
  })

  t.test('GET /v1/pools/{region}/balances: an officer of the region, auditor, admin', async (t) => {
    await matrix(t, ledger, 'pools of Shanghai', { method: 'GET', url: `/v1/pools/${SH}/balances` }, [
      ['officer-sh', 200],
      ['officer-sh-bj', 200],
      ['auditor', 200],
      ['admin', 200],
    ])
    await matrix(t, ledger, 'pools of Guangdong', { method: 'GET', url: `/v1/pools/${GD}/balances?asOfPeriod=2024-07` }, [
      ['officer-gd', 200],
      ['auditor', 200],
      ['admin', 200],
    ])
  })

  t.test('audit endpoints: auditor, admin', async (t) => {
    await matrix(t, ledger, 'verify a stream', { method: 'GET', url: `/v1/audit/streams/person-${A}/verify` }, [
      ['auditor', 200],
      ['admin', 200],
    ])
    await matrix(t, ledger, 'export the log', { method: 'GET', url: '/v1/audit/events?limit=5' }, [
      ['auditor', 200],
      ['admin', 200],
    ])
  })

  t.test('interest runs: admin starts; admin and auditor read', async (t) => {
    await matrix(t, ledger, 'read a run never started', { method: 'GET', url: '/v1/interest-runs/2024' }, [
      ['auditor', 404],
      ['admin', 404],
    ])
    await matrix(t, ledger, 'start the 2024 run', { method: 'POST', url: '/v1/interest-runs', payload: { year: 2024 } }, [['admin', 202]])
    for (let i = 0; i < 200; i++) {
      const run = await call(ledger, 'system', { method: 'GET', url: '/v1/interest-runs/2024' })
      if (json(run).state === 'completed') break
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    await matrix(t, ledger, 'read the 2024 run', { method: 'GET', url: '/v1/interest-runs/2024' }, [
      ['auditor', 200],
      ['admin', 200],
    ])
  })

  t.test('no token, an unknown token, a malformed header: 401 on every route; /healthz is open', async (t) => {
    const routes = new Set<string>()
    for (const c of called) {
      routes.add(`${c.method} ${c.url}`)
      for (const headers of [{}, { authorization: 'Bearer nobody-knows-me' }, { authorization: 'Basic dXNlcjpwYXNz' }, { authorization: 'Bearer' }]) {
        const res = await ledger.app.inject({ method: c.method, url: c.url, ...(c.payload ? { payload: c.payload } : {}), headers })
        problem(t, res, 401, `${c.method} ${c.url} with ${JSON.stringify(headers)}`)
        t.match(String(res.headers['www-authenticate']), /^Bearer/)
      }
    }
    t.ok(routes.size >= 20, `${routes.size} calls checked`)
    const health = await ledger.app.inject({ method: 'GET', url: '/healthz' })
    t.equal(health.statusCode, 200)
  })

  t.test('HEAD follows the GET rule', async (t) => {
    t.equal((await call(ledger, 'officer-bj', { method: 'HEAD' as 'GET', url: `/v1/persons/${A}/balances` })).statusCode, 403)
    t.equal((await call(ledger, 'officer-sh', { method: 'HEAD' as 'GET', url: `/v1/persons/${A}/balances` })).statusCode, 200)
  })

  t.test('every /v1 route of the app was called above and declares its rule', async (t) => {
    const routes = routesOf(ledger.app.printRoutes({ commonPrefix: false })).filter((r) => r.includes(' /v1/') && !r.startsWith('HEAD '))
    t.ok(routes.length >= 21, `${routes.length} routes`)
    for (const route of routes) t.equal(reached.get(route), true, `${route}: called with a principal, has config.access`)
  })
})

/**
 * The routes of `printRoutes({ commonPrefix: false })` as "METHOD /path": each line is a tree node
 * `├── /segment (GET, HEAD)` whose depth is its indentation (4 characters a level); a node's path is
 * its parent's plus its segment.
 */
function routesOf(tree: string): string[] {
  const out: string[] = []
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const m = /^(.*?)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line)
    if (!m) continue
    const depth = [...m[1]!].length / 4
    const path = (depth > 0 ? stack[depth - 1]! : '') + m[2]!
    stack[depth] = path
    stack.length = depth + 1
    for (const method of (m[3] ?? '').split(',').map((x) => x.trim()).filter(Boolean)) out.push(`${method} ${path}`)
  }
  return out
}
