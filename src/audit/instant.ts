/**
 * The one reading of an ISO 8601 instant for the point-in-time reads (issue #6): `ledger audit
 * replay --until`, `?asOf=` on the balances routes, and every event's `recordedAt` they are compared
 * with.
 *
 * It accepts exactly what the HTTP schema of `asOf` accepts (`z.iso.datetime({ offset: true })` of
 * zod 4, see `BalancesQuery` in src/http/persons.ts; the equivalence is tested in
 * test/http/point-in-time.test.ts):
 *
 *   `YYYY-MM-DDTHH:MM:SS[.f…](Z|±HH:MM)`
 *
 * - years 0000–9999, proleptic Gregorian calendar (0000 is a leap year, 1900 is not), the day
 *   within its month;
 * - hours 00–23, minutes and seconds 00–59 (no leap second, no 24:00), seconds required;
 * - any number of fraction digits (at least one after the dot);
 * - `Z` (upper case) or an offset `±HH:MM` with HH 00–23 and MM 00–59.
 *
 * Instants are ordered EXACTLY, whatever the number of fraction digits ({@link compareInstants}):
 * no rounding to milliseconds (`Date`) or truncation to nanoseconds.
 */

/** A string that is not an instant as above. */
export class InstantFormatError extends RangeError {
  override readonly name = 'InstantFormatError'
}

/** A parsed instant: whole seconds since 1970-01-01T00:00:00Z (negative before) and the fraction of
 * the second as decimal digits without trailing zeros (`''` for none). */
export interface Instant {
  readonly seconds: bigint
  readonly fraction: string
}

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))$/

const isLeap = (y: number) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** Days from 1970-01-01 to the civil date (proleptic Gregorian; H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

const invalid = (text: string) =>
  new InstantFormatError(
    `not an ISO 8601 instant with seconds and an offset (e.g. 2024-08-01T00:00:00Z or 2024-08-01T08:00:00.5+08:00): ${JSON.stringify(text)}`,
  )

/**
 * Parses an instant (see the module's comment for what is accepted).
 * @throws InstantFormatError for anything else (including impossible dates, 24:00, offsets ≥ 24 h).
 */
export function parseInstant(text: string): Instant {
  const m = typeof text === 'string' ? INSTANT.exec(text) : null
  if (!m) throw invalid(text)
  const [, ys, mos, ds, hs, mis, ss, fraction = '', sign, ohs, oms] = m
  const [year, month, day, hour, minute, second] = [ys, mos, ds, hs, mis, ss].map(Number) as [number, number, number, number, number, number]
  if (month < 1 || month > 12) throw invalid(text)
  const monthDays = month === 2 && isLeap(year) ? 29 : DAYS_IN_MONTH[month - 1]!
  if (day < 1 || day > monthDays || hour > 23 || minute > 59 || second > 59) throw invalid(text)
  let offsetSeconds = 0
  if (sign !== undefined) {
    const oh = Number(ohs)
    const om = Number(oms)
    if (oh > 23 || om > 59) throw invalid(text)
    offsetSeconds = (sign === '-' ? -1 : 1) * (oh * 3600 + om * 60)
  }
  const seconds = BigInt(daysFromCivil(year, month, day)) * 86_400n + BigInt(hour * 3600 + minute * 60 + second - offsetSeconds)
  return { seconds, fraction: fraction.replace(/0+$/, '') }
}

/** Whether `text` is an instant {@link parseInstant} accepts. */
export function isInstant(text: string): boolean {
  try {
    parseInstant(text)
    return true
  } catch {
    return false
  }
}

/** Orders two instants exactly: negative when `a` is earlier, 0 when the same, positive when later. */
export function compareInstants(a: Instant, b: Instant): number {
  if (a.seconds !== b.seconds) return a.seconds < b.seconds ? -1 : 1
  const width = Math.max(a.fraction.length, b.fraction.length)
  const fa = a.fraction.padEnd(width, '0')
  const fb = b.fraction.padEnd(width, '0')
  return fa < fb ? -1 : fa > fb ? 1 : 0
}

/**
 * An instant as nanoseconds since the epoch, digits beyond the nanosecond dropped (towards the
 * past). For display and arithmetic; ORDER instants with {@link compareInstants}, which is exact.
 * @throws InstantFormatError as {@link parseInstant}.
 */
export function instantNanos(text: string): bigint {
  const { seconds, fraction } = parseInstant(text)
  return seconds * 1_000_000_000n + BigInt(fraction.slice(0, 9).padEnd(9, '0'))
}
