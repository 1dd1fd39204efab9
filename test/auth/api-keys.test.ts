import t from 'tap'
import { chmodSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { createKey, type KeyEntry } from '../../src/auth/api-keys.js'
import { AuthConfigError, createAuthenticator, KEYS_FILE_CHECK_MS, loadApiKeyBook } from '../../src/auth/authenticator.js'
import { appendKey } from '../../src/cli/keys.js'
import { createTestLedger } from '../helpers/ledger.js'
import { json } from '../helpers/http.js'
import { bearer, EMPLOYER, isUnauthorized, oneLine, OTHER_EMPLOYER } from '../helpers/auth.js'

/**
 * API keys (issue #7): `Authorization: Bearer lk_{id}.{secret}` checked against the keys file, which
 * the service reads again when it changes (at most once a second, on a request).
 */

/** A keys file in a fresh folder holding `keys`; the tokens by key id. */
function keysFile(dir: string, specs: Parameters<typeof createKey>[0][]) {
  const file = path.join(dir, 'keys.json')
  const tokens: Record<string, string> = {}
  const entries: KeyEntry[] = []
  for (const spec of specs) {
    const { entry, token } = createKey(spec)
    entries.push(entry)
    tokens[entry.id] = token
  }
  writeFileSync(file, JSON.stringify({ keys: entries }), { mode: 0o600 })
  return { file, tokens }
}

const POOL = '/v1/pools/310000/balances'

t.test('a valid key is its principal; a bad or missing one is 401 with a Bearer challenge; /healthz is open', async (t) => {
  const { file, tokens } = keysFile(t.testdir(), [
    { id: 'auditor-1', role: 'auditor' },
    { id: 'payroll-acme', role: 'payroll', employers: [EMPLOYER] },
  ])
  const ledger = await createTestLedger({ authenticator: createAuthenticator({ keys: loadApiKeyBook(file) }) })
  t.teardown(ledger.close)
  const get = (headers: Record<string, string> = {}) => ledger.app.inject({ method: 'GET', url: POOL, headers })

  t.equal((await get(bearer(tokens['auditor-1']!))).statusCode, 200, 'valid key')
  t.equal((await get({ authorization: `bearer ${tokens['auditor-1']!}` })).statusCode, 200, 'the scheme is case-insensitive')

  const secret = tokens['auditor-1']!.split('.')[1]!
  const flipped = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A')
  isUnauthorized(t, await get(bearer(`lk_auditor-1.${flipped}`)), 'wrong secret')
  isUnauthorized(t, await get(bearer(`lk_auditor-2.${secret}`)), 'unknown id')
  isUnauthorized(t, await get(bearer(`lk_payroll-acme.${secret}`)), "another key's secret")
  isUnauthorized(t, await get(bearer('lk_auditor-1')), 'malformed: no secret')
  isUnauthorized(t, await get(bearer('lk_auditor-1.short')), 'malformed: short secret')
  isUnauthorized(t, await get(bearer('lk_AUDITOR-1.' + secret)), 'malformed: upper-case id')
  isUnauthorized(t, await get(bearer('not-a-key-nor-a-jwt')), 'no JWT configured')
  isUnauthorized(t, await get(bearer('x'.repeat(9_000))), 'over-long token')
  isUnauthorized(t, await get(), 'missing header', false)
  isUnauthorized(t, await get({ authorization: `Basic ${Buffer.from('auditor-1:' + secret).toString('base64')}` }), 'Basic scheme', false)
  isUnauthorized(t, await get({ authorization: `Bearer  ${tokens['auditor-1']!}` }), 'two blanks', false)
  isUnauthorized(t, await get({ authorization: `Bearer ${tokens['auditor-1']!} extra` }), 'trailing words', false)
  const missing = json(await get())
  t.match(missing.detail, /Authorization: Bearer/, 'says what to send')

  const health = await ledger.app.inject({ method: 'GET', url: '/healthz' })
  t.equal(health.statusCode, 200, '/healthz needs no token')
})

t.test('the actor recorded is the key id and the correlation id the request id; out of scope is 403', async (t) => {
  const { file, tokens } = keysFile(t.testdir(), [{ id: 'payroll-acme', role: 'payroll', employers: [EMPLOYER] }])
  const ledger = await createTestLedger({ authenticator: createAuthenticator({ keys: loadApiKeyBook(file) }) })
  t.teardown(ledger.close)
  const post = (payload: object) =>
    ledger.app.inject({ method: 'POST', url: '/v1/contribution-submissions', headers: bearer(tokens['payroll-acme']!), payload })

  const unauthenticated = await ledger.app.inject({ method: 'POST', url: '/v1/contribution-submissions', payload: oneLine('K-0') })
  isUnauthorized(t, unauthenticated, 'no token on a write', false)

  const ok = await post(oneLine('K-1'))
  t.equal(ok.statusCode, 201)
  const events = await ledger.allEvents()
  t.ok(events.length >= 2, 'a line and the marker')
  t.ok(events.every((e) => e.metadata.actor === 'payroll-acme'), 'actor = key id')
  const correlation = new Set(events.map((e) => e.metadata.correlationId))
  t.equal(correlation.size, 1, 'one correlation id for the request')
  t.match([...correlation][0], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "Fastify's request id (a UUID)")

  const denied = await post(oneLine('K-2', OTHER_EMPLOYER))
  t.equal(denied.statusCode, 403, 'a valid key outside its scope')
  t.equal((await ledger.allEvents()).length, events.length, 'nothing written')

  const spoof = await ledger.app.inject({
    method: 'POST',
    url: '/v1/contribution-submissions',
    headers: { ...bearer(tokens['payroll-acme']!), 'x-actor': 'somebody-else' },
    payload: oneLine('K-3'),
  })
  t.equal(spoof.statusCode, 400, 'x-actor is refused, not silently ignored')
  t.match(json(spoof).detail, /replaced by authentication/)
})

t.test('the keys file is read again when it changes, at most once a second', async (t) => {
  const dir = t.testdir()
  const { file, tokens } = keysFile(dir, [{ id: 'auditor-1', role: 'auditor' }])
  let now = 0
  const book = loadApiKeyBook(file, { now: () => now })
  const ledger = await createTestLedger({ authenticator: createAuthenticator({ keys: book }) })
  t.teardown(ledger.close)
  const status = async (token: string) => (await ledger.app.inject({ method: 'GET', url: POOL, headers: bearer(token) })).statusCode

  const added = createKey({ id: 'auditor-2', role: 'auditor' })
  appendKey(file, added.entry)
  t.equal(await status(added.token), 401, 'not looked at again within the second')
  now += KEYS_FILE_CHECK_MS
  t.equal(await status(added.token), 200, 'a second later: the new key works, without a restart')
  t.equal(await status(tokens['auditor-1']!), 200, 'and the old one still does')

  // A file broken by a hand edit: logged, the keys loaded before stay in use.
  writeFileSync(file, '{"keys": [ {"id": "half')
  now += KEYS_FILE_CHECK_MS
  t.equal(await status(added.token), 200, 'an invalid file changes nothing')
  // Repaired, without auditor-1.
  writeFileSync(file, JSON.stringify({ keys: [added.entry] }))
  now += KEYS_FILE_CHECK_MS
  t.equal(await status(tokens['auditor-1']!), 401, 'a key removed from the file is refused')
  t.equal(await status(added.token), 200)

  // Removed file: no key at all; created again (renamed into place): read again.
  renameSync(file, file + '.bak')
  now += KEYS_FILE_CHECK_MS
  t.equal(await status(added.token), 401, 'no file, no keys')
  renameSync(file + '.bak', file)
  now += KEYS_FILE_CHECK_MS
  t.equal(await status(added.token), 200, 'the file back')
})

t.test('a missing keys file is an empty book; an invalid one names the file and the field', async (t) => {
  const dir = t.testdir()
  const missing = loadApiKeyBook(path.join(dir, 'none.json'))
  t.equal(missing.exists, false)
  t.equal(missing.authenticate('lk_admin.' + 'a'.repeat(43)), undefined)

  const cases: [string, string, RegExp][] = [
    ['not JSON', '{', /keys file .*bad\.json: /],
    ['a payroll key without employers', JSON.stringify({ keys: [{ id: 'p-1', sha256: 'a'.repeat(64), role: 'payroll' }] }), /keys\.0\.employers: a payroll key needs at least one employer/],
    ['an unknown role', JSON.stringify({ keys: [{ id: 'p-1', sha256: 'a'.repeat(64), role: 'root' }] }), /keys\.0\.role: /],
    ['a clear-text secret', JSON.stringify({ keys: [{ id: 'p-1', secret: 'abc', sha256: 'a'.repeat(64), role: 'admin' }] }), /keys\.0: .*secret/],
    ['one id twice', JSON.stringify({ keys: [{ id: 'a-1', sha256: 'a'.repeat(64), role: 'admin' }, { id: 'a-1', sha256: 'b'.repeat(64), role: 'auditor' }] }), /keys\.1\.id: key id a-1 twice/],
  ]
  for (const [what, content, message] of cases) {
    const file = path.join(dir, 'bad.json')
    writeFileSync(file, content)
    const err = t.throws(() => loadApiKeyBook(file), AuthConfigError, what) as Error
    t.match(err.message, message, what)
    t.match(err.message, /bad\.json/, `${what}: names the file`)
  }
})

t.test('appendKey writes the whole file beside it and renames it, keeping the mode', async (t) => {
  const dir = t.testdir()
  const file = path.join(dir, 'nested', 'keys.json')
  appendKey(file, createKey({ id: 'admin', role: 'admin' }).entry)
  t.equal(statSync(file).mode & 0o777, 0o600, 'created 0600, folder created')
  chmodSync(file, 0o640)
  appendKey(file, createKey({ id: 'auditor', role: 'auditor' }).entry)
  t.equal(statSync(file).mode & 0o777, 0o640, 'an existing mode is kept')
  t.same(
    (JSON.parse(readFileSync(file, 'utf8')) as { keys: KeyEntry[] }).keys.map((k) => k.id),
    ['admin', 'auditor'],
  )
  t.throws(() => appendKey(file, createKey({ id: 'admin', role: 'auditor' }).entry), /key id admin is already in/)
  rmSync(file)
})
