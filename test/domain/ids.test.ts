import t from 'tap'
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus'
import {
  citizenIdCheckChar,
  isCitizenId,
  isUscc,
  maskCitizenId,
  organizationCodeCheckChar,
  usccCheckChar,
  validateCitizenId,
  validateUscc,
} from '../../src/domain/ids.js'
import { generateCitizenId, generateUscc, randIntFrom } from '../../src/domain/id-generators.js'

/** The reason of a failed validation ('' when it passed), for t.match. */
const reasonOf = (r: { ok: true } | { ok: false; reason: string }): string => (r.ok ? '' : r.reason)

t.test('citizenIdCheckChar (GB 11643-1999, ISO 7064 MOD 11-2)', async (t) => {
  // The standard's sample 11010519491231002X, worked by hand:
  //   digit   1  1  0  1  0  5  1  9  4  9  1  2  3  1  0  0  2
  //   weight  7  9 10  5  8  4  2  1  6  3  7  9 10  5  8  4  2
  //   product 7  9  0  5  0 20  2  9 24 27  7 18 30  5  0  0  4
  //   S = 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167
  //   167 mod 11 = 2 (11 × 15 = 165); (12 − 2) mod 11 = 10 → 'X'
  t.equal(citizenIdCheckChar('11010519491231002'), 'X')

  // The standard's other sample 440524188001010014:
  //   digit   4  4  0  5  2  4  1  8  8  0  0  1  0  1  0  0  1
  //   weight  7  9 10  5  8  4  2  1  6  3  7  9 10  5  8  4  2
  //   product 28 36 0 25 16 16  2  8 48  0  0  9  0  5  0  0  2
  //   S = 28+36+25+16+16+2+8+48+9+5+2 = 195
  //   195 mod 11 = 8 (11 × 17 = 187); (12 − 8) mod 11 = 4 → '4'
  t.equal(citizenIdCheckChar('44052418800101001'), '4')

  // 10000000000000000 → S = 1 × 7 = 7 → (12 − 7) mod 11 = 5.
  t.equal(citizenIdCheckChar('10000000000000000'), '5')
  // S mod 11 = 1 gives check 0: a 1 in position 8 (weight 1) → S = 1 → (12 − 1) mod 11 = 0.
  t.equal(citizenIdCheckChar('00000001000000000'), '0')
  // 00000000000000000 → S = 0 → (12 − 0) mod 11 = 1.
  t.equal(citizenIdCheckChar('00000000000000000'), '1')
  // 00000000000000010 → S = 1 × 4 = 4 → (12 − 4) mod 11 = 8.
  t.equal(citizenIdCheckChar('00000000000000010'), '8')

  t.throws(() => citizenIdCheckChar('1101051949123100'), RangeError, '16 digits')
  t.throws(() => citizenIdCheckChar('1101051949123100A'), RangeError, 'a letter')
})

t.test('validateCitizenId accepts valid ids', async (t) => {
  t.same(validateCitizenId('11010519491231002X'), { ok: true }, 'GB 11643 sample, check X')
  t.same(validateCitizenId('440524188001010014'), { ok: true }, 'GB 11643 sample, born 1880')
  t.equal(isCitizenId('11010519491231002X'), true)
  // 2000-02-29 exists (divisible by 400): 31010120000229001 → check worked by the function.
  const leap = '31010120000229001'
  t.equal(isCitizenId(leap + citizenIdCheckChar(leap)), true, '29 February of a leap year')
})

