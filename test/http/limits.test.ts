import t, { type Test } from 'tap'
import type { AppDeps } from '../../src/app.js'
import type { Authenticator } from '../../src/http/auth.js'
import { SYSTEM_PRINCIPAL, type Principal } from '../../src/auth/principal.js'
import { CONNECTION_TIMEOUT_MS, DEFAULT_RATE_LIMIT_PER_MINUTE, HEADERS_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from '../../src/http/limits.js'
import { loadConfig } from '../../src/config.js'
import { loggerOptions, maskPersonIdsInText } from '../../src/logging.js'
import { createTestLedger } from '../helpers/ledger.js'
import { json, personId, problem, submission } from '../helpers/http.js'

/**
 * Limits at the HTTP edge (issue #7): rate limit per caller, security headers, strict Content-Type,
 * timeouts, no internals in answers, identity numbers masked in the logs.
 */

const URL = '/v1/contribution-submissions'
const PERSON = personId(701)

/** Bearer `<name>` is an auditor named `<name>`; `system` is the system principal. */
const namedAuditors: Authenticator = {
  authenticate: async (token) =>
    token === 'system'
      ? SYSTEM_PRINCIPAL
      : ({ actor: token, role: 'auditor', employers: new Set(), regions: new Set(), via: 'api-key' } satisfies Principal),
}

/** A ledger in memory (createTestLedger) whose callers are named auditors, with app options of the test's own. */
async function ledgerWith(t: Test, extra: Partial<AppDeps>) {
  const ledger = await createTestLedger({ authenticator: namedAuditors, readWaitMs: 100, app: extra })
  t.teardown(ledger.close)
  return ledger
}

const as = (token: string) => ({ authorization: `Bearer ${token}` })

t.test('rate limit: per caller, after authentication, before the body is read; 429 problem with Retry-After', async (t) => {
  const { app, allEvents } = await ledgerWith(t, { rateLimitPerMinute: 3 })
  const read = (token: string) => app.inject({ method: 'GET', url: `/v1/persons/${PERSON}/balances`, headers: as(token) })
  for (let i = 0; i < 3; i++) {
    const res = await read('alice')
    t.not(res.statusCode, 429, `alice's request ${i + 1} of 3`)
    t.equal(res.headers['x-ratelimit-limit'], '3')
  }
  const limited = await read('alice')
  const body = problem(t, limited, 429, "alice's fourth request")
  t.equal(body.type, 'https://ledger.example/problems/rate-limited')
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After in seconds: ${limited.headers['retry-after']}`)
  t.equal(body.retryAfterSeconds, retryAfter)
  t.notMatch(limited.body, /\bat \S+:\d+/, 'no stack')

  // Over the budget, a body is not even parsed: malformed JSON is 429, not 400, and nothing is written.
  const flood = await app.inject({ method: 'POST', url: URL, headers: { ...as('alice'), 'content-type': 'application/json' }, payload: '{"not json' })
  problem(t, flood, 429, 'a malformed body over the budget')
  t.equal((await allEvents()).length, 0)

  t.not((await read('bob')).statusCode, 429, 'another caller from the same address has its own budget')
  for (let i = 0; i < 10; i++) t.not((await read('system')).statusCode, 429, 'the system principal is not limited')
  for (let i = 0; i < 10; i++) t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, '/healthz is not limited')
  problem(t, await app.inject({ method: 'GET', url: `/v1/persons/${PERSON}/balances` }), 401, 'unauthenticated: 401, not counted against anybody')
})

t.test('rate limit 0 is no limit; the default is DEFAULT_RATE_LIMIT_PER_MINUTE, configured by LEDGER_RATE_LIMIT_PER_MINUTE', async (t) => {
  const { app } = await ledgerWith(t, { rateLimitPerMinute: 0 })
  for (let i = 0; i < 20; i++) t.not((await app.inject({ method: 'GET', url: `/v1/persons/${PERSON}/balances`, headers: as('carol') })).statusCode, 429)
  const dflt = await ledgerWith(t, {})
  const res = await dflt.app.inject({ method: 'GET', url: `/v1/persons/${PERSON}/balances`, headers: as('dave') })
  t.equal(res.headers['x-ratelimit-limit'], String(DEFAULT_RATE_LIMIT_PER_MINUTE))
  t.equal(loadConfig({}).LEDGER_RATE_LIMIT_PER_MINUTE, 600)
  t.equal(loadConfig({ LEDGER_RATE_LIMIT_PER_MINUTE: '0' }).LEDGER_RATE_LIMIT_PER_MINUTE, 0)
  t.throws(() => loadConfig({ LEDGER_RATE_LIMIT_PER_MINUTE: '-1' }), /LEDGER_RATE_LIMIT_PER_MINUTE/)
  t.throws(() => loadConfig({ LEDGER_RATE_LIMIT_PER_MINUTE: 'lots' }), /LEDGER_RATE_LIMIT_PER_MINUTE/)
})

t.test('security headers on answers, errors and refusals alike', async (t) => {
  const { app } = await ledgerWith(t, {})
  const answers = {
    healthz: await app.inject({ method: 'GET', url: '/healthz' }),
    '401': await app.inject({ method: 'GET', url: `/v1/persons/${PERSON}/balances` }),
    '404': await app.inject({ method: 'GET', url: '/v1/nothing', headers: as('erin') }),
    '400': await app.inject({ method: 'POST', url: URL, headers: { ...as('system'), 'content-type': 'application/json' }, payload: '{' }),
  }
  for (const [what, res] of Object.entries(answers)) {
    t.equal(res.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'", `${what}: CSP`)
    t.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: nosniff`)
    t.equal(res.headers['x-frame-options'], 'DENY', `${what}: framing denied`)
    t.match(res.headers['strict-transport-security'], /^max-age=31536000; includeSubDomains/, `${what}: HSTS`)
    t.equal(res.headers['referrer-policy'], 'no-referrer', `${what}: referrer policy`)
    t.equal(res.headers['cache-control'], 'no-store', `${what}: not cached`)
    t.notOk(res.headers['x-powered-by'], `${what}: no x-powered-by`)
  }
})

