import t, { type Test } from 'tap'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { AuthConfigError, createAuthenticator, loadApiKeyBook } from '../../src/auth/authenticator.js'
import { loadJwtVerifier, type JwtSettings } from '../../src/auth/jwt.js'
import { createTestLedger } from '../helpers/ledger.js'
import { bearer, EMPLOYER, epoch, isUnauthorized, oneLine, signJwt } from '../helpers/auth.js'

/**
 * JWTs (issue #7): RS256/ES256 only, verified by @fastify/jwt against a PEM public key or a JWKS
 * file (key by `kid`); `sub` is the actor, `role`, `employers`, `regions` the principal. Keys are
 * generated here; tokens are signed here with node:crypto.
 */

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString()

const POOL = '/v1/pools/310000/balances'
const AUDITOR = { sub: 'alice@audit', role: 'auditor' }

/** A test ledger authenticating JWTs with `settings` (and API keys of a file that does not exist). */
async function jwtLedger(t: Test, settings: JwtSettings) {
  const jwt = loadJwtVerifier(settings)
  const ledger = await createTestLedger({ authenticator: createAuthenticator({ keys: loadApiKeyBook(path.join(t.testdir(), 'none.json')), jwt }) })
  t.teardown(ledger.close)
  const get = (token: string) => ledger.app.inject({ method: 'GET', url: POOL, headers: bearer(token) })
  return { ...ledger, get }
}

function writeFile(t: Test, name: string, content: string): string {
  const file = path.join(t.testdir(), name)
  writeFileSync(file, content)
  return file
}

