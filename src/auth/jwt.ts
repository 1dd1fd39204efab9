import fs from 'node:fs'
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import fastifyJwt, { type FastifyJWTOptions, type TokenOrHeader } from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { readJsonFile } from '../json-file.js'
import { checkScope, EmployersScope, RegionsScope } from './api-keys.js'
import { AuthConfigError, type JwtVerifier } from './authenticator.js'
import { ROLES, type Principal } from './principal.js'

/**
 * JWT bearer tokens (issue #7), verified by `@fastify/jwt` against a public key (PEM,
 * `LEDGER_JWT_PUBLIC_KEY_PATH`) or a JWKS file (`LEDGER_JWT_JWKS_PATH`, the key named by the token's
 * `kid`). Only RS256 and ES256 signatures are accepted: no HS* (a public key used as an HMAC secret
 * would let anybody sign), no `none`. `exp` and `sub` are required; `iss` and `aud` are checked when
 * LEDGER_JWT_ISSUER / LEDGER_JWT_AUDIENCE are set.
 *
 * Claims: `sub` (the actor recorded in event metadata), `role` (payroll, region-officer, auditor,
 * admin), `employers` (unified social credit codes; a payroll token needs one at least) and
 * `regions` (GB/T 2260 codes; a region-officer token needs one at least). A token whose claims do
 * not say this is refused as any bad token (401).
 */

/** The signature algorithms accepted. */
export const JWT_ALGORITHMS = ['RS256', 'ES256'] as const
type Algorithm = (typeof JWT_ALGORITHMS)[number]

/** The claims the ledger reads; others (iat, iss, aud, jti …) may be present. */
export const JwtClaimsSchema = z
  .object({
    sub: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[^\p{Cc}]+$/u, 'no control characters'),
    role: z.enum(ROLES),
    employers: EmployersScope.default([]),
    regions: RegionsScope.default([]),
  })
  .superRefine((c, ctx) => checkScope(c, ctx, 'token'))

/** Where the verification keys are, and what the tokens must say. */
export interface JwtSettings {
  publicKeyPath?: string | undefined
  jwksPath?: string | undefined
  issuer?: string | undefined
  audience?: string | undefined
}

/** The algorithm a public key signs with, or a reason it cannot be used. */
function algorithmOf(key: KeyObject): Algorithm | string {
  if (key.asymmetricKeyType === 'rsa') return 'RS256'
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256'
  return `a ${key.asymmetricKeyType ?? 'symmetric'}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''} key; use an RSA key (RS256) or an EC P-256 key (ES256)`
}

const spki = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }).toString()

/** One JWK of the JWKS file: an RSA or EC P-256 public signing key with a `kid`. */
const JwkSchema = z.looseObject({
  kty: z.enum(['RSA', 'EC'], 'RSA or EC (RS256 or ES256 keys)'),
  kid: z.string().min(1).max(200),
  alg: z.enum(JWT_ALGORITHMS, 'RS256 or ES256').optional(),
  use: z.literal('sig', 'sig (a signing key)').optional(),
})

/** The JWKS file: `{ "keys": [ … ] }`, each key turned into a public key (PEM) and its algorithm. */
const JwksSchema = z.looseObject({ keys: z.array(JwkSchema).min(1).max(100) }).transform((jwks, ctx) => {
  const byKid = new Map<string, { alg: Algorithm; pem: string }>()
  jwks.keys.forEach((jwk, i) => {
    const issue = (message: string, field?: string) => ctx.addIssue({ code: 'custom', message, path: ['keys', i, ...(field ? [field] : [])] })
    if (byKid.has(jwk.kid)) return issue(`kid ${jwk.kid} twice`, 'kid')
    if ('d' in jwk) return issue('a private key: the file must hold public keys only', 'd')
    let key: KeyObject
    try {
      key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
    } catch (err) {
      return issue(`not a usable ${jwk.kty} public key: ${(err as Error).message}`)
    }
    const alg = algorithmOf(key)
    if (!(JWT_ALGORITHMS as readonly string[]).includes(alg)) return issue(alg, jwk.kty === 'EC' ? 'crv' : 'kty')
    if (jwk.alg !== undefined && jwk.alg !== alg) return issue(`${jwk.alg} does not fit a ${jwk.kty} key (${alg})`, 'alg')
    byKid.set(jwk.kid, { alg: alg as Algorithm, pem: spki(key) })
  })
  return byKid
})

