/**
 * Who is acting (issue #7): an authenticated caller with one role and the employers or regions
 * that role is scoped to. Every event's metadata records the principal's `actor`.
 */

/** The roles a key or a token can carry. */
export const ROLES = ['payroll', 'region-officer', 'auditor', 'admin'] as const
export type Role = (typeof ROLES)[number]

export interface Principal {
  /** Who acts: the API key's id, or the JWT's subject. Recorded as `actor` in event metadata. */
  actor: string
  /**
   * `payroll`: posts (and reads) submissions of its employers. `region-officer`: transfers, payouts,
   * retirements, reversals and reads of its regions. `auditor`: every read and the audit endpoints,
   * no writes. `admin`: interest runs, keys, rebuilds. `system`: the ledger itself (jobs it runs, and
   * tests that are not about authorisation); never given by a key or a token.
   */
  role: Role | 'system'
  /** Unified social credit codes a `payroll` principal may post for. */
  employers: ReadonlySet<string>
  /** GB/T 2260 region codes a `region-officer` principal acts for. */
  regions: ReadonlySet<string>
  /** How the caller was authenticated. */
  via: 'api-key' | 'jwt' | 'system'
}

/** The ledger acting on its own behalf (resumed interest runs, periodic seals), or a test that is
 * not about authorisation: every route allows it. */
export const SYSTEM_PRINCIPAL: Principal = Object.freeze({
  actor: 'ledger',
  role: 'system',
  employers: new Set<string>(),
  regions: new Set<string>(),
  via: 'system',
})
