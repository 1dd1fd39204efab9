/**
 * formatYuan writes what Decimal#toFixed(2) writes (its fast path pads Decimal#toString), for any
 * amount with at most two places, and refuses more places; addYuan/subtractYuan are exact.
 */
import t from 'tap'
import fc from 'fast-check'
import { Yuan, addYuan, formatYuan, subtractYuan, yuan } from '../../src/domain/money.js'

/** Decimal strings with 0-2 places, built from digit strings (never from a JS number). */
const amountText = fc
  .tuple(fc.boolean(), fc.stringMatching(/^(0|[1-9]\d{0,24})$/), fc.constantFrom('', '.0', '.5', '.05', '.50', '.99', '.1', '.00'))
  .map(([negative, whole, fraction]) => `${negative ? '-' : ''}${whole}${fraction}`)

t.test('formatYuan equals Decimal#toFixed(2) for amounts with at most two places', async (t) => {
  const run = fc.check(
    fc.property(amountText, (text) => {
      const amount = new Yuan(text)
      return formatYuan(amount) === amount.toFixed(2)
    }),
    { numRuns: 5_000, seed: 20261130 },
  )
  t.equal(run.failed, false, `5,000 amounts agree${run.failed ? `; counterexample ${JSON.stringify(run.counterexample)}` : ''}`)
  t.equal(formatYuan(yuan('1234.5')), '1234.50')
  t.equal(formatYuan(yuan('7')), '7.00')
  t.equal(formatYuan(yuan('-0.01')), '-0.01')
  t.equal(formatYuan(new Yuan('-0')), '0.00', 'negative zero is written 0.00, as toFixed writes it')
  t.equal(formatYuan(yuan('100000000000000000000000.10')), '100000000000000000000000.10', '1e23: no exponent')
  t.throws(() => formatYuan(yuan('1.005')), RangeError, 'three places: round first')
})

t.test('addYuan and subtractYuan are exact on wire amounts', async (t) => {
  t.equal(addYuan('0.10', '0.20'), '0.30')
  t.equal(addYuan('99999999999999.99', '0.01'), '100000000000000.00')
  t.equal(subtractYuan('1.10', '1.10'), '0.00')
  t.equal(subtractYuan('1.00', '2.50'), '-1.50')
  t.equal(addYuan('-0.05', '0.05'), '0.00', 'zero has no sign')
  t.equal(subtractYuan('0.00', '0.07'), '-0.07')
  t.equal(addYuan('1.5', '0.25'), '1.75', 'an amount with one place takes the Decimal path')
  t.equal(addYuan('-000.10', '0.00'), '-0.10', 'leading zeros')
})

t.test('addYuan and subtractYuan give what Decimal gives', async (t) => {
  const wire = fc.tuple(fc.boolean(), fc.stringMatching(/^\d{1,20}$/), fc.stringMatching(/^\d\d$/)).map(([neg, whole, cents]) => `${neg ? '-' : ''}${whole}.${cents}`)
  const run = fc.check(
    fc.property(wire, wire, (a, b) =>
      addYuan(a, b) === new Yuan(a).plus(new Yuan(b)).toFixed(2) && subtractYuan(a, b) === new Yuan(a).minus(new Yuan(b)).toFixed(2)),
    { numRuns: 5_000, seed: 20261130 },
  )
  t.equal(run.failed, false, `5,000 pairs agree${run.failed ? `; counterexample ${JSON.stringify(run.counterexample)}` : ''}`)
  t.equal(run.numRuns, 5_000)
})