t.test('validateCitizenId refuses invalid ids with a clear reason', async (t) => {
  t.same(validateCitizenId('110105194912310021'), {
    ok: false,
    reason: 'check character is 1, expected X',
  })
  t.same(validateCitizenId('440524188001010015'), {
    ok: false,
    reason: 'check character is 5, expected 4',
  })

  const lower = validateCitizenId('11010519491231002x')
  t.equal(lower.ok, false, 'lowercase x')
  t.match(reasonOf(lower), /uppercase/)

  // Feb 30: 19490230, otherwise well formed (the check char is made right so only the date fails).
  const feb30 = '11010519490230002'
  t.same(validateCitizenId(feb30 + citizenIdCheckChar(feb30)), {
    ok: false,
    reason: 'birth date 19490230 is not a calendar date',
  })
  const month13 = '11010519491331002'
  t.match(reasonOf(validateCitizenId(month13 + citizenIdCheckChar(month13))), /19491331 is not a calendar date/)
  // 1900 is not a leap year (divisible by 100, not by 400).
  const feb29of1900 = '11010519000229002'
  t.match(reasonOf(validateCitizenId(feb29of1900 + citizenIdCheckChar(feb29of1900))), /not a calendar date/)
  // A date outside 1800-01-01..2099-12-31.
  const year2100 = '11010521000101002'
  t.match(reasonOf(validateCitizenId(year2100 + citizenIdCheckChar(year2100))), /21000101 is outside/)
  const year1799 = '11010517991231002'
  t.match(reasonOf(validateCitizenId(year1799 + citizenIdCheckChar(year1799))), /17991231 is outside/)

  t.same(validateCitizenId('11010519491231002'), {
    ok: false,
    reason: 'a citizen id has 18 characters, got 17',
  })
  t.match(reasonOf(validateCitizenId('11010519491231002X1')), /18 characters, got 19/)
  t.match(reasonOf(validateCitizenId('')), /got 0/)
  t.match(reasonOf(validateCitizenId('A1010519491231002X')), /characters 1-6/)
  t.same(validateCitizenId('1101051949123100AX'), {
    ok: false,
    reason: 'characters 1-17 must be digits, character 17 is not',
  })
  t.match(reasonOf(validateCitizenId('11010519491231002Y')), /must be a digit or 'X'/)
  t.match(reasonOf(validateCitizenId('１１0105194912310021')), /characters 1-6/, 'full-width digits refused')
  t.equal(isCitizenId('11010519491231002x'), false)

  // A reason never repeats the whole id.
  for (const bad of ['110105194912310021', '11010519491231002x', '1101051949123100AX']) {
    t.notMatch(reasonOf(validateCitizenId(bad)), bad.slice(0, 17))
  }
})

t.test('maskCitizenId keeps the first 6 and last 4 characters', async (t) => {
  t.equal(maskCitizenId('11010519491231002X'), '110105********002X')
  t.equal(maskCitizenId('440524188001010014'), '440524********0014')
  t.equal(maskCitizenId('11010519491231002'), '110105*******1002', 'keeps the length of a bad id')
  t.equal(maskCitizenId('1234567890'), '**********', '10 chars or fewer: all masked')
  t.equal(maskCitizenId(''), '')
})

t.test('usccCheckChar (GB 32100-2015)', async (t) => {
  // The widely reprinted example 91350100M000100Y43, worked by hand
  // (values: digits as themselves, M = 21, Y = 30 in 0123456789ABCDEFGHJKLMNPQRTUWXY):
  //   char    9  1  3   5  0  1  0  0   M  0  0  0  1  0  0   Y   4
  //   value   9  1  3   5  0  1  0  0  21  0  0  0  1  0  0  30   4
  //   weight  1  3  9  27 19 26 16 17  20 29 25 13  8 24 10  30  28
  //   product 9  3 27 135  0 26  0  0 420  0  0  0  8  0  0 900 112
  //   S = 9+3+27+135+26+420+8+900+112 = 1640
  //   1640 mod 31 = 28 (31 × 52 = 1612); 31 − 28 = 3 → value 3 → '3'
  t.equal(usccCheckChar('91350100M000100Y4'), '3')

  // A published code of a Shenzhen (440300) enterprise, 914403001922038216:
  //   value   9  1  4   4  0  3  0  0   1   9  2  2  0  3  8  2  1
  //   weight  1  3  9  27 19 26 16 17  20  29 25 13  8 24 10 30 28
  //   product 9  3 36 108  0 78  0  0  20 261 50 26  0 72 80 60 28
  //   S = 831; 831 mod 31 = 25 (31 × 26 = 806); 31 − 25 = 6 → '6'
  t.equal(usccCheckChar('91440300192203821'), '6')

  // Σ mod 31 = 0 gives value 31 → 0 → '0': all zeros, S = 0.
  t.equal(usccCheckChar('00000000000000000'), '0')
  // A letter check: 10000000000000000 → S = 1 × 1 = 1 → 31 − 1 = 30 → 'Y'.
  t.equal(usccCheckChar('10000000000000000'), 'Y')
  // 01000000000000000 → S = 1 × 3 = 3 → 31 − 3 = 28 → 'W'
  // (A=10 B=11 C=12 D=13 E=14 F=15 G=16 H=17 J=18 K=19 L=20 M=21 N=22 P=23 Q=24 R=25 T=26 U=27 W=28).
  t.equal(usccCheckChar('01000000000000000'), 'W')

  t.throws(() => usccCheckChar('91350100M000100Y'), RangeError, '16 characters')
  t.throws(() => usccCheckChar('91350100I000100Y4'), RangeError, 'I is not in the charset')
})