t.test('Content-Type: application/json, charset utf-8 optional, nothing else', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const payload = JSON.stringify(submission({ submissionId: 'CT-1', lines: [{ personId: PERSON, wage: '8500.00' }] }))
  const post = (contentType: string | undefined) =>
    ledger.app.inject({ method: 'POST', url: URL, headers: { ...as('system'), ...(contentType !== undefined ? { 'content-type': contentType } : {}) }, payload })
  const refused: [string | undefined, number][] = [
    ['application/json\t', 415], // the tab trick
    ['application/json\tx', 415],
    ['application/json ', 415],
    ['application/json;charset=latin1', 415],
    ['application/json; charset=utf-16', 415],
    ['application/json; charset=utf-8; charset=latin1', 415],
    ['application/json; charset=latin1; charset=utf-8', 415], // the parser would keep the last, utf-8
    ['application/json; foo=bar', 415],
    ['application/json; charset=utf-8; foo=bar', 415],
    ['application/jsonx', 415],
    ['application/json-patch+json', 415],
    ['application/vnd.api+json', 415],
    ['text/json', 415],
    ['text/plain', 415],
    ['application/x-www-form-urlencoded', 415],
    ['multipart/form-data; boundary=x', 415],
    ['*/*', 415],
    [undefined, 415], // a body without a content type
    ['application/json;', 400],
    ['application/json;charset', 400],
    ['application/json; charset=', 400],
  ]
  for (const [contentType, status] of refused) {
    const body = problem(t, await post(contentType), status, `Content-Type ${JSON.stringify(contentType)}`)
    if (status === 415) t.equal(body.type, 'https://ledger.example/problems/unsupported-media-type')
  }
  t.equal((await ledger.allEvents()).length, 0, 'nothing written')

  for (const contentType of ['application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON; Charset="utf-8"']) {
    const res = await post(contentType)
    t.ok(res.statusCode === 201 || res.statusCode === 200, `${JSON.stringify(contentType)} accepted: ${res.statusCode}`)
  }
  // A step without a body needs no content type.
  const step = await ledger.app.inject({ method: 'POST', url: '/v1/transfers/T-NONE/accept', headers: as('system') })
  problem(t, step, 404, 'body-less step reaches its route')
})

t.test('timeouts are set on the server', async (t) => {
  const { app } = await ledgerWith(t, {})
  await app.ready()
  t.equal(app.server.requestTimeout, REQUEST_TIMEOUT_MS, 'whole request within 30 s')
  t.equal(app.server.timeout, CONNECTION_TIMEOUT_MS, 'idle socket closed after 60 s')
  t.equal(app.server.keepAliveTimeout, KEEP_ALIVE_TIMEOUT_MS, 'idle keep-alive 72 s')
  t.equal(app.server.headersTimeout, HEADERS_TIMEOUT_MS, 'headers within 10 s')
})

