/**
 * Events of the history a ledger inherits: what the previous system holds for people who contributed
 * for decades before this ledger existed, and the pools' opening balances (issue #4, "Legacy
 * history"). Amounts are yuan strings with two places.
 */

/** One year of a person's legacy contribution record in one region. */
export interface LegacyYear {
  /** Calendar year, e.g. 2003. */
  year: number
  /** GB/T 2260 code of the pooling region. */
  region: string
  /** Months contributed in that year and region, 1..12. */
  months: number
  /** Sum of the monthly pension contribution bases of those months, yuan. */
  baseTotal: string
}

/**
 * On `person-{personId}`: the previous system's record of a person, imported once (idempotent by
 * importId). Its years count exactly like recorded months (transfers, months contributed,
 * retirement); its balance is the pension individual account's opening balance.
 */
export interface LegacyHistoryImportedData {
  importId: string
  personId: string
  /** Date (YYYY-MM-DD, Asia/Shanghai) at which the previous system's figures hold. */
  asOf: string
  /** Pension individual account balance at `asOf` (principal and interest), yuan. */
  individualAccountBalance: string
  years: LegacyYear[]
}

/** On `pool-{region}`: a pool's opening balance per scheme, imported once (idempotent by importId). */
export interface PoolLegacyBalanceImportedData {
  importId: string
  region: string
  asOf: string
  /** scheme → opening balance, yuan. Schemes absent are 0. */
  schemes: Partial<Record<'pension' | 'medical' | 'unemployment' | 'work_injury' | 'maternity', string>>
}

export const LEGACY_HISTORY_IMPORTED = 'LegacyHistoryImported' as const
export const POOL_LEGACY_BALANCE_IMPORTED = 'PoolLegacyBalanceImported' as const

export const poolStream = (region: string): string => `pool-${region}`
