import type { Decimal } from 'decimal.js'
import { formatYuan } from '../money.js'
import { SCHEMES, type Scheme } from '../schemes.js'
import type { PersonContributionState } from '../contribution/person-state.js'
import {
  LEGACY_HISTORY_IMPORTED,
  POOL_LEGACY_BALANCE_IMPORTED,
  type LegacyHistoryImportedData,
  type LegacyYear,
  type PoolLegacyBalanceImportedData,
} from './events.js'

/**
 * The rules of importing legacy history (issue #4, "Legacy history"): a person's years from the
 * previous system and a pool's opening balances. Pure: the command and the current state in, one
 * event or a refusal out.
 *
 * **Which months an imported year covers.** An imported year says "m months of year Y were
 * contributed in region R", not which ones. So the year is taken to cover every month of Y that the
 * previous system can speak for: all twelve, except in the year of `asOf`, where it covers January
 * to the month of `asOf` (the previous system's figures hold at `asOf`; a month after it is the
 * ledger's). Any recorded contribution for a covered month, in any region, overlaps the import:
 * the import is refused when the person already has one, and a later submission for a covered month
 * is refused as a month already credited (pension, medical and unemployment; see person-state.ts).
 */

/** First calendar year an import may hold: the enterprise pension reform of the 1990s. */
export const FIRST_LEGACY_YEAR = 1992
/** Most year entries in one person's import (one per year and region). */
export const MAX_LEGACY_YEARS = 80
/** Months of a calendar year: the most one year may hold across all its regions. */
export const MONTHS_PER_YEAR = 12
/** An importId: like a submissionId, 1 to 64 characters from A-Z a-z 0-9 . _ - */
export const IMPORT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/
/** Largest individual account balance and yearly base total of a person's import, yuan. */
export const MAX_LEGACY_AMOUNT_YUAN = '99999999.99'
/** Largest opening balance of one pool (region, scheme), yuan (just under 10^15). */
export const MAX_POOL_OPENING_BALANCE_YUAN = '999999999999999.99'
/** Schemes an imported year credits, so a submission for a covered month is refused for them.
 * Work injury stays open (it is insured per employer); maternity is not in the legacy record. */
export const LEGACY_CREDITED_SCHEMES: readonly Scheme[] = ['pension', 'medical', 'unemployment']

/** `YYYY-MM-DD`, month 01-12, day 01-31 (the day checked against the month by {@link isIsoDate}). */
export const ISO_DATE_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/