t.test('validateUscc', async (t) => {
  t.same(validateUscc('91350100M000100Y43'), { ok: true })
  t.same(validateUscc('914403001922038216'), { ok: true })
  t.equal(isUscc('91350100M000100Y43'), true)

  t.same(validateUscc('91350100M000100Y44'), {
    ok: false,
    reason: 'check character is 4, expected 3',
  })
  t.same(validateUscc('914403001922038217'), {
    ok: false,
    reason: 'check character is 7, expected 6',
  })
  for (const excluded of ['I', 'O', 'Z', 'S', 'V']) {
    const code = '91350100' + excluded + '000100Y43'
    const r = validateUscc(code)
    t.equal(r.ok, false, `${excluded} refused`)
    t.match(reasonOf(r), new RegExp(`character 9 is '${excluded}', which GB 32100 excludes`))
  }
  t.match(reasonOf(validateUscc('91350100m000100Y43')), /lowercase 'm': use uppercase/)
  t.match(reasonOf(validateUscc('91350100-000100Y43')), /character 9 is not a digit or an allowed/)
  // Division code with a letter: 91A50100M000100Y4 + its (GB 32100-correct) check char.
  const letterInDivision = '91A50100M000100Y4'
  t.same(validateUscc(letterInDivision + usccCheckChar(letterInDivision)), {
    ok: false,
    reason: 'characters 3-8 (administrative division code) must be digits, got A50100',
  })
  t.match(reasonOf(validateUscc('91350100M000100Y4')), /18 characters, got 17/)
  t.match(reasonOf(validateUscc('91350100M000100Y433')), /got 19/)
  t.equal(isUscc('91350100M000100Y44'), false)
})

t.test('organizationCodeCheckChar (GB 11714-1997)', async (t) => {
  // 19220382 (inside 914403001922038216):
  //   digit   1  9  2  2  0  3  8  2
  //   weight  3  7  9 10  5  8  4  2
  //   product 3 63 18 20  0 24 32  4   S = 164; 164 mod 11 = 10; 11 − 10 = 1 → '1'
  t.equal(organizationCodeCheckChar('19220382'), '1')
  // M000100Y (inside 91350100M000100Y43), letters 'A' = 10 .. 'Z' = 35: M = 22, Y = 34:
  //   S = 22×3 + 1×5 + 34×2 = 66 + 5 + 68 = 139; 139 mod 11 = 7; 11 − 7 = 4 → '4'
  t.equal(organizationCodeCheckChar('M000100Y'), '4')
  // S mod 11 = 0 → 11 → '0': 00000000.
  t.equal(organizationCodeCheckChar('00000000'), '0')
  // S mod 11 = 1 → 10 → 'X': 40000000 → S = 4 × 3 = 12; 12 mod 11 = 1; 11 − 1 = 10 → 'X'.
  t.equal(organizationCodeCheckChar('40000000'), 'X')
  t.throws(() => organizationCodeCheckChar('1922038'), RangeError)
})

