/**
 * Generators of valid identifiers for test data and examples: citizen identity numbers
 * (GB 11643-1999) and unified social credit codes (GB 32100-2015). Pure apart from the random
 * source they are given; no I/O. Never used to make up identifiers of real people.
 */
import { uniformInt } from 'pure-rand/distribution/uniformInt'
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator'
import {
  CITIZEN_ID_MAX_BIRTH_DATE,
  CITIZEN_ID_MIN_BIRTH_DATE,
  citizenIdCheckChar,
  organizationCodeCheckChar,
  usccCheckChar,
} from './ids.js'

/**
 * A source of random integers: returns an integer in [min, max], both ends included, each with
 * the same probability. Build one from a pure-rand generator with {@link randIntFrom}; a test can
 * pass a scripted function instead.
 */
export type RandInt = (min: number, max: number) => number

/**
 * Wraps a pure-rand (v8) generator as a {@link RandInt}, using its unbiased `uniformInt`.
 * pure-rand 8 generators are mutable: every call advances `rng` in place, so the same seed and the
 * same sequence of calls give the same values.
 *
 * @example
 *   const rand = randIntFrom(xoroshiro128plus(42))
 *   generateCitizenId(rand, { regionPrefix: '310115', birthFrom: '1970-01-01', birthTo: '2000-12-31' })
 */
export function randIntFrom(rng: RandomGenerator): RandInt {
  return (min, max) => uniformInt(rng, min, max)
}

/** Options of {@link generateCitizenId}. */
export interface CitizenIdOptions {
  /** 6-digit address code (GB/T 2260) of the place of household registration, e.g. `310115`. */
  regionPrefix: string
  /** Earliest birth date, `YYYY-MM-DD`, included. */
  birthFrom: string
  /** Latest birth date, `YYYY-MM-DD`, included. */
  birthTo: string
}

/**
 * Generates a valid 18-character citizen identity number (GB 11643-1999): `regionPrefix`, a birth
 * date drawn uniformly from [birthFrom, birthTo], a sequence number drawn from 001-999 (its parity
 * is the sex: odd men, even women), and the ISO 7064 MOD 11-2 check character.
 * Draws exactly two numbers from `rand` (day, then sequence).
 *
 * @throws RangeError when `regionPrefix` is not 6 digits, a date is not a calendar date in
 *   `YYYY-MM-DD` form or lies outside the range `validateCitizenId` accepts, or birthFrom > birthTo.
 */
export function generateCitizenId(rand: RandInt, options: CitizenIdOptions): string {
  const { regionPrefix, birthFrom, birthTo } = options
  if (!/^[0-9]{6}$/.test(regionPrefix)) {
    throw new RangeError(`regionPrefix must be 6 digits, got '${regionPrefix}'`)
  }
  const from = parseIsoDay(birthFrom, 'birthFrom')
  const to = parseIsoDay(birthTo, 'birthTo')
  if (from > to) throw new RangeError(`birthFrom ${birthFrom} is after birthTo ${birthTo}`)
  const birth = isoDayToCompact(civilFromDays(rand(from, to)))
  const sequence = String(rand(1, 999)).padStart(3, '0')
  const first17 = regionPrefix + birth + sequence
  return first17 + citizenIdCheckChar(first17)
}

/** Options of {@link generateUscc}. */
export interface UsccOptions {
  /** 6-digit administrative division code (GB/T 2260) put in characters 3-8, e.g. `310000`. */
  regionPrefix: string
}

/**
 * Generates a valid 18-character unified social credit code (GB 32100-2015) of an enterprise:
 * `9` (registered by the market regulator), `1` (enterprise), `regionPrefix`, an organization
 * code of 8 random digits plus its GB 11714 check character, and the GB 32100 check character.
 * Draws exactly eight numbers from `rand`.
 *
 * @throws RangeError when `regionPrefix` is not 6 digits.
 */
export function generateUscc(rand: RandInt, options: UsccOptions): string {
  const { regionPrefix } = options
  if (!/^[0-9]{6}$/.test(regionPrefix)) {
    throw new RangeError(`regionPrefix must be 6 digits, got '${regionPrefix}'`)
  }
  let body = ''
  for (let i = 0; i < 8; i++) body += String(rand(0, 9))
  const first17 = '91' + regionPrefix + body + organizationCodeCheckChar(body)
  return first17 + usccCheckChar(first17)
}

// --- calendar arithmetic on integers (days since 1970-01-01, proleptic Gregorian) -------------

interface CivilDate {
  year: number
  month: number
  day: number
}

/** Parses `YYYY-MM-DD` into a day number, checking it is a real date the validator accepts. */
function parseIsoDay(iso: string, name: string): number {
  const match = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/.exec(iso)
  if (match === null) throw new RangeError(`${name} must be YYYY-MM-DD, got '${iso}'`)
  const date = { year: Number(match[1]), month: Number(match[2]), day: Number(match[3]) }
  const days = daysFromCivil(date)
  const back = civilFromDays(days)
  if (back.year !== date.year || back.month !== date.month || back.day !== date.day) {
    throw new RangeError(`${name} ${iso} is not a calendar date`)
  }
  const compact = isoDayToCompact(date)
  if (compact < CITIZEN_ID_MIN_BIRTH_DATE || compact > CITIZEN_ID_MAX_BIRTH_DATE) {
    throw new RangeError(
      `${name} ${iso} is outside ${CITIZEN_ID_MIN_BIRTH_DATE}..${CITIZEN_ID_MAX_BIRTH_DATE}`,
    )
  }
  return days
}

/** `YYYYMMDD` of a date. */
function isoDayToCompact({ year, month, day }: CivilDate): string {
  return (
    String(year).padStart(4, '0') + String(month).padStart(2, '0') + String(day).padStart(2, '0')
  )
}

/**
 * Days since 1970-01-01 of a date (H. Hinnant's `days_from_civil`). Out-of-range months or days
 * roll over, which {@link parseIsoDay} uses to detect dates that do not exist.
 */
function daysFromCivil({ year, month, day }: CivilDate): number {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const mp = (month + 9) % 12
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** Date of a day number since 1970-01-01 (H. Hinnant's `civil_from_days`). */
function civilFromDays(days: number): CivilDate {
  const z = days + 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  )
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1
  const month = mp < 10 ? mp + 3 : mp - 9
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0)
  return { year, month, day }
}
