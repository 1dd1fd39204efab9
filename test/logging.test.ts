import t, { type Test } from 'tap'
import type { Authenticator } from '../src/http/auth.js'
import type { Principal } from '../src/auth/principal.js'
import { loggerOptions, wantsPrettyLogs } from '../src/logging.js'
import { createTestLedger, IDS } from './helpers/ledger.js'
import { employerId, personId, submission } from './helpers/http.js'

/**
 * The service's log lines (issue #9): each line of a request after authentication carries the
 * request id (`reqId`), the actor, and on the submission and transfer routes the resource's id;
 * identity numbers stay masked; pretty lines only on a terminal outside production.
 */

const EMPLOYER = employerId('0001')
const PERSON = personId(42)

interface Line {
  level: number
  msg?: string
  reqId?: string
  actor?: string
  submissionId?: string
  transferId?: string
  res?: { statusCode?: number }
  err?: { message?: string }
}

const principal = (actor: string, role: Principal['role'], scope: Partial<Pick<Principal, 'employers' | 'regions'>> = {}): Principal => ({
  actor,
  role,
  employers: scope.employers ?? new Set(),
  regions: scope.regions ?? new Set(),
  via: 'api-key',
})

/** Tokens of these tests: a payroll key of EMPLOYER, an auditor, a region officer, and an auditor
 * whose subject is an identity number (as a careless JWT issuer might make it). */
const PRINCIPALS: Record<string, Principal> = {
  'tok-payroll': principal('payroll-7', 'payroll', { employers: new Set([EMPLOYER]) }),
  'tok-auditor': principal('auditor-3', 'auditor'),
  'tok-officer': principal('officer-310000', 'region-officer', { regions: new Set(['310000']) }),
  'tok-id-subject': principal(IDS.personB, 'auditor'),
}
const authenticator: Authenticator = { authenticate: async (token) => PRINCIPALS[token] }
const as = (token: string) => ({ authorization: `Bearer ${token}` })

/** A ledger whose app logs with the service's options into `lines`. */
async function ledgerWithLog(t: Test) {
  const lines: string[] = []
  const ledger = await createTestLedger({ authenticator, app: { logger: { ...loggerOptions('info'), stream: { write: (s: string) => void lines.push(s) } } } })
  t.teardown(ledger.close)
  const entries = () => lines.map((l) => JSON.parse(l) as Line)
  /** The lines of the request answered by `res` (by its request id). */
  const ofRequest = (reqId: string) => entries().filter((e) => e.reqId === reqId)
  return { ...ledger, lines, entries, ofRequest }
}

/** The request id Fastify gave an injected request: that of its "request completed" line, found by
 * status among the lines written since `from`. */
const completedSince = (entries: Line[], from: number) => entries.slice(from).filter((e) => e.msg === 'request completed')

t.test('a submission: its lines carry reqId, actor and submissionId; no identity number in clear', async (t) => {
  const { app, lines, entries, ofRequest } = await ledgerWithLog(t)
  const res = await app.inject({
    method: 'POST',
    url: '/v1/contribution-submissions',
    headers: as('tok-payroll'),
    payload: submission({ submissionId: 'LOGGED-1', employerId: EMPLOYER, lines: [{ personId: PERSON, wage: '8500.00' }] }),
  })
  t.equal(res.statusCode, 201)
  const [done] = completedSince(entries(), 0)
  t.ok(done, 'a "request completed" line')
  t.match(done, { reqId: String, actor: 'payroll-7', submissionId: 'LOGGED-1', res: { statusCode: 201 } }, 'it names the request, the actor and the submission')
  const own = ofRequest(done!.reqId!)
  t.ok(own.length >= 2, 'the request has its incoming and completed lines')
  t.ok(own.every((e) => e.msg === 'incoming request' || (e.actor === 'payroll-7' && e.submissionId === 'LOGGED-1')), 'every line after authentication names actor and submission')

  // Reading it back (the id in the path).
  const from = lines.length
  const read = await app.inject({ method: 'GET', url: '/v1/contribution-submissions/LOGGED-1', headers: as('tok-auditor') })
  t.equal(read.statusCode, 200)
  t.match(completedSince(entries(), from)[0], { actor: 'auditor-3', submissionId: 'LOGGED-1' })

  const text = lines.join('')
  t.notOk(text.includes(PERSON), 'the full identity number is in no line')
  t.notOk(text.includes(PERSON.slice(6, 14)), 'nor its birth date part')
})

