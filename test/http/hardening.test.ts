import t from 'tap'
import { createTestLedger } from '../helpers/ledger.js'
import { json, personId, problem, submission, type FieldErrorOut } from '../helpers/http.js'
import { maskPersonIds } from '../../src/logging.js'

const URL = '/v1/contribution-submissions'
const PERSON = personId(501)

/** A valid submission as JSON text, with `edit` applied to the text (for malformed JSON). */
const text = (edit: (s: string) => string = (s) => s) =>
  edit(JSON.stringify(submission({ submissionId: 'H-1', lines: [{ personId: PERSON, wage: '8500.00' }] })))

t.test('JSON bodies: duplicate members, prototype names, depth and charset are refused, log unchanged', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const post = (payload: string, contentType = 'application/json') =>
    ledger.app.inject({ method: 'POST', url: URL, headers: { 'content-type': contentType }, payload })

  let p = problem(t, await post(text((s) => s.replace('"period":"2024-07"', '"period":"2024-07","period":"2024-08"'))), 400, 'duplicate top-level member')
  t.same((p.errors as FieldErrorOut[]).map((e) => e.pointer), ['/period'])
  p = problem(t, await post(text((s) => s.replace('"wage":"8500.00"', '"wage":"8500.00","wage":"1.00"'))), 400, 'duplicate member in a line')
  t.match(p.errors, [{ pointer: '/lines/0/wage', line: 0 }])
  p = problem(t, await post(text((s) => s.replace(/^\{/, '{"__proto__":{"x":1},'))), 400, '__proto__')
  t.match(p.errors, [{ pointer: '/__proto__' }])
  problem(t, await post('['.repeat(100_000) + ']'.repeat(100_000)), 400, '100,000 levels deep')
  problem(t, await post(JSON.stringify({ a: { b: { c: { d: 1 } } } }).replace('1', '['.repeat(40) + ']'.repeat(40))), 400, '44 levels deep')
  problem(t, await post(text(), 'application/json; charset=utf-16'), 415, 'charset utf-16')
  problem(t, await post(text(), 'application/json; charset=latin1'), 415, 'charset latin1')
  problem(t, await post('{"a":1,}'), 400, 'trailing comma')
  t.equal((await ledger.allEvents()).length, 0, 'nothing was written')

  const ok = await post(text(), 'application/json; charset=UTF-8')
  t.equal(ok.statusCode, 201, 'UTF-8 named explicitly is fine')
})

t.test('x-actor is refused (authentication says who acts); the actor recorded is the principal', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const post = (id: string, headers: Record<string, string> = {}) =>
    ledger.app.inject({
      method: 'POST',
      url: URL,
      headers,
      payload: submission({ submissionId: id, lines: [{ personId: PERSON, wage: '8500.00' }] }),
    })
  const p = problem(t, await post('A-1', { 'x-actor': 'payroll-system.acme' }), 400, 'x-actor sent')
  t.match(p.detail, /x-actor header is replaced by authentication/)
  t.equal((await ledger.allEvents()).length, 0)
  const ok = await post('A-3')
  t.equal(ok.statusCode, 201)
  const events = await ledger.allEvents()
  t.ok(events.length > 0 && events.every((e) => e.metadata.actor === 'ledger'), 'the system principal acts as ledger')
  t.ok(events.every((e) => typeof e.metadata.correlationId === 'string' && e.metadata.correlationId !== ''), 'with the request id')
})

t.test('positions, revisions and limits beyond what a store holds are 400, never 500', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const get = (url: string) => ledger.app.inject({ method: 'GET', url })
  // 2^63 = 9223372036854775808, one past SQLite's and KurrentDB's signed 64-bit range
  problem(t, await get(`/v1/persons/${PERSON}/events?fromRevision=9223372036854775808`), 400, 'fromRevision 2^63')
  // 2^128 = 340282366920938463463374607431768211456 (39 digits), one past the widest position
  problem(t, await get(`/v1/persons/${PERSON}/balances?minPosition=340282366920938463463374607431768211456`), 400, 'minPosition 2^128')
  problem(t, await get(`/v1/persons/${PERSON}/balances?minPosition=${'9'.repeat(40)}`), 400, 'minPosition of 40 digits')
  problem(t, await get(`/v1/persons/${PERSON}/events?fromRevision=9223372036854775807`), 404, 'fromRevision 2^63-1 of a person with no events')
  for (const limit of ['1e3', '0x10', '', '0', '1001', '-1', '1.5']) {
    problem(t, await get(`/v1/persons/${PERSON}/events?limit=${limit}`), 400, `limit=${limit}`)
  }
})

t.test('errors raised before routing are problems too', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const bad = await ledger.app.inject({ method: 'GET', url: '/v1/persons/%FF/balances' })
  problem(t, bad, 400, 'bad percent-encoding')
  const long = await ledger.app.inject({ method: 'GET', url: `/v1/persons/${'1'.repeat(5000)}/balances` })
  t.ok(long.statusCode >= 400 && long.statusCode < 500, `over-long id: ${long.statusCode}`)
  const body = problem(t, long, long.statusCode, 'over-long id')
  t.notOk(JSON.stringify(body).includes('1'.repeat(200)), 'the URL is not echoed back')
})

t.test('a wage problem is one error, an unknown field is named as sent', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const res = await ledger.app.inject({
    method: 'POST',
    url: URL,
    payload: { ...submission({ submissionId: 'W-1', lines: [{ personId: PERSON, wage: '' }] }), 'a/b~c': 1 },
  })
  const p = problem(t, res, 400, 'blank wage and an odd unknown field')
  const errors = p.errors as FieldErrorOut[]
  t.equal(errors.filter((e) => e.pointer === '/lines/0/wage').length, 1, 'one error for the blank wage')
  t.ok(
    errors.some((e) => e.pointer === '/a~1b~0c' && e.message === 'unknown field "a/b~c"'),
    'pointer escaped (RFC 6901), message as sent',
  )
})

t.test('a reused submission id names every field that differs, lines included', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const body = submission({ submissionId: 'D-1', lines: [{ personId: PERSON, wage: '8500.00' }] })
  t.equal((await ledger.app.inject({ method: 'POST', url: URL, payload: body })).statusCode, 201)
  const other = { ...body, period: '2024-08', lines: [{ personId: PERSON, wage: '8500.01' }] }
  const res = await ledger.app.inject({ method: 'POST', url: URL, payload: other })
  t.same(problem(t, res, 409, 'other content').differences, ['period', 'lines (persons or wages)'])
  t.equal(json(res).submissionId, 'D-1')
})

t.test('person ids are masked in logged URLs, percent-encoded or not', async (t) => {
  t.equal(maskPersonIds('/v1/persons/11010519491231002X/balances'), '/v1/persons/110105********002X/balances')
  t.equal(maskPersonIds('/v1/persons/%2011010519491231002X/balances'), '/v1/persons/ 110105********002X/balances')
  t.equal(maskPersonIds('/v1/persons/%FF11010519491231002X'), '/v1/persons/%FF110105********002X', 'bad encoding: masked raw')
})
