/**
 * Identifier rules of the field: the citizen identity number (`personId`, GB 11643-1999) and the
 * unified social credit code (`employerId`, GB 32100-2015). Pure functions, no I/O.
 *
 * Validators answer `{ ok: true }` or `{ ok: false, reason }`. A reason is one English sentence
 * that names the rule broken; it never repeats the whole identifier (a citizen id is personal
 * data, see {@link maskCitizenId}), only the part at fault (a character, a birth date).
 */

/** The answer of a validator: valid, or the first rule broken, in plain English. */
export type IdValidation = { ok: true } | { ok: false; reason: string }

// ---------------------------------------------------------------------------------------------
// Citizen identity number (GB 11643-1999)
// ---------------------------------------------------------------------------------------------

/**
 * Weights of GB 11643-1999 (ISO 7064 MOD 11-2) for positions 1..17: w(i) = 2^(18-i) mod 11,
 * i.e. 2^17 mod 11 = 7 for the first character down to 2^1 mod 11 = 2 for the 17th.
 */
const CITIZEN_ID_WEIGHTS: readonly number[] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]

/**
 * Earliest birth date (YYYYMMDD) a citizen id may carry. 1800 rather than 1900 so that the
 * standard's own worked sample `440524188001010014` (born 1880-01-01) validates; a typo in the
 * century is still caught by the check character in 10 cases out of 11.
 */
export const CITIZEN_ID_MIN_BIRTH_DATE = '18000101'
/** Latest birth date (YYYYMMDD) a citizen id may carry. */
export const CITIZEN_ID_MAX_BIRTH_DATE = '20991231'

/**
 * Check character of a citizen identity number (GB 11643-1999, ISO 7064 MOD 11-2).
 *
 * Shape: `first17` is the 17 digits before the check character (6 address code, 8 birth date
 * YYYYMMDD, 3 sequence). Rule: S = Σ digit(i) × w(i) with w = 7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2
 * (2^(18-i) mod 11); check = (12 − (S mod 11)) mod 11, written as a digit, 10 written as 'X'.
 * Example: `11010519491231002` → S = 167, 167 mod 11 = 2, (12 − 2) mod 11 = 10 → 'X'.
 *
 * @throws RangeError when `first17` is not exactly 17 ASCII digits.
 */
export function citizenIdCheckChar(first17: string): string {
  if (!/^[0-9]{17}$/.test(first17)) {
    throw new RangeError('citizenIdCheckChar needs exactly 17 digits')
  }
  let sum = 0
  for (let i = 0; i < 17; i++) {
    sum += (first17.charCodeAt(i) - 48) * CITIZEN_ID_WEIGHTS[i]!
  }
  const check = (12 - (sum % 11)) % 11
  return check === 10 ? 'X' : String(check)
}

/** True when `yyyymmdd` (8 digits) is a real day of the proleptic Gregorian calendar. */
function isCalendarDate(yyyymmdd: string): boolean {
  const year = Number(yyyymmdd.slice(0, 4))
  const month = Number(yyyymmdd.slice(4, 6))
  const day = Number(yyyymmdd.slice(6, 8))
  if (month < 1 || month > 12 || day < 1) return false
  return day <= daysInMonth(year, month)
}