t.test('no stack trace or internal message in any answer, whatever is thrown', async (t) => {
  const thrown: [string, () => unknown][] = [
    ['an Error', () => new Error('secret internals at /srv/ledger/db.sqlite')],
    ['a TypeError', () => new TypeError("Cannot read properties of undefined (reading 'secret')")],
    ['a string', () => 'secret string'],
    ['null', () => null],
    ['a plain object with a message', () => ({ message: 'secret object', stack: 'secret stack' })],
    ['an Error with a 500 status', () => Object.assign(new Error('secret 500'), { statusCode: 500, code: 'SECRET_CODE' })],
  ]
  for (const [what, make] of thrown) {
    const ledger = await createTestLedger()
    t.teardown(ledger.close)
    ledger.store.appendMany = async () => {
      throw make()
    }
    const res = await ledger.app.inject({
      method: 'POST',
      url: URL,
      headers: as('system'),
      payload: submission({ submissionId: 'S-500', lines: [{ personId: PERSON, wage: '8500.00' }] }),
    })
    const body = problem(t, res, 500, `append throws ${what}`)
    t.same(Object.keys(body).sort(), ['detail', 'instance', 'status', 'title', 'type'], `${what}: only the problem's members`)
    t.equal(body.detail, 'an unexpected error occurred; it has been logged')
    t.notMatch(res.body, /secret|Error|\bat \S+:\d+|\.ts\b|\.js\b|SECRET_CODE/, `${what}: nothing of the error in the answer`)
    t.equal((await ledger.allEvents()).length, 0)
  }
})

t.test('logs: identity numbers masked in URLs and errors, no credentials, no bodies', async (t) => {
  const lines: string[] = []
  const { app, store } = await ledgerWith(t, { logger: { ...loggerOptions('info'), stream: { write: (s: string) => void lines.push(s) } } })
  const masked = `${PERSON.slice(0, 6)}********${PERSON.slice(-4)}`
  await app.inject({ method: 'GET', url: `/v1/persons/${PERSON}/balances`, headers: as('secret-token-1') })
  // Percent-encoded, the id is masked too.
  const encoded = [...PERSON].map((c) => '%' + c.charCodeAt(0).toString(16)).join('')
  await app.inject({ method: 'GET', url: `/v1/persons/${encoded}/events`, headers: as('secret-token-2') })
  // A failing request: the error names the person (in its message and its stream name).
  store.readStream = () => {
    throw new Error(`disk error reading person-${PERSON} for ${PERSON}`)
  }
  const failed = await app.inject({ method: 'GET', url: `/v1/persons/${PERSON}/events`, headers: as('secret-token-3') })
  t.equal(failed.statusCode, 500)
  // A body with an id in it.
  await app.inject({
    method: 'POST',
    url: URL,
    headers: { ...as('system'), 'content-type': 'application/json', cookie: 'session=secret-cookie' },
    payload: JSON.stringify(submission({ submissionId: 'LOG-1', lines: [{ personId: PERSON, wage: '8500.00' }] })),
  })

  const text = lines.join('')
  t.ok(lines.length >= 8, `access logs written (${lines.length} lines)`)
  t.notOk(text.includes(PERSON), 'the full identity number is in no log line')
  t.notOk(text.includes(PERSON.slice(6, 14)), 'nor its birth date part')
  // This test's authenticator names each caller after its token (real actors are key ids or JWT
  // subjects, never secrets), so the actor field is left out of the credentials check.
  t.match(text, /"actor":"secret-token-1"/, 'lines carry the actor')
  t.notMatch(text.replace(/"actor":"[^"]*"/g, ''), /secret-token|secret-cookie|Bearer/, 'no credentials')
  // The submission id is logged on purpose (issue #9: a submission's lines can be found by it);
  // nothing else of the body is.
  t.match(text, /"submissionId":"LOG-1"/, 'lines carry the submission id')
  t.notMatch(text.replace(/"submissionId":"LOG-1"/g, ''), /8500\.00|LOG-1/, 'no body')
  const entries = lines.map((l) => JSON.parse(l) as { msg?: string; req?: { url?: string }; err?: { message?: string; stack?: string } })
  const urls = entries.flatMap((e) => (e.req?.url ? [e.req.url] : []))
  t.ok(urls.includes(`/v1/persons/${masked}/balances`), 'the URL is logged with the id masked')
  t.ok(urls.includes(`/v1/persons/${masked}/events`), 'a percent-encoded id is masked too')
  const error = entries.find((e) => e.msg === 'unhandled error')
  t.ok(error, 'the 500 is logged')
  t.equal(error?.err?.message, `disk error reading person-${masked} for ${masked}`, 'the error message with ids masked')
  t.match(error?.err?.stack, /limits\.test\.ts/, 'the stack is in the log (not in the answer)')
  t.notOk(json(failed).detail.includes('disk'), 'the answer says nothing of it')
})

t.test('masking in log text: ids standing alone, not runs inside positions or digests', async (t) => {
  t.equal(maskPersonIdsInText('{"stream":"person-11010519491231002X"}'), '{"stream":"person-110105********002X"}')
  t.equal(maskPersonIdsInText('ids 440524188001010014, 11010519491231002x.'), 'ids 440524********0014, 110105********002x.')
  const position = '340282366920938463463374607431768211455'
  t.equal(maskPersonIdsInText(`{"position":"${position}"}`), `{"position":"${position}"}`, 'a 39-digit position stays whole')
  const digest = 'ab440524188001010014cd'
  t.equal(maskPersonIdsInText(digest), digest, 'a hex digest stays whole')
})