/** Whether `text` is a real calendar day `YYYY-MM-DD` (proleptic Gregorian). */
export function isIsoDate(text: string): boolean {
  const m = ISO_DATE_PATTERN.exec(text)
  if (!m) return false
  const year = Number(m[1])
  const month = Number(m[2])
  const day = Number(m[3])
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
  const days = month === 2 ? (leap ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31
  return day <= days
}

/** The last month (1-12) of `year` that an import as of `asOf` can cover: the month of `asOf` in
 * its own year, December before it. */
export function lastCoverableMonth(year: number, asOf: string): number {
  return year === Number(asOf.slice(0, 4)) ? Number(asOf.slice(5, 7)) : MONTHS_PER_YEAR
}

/**
 * The periods (`YYYY-MM`) an import covers: for each distinct year of its entries, January to
 * {@link lastCoverableMonth}. In year order.
 * Example: asOf 2024-06-30, years 2023 and 2024 → 2023-01 … 2023-12, 2024-01 … 2024-06.
 */
export function legacyCoveredPeriods(data: Pick<LegacyHistoryImportedData, 'asOf' | 'years'>): string[] {
  const years = [...new Set(data.years.map((y) => y.year))].sort((a, b) => a - b)
  return years.flatMap((year) =>
    Array.from({ length: lastCoverableMonth(year, data.asOf) }, (_, i) => `${year}-${String(i + 1).padStart(2, '0')}`),
  )
}

// ---------------------------------------------------------------------------------------------
// A person's legacy history
// ---------------------------------------------------------------------------------------------

/** One year entry of the command (amounts already parsed). */
export interface LegacyYearInput {
  year: number
  region: string
  months: number
  baseTotal: Decimal
}

/** The command: import a person's history from the previous system (shape already validated). */
export interface ImportLegacyHistory {
  importId: string
  personId: string
  /** `YYYY-MM-DD`: the date at which the previous system's figures hold. */
  asOf: string
  individualAccountBalance: Decimal
  years: LegacyYearInput[]
}

/** A rule the import's own content breaks. `path` locates the field (e.g. `['years', 3, 'months']`). */
export interface LegacyViolation {
  path: (string | number)[]
  message: string
}

/** A recorded contribution inside a year the import covers. */
export interface LegacyOverlap {
  /** Recorded period, `YYYY-MM`, and where and by which submission it was recorded. */
  period: string
  region: string
  submissionId: string
  /** Index, in the command's `years`, of the first entry of the period's year. */
  yearIndex: number
}

/** What importing a person's legacy history decides. */
export type LegacyHistoryDecision =
  | { outcome: 'import'; event: { type: typeof LEGACY_HISTORY_IMPORTED; data: LegacyHistoryImportedData } }
  /** The same import again: answer with what was imported. */
  | { outcome: 'already-imported'; imported: LegacyHistoryImportedData }
  /** The same importId with other content; `differences` names the fields that differ. */
  | { outcome: 'import-conflict'; importId: string; differences: string[] }
  /** The person already has an import under another id (one per person). */
  | { outcome: 'already-has-history'; existingImportId: string }
  /** Months already recorded for the person lie in imported years. */
  | { outcome: 'overlap'; overlaps: LegacyOverlap[] }
  /** A transfer has already sent the person's pension: an opening balance imported now would have
   * no transfer to move it (history is imported before transfers). */
  | { outcome: 'after-transfer' }
  | { outcome: 'invalid'; violations: LegacyViolation[] }

/**
 * The rules an import's content must keep, whatever the ledger holds (HTTP checks them as part of
 * the contract, 400): 1 to {@link MAX_LEGACY_YEARS} entries; `asOf` a calendar date; each year
 * from {@link FIRST_LEGACY_YEAR} to the year of `asOf`; months 1-12, and in the year of `asOf` at
 * most its month; no (year, region) twice; the months of one year, across its regions, at most
 * {@link MONTHS_PER_YEAR}. Violations in entry order, each naming its field.
 */
export function checkLegacyHistory(input: { asOf: string; years: readonly Pick<LegacyYearInput, 'year' | 'region' | 'months'>[] }): LegacyViolation[] {
  const out: LegacyViolation[] = []
  if (!isIsoDate(input.asOf)) out.push({ path: ['asOf'], message: 'a calendar date YYYY-MM-DD' })
  if (input.years.length < 1 || input.years.length > MAX_LEGACY_YEARS)
    out.push({ path: ['years'], message: `1 to ${MAX_LEGACY_YEARS} year entries, got ${input.years.length}` })
  if (out.length > 0) return out
  const asOfYear = Number(input.asOf.slice(0, 4))
  const seen = new Map<string, number>()
  const monthsOfYear = new Map<number, number>()
  input.years.forEach((y, i) => {
    if (!Number.isInteger(y.year) || y.year < FIRST_LEGACY_YEAR || y.year > asOfYear) {
      out.push({ path: ['years', i, 'year'], message: `a year from ${FIRST_LEGACY_YEAR} to ${asOfYear} (the year of asOf)` })
      return
    }
    const last = lastCoverableMonth(y.year, input.asOf)
    if (!Number.isInteger(y.months) || y.months < 1 || y.months > last) {
      out.push({
        path: ['years', i, 'months'],
        message: last < MONTHS_PER_YEAR ? `1 to ${last} months (asOf is ${input.asOf})` : `1 to ${MONTHS_PER_YEAR} months`,
      })
      return
    }
    const key = `${y.year}|${y.region}`
    const first = seen.get(key)
    if (first !== undefined) {
      out.push({ path: ['years', i, 'region'], message: `year ${y.year} in region ${y.region} is already entry ${first}` })
      return
    }
    seen.set(key, i)
    const total = (monthsOfYear.get(y.year) ?? 0) + y.months
    monthsOfYear.set(y.year, total)
    if (total > last)
      out.push({ path: ['years', i, 'months'], message: `the months of ${y.year} add up to ${total} across its regions; at most ${last}` })
  })
  return out
}

/** The event data of a command: amounts with two places, years sorted by (year, region). */
export function legacyHistoryData(cmd: ImportLegacyHistory): LegacyHistoryImportedData {
  const years: LegacyYear[] = cmd.years
    .map((y) => ({ year: y.year, region: y.region, months: y.months, baseTotal: formatYuan(y.baseTotal) }))
    .sort((a, b) => a.year - b.year || (a.region < b.region ? -1 : a.region > b.region ? 1 : 0))
  return {
    importId: cmd.importId,
    personId: cmd.personId,
    asOf: cmd.asOf,
    individualAccountBalance: formatYuan(cmd.individualAccountBalance),
    years,
  }
}

/**
 * Decides a person's legacy import. `state` is the person's contribution state (person-state.ts):
 * its `legacy` import, if any, and its recorded lines.
 *
 * Checks, in order: the content's own rules; an import already there (the same id and content is a
 * retry, the same id with other content a conflict, another id a second import, refused: one per
 * person); recorded months inside the imported years (refused, naming them). Then one
 * `LegacyHistoryImported` event.
 */
export function decideLegacyHistory(cmd: ImportLegacyHistory, state: Pick<PersonContributionState, 'legacy' | 'lines'>): LegacyHistoryDecision {
  const violations = checkLegacyHistory(cmd)
  if (violations.length > 0) return { outcome: 'invalid', violations }
  const data = legacyHistoryData(cmd)
  if (state.legacy) {
    if (state.legacy.importId !== cmd.importId) return { outcome: 'already-has-history', existingImportId: state.legacy.importId }
    const differences = legacyDifferences(data, state.legacy)
    return differences.length === 0
      ? { outcome: 'already-imported', imported: state.legacy }
      : { outcome: 'import-conflict', importId: cmd.importId, differences }
  }
  const covered = new Set(legacyCoveredPeriods(data))
  const overlaps: LegacyOverlap[] = []
  for (const line of state.lines.values()) {
    if (!covered.has(line.period)) continue
    const year = Number(line.period.slice(0, 4))
    overlaps.push({ period: line.period, region: line.region, submissionId: line.submissionId, yearIndex: cmd.years.findIndex((y) => y.year === year) })
  }
  if (overlaps.length > 0) {
    overlaps.sort((a, b) => (a.period < b.period ? -1 : a.period > b.period ? 1 : 0))
    return { outcome: 'overlap', overlaps }
  }
  return { outcome: 'import', event: { type: LEGACY_HISTORY_IMPORTED, data } }
}

/** Fields in which an import differs from the one recorded under its id. */
function legacyDifferences(a: LegacyHistoryImportedData, b: LegacyHistoryImportedData): string[] {
  const out: string[] = []
  if (a.asOf !== b.asOf) out.push('asOf')
  if (a.individualAccountBalance !== b.individualAccountBalance) out.push('individualAccountBalance')
  const key = (y: LegacyYear) => `${y.year}|${y.region}|${y.months}|${y.baseTotal}`
  if (a.years.length !== b.years.length) out.push('years (count)')
  else if (a.years.some((y, i) => key(y) !== key(b.years[i]!))) out.push('years (years, regions, months or base totals)')
  return out
}

/** One sentence saying why an import was refused (for the CLI's summary and the HTTP detail). */
export function describeLegacyRefusal(decision: Exclude<LegacyHistoryDecision, { outcome: 'import' | 'already-imported' }>): string {
  switch (decision.outcome) {
    case 'import-conflict':
      return `import ${decision.importId} was recorded for this person with other content (differs in: ${decision.differences.join(', ')})`
    case 'already-has-history':
      return `the person already has legacy history, imported as ${decision.existingImportId}; a person has one import`
    case 'overlap': {
      const shown = decision.overlaps.slice(0, 5).map((o) => `${o.period} (${o.region}, submission ${o.submissionId})`)
      const more = decision.overlaps.length - shown.length
      return `recorded months lie in imported years: ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}`
    }
    case 'invalid':
      return decision.violations.map((v) => `${v.path.join('.')}: ${v.message}`).join('; ')
    case 'after-transfer':
      return 'a transfer has already sent this person’s pension; legacy history is imported before any transfer'
  }
}

// ---------------------------------------------------------------------------------------------
// A pool's opening balance
// ---------------------------------------------------------------------------------------------

/** The command: import a pool's opening balance per scheme (shape already validated). */
export interface ImportPoolLegacyBalance {
  importId: string
  region: string
  asOf: string
  /** scheme → opening balance (at least one scheme). */
  schemes: Partial<Record<Scheme, Decimal>>
}

/** What `pool-{region}` holds that the decision needs. */
export interface PoolLegacyState {
  imported: PoolLegacyBalanceImportedData | undefined
}

/** The state of a pool stream with no events. */
export const initialPoolLegacyState = (): PoolLegacyState => ({ imported: undefined })

/** Folds one event of `pool-{region}` (mutates and returns `state`); other types leave it as is. */
export function evolvePoolLegacy(state: PoolLegacyState, event: { type: string; data: unknown }): PoolLegacyState {
  if (event.type === POOL_LEGACY_BALANCE_IMPORTED) state.imported = event.data as PoolLegacyBalanceImportedData
  return state
}

export type PoolLegacyDecision =
  | { outcome: 'import'; event: { type: typeof POOL_LEGACY_BALANCE_IMPORTED; data: PoolLegacyBalanceImportedData } }
  | { outcome: 'already-imported'; imported: PoolLegacyBalanceImportedData }
  | { outcome: 'import-conflict'; importId: string; differences: string[] }
  /** The pool already has an opening balance under another id (one per region). */
  | { outcome: 'already-has-opening-balance'; existingImportId: string }
  /** The region has no row in the policy table: the ledger keeps no pools for it. */
  | { outcome: 'unknown-region'; region: string }
  | { outcome: 'invalid'; violations: LegacyViolation[] }

/** The event data of a command: the schemes given, in the order of SCHEMES, amounts with two places. */
export function poolLegacyData(cmd: ImportPoolLegacyBalance): PoolLegacyBalanceImportedData {
  const schemes: PoolLegacyBalanceImportedData['schemes'] = {}
  for (const s of SCHEMES) {
    const amount = cmd.schemes[s]
    if (amount !== undefined) schemes[s] = formatYuan(amount)
  }
  return { importId: cmd.importId, region: cmd.region, asOf: cmd.asOf, schemes }
}

/**
 * Decides a pool's opening balance: the region must have a policy row; `asOf` a calendar date; at
 * least one scheme; one import per region (the same id and content again is a retry, other content
 * or another id is refused).
 */
export function decidePoolLegacyBalance(cmd: ImportPoolLegacyBalance, state: PoolLegacyState & { regionHasPolicy: boolean }): PoolLegacyDecision {
  const violations: LegacyViolation[] = []
  if (!isIsoDate(cmd.asOf)) violations.push({ path: ['asOf'], message: 'a calendar date YYYY-MM-DD' })
  if (Object.keys(cmd.schemes).length === 0) violations.push({ path: ['schemes'], message: 'at least one scheme' })
  if (violations.length > 0) return { outcome: 'invalid', violations }
  if (!state.regionHasPolicy) return { outcome: 'unknown-region', region: cmd.region }
  const data = poolLegacyData(cmd)
  if (state.imported) {
    if (state.imported.importId !== cmd.importId) return { outcome: 'already-has-opening-balance', existingImportId: state.imported.importId }
    const differences: string[] = []
    if (data.asOf !== state.imported.asOf) differences.push('asOf')
    for (const s of SCHEMES) if (data.schemes[s] !== state.imported.schemes[s]) differences.push(`schemes.${s}`)
    return differences.length === 0
      ? { outcome: 'already-imported', imported: state.imported }
      : { outcome: 'import-conflict', importId: cmd.importId, differences }
  }
  return { outcome: 'import', event: { type: POOL_LEGACY_BALANCE_IMPORTED, data } }
}
