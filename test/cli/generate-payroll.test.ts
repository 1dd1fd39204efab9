import t from 'tap'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  formatFen,
  generatePayrolls,
  main,
  PAYROLL_PERIODS,
  PAYROLL_REGIONS,
  payrollFileName,
  type PayrollSubmission,
} from '../../src/cli/generate-payroll.js'
import { isCitizenId, isUscc } from '../../src/domain/ids.js'

const WAGE = /^\d+\.\d{2}$/
/** Integer fen of a wage string, by string ops (no float). */
const fenOf = (wage: string): bigint => BigInt(wage.replace('.', ''))

const limits: Record<string, { floorFen: bigint; capFen: bigint }> = {
  '310000': { floorFen: 738_400n, capFen: 3_692_100n }, // POLICY-FACTS: Shanghai 7384 / 36921
  '110000': { floorFen: 682_100n, capFen: 3_528_300n }, // POLICY-FACTS: Beijing 6821 / 35283
}

const defaults = generatePayrolls({ seed: 20240701, workersPerRegion: 300 })

t.test('formatFen', async (t) => {
  t.equal(formatFen(850_000n), '8500.00')
  t.equal(formatFen(5n), '0.05')
  t.equal(formatFen(0n), '0.00')
  t.equal(formatFen(3_692_101n), '36921.01')
  t.throws(() => formatFen(-1n), RangeError)
})

t.test('shape: one submission per (region, period), request-body fields', async (t) => {
  t.equal(defaults.length, PAYROLL_REGIONS.length * PAYROLL_PERIODS.length)
  t.same(
    defaults.map((s) => `${s.region} ${s.period}`),
    ['310000 2024-07', '310000 2024-08', '110000 2024-07', '110000 2024-08'],
  )
  for (const s of defaults) {
    t.same(Object.keys(s), ['submissionId', 'employerId', 'region', 'period', 'workInjuryClass', 'lines'])
    t.equal(s.submissionId, `PAY-${s.region}-${s.period}-S20240701-W300`)
    t.ok(Number.isInteger(s.workInjuryClass) && s.workInjuryClass >= 1 && s.workInjuryClass <= 8)
    t.equal(s.lines.length, 300)
    t.equal(payrollFileName(s), `payroll-${s.region}-${s.period}.json`)
  }
})

t.test('same seed gives identical output, another seed differs', async (t) => {
  const again = generatePayrolls({ seed: 20240701, workersPerRegion: 300 })
  t.equal(JSON.stringify(again), JSON.stringify(defaults))
  const other = generatePayrolls({ seed: 42, workersPerRegion: 300 })
  t.not(JSON.stringify(other), JSON.stringify(defaults))
  t.not(other[0]!.lines[0]!.personId, defaults[0]!.lines[0]!.personId)
  t.not(other[0]!.employerId, defaults[0]!.employerId)
})

t.test('all ids valid, employer code carries the region', async (t) => {
  let badPersons = 0
  for (const s of defaults) {
    t.ok(isUscc(s.employerId), `${s.submissionId} employer USCC valid`)
    t.equal(s.employerId.slice(2, 8), s.region, 'division code = region')
    for (const line of s.lines) if (!isCitizenId(line.personId)) badPersons++
  }
  t.equal(badPersons, 0, 'every personId is a valid citizen id')
})

t.test('wages: two-place decimal strings, some below floor and some above cap', async (t) => {
  for (const s of defaults) {
    const bad = s.lines.filter((l) => !WAGE.test(l.wage))
    t.same(bad, [], `${s.submissionId}: every wage matches ${WAGE}`)
    const { floorFen, capFen } = limits[s.region]!
    const fens = s.lines.map((l) => fenOf(l.wage))
    const below = fens.filter((f) => f < floorFen).length
    const above = fens.filter((f) => f > capFen).length
    t.ok(below >= 1 && below <= 30, `${s.submissionId}: a handful below the floor (${below})`)
    t.ok(above >= 1 && above <= 30, `${s.submissionId}: a handful above the cap (${above})`)
    // Spread around the average: the median lies between floor and cap, near the average wage.
    const sorted = [...fens].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    const median = sorted[sorted.length >> 1]!
    t.ok(median > floorFen && median < capFen, `${s.submissionId}: median ${formatFen(median)}`)
  }
})