/** The public key of a PEM file, checked to be RS256 or ES256. */
function readPublicKey(file: string): string {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    throw new AuthConfigError(`JWT public key ${file}: ${(err as Error).message}`)
  }
  if (/PRIVATE KEY/.test(text)) throw new AuthConfigError(`JWT public key ${file} holds a private key: give the public key only (openssl pkey -pubout)`)
  let key: KeyObject
  try {
    key = createPublicKey(text)
  } catch (err) {
    throw new AuthConfigError(`JWT public key ${file} is not a PEM public key: ${(err as Error).message}`)
  }
  const alg = algorithmOf(key)
  if (!(JWT_ALGORITHMS as readonly string[]).includes(alg)) throw new AuthConfigError(`JWT public key ${file} is ${alg}`)
  return spki(key)
}

/**
 * The JWT verifier of the settings, or undefined when no key is configured.
 * @throws AuthConfigError naming the file (and, for a JWKS, the field) when a key cannot be used,
 * or when both a public key and a JWKS are given.
 */
export function loadJwtVerifier(settings: JwtSettings): JwtVerifier | undefined {
  if (settings.publicKeyPath && settings.jwksPath) throw new AuthConfigError('set LEDGER_JWT_PUBLIC_KEY_PATH or LEDGER_JWT_JWKS_PATH, not both')
  const verify = {
    algorithms: [...JWT_ALGORITHMS],
    // fast-jwt checks iss and aud only when present: a configured one is required too.
    requiredClaims: ['sub', 'exp', ...(settings.issuer ? ['iss'] : []), ...(settings.audience ? ['aud'] : [])],
    ...(settings.issuer ? { allowedIss: settings.issuer } : {}),
    ...(settings.audience ? { allowedAud: settings.audience } : {}),
  }
  let options: FastifyJWTOptions
  if (settings.publicKeyPath) {
    options = { secret: { public: readPublicKey(settings.publicKeyPath) }, verify }
  } else if (settings.jwksPath) {
    const file = settings.jwksPath
    const byKid = readJsonFile(file, JwksSchema, 'JWKS file', (m) => new AuthConfigError(m))
    options = {
      // The key the token's header names; a token without a known kid, or whose alg is not its
      // key's, is refused before its signature is looked at.
      secret: async (_request: FastifyRequest, token: TokenOrHeader): Promise<string> => {
        const header = 'header' in token ? token.header : token
        const entry = typeof header.kid === 'string' ? byKid.get(header.kid) : undefined
        if (!entry) throw new Error(`no key of ${file} has kid ${JSON.stringify(header.kid ?? null)}`)
        if (header.alg !== entry.alg) throw new Error(`the key ${header.kid} signs ${entry.alg}, not ${String(header.alg)}`)
        return entry.pem
      },
      decode: { complete: true },
      verify,
    }
  } else {
    return undefined
  }
  return {
    register: (app: FastifyInstance) => {
      void app.register(fastifyJwt, options)
    },
    verify: async (_token: string, request: FastifyRequest): Promise<Principal | undefined> => {
      // @fastify/jwt reads the token from the Authorization header, as the auth hook did.
      let payload: unknown
      try {
        payload = await request.jwtVerify()
      } catch (err) {
        request.log.info({ reason: (err as Error).message }, 'JWT refused')
        return undefined
      }
      const claims = JwtClaimsSchema.safeParse(payload)
      if (!claims.success) {
        request.log.info({ reason: claims.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }, 'JWT claims refused')
        return undefined
      }
      const c = claims.data
      return { actor: c.sub, role: c.role, employers: new Set(c.employers), regions: new Set(c.regions), via: 'jwt' }
    },
  }
}