t.test('a public key (PEM): valid, expired, wrong key, HS256, none, bad claims', async (t) => {
  const { get } = await jwtLedger(t, { publicKeyPath: writeFile(t, 'issuer.pem', pem(rsa.publicKey)) })
  const rs = (payload: Record<string, unknown>, key = rsa.privateKey) => signJwt(payload, { alg: 'RS256', key })

  t.equal((await get(rs({ ...AUDITOR, exp: epoch(300) }))).statusCode, 200, 'valid')
  isUnauthorized(t, await get(rs({ ...AUDITOR, exp: epoch(-10) })), 'expired')
  isUnauthorized(t, await get(rs({ ...AUDITOR, exp: epoch(300), nbf: epoch(200) })), 'not yet valid')
  isUnauthorized(t, await get(rs({ ...AUDITOR })), 'no exp')
  isUnauthorized(t, await get(rs({ role: 'auditor', exp: epoch(300) })), 'no sub')
  isUnauthorized(t, await get(rs({ ...AUDITOR, exp: epoch(300) }, otherRsa.privateKey)), 'signed with another key')
  isUnauthorized(t, await get(signJwt({ ...AUDITOR, exp: epoch(300) }, { alg: 'HS256', hmacSecret: pem(rsa.publicKey) })), 'HS256 with the public key as secret')
  isUnauthorized(t, await get(signJwt({ ...AUDITOR, exp: epoch(300) }, { alg: 'none' })), 'alg none')
  isUnauthorized(t, await get(signJwt({ ...AUDITOR, exp: epoch(300) }, { alg: 'ES256', key: ec.privateKey })), 'ES256 against an RSA key')
  const valid = rs({ ...AUDITOR, exp: epoch(300) })
  const [h, p] = valid.split('.')
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...AUDITOR, role: 'admin', exp: epoch(300) })).toString('base64url')}.${valid.split('.')[2]}`
  t.not(p, forged.split('.')[1])
  isUnauthorized(t, await get(forged), 'payload changed after signing')
  isUnauthorized(t, await get('eyJ.not.a-jwt'), 'malformed')

  isUnauthorized(t, await get(rs({ sub: 'x', role: 'root', exp: epoch(300) })), 'unknown role')
  isUnauthorized(t, await get(rs({ sub: 'x', role: 'payroll', exp: epoch(300) })), 'payroll without employers')
  isUnauthorized(t, await get(rs({ sub: 'x', role: 'payroll', employers: ['nope'], exp: epoch(300) })), 'payroll with a bad employer')
  isUnauthorized(t, await get(rs({ sub: 'x', role: 'region-officer', exp: epoch(300) })), 'region officer without regions')
  isUnauthorized(t, await get(rs({ sub: 'x', role: 'system', exp: epoch(300) })), 'the system role is never given by a token')
  isUnauthorized(t, await get(rs({ sub: '', role: 'auditor', exp: epoch(300) })), 'empty sub')
  t.equal((await get(rs({ sub: 'r', role: 'region-officer', regions: ['310000'], exp: epoch(300) }))).statusCode, 200, 'a region officer of the region')
  t.equal((await get(rs({ sub: 'r', role: 'region-officer', regions: ['110000'], exp: epoch(300) }))).statusCode, 403, 'a valid token outside its scope')
})

t.test('the actor recorded is the JWT subject', async (t) => {
  const ledger = await jwtLedger(t, { publicKeyPath: writeFile(t, 'issuer.pem', pem(ec.publicKey)) })
  const token = signJwt({ sub: 'payroll-system|acme', role: 'payroll', employers: [EMPLOYER], exp: epoch(300) }, { alg: 'ES256', key: ec.privateKey })
  const res = await ledger.app.inject({ method: 'POST', url: '/v1/contribution-submissions', headers: bearer(token), payload: oneLine('J-1') })
  t.equal(res.statusCode, 201)
  const events = await ledger.allEvents()
  t.ok(events.length >= 2)
  t.ok(events.every((e) => e.metadata.actor === 'payroll-system|acme'), 'actor = sub')
  t.ok(events.every((e) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(String(e.metadata.correlationId))), 'correlation id = request id, a UUID')
})

t.test('issuer and audience are checked when configured', async (t) => {
  const { get } = await jwtLedger(t, { publicKeyPath: writeFile(t, 'issuer.pem', pem(rsa.publicKey)), issuer: 'https://idp.example', audience: 'ledger' })
  const rs = (extra: Record<string, unknown>) => signJwt({ ...AUDITOR, exp: epoch(300), ...extra }, { alg: 'RS256', key: rsa.privateKey })
  t.equal((await get(rs({ iss: 'https://idp.example', aud: 'ledger' }))).statusCode, 200)
  t.equal((await get(rs({ iss: 'https://idp.example', aud: ['other', 'ledger'] }))).statusCode, 200, 'aud may be a list')
  isUnauthorized(t, await get(rs({ iss: 'https://evil.example', aud: 'ledger' })), 'another issuer')
  isUnauthorized(t, await get(rs({ iss: 'https://idp.example', aud: 'other' })), 'another audience')
  isUnauthorized(t, await get(rs({ aud: 'ledger' })), 'no issuer')
  isUnauthorized(t, await get(rs({ iss: 'https://idp.example' })), 'no audience')
})

t.test('a JWKS file: the key named by kid', async (t) => {
  const jwks = {
    keys: [
      { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-2024', alg: 'RS256', use: 'sig' },
      { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-2025' },
    ],
  }
  const { get } = await jwtLedger(t, { jwksPath: writeFile(t, 'jwks.json', JSON.stringify(jwks)) })
  const claims = { ...AUDITOR, exp: epoch(300) }
  t.equal((await get(signJwt(claims, { alg: 'RS256', key: rsa.privateKey, kid: 'rsa-2024' }))).statusCode, 200, 'RS256 by kid')
  t.equal((await get(signJwt(claims, { alg: 'ES256', key: ec.privateKey, kid: 'ec-2025' }))).statusCode, 200, 'ES256 by kid')
  isUnauthorized(t, await get(signJwt(claims, { alg: 'RS256', key: rsa.privateKey, kid: 'ec-2025' })), 'RS256 naming the EC key')
  isUnauthorized(t, await get(signJwt(claims, { alg: 'RS256', key: otherRsa.privateKey, kid: 'rsa-2024' })), 'signed by another key under a known kid')
  isUnauthorized(t, await get(signJwt(claims, { alg: 'RS256', key: rsa.privateKey, kid: 'rsa-1999' })), 'unknown kid')
  isUnauthorized(t, await get(signJwt(claims, { alg: 'RS256', key: rsa.privateKey })), 'no kid')
  isUnauthorized(t, await get(signJwt(claims, { alg: 'HS256', hmacSecret: pem(rsa.publicKey), kid: 'rsa-2024' })), 'HS256 naming a kid')
  isUnauthorized(t, await get(signJwt({ ...AUDITOR, exp: epoch(-1) }, { alg: 'ES256', key: ec.privateKey, kid: 'ec-2025' })), 'expired')
})

t.test('unusable key files stop the start, naming the file and the field', async (t) => {
  const ecJwk = ec.publicKey.export({ format: 'jwk' })
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' })
  const cases: [string, string, RegExp][] = [
    ['no keys', JSON.stringify({ keys: [] }), /keys: /],
    ['no kid', JSON.stringify({ keys: [{ ...ecJwk }] }), /keys\.0\.kid: /],
    ['kid twice', JSON.stringify({ keys: [{ ...ecJwk, kid: 'a' }, { ...ecJwk, kid: 'a' }] }), /keys\.1\.kid: kid a twice/],
    ['a P-384 key', JSON.stringify({ keys: [{ ...p384, kid: 'a' }] }), /keys\.0\.crv: .*EC P-256/],
    ['alg not fitting the key', JSON.stringify({ keys: [{ ...ecJwk, kid: 'a', alg: 'RS256' }] }), /keys\.0\.alg: RS256 does not fit/],
    ['HS256', JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'a' }] }), /keys\.0\.kty: /],
    ['a private key', JSON.stringify({ keys: [{ ...ec.privateKey.export({ format: 'jwk' }), kid: 'a' }] }), /keys\.0\.d: a private key/],
    ['an encryption key', JSON.stringify({ keys: [{ ...ecJwk, kid: 'a', use: 'enc' }] }), /keys\.0\.use: /],
    ['not JSON', 'nope', /JWKS file .*jwks\.json: /],
  ]
  for (const [what, content, message] of cases) {
    const file = writeFile(t, 'jwks.json', content)
    const err = t.throws(() => loadJwtVerifier({ jwksPath: file }), AuthConfigError, what) as Error
    t.match(err.message, message, what)
    t.match(err.message, /jwks\.json/, `${what}: names the file`)
  }
  const privatePem = writeFile(t, 'private.pem', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString())
  t.throws(() => loadJwtVerifier({ publicKeyPath: privatePem }), /private\.pem holds a private key/)
  t.throws(() => loadJwtVerifier({ publicKeyPath: writeFile(t, 'x.pem', 'garbage') }), /x\.pem is not a PEM public key/)
  const ed = generateKeyPairSync('ed25519').publicKey
  t.throws(() => loadJwtVerifier({ publicKeyPath: writeFile(t, 'ed.pem', pem(ed)) }), /ed\.pem is a ed25519 key; use an RSA key/)
  t.throws(() => loadJwtVerifier({ publicKeyPath: path.join(t.testdir(), 'missing.pem') }), /missing\.pem: ENOENT/)
  t.throws(() => loadJwtVerifier({ publicKeyPath: 'a', jwksPath: 'b' }), /not both/)
  t.equal(loadJwtVerifier({}), undefined, 'nothing configured: no JWTs')
})