t.test('persons: none twice in a submission, same in both months, distinct across regions', async (t) => {
  const byRegion = new Map<string, PayrollSubmission[]>()
  for (const s of defaults) {
    const ids = s.lines.map((l) => l.personId)
    t.equal(new Set(ids).size, ids.length, `${s.submissionId}: no person twice`)
    byRegion.set(s.region, [...(byRegion.get(s.region) ?? []), s])
  }
  const regionPersons: Set<string>[] = []
  for (const [region, subs] of byRegion) {
    t.equal(subs.length, 2, `${region}: two months`)
    const [july, august] = subs as [PayrollSubmission, PayrollSubmission]
    t.same(
      august.lines.map((l) => l.personId),
      july.lines.map((l) => l.personId),
      `${region}: the same workers in 2024-07 and 2024-08`,
    )
    t.equal(august.employerId, july.employerId, `${region}: the same employer`)
    // Wages vary a little month to month, never wildly.
    let changed = 0
    july.lines.forEach((l, i) => {
      const a = fenOf(l.wage)
      const b = fenOf(august.lines[i]!.wage)
      if (a !== b) changed++
      // |b − a| ≤ 5% of a (integer arithmetic: 100 × |b − a| ≤ 5 × a).
      const diff = b > a ? b - a : a - b
      if (100n * diff > 5n * a) t.fail(`${region} line ${i}: ${l.wage} → ${august.lines[i]!.wage}`)
    })
    t.ok(changed > 0 && changed < july.lines.length, `${region}: some wages changed (${changed})`)
    regionPersons.push(new Set(july.lines.map((l) => l.personId)))
  }
  const [sh, bj] = regionPersons as [Set<string>, Set<string>]
  t.equal([...sh].filter((p) => bj.has(p)).length, 0, 'no person in both regions')
})

t.test('small workforce still has one below floor and one above cap', async (t) => {
  const small = generatePayrolls({ seed: 1, workersPerRegion: 2 })
  for (const s of small) {
    const { floorFen, capFen } = limits[s.region]!
    const fens = s.lines.map((l) => fenOf(l.wage))
    t.equal(fens.filter((f) => f < floorFen).length, 1, `${s.submissionId} below floor`)
    t.equal(fens.filter((f) => f > capFen).length, 1, `${s.submissionId} above cap`)
  }
})

t.test('options are validated', async (t) => {
  t.throws(() => generatePayrolls({ seed: -1, workersPerRegion: 10 }), RangeError)
  t.throws(() => generatePayrolls({ seed: 2 ** 32, workersPerRegion: 10 }), RangeError)
  t.throws(() => generatePayrolls({ seed: 1.5, workersPerRegion: 10 }), RangeError)
  t.throws(() => generatePayrolls({ seed: 1, workersPerRegion: 1 }), RangeError)
  t.throws(() => generatePayrolls({ seed: 1, workersPerRegion: 10_001 }), RangeError)
})

t.test('CLI writes one file per submission, byte-identical for the same seed', async (t) => {
  const dir1 = t.testdir()
  const dir2 = join(t.testdirName, 'again')
  const written: string[] = []
  const write = process.stdout.write.bind(process.stdout)
  // Capture the summary lines (one per file).
  process.stdout.write = ((chunk: string | Uint8Array) => {
    written.push(String(chunk))
    return true
  }) as typeof process.stdout.write
  try {
    await main(['node', 'generate-payroll', '--seed', '42', '--workers', '20', '--out', dir1])
    await main(['node', 'generate-payroll', '--seed', '42', '--workers', '20', '--out', dir2])
  } finally {
    process.stdout.write = write
  }
  const files = (await readdir(dir1)).filter((f) => f.endsWith('.json')).sort()
  t.same(files, [
    'payroll-110000-2024-07.json',
    'payroll-110000-2024-08.json',
    'payroll-310000-2024-07.json',
    'payroll-310000-2024-08.json',
  ])
  for (const f of files) {
    const a = await readFile(join(dir1, f), 'utf8')
    const b = await readFile(join(dir2, f), 'utf8')
    t.equal(a, b, `${f} byte-identical`)
    const body = JSON.parse(a) as PayrollSubmission
    t.equal(body.lines.length, 20)
    t.ok(a.endsWith('}\n'))
  }
  const expected = generatePayrolls({ seed: 42, workersPerRegion: 20 })
  const first = await readFile(join(dir1, payrollFileName(expected[0]!)), 'utf8')
  t.equal(first, JSON.stringify(expected[0], null, 2) + '\n', 'file = generatePayrolls output')
  t.equal(written.length, 8, 'one summary line per file')
  t.match(written[0]!, /payroll-310000-2024-07\.json: seed 42, PAY-310000-2024-07-S42-W20, 20 lines, total wages \d+\.\d{2}, 1 below floor, 1 above cap\n$/)
})

t.test('CLI refuses bad options with commander errors', async (t) => {
  const errors: string[] = []
  const write = process.stderr.write.bind(process.stderr)
  process.stderr.write = ((chunk: string | Uint8Array) => {
    errors.push(String(chunk))
    return true
  }) as typeof process.stderr.write
  try {
    await t.rejects(main(['node', 'generate-payroll', '--seed', 'x']), { code: 'commander.invalidArgument', exitCode: 1 })
    await t.rejects(main(['node', 'generate-payroll', '--seed', '4294967296']), { code: 'commander.invalidArgument', exitCode: 1 })
    await t.rejects(main(['node', 'generate-payroll', '--workers', '1']), { code: 'commander.invalidArgument', exitCode: 1 })
  } finally {
    process.stderr.write = write
  }
  t.match(errors.join(''), /--seed must be a whole number/)
  t.match(errors.join(''), /--seed must be between 0 and 4294967295/)
  t.match(errors.join(''), /--workers must be between 2 and 10000/)
})
