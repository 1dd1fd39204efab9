import { createHash, createHmac, sign, type KeyObject } from 'node:crypto'
import type { Test } from 'tap'
import { employerId, personId, submission, type InjectedResponse } from './http.js'

/** Shared by the tests of test/auth. */

/** The Authorization header of a bearer token. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** The employer a payroll principal of these tests is scoped to, and another one. */
export const EMPLOYER = employerId('0001')
export const OTHER_EMPLOYER = employerId('0002')

/** A one-line submission of EMPLOYER (or `employer`), for a write whose metadata the tests read. */
export const oneLine = (submissionId: string, employer = EMPLOYER) =>
  submission({ submissionId, employerId: employer, lines: [{ personId: personId(701), wage: '8500.00' }] })

/** Hex SHA-256 of a text (as the keys file stores a secret). */
export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

/** Asserts a 401 problem with the Bearer challenge. */
export function isUnauthorized(t: Test, res: InjectedResponse, what: string, invalidToken = true) {
  t.equal(res.statusCode, 401, `${what}: 401`)
  t.match(String(res.headers['content-type']), /^application\/problem\+json/, `${what}: problem+json`)
  t.equal(res.headers['www-authenticate'], invalidToken ? 'Bearer realm="ledger", error="invalid_token"' : 'Bearer realm="ledger"', `${what}: WWW-Authenticate`)
  t.match(JSON.parse(res.body), { status: 401, title: 'Authentication required' }, `${what}: body`)
}

const b64url = (value: object | Buffer) => (Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value))).toString('base64url')

/**
 * A JWT signed here with node:crypto (independently of the library under test): RS256 (PKCS#1
 * v1.5), ES256 (raw r||s), HS256 with `hmacSecret`, or `none`.
 */
export function signJwt(
  payload: Record<string, unknown>,
  options: { alg: 'RS256' | 'ES256'; key: KeyObject; kid?: string } | { alg: 'HS256'; hmacSecret: string | Buffer; kid?: string } | { alg: 'none' },
): string {
  const header = { alg: options.alg, typ: 'JWT', ...('kid' in options && options.kid ? { kid: options.kid } : {}) }
  const input = `${b64url(header)}.${b64url(payload)}`
  let signature = Buffer.alloc(0)
  if (options.alg === 'RS256') signature = sign('sha256', Buffer.from(input), options.key)
  if (options.alg === 'ES256') signature = sign('sha256', Buffer.from(input), { key: options.key, dsaEncoding: 'ieee-p1363' })
  if (options.alg === 'HS256') signature = createHmac('sha256', options.hmacSecret).update(input).digest()
  return `${input}.${b64url(signature)}`
}

/** Seconds since the epoch, `offset` seconds from now. */
export const epoch = (offset = 0) => Math.floor(Date.now() / 1000) + offset
