import { Decimal } from 'decimal.js'

/**
 * Money in yuan. Built only from decimal strings (never from a JS number), rounded only through the
 * named functions below.
 *
 * `Yuan` is a decimal.js constructor with 40 significant digits, so sums over a whole ledger
 * (billions of yuan, two places) never lose a fen before the explicit rounding step.
 */
export const Yuan = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_UP })
export type Yuan = Decimal

/** `"1234.50"`, `"0.00"`: the wire and event form of an amount (yuan, exactly two places). */
export const MONEY_PATTERN = /^(0|[1-9]\d*)\.\d{2}$/

/** The zero amount. */
export const ZERO: Decimal = new Yuan('0')

/**
 * Parses a decimal string into yuan. Accepts what `Decimal` accepts from a string except
 * exponents, signs other than a leading `-`, and blanks.
 * @throws RangeError when `text` is not a plain decimal string.
 */
export function yuan(text: string): Decimal {
  if (!/^-?\d+(\.\d+)?$/.test(text)) throw new RangeError(`not a decimal amount: ${JSON.stringify(text)}`)
  return new Yuan(text)
}

/**
 * Rounds to the fen (0.01 yuan), half away from zero ("round half up" in the regulations' sense:
 * 0.005 → 0.01). The one rounding rule for contribution amounts (issue #2, §4).
 */
export function roundHalfUpToFen(amount: Decimal): Decimal {
  return amount.toDecimalPlaces(2, Decimal.ROUND_HALF_UP)
}

/**
 * Formats an amount for the wire and for events: yuan with exactly two places, e.g. `"1234.50"`.
 * @throws RangeError when the amount has more than two places (round explicitly first).
 */
export function formatYuan(amount: Decimal): string {
  const places = amount.decimalPlaces()
  if (places > 2) throw new RangeError(`amount ${amount.toString()} has more than two places; round it first`)
  // Decimal#toString padded to two places: the same string as Decimal#toFixed(2) (a decimal string
  // operation, not Number#toFixed; tested equal), at a third of its cost (bench/README.md: the
  // folds format every amount they add). toString uses an exponent from 1e21 up: toFixed there.
  const text = amount.toString()
  if (text.includes('e')) return amount.toFixed(2)
  return places === 2 ? text : places === 1 ? `${text}0` : `${text}.00`
}

/** Sum of amounts (an empty list sums to 0). */
export function sum(amounts: Iterable<Decimal>): Decimal {
  let total = ZERO
  for (const a of amounts) total = total.plus(a)
  return total
}

/** A wire amount as folds meet it: an optional minus, digits, a point, exactly two digits. */
const WIRE_AMOUNT = /^-?\d+\.\d\d$/

/**
 * Adds two wire amounts (`"1.10"` + `"2.20"` → `"3.30"`); for folds over stored events. Exact.
 *
 * Two amounts of exactly two places add without any rounding: when both are in that form they are
 * added as integers of fen (bigint, never a JS number), else with Decimal. The result is the same
 * string either way (tested); the integer path costs a seventh of Decimal's parse, add and format,
 * which were a third of a projection catch-up (bench/README.md).
 */
export function addYuan(a: string, b: string): string {
  if (WIRE_AMOUNT.test(a) && WIRE_AMOUNT.test(b)) return formatFen(toFen(a) + toFen(b))
  return formatYuan(new Yuan(a).plus(new Yuan(b)))
}

/** Subtracts two wire amounts (`"3.30"` - `"1.10"` → `"2.20"`); for folds over stored events.
 * Exact, by the same two paths as {@link addYuan}. */
export function subtractYuan(a: string, b: string): string {
  if (WIRE_AMOUNT.test(a) && WIRE_AMOUNT.test(b)) return formatFen(toFen(a) - toFen(b))
  return formatYuan(new Yuan(a).minus(new Yuan(b)))
}

/** `"-12.34"` → -1234n: the digits without the point (the caller checked WIRE_AMOUNT). */
function toFen(text: string): bigint {
  return BigInt(text.slice(0, -3) + text.slice(-2))
}

/** -1234n → `"-12.34"`, 5n → `"0.05"`, 0n → `"0.00"`: the wire form of an amount in fen. */
function formatFen(fen: bigint): string {
  const negative = fen < 0n
  const digits = (negative ? -fen : fen).toString().padStart(3, '0')
  return `${negative ? '-' : ''}${digits.slice(0, -2)}.${digits.slice(-2)}`
}
