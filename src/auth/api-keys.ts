import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'
import { ROLES, type Principal, type Role } from './principal.js'

/**
 * API keys (issue #7): a keys file lists each key's id, role and scope, and only the SHA-256 of its
 * secret; the secret itself is shown once, when the key is created (`ledger keys create`).
 *
 * A token is `lk_{id}.{secret}`: the id says which entry to check, the secret (32 random bytes,
 * base64url) is hashed and compared in constant time.
 */

/** Prefix of every API key token (a JWT never starts with it). */
export const API_KEY_PREFIX = 'lk_'
/** Key ids: 3-40 characters, lower case, digits, `_` and `-`. */
export const KEY_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{2,39}$/
/** Bytes of randomness in a secret. */
export const SECRET_BYTES = 32
/** Most keys one file may hold. */
export const MAX_KEYS = 10_000

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lower-case hex')

/** The employers a `payroll` key or token may post for: unified social credit codes. */
export const EmployersScope = z.array(z.string().regex(/^[0-9A-HJ-NPQRTUWXY]{18}$/, 'a unified social credit code')).max(10_000)
/** The regions a `region-officer` key or token acts for: GB/T 2260 codes. */
export const RegionsScope = z.array(z.string().regex(/^\d{6}$/, 'a GB/T 2260 code')).max(100)

/** A payroll principal needs employers, a region officer regions (for keys and JWT claims alike). */
export function checkScope(p: { role: Role; employers: readonly string[]; regions: readonly string[] }, ctx: z.RefinementCtx, what: string): void {
  if (p.role === 'payroll' && p.employers.length === 0) ctx.addIssue({ code: 'custom', message: `a payroll ${what} needs at least one employer`, path: ['employers'] })
  if (p.role === 'region-officer' && p.regions.length === 0) ctx.addIssue({ code: 'custom', message: `a region-officer ${what} needs at least one region`, path: ['regions'] })
}

/** One entry of the keys file. */
export const KeyEntrySchema = z
  .strictObject({
    id: z.string().regex(KEY_ID_PATTERN, '3-40 characters of a-z 0-9 _ -, starting with a letter or digit'),
    sha256: Sha256Hex,
    role: z.enum(ROLES),
    employers: EmployersScope.default([]),
    regions: RegionsScope.default([]),
    createdAt: z.string().optional(),
    note: z.string().max(200).optional(),
  })
  .superRefine((k, ctx) => checkScope(k, ctx, 'key'))

/** The keys file: `{ "keys": [ … ] }`. */
export const KeysFileSchema = z
  .strictObject({ keys: z.array(KeyEntrySchema).max(MAX_KEYS) })
  .superRefine((f, ctx) => {
    const ids = new Set<string>()
    f.keys.forEach((k, i) => {
      if (ids.has(k.id)) ctx.addIssue({ code: 'custom', message: `key id ${k.id} twice`, path: ['keys', i, 'id'] })
      ids.add(k.id)
    })
  })

export type KeyEntry = z.infer<typeof KeyEntrySchema>
export type KeysFile = z.infer<typeof KeysFileSchema>

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

/** The keys of a validated keys file, ready to check tokens. */
export class ApiKeyBook {
  private readonly byId = new Map<string, KeyEntry>()

  constructor(file: KeysFile) {
    for (const k of file.keys) this.byId.set(k.id, k)
  }

  /** Whether `token` looks like an API key (rather than a JWT). */
  static isApiKey(token: string): boolean {
    return token.startsWith(API_KEY_PREFIX)
  }

  /**
   * The principal of a valid API key token, or undefined (unknown id, wrong secret, malformed). The
   * secret's hash is compared in constant time; an unknown id costs the same hash.
   */
  authenticate(token: string): Principal | undefined {
    const m = /^lk_([a-z0-9][a-z0-9_-]{2,39})\.([A-Za-z0-9_-]{16,128})$/.exec(token)
    if (!m) return undefined
    const entry = this.byId.get(m[1]!)
    const presented = sha256(m[2]!)
    const stored = Buffer.from(entry?.sha256 ?? '0'.repeat(64), 'hex')
    if (!timingSafeEqual(presented, stored) || !entry) return undefined
    return { actor: entry.id, role: entry.role, employers: new Set(entry.employers), regions: new Set(entry.regions), via: 'api-key' }
  }
}

/**
 * A new key: the entry for the keys file (with the secret's SHA-256 only) and the token to hand
 * out, shown once.
 */
export function createKey(input: { id: string; role: Role; employers?: string[]; regions?: string[]; note?: string; now?: Date }): { entry: KeyEntry; token: string } {
  const secret = randomBytes(SECRET_BYTES).toString('base64url')
  const entry = KeyEntrySchema.parse({
    id: input.id,
    sha256: sha256(secret).toString('hex'),
    role: input.role,
    employers: input.employers ?? [],
    regions: input.regions ?? [],
    createdAt: (input.now ?? new Date()).toISOString(),
    ...(input.note !== undefined ? { note: input.note } : {}),
  })
  return { entry, token: `${API_KEY_PREFIX}${entry.id}.${secret}` }
}