t.test('an error line of a submission request names the actor and the submission', async (t) => {
  const { app, store, entries } = await ledgerWithLog(t)
  store.appendMany = async () => {
    throw new Error(`disk full while writing person-${PERSON}`)
  }
  const res = await app.inject({
    method: 'POST',
    url: '/v1/contribution-submissions',
    headers: as('tok-payroll'),
    payload: submission({ submissionId: 'LOGGED-2', employerId: EMPLOYER, lines: [{ personId: PERSON, wage: '8500.00' }] }),
  })
  t.equal(res.statusCode, 500)
  const error = entries().find((e) => e.msg === 'unhandled error')
  t.match(error, { reqId: String, actor: 'payroll-7', submissionId: 'LOGGED-2' }, 'the error line')
  t.equal(error?.err?.message, `disk full while writing person-${PERSON.slice(0, 6)}********${PERSON.slice(-4)}`, 'the person id in it masked')
  t.match(completedSince(entries(), 0)[0], { reqId: error!.reqId, actor: 'payroll-7', submissionId: 'LOGGED-2', res: { statusCode: 500 } })
})

t.test('a refused submission (403: employer out of scope) still names actor and submission', async (t) => {
  const { app, entries } = await ledgerWithLog(t)
  const res = await app.inject({
    method: 'POST',
    url: '/v1/contribution-submissions',
    headers: as('tok-payroll'),
    payload: submission({ submissionId: 'LOGGED-3', employerId: employerId('0002'), lines: [{ personId: PERSON, wage: '8500.00' }] }),
  })
  t.equal(res.statusCode, 403)
  t.match(completedSince(entries(), 0)[0], { actor: 'payroll-7', submissionId: 'LOGGED-3', res: { statusCode: 403 } })
})

t.test('transfer routes: transferId from the body (register) or the path', async (t) => {
  const { app, lines, entries } = await ledgerWithLog(t)
  const registered = await app.inject({
    method: 'POST',
    url: '/v1/transfers',
    headers: as('tok-officer'),
    payload: { transferId: 'TR-LOG-1', personId: PERSON, fromRegion: '110000', toRegion: '310000' },
  })
  // No pension account to move: refused; the line names the transfer all the same.
  t.not(registered.statusCode, 500)
  t.match(completedSince(entries(), 0)[0], { reqId: String, actor: 'officer-310000', transferId: 'TR-LOG-1' })

  const from = lines.length
  const read = await app.inject({ method: 'GET', url: '/v1/transfers/TR-LOG-2', headers: as('tok-auditor') })
  t.equal(read.statusCode, 404)
  t.match(completedSince(entries(), from)[0], { actor: 'auditor-3', transferId: 'TR-LOG-2', res: { statusCode: 404 } })
  t.notOk(lines.join('').includes(PERSON), 'the person of the registration is in no line')
})

t.test('an actor that is an identity number is masked like any other', async (t) => {
  const { app, lines, entries } = await ledgerWithLog(t)
  await app.inject({ method: 'GET', url: '/v1/transfers/TR-LOG-3', headers: as('tok-id-subject') })
  t.equal(completedSince(entries(), 0)[0]?.actor, `${IDS.personB.slice(0, 6)}********${IDS.personB.slice(-4)}`)
  t.notOk(lines.join('').includes(IDS.personB))
})

t.test('lines without a principal (401) carry the request id only', async (t) => {
  const { app, entries } = await ledgerWithLog(t)
  const res = await app.inject({ method: 'GET', url: '/v1/transfers/TR-LOG-4', headers: as('tok-unknown') })
  t.equal(res.statusCode, 401)
  const done = completedSince(entries(), 0)[0]
  t.match(done, { reqId: String, res: { statusCode: 401 } })
  t.equal(done?.actor, undefined)
})

t.test('pretty lines on a terminal outside production, JSON lines otherwise', async (t) => {
  t.equal(wantsPrettyLogs(true, undefined), true, 'terminal, NODE_ENV unset')
  t.equal(wantsPrettyLogs(true, 'development'), true, 'terminal, development')
  t.equal(wantsPrettyLogs(true, 'production'), false, 'terminal, production')
  t.equal(wantsPrettyLogs(false, undefined), false, 'a pipe or a file')
  const pretty = loggerOptions('info', { pretty: true }) as { transport?: { target?: string }; hooks?: unknown }
  t.match(pretty.transport?.target, /pino-pretty/, 'pretty: the pino-pretty transport')
  t.ok(pretty.hooks, 'ids masked before the transport formats the line')
  t.equal((loggerOptions('info') as { transport?: unknown }).transport, undefined, 'otherwise no transport: JSON lines on stdout')
})

t.test('given probes every few seconds, when /healthz and /readyz answer, then they write no request lines (warnings still would)', async (t) => {
  const { app, entries } = await ledgerWithLog(t)
  const before = entries().length
  const health = await app.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200)
  await app.inject({ method: 'GET', url: '/readyz' })
  t.same(entries().slice(before).filter((e) => e.level < 40).map((e) => e.msg), [], 'no info lines from the probes')
  const other = await app.inject({ method: 'GET', url: '/v1/persons/x/balances' })
  t.ok(other.statusCode >= 400)
  t.ok(entries().slice(before).some((e) => e.msg === 'request completed'), 'other routes still log their requests')
})