/** Days in `month` (1-12) of `year`, Gregorian leap years. */
function daysInMonth(year: number, month: number): number {
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
    return leap ? 29 : 28
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

/**
 * Validates an 18-character citizen identity number (GB 11643-1999).
 *
 * Shape: `AAAAAA YYYYMMDD SSS C` without spaces: 6-digit address code (GB/T 2260), birth date,
 * 3-digit sequence (odd for men, even for women), check character (a digit or uppercase 'X').
 * Rules, checked in this order, the first broken one is the reason:
 * 1. exactly 18 characters;
 * 2. characters 1-17 are digits (the first 6 being the address code);
 * 3. character 18 is a digit or 'X' (a lowercase 'x' is refused: the canonical form, which is
 *    also the stream name `person-{personId}`, is uppercase);
 * 4. characters 7-14 are a calendar date between {@link CITIZEN_ID_MIN_BIRTH_DATE} and
 *    {@link CITIZEN_ID_MAX_BIRTH_DATE};
 * 5. character 18 equals {@link citizenIdCheckChar} of the first 17 (ISO 7064 MOD 11-2).
 *
 * The address code is only checked to be digits, not looked up in GB/T 2260 (codes are retired
 * and renamed over the years, and ids keep the code of their time of issue).
 */
export function validateCitizenId(id: string): IdValidation {
  if (id.length !== 18) {
    return { ok: false, reason: `a citizen id has 18 characters, got ${id.length}` }
  }
  if (!/^[0-9]{6}/.test(id)) {
    return { ok: false, reason: 'characters 1-6 (address code) must be digits' }
  }
  const firstNonDigit = firstMismatch(id.slice(0, 17), /[0-9]/)
  if (firstNonDigit !== -1) {
    return {
      ok: false,
      reason: `characters 1-17 must be digits, character ${firstNonDigit + 1} is not`,
    }
  }
  const last = id.charAt(17)
  if (last === 'x') {
    return { ok: false, reason: "check character must be an uppercase 'X', not lowercase 'x'" }
  }
  if (!/^[0-9X]$/.test(last)) {
    return { ok: false, reason: "check character (18th) must be a digit or 'X'" }
  }
  const birth = id.slice(6, 14)
  if (!isCalendarDate(birth)) {
    return { ok: false, reason: `birth date ${birth} is not a calendar date` }
  }
  if (birth < CITIZEN_ID_MIN_BIRTH_DATE || birth > CITIZEN_ID_MAX_BIRTH_DATE) {
    return {
      ok: false,
      reason: `birth date ${birth} is outside ${CITIZEN_ID_MIN_BIRTH_DATE}..${CITIZEN_ID_MAX_BIRTH_DATE}`,
    }
  }
  const expected = citizenIdCheckChar(id.slice(0, 17))
  if (last !== expected) {
    return { ok: false, reason: `check character is ${last}, expected ${expected}` }
  }
  return { ok: true }
}

/** `validateCitizenId(id).ok`, for guards and filters. */
export function isCitizenId(id: string): boolean {
  return validateCitizenId(id).ok
}

/**
 * Masks a citizen id for logs (DESIGN.md, "Identifiers"): the first 6 characters (address code)
 * and the last 4 (end of sequence, check) stay, every other character becomes '*', so the birth
 * date never reaches a log. `11010519491231002X` → `110105********002X`.
 *
 * Works on any string (an invalid id is logged masked too) and keeps its length. A string of 10
 * characters or fewer is masked entirely, since keeping 6 + 4 would show all of it.
 */
export function maskCitizenId(id: string): string {
  if (id.length <= 10) return '*'.repeat(id.length)
  return id.slice(0, 6) + '*'.repeat(id.length - 10) + id.slice(-4)
}

// ---------------------------------------------------------------------------------------------
// Unified social credit code (GB 32100-2015)
// ---------------------------------------------------------------------------------------------

/**
 * The 31 characters of GB 32100-2015: digits and uppercase letters without I, O, S, V, Z.
 * A character's value is its index (0-9 → 0-9, 'A' → 10, ..., 'Y' → 30).
 */
export const USCC_CHARSET = '0123456789ABCDEFGHJKLMNPQRTUWXY'

/** Weights of GB 32100-2015 for positions 1..17: w(i) = 3^(i-1) mod 31. */
const USCC_WEIGHTS: readonly number[] = [
  1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
]

/**
 * Check character of a unified social credit code (GB 32100-2015).
 *
 * Shape: `first17` is the 17 characters before the check character, each from
 * {@link USCC_CHARSET}. Rule: S = Σ value(i) × w(i) with w = 1,3,9,27,19,26,16,17,20,29,25,13,
 * 8,24,10,30,28 (3^(i-1) mod 31); check value = 31 − (S mod 31), 31 written as 0; the check
 * character is `USCC_CHARSET[check value]`.
 * Example: `91350100M000100Y4` ('M' = 21, 'Y' = 30) → S = 1640, 1640 mod 31 = 28,
 * 31 − 28 = 3 → '3' (the sums are worked out in test/domain/ids.test.ts).
 *
 * @throws RangeError when `first17` is not 17 characters of the charset.
 */
export function usccCheckChar(first17: string): string {
  if (first17.length !== 17) {
    throw new RangeError('usccCheckChar needs exactly 17 characters')
  }
  let sum = 0
  for (let i = 0; i < 17; i++) {
    const value = USCC_CHARSET.indexOf(first17.charAt(i))
    if (value === -1) {
      throw new RangeError(`usccCheckChar: character ${i + 1} is not in the GB 32100 charset`)
    }
    sum += value * USCC_WEIGHTS[i]!
  }
  const check = (31 - (sum % 31)) % 31
  return USCC_CHARSET.charAt(check)
}

/**
 * Validates an 18-character unified social credit code (GB 32100-2015).
 *
 * Shape: 1 registration-authority code, 1 entity-category code, 6-digit administrative division
 * code (GB/T 2260), 9-character organization code (GB 11714), 1 check character.
 * Rules, checked in this order, the first broken one is the reason:
 * 1. exactly 18 characters;
 * 2. every character in {@link USCC_CHARSET} (lowercase letters are refused with a reason that
 *    asks for uppercase; I, O, S, V, Z are named as excluded);
 * 3. characters 3-8 (administrative division code) are digits;
 * 4. character 18 equals {@link usccCheckChar} of the first 17.
 *
 * Not checked: the registration-authority/category pair against the standard's table, the
 * division code against GB/T 2260, and the GB 11714 check character inside the organization code.
 */
export function validateUscc(code: string): IdValidation {
  if (code.length !== 18) {
    return { ok: false, reason: `a unified social credit code has 18 characters, got ${code.length}` }
  }
  for (let i = 0; i < 18; i++) {
    const ch = code.charAt(i)
    if (USCC_CHARSET.includes(ch)) continue
    if (/[a-z]/.test(ch)) {
      return {
        ok: false,
        reason: `character ${i + 1} is lowercase '${ch}': use uppercase letters`,
      }
    }
    if ('IOSVZ'.includes(ch)) {
      return {
        ok: false,
        reason: `character ${i + 1} is '${ch}', which GB 32100 excludes (no I, O, S, V or Z)`,
      }
    }
    return {
      ok: false,
      reason: `character ${i + 1} is not a digit or an allowed uppercase letter`,
    }
  }
  if (!/^[0-9]{6}$/.test(code.slice(2, 8))) {
    return {
      ok: false,
      reason: `characters 3-8 (administrative division code) must be digits, got ${code.slice(2, 8)}`,
    }
  }
  const expected = usccCheckChar(code.slice(0, 17))
  const last = code.charAt(17)
  if (last !== expected) {
    return { ok: false, reason: `check character is ${last}, expected ${expected}` }
  }
  return { ok: true }
}

/** `validateUscc(code).ok`, for guards and filters. */
export function isUscc(code: string): boolean {
  return validateUscc(code).ok
}

/** Weights of GB 11714-1997 for the 8 body characters of an organization code. */
const ORGANIZATION_CODE_WEIGHTS: readonly number[] = [3, 7, 9, 10, 5, 8, 4, 2]

/**
 * Check character of a 9-character organization code (GB 11714-1997), which fills characters
 * 9-17 of a unified social credit code (the 17th being this check character).
 *
 * Shape: `first8` is 8 digits or uppercase letters. Rule: value = the digit, or 10 + the letter's
 * place in A-Z ('A' = 10 ... 'Z' = 35, this standard counts all 26 letters); S = Σ value(i) × w(i)
 * with w = 3,7,9,10,5,8,4,2; C = 11 − (S mod 11); C = 10 is written 'X', C = 11 is written '0'.
 * Example: `19220382` → S = 164, 164 mod 11 = 10, 11 − 10 = 1 → '1'.
 *
 * {@link validateUscc} does not apply this rule (codes are validated by GB 32100 alone); the test
 * data generator uses it so generated codes look like issued ones.
 *
 * @throws RangeError when `first8` is not 8 digits or uppercase letters.
 */
export function organizationCodeCheckChar(first8: string): string {
  if (!/^[0-9A-Z]{8}$/.test(first8)) {
    throw new RangeError('organizationCodeCheckChar needs exactly 8 digits or uppercase letters')
  }
  let sum = 0
  for (let i = 0; i < 8; i++) {
    const code = first8.charCodeAt(i)
    const value = code <= 57 ? code - 48 : code - 65 + 10
    sum += value * ORGANIZATION_CODE_WEIGHTS[i]!
  }
  const check = 11 - (sum % 11)
  return check === 10 ? 'X' : check === 11 ? '0' : String(check)
}

/** Index of the first character of `s` that does not match the one-character `pattern`, or -1. */
function firstMismatch(s: string, pattern: RegExp): number {
  for (let i = 0; i < s.length; i++) {
    if (!pattern.test(s.charAt(i))) return i
  }
  return -1
}