t.test('generated ids validate (property-style, seeded)', async (t) => {
  const rand = randIntFrom(xoroshiro128plus(20240701))
  const regionPrefixes = ['310115', '110108', '440300', '510107']
  let bad = 0
  const seenBirth = new Set<string>()
  for (let i = 0; i < 2000; i++) {
    const regionPrefix = regionPrefixes[i % regionPrefixes.length]!
    const id = generateCitizenId(rand, { regionPrefix, birthFrom: '1965-01-01', birthTo: '2006-06-30' })
    const birth = id.slice(6, 14)
    seenBirth.add(birth.slice(0, 4))
    if (!isCitizenId(id) || !id.startsWith(regionPrefix) || birth < '19650101' || birth > '20060630') {
      bad++
      t.fail(`generated citizen id ${maskCitizenId(id)}: ${reasonOf(validateCitizenId(id))}`)
    }
    const code = generateUscc(rand, { regionPrefix })
    if (!isUscc(code) || code.slice(2, 8) !== regionPrefix) {
      bad++
      t.fail(`generated USCC ${code}: ${reasonOf(validateUscc(code))}`)
    }
    if (organizationCodeCheckChar(code.slice(8, 16)) !== code.charAt(16)) {
      bad++
      t.fail(`generated USCC ${code}: organization code check`)
    }
  }
  t.equal(bad, 0, '2000 citizen ids and 2000 USCCs valid')
  t.ok(seenBirth.size > 30, 'birth years spread over the range')

  // Inclusive ends: a one-day range gives that day, including 29 February.
  const oneDay = generateCitizenId(rand, { regionPrefix: '310101', birthFrom: '2000-02-29', birthTo: '2000-02-29' })
  t.equal(oneDay.slice(6, 14), '20000229')
  t.ok(isCitizenId(oneDay))

  // The same seed gives the same ids.
  const a = randIntFrom(xoroshiro128plus(7))
  const b = randIntFrom(xoroshiro128plus(7))
  const opts = { regionPrefix: '110105', birthFrom: '1970-01-01', birthTo: '1999-12-31' }
  t.equal(generateCitizenId(a, opts), generateCitizenId(b, opts))
  t.equal(generateUscc(a, opts), generateUscc(b, opts))
})

t.test('generators refuse bad options', async (t) => {
  const rand = randIntFrom(xoroshiro128plus(1))
  const ok = { regionPrefix: '310115', birthFrom: '1970-01-01', birthTo: '1999-12-31' }
  t.throws(() => generateCitizenId(rand, { ...ok, regionPrefix: '31011' }), RangeError)
  t.throws(() => generateCitizenId(rand, { ...ok, birthFrom: '1970-02-30' }), /not a calendar date/)
  t.throws(() => generateCitizenId(rand, { ...ok, birthFrom: '19700101' }), /YYYY-MM-DD/)
  t.throws(() => generateCitizenId(rand, { ...ok, birthFrom: '2000-01-01' }), /after/)
  t.throws(() => generateCitizenId(rand, { ...ok, birthTo: '2100-01-01' }), /outside/)
  t.throws(() => generateUscc(rand, { regionPrefix: '3100AA' }), RangeError)
})

t.test('a scripted RandInt drives the generators exactly', async (t) => {
  // generateCitizenId draws the day (days since 1970-01-01) then the sequence.
  const script = [0, 1] // 1970-01-01, sequence 001
  const rand = (min: number, max: number): number => {
    const v = script.shift()!
    t.ok(v >= min && v <= max, `scripted value ${v} in [${min}, ${max}]`)
    return v
  }
  const id = generateCitizenId(rand, { regionPrefix: '310101', birthFrom: '1960-01-01', birthTo: '1980-12-31' })
  t.equal(id.slice(0, 17), '31010119700101001')
  t.equal(id, '31010119700101001' + citizenIdCheckChar('31010119700101001'))
})
