import t from 'tap'
import { computeContribution, contributionBase } from '../../src/domain/contribution/calculate.js'
import { yuan, formatYuan } from '../../src/domain/money.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import type { SchemeAmounts } from '../../src/domain/contribution/calculate.js'

// Every expected amount below is worked out by hand from RULES.md §1-2 and the shipped table:
// base = wage clamped to [floor, cap]; amount = base × rate, rounded half-up to 0.01.
const book = loadPolicyBook()
const shanghai = book.find('310000', '2024-07')!
const beijing = book.find('110000', '2024-07')!

/** scheme → [employer, employee, individualAccount, pool] as strings. */
function table(amounts: SchemeAmounts[]): Record<string, string[]> {
  return Object.fromEntries(
    amounts.map((a) => [a.scheme, [a.employer, a.employee, a.individualAccount, a.pool].map(formatYuan)]),
  )
}

t.test('the policies used are the shipped 2024-07 windows', async (t) => {
  t.equal(shanghai.id, '310000/2024-07/v1')
  t.equal(formatYuan(shanghai.floor), '7384.00')
  t.equal(formatYuan(shanghai.cap), '36921.00')
  t.equal(beijing.id, '110000/2024-07/v1')
})

t.test('contribution base is the wage clamped to [floor, cap]', async (t) => {
  t.equal(formatYuan(contributionBase(yuan('5000.00'), shanghai)), '7384.00', 'below floor → floor')
  t.equal(formatYuan(contributionBase(yuan('7383.99'), shanghai)), '7384.00', 'one fen below floor → floor')
  t.equal(formatYuan(contributionBase(yuan('7384.00'), shanghai)), '7384.00', 'at floor')
  t.equal(formatYuan(contributionBase(yuan('8500.00'), shanghai)), '8500.00', 'within')
  t.equal(formatYuan(contributionBase(yuan('36921.00'), shanghai)), '36921.00', 'at cap')
  t.equal(formatYuan(contributionBase(yuan('36921.01'), shanghai)), '36921.00', 'one fen above cap → cap')
  t.equal(formatYuan(contributionBase(yuan('50000.00'), shanghai)), '36921.00', 'above cap → cap')
})

t.test('Shanghai, wage within the limits (8500.00), work-injury class I', async (t) => {
  // pension 8500×16% = 1360.00, ×8% = 680.00 → individual account 680.00
  // medical 8500×9% = 765.00, ×2% = 170.00 → individual account 170.00
  // unemployment 8500×0.5% = 42.50 each, all to the pool
  // work injury 8500×0.2% = 17.00, employer only
  t.same(table(computeContribution(shanghai, yuan('8500.00'), 1)), {
    pension: ['1360.00', '680.00', '680.00', '1360.00'],
    medical: ['765.00', '170.00', '170.00', '765.00'],
    unemployment: ['42.50', '42.50', '0.00', '85.00'],
    work_injury: ['17.00', '0.00', '0.00', '17.00'],
  })
})

t.test('Shanghai, wage below the floor (5000.00) is charged on the floor 7384.00', async (t) => {
  // 7384×16% = 1181.44; ×8% = 590.72; ×9% = 664.56; ×2% = 147.68; ×0.5% = 36.92;
  // work injury class I: 7384×0.2% = 14.768 → 14.77
  t.same(table(computeContribution(shanghai, yuan('5000.00'), 1)), {
    pension: ['1181.44', '590.72', '590.72', '1181.44'],
    medical: ['664.56', '147.68', '147.68', '664.56'],
    unemployment: ['36.92', '36.92', '0.00', '73.84'],
    work_injury: ['14.77', '0.00', '0.00', '14.77'],
  })
})

t.test('Shanghai, wage above the cap (50000.00) is charged on the cap 36921.00, class VIII', async (t) => {
  // 36921×16% = 5907.36; ×8% = 2953.68; ×9% = 3322.89; ×2% = 738.42;
  // ×0.5% = 184.605 → 184.61 (a tie: half-up goes away from zero);
  // work injury class VIII 1.9%: 36921×0.019 = 701.499 → 701.50
  t.same(table(computeContribution(shanghai, yuan('50000.00'), 8)), {
    pension: ['5907.36', '2953.68', '2953.68', '5907.36'],
    medical: ['3322.89', '738.42', '738.42', '3322.89'],
    unemployment: ['184.61', '184.61', '0.00', '369.22'],
    work_injury: ['701.50', '0.00', '0.00', '701.50'],
  })
})

t.test('Shanghai, wage 8333.33, class VIII: each amount rounded on its own', async (t) => {
  // pension 8333.33×0.16 = 1333.3328 → 1333.33; ×0.08 = 666.6664 → 666.67
  // medical ×0.09 = 749.9997 → 750.00; ×0.02 = 166.6666 → 166.67
  // unemployment ×0.005 = 41.66665 → 41.67
  // work injury ×0.019 = 158.33327 → 158.33
  t.same(table(computeContribution(shanghai, yuan('8333.33'), 8)), {
    pension: ['1333.33', '666.67', '666.67', '1333.33'],
    medical: ['750.00', '166.67', '166.67', '750.00'],
    unemployment: ['41.67', '41.67', '0.00', '83.34'],
    work_injury: ['158.33', '0.00', '0.00', '158.33'],
  })
})

t.test('half-up, not half-even: 8333.00 × 0.5% = 41.665 → 41.67', async (t) => {
  const u = computeContribution(shanghai, yuan('8333.00'), 1).find((a) => a.scheme === 'unemployment')!
  t.equal(formatYuan(u.employer), '41.67')
  t.equal(formatYuan(u.employee), '41.67')
})

t.test('work-injury benchmark rates by class I..VIII (Ren She Bu Fa [2015] No.71)', async (t) => {
  // base 10000.00 × 0.2, 0.4, 0.7, 0.9, 1.1, 1.3, 1.6, 1.9 %
  const expected = ['20.00', '40.00', '70.00', '90.00', '110.00', '130.00', '160.00', '190.00']
  for (let c = 1 as 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8; c <= 8; c++) {
    const wi = computeContribution(shanghai, yuan('10000.00'), c).find((a) => a.scheme === 'work_injury')!
    t.equal(formatYuan(wi.employer), expected[c - 1], `class ${c}`)
    t.equal(formatYuan(wi.employee), '0.00', `class ${c} has no employee part`)
  }
})

t.test('Beijing 2024-07, wage 10000.00: medical 9.8% / 2%', async (t) => {
  // pension 1600.00 / 800.00; medical 10000×9.8% = 980.00, ×2% = 200.00;
  // unemployment 50.00 / 50.00; work injury class I 20.00
  t.same(table(computeContribution(beijing, yuan('10000.00'), 1)), {
    pension: ['1600.00', '800.00', '800.00', '1600.00'],
    medical: ['980.00', '200.00', '200.00', '980.00'],
    unemployment: ['50.00', '50.00', '0.00', '100.00'],
    work_injury: ['20.00', '0.00', '0.00', '20.00'],
  })
})

t.test('Beijing 2024-06 uses the 2023-07 window (floor 6326): wage 6000.00 → base 6326.00', async (t) => {
  const p = book.find('110000', '2024-06')!
  t.equal(p.id, '110000/2023-07/v1')
  // 6326×16% = 1012.16, ×8% = 506.08
  const pension = computeContribution(p, yuan('6000.00'), 1).find((a) => a.scheme === 'pension')!
  t.equal(formatYuan(pension.base), '6326.00')
  t.equal(formatYuan(pension.employer), '1012.16')
  t.equal(formatYuan(pension.employee), '506.08')
})
