/**
 * Seeded generator of example payroll submissions: the request bodies of
 * `POST /v1/contribution-submissions`, one per (region, period).
 *
 *   node dist/src/cli/generate-payroll.js --seed 42 --out examples --workers 300
 *
 * writes `payroll-{region}-{period}.json` for Shanghai (310000) and Beijing (110000), periods
 * 2024-07 and 2024-08, and prints one summary line per file. The same seed and worker count give
 * byte-identical files. The generation itself is {@link generatePayrolls} (no I/O); the CLI below
 * only parses options and writes files.
 *
 * Money rule: a wage is an integer number of fen (bigint) from the moment it is money, and becomes
 * a string by integer arithmetic ({@link formatFen}); no float ever carries an amount.
 */
import type { Decimal } from 'decimal.js'
import { loadPolicyBook } from '../policy-loader.js'
import { invokedDirectly } from './invoked-directly.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import { uniformBigInt } from 'pure-rand/distribution/uniformBigInt'
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64'
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus'
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator'
import { MAX_LINES_PER_SUBMISSION } from '../domain/contribution/submission.js'
import { generateCitizenId, generateUscc, randIntFrom, type RandInt } from '../domain/id-generators.js'

/** One line of a submission: a worker and the month's contribution wage (yuan, two places). */
export interface PayrollLine {
  personId: string
  wage: string
}

/** The request body of `POST /v1/contribution-submissions`. */
export interface PayrollSubmission {
  submissionId: string
  employerId: string
  region: string
  period: string
  workInjuryClass: number
  lines: PayrollLine[]
}

/** Options of {@link generatePayrolls}. */
export interface GeneratePayrollOptions {
  /** Seed of the PRNG, an integer in [0, 2^32 − 1] (xoroshiro128plus keeps 32 bits of it). */
  seed: number
  /** Workers per region, in [MIN_WORKERS_PER_REGION, MAX_WORKERS_PER_REGION]. */
  workersPerRegion: number
}

/** Smallest workforce: one worker below the floor and one above the cap need two workers. */
export const MIN_WORKERS_PER_REGION = 2
/**
 * Largest workforce per region: one submission carries every worker of a region, so this is the
 * API's limit, `MAX_LINES_PER_SUBMISSION`.
 */
export const MAX_WORKERS_PER_REGION = MAX_LINES_PER_SUBMISSION
/** Largest seed: pure-rand's xoroshiro128plus uses the seed's low 32 bits only. */
export const MAX_SEED = 0xffff_ffff

/** The periods generated, in order. Both lie in the 2024-07-01..2025-06-30 policy window. */
export const PAYROLL_PERIODS: readonly string[] = ['2024-07', '2024-08']

/**
 * What the generator needs to know of a region. Amounts in fen. Floor, cap and average are the
 * 2024-07-01..2025-06-30 figures of /work/shared/domain/POLICY-FACTS.md; the minimum wage is only
 * the lower end of the generated below-floor wages, not policy the ledger applies.
 */
export interface RegionProfile {
  code: string
  name: string
  averageWageFen: bigint
  floorFen: bigint
  capFen: bigint
  minimumWageFen: bigint
  workInjuryClass: number
  /** Address codes drawn for workers' citizen ids (local districts weighted 3:1 over others). */
  birthplacePrefixes: readonly string[]
}

const MIGRANT_PREFIXES = [
  '320102', // Nanjing, Xuanwu
  '340104', // Hefei, Shushan
  '410105', // Zhengzhou, Jinshui
  '510107', // Chengdu, Wuhou
  '130102', // Shijiazhuang, Chang'an
  '370102', // Jinan, Lixia
  '430102', // Changsha, Furong
  '420106', // Wuhan, Wuchang
]

const repeat3 = (codes: readonly string[]): string[] => [...codes, ...codes, ...codes]

/** Regions generated, in order. */
/** The base floor and cap in fen, from the shipped policy table's row for the examples' first
 * period, so the examples follow the table rather than a copy of it. */
function baseLimitsFen(region: string): { floorFen: bigint; capFen: bigint } {
  const policy = loadPolicyBook().find(region, '2024-07')
  if (!policy) throw new Error(`the shipped policy table has no row for ${region} in 2024-07`)
  const fen = (yuan: Decimal) => BigInt(yuan.times(100).toDecimalPlaces(0).toString())
  return { floorFen: fen(policy.floor), capFen: fen(policy.cap) }
}

export const PAYROLL_REGIONS: readonly RegionProfile[] = [
  {
    code: '310000',
    name: 'Shanghai',
    averageWageFen: 1_230_700n, // 12307.00
    ...baseLimitsFen('310000'),
    minimumWageFen: 269_000n, // 2690.00, monthly minimum wage from 2023-07-01
    workInjuryClass: 2,
    // Huangpu, Xuhui, Pudong New Area
    birthplacePrefixes: [...repeat3(['310101', '310104', '310115']), ...MIGRANT_PREFIXES],
  },
  {
    code: '110000',
    name: 'Beijing',
    averageWageFen: 1_176_100n, // 11761.00
    ...baseLimitsFen('110000'),
    minimumWageFen: 242_000n, // 2420.00, monthly minimum wage from 2023-09-01
    workInjuryClass: 1,
    // Dongcheng, Chaoyang, Haidian
    birthplacePrefixes: [...repeat3(['110101', '110105', '110108']), ...MIGRANT_PREFIXES],
  },
]

/** Birth dates of generated workers: aged 18 to 59 in July 2024. */
const BIRTH_FROM = '1965-01-01'
const BIRTH_TO = '2006-06-30'

/** Spread (σ of the log) of ordinary wages; their mean is the region's average wage. */
const LOG_SIGMA = 0.35

/**
 * Formats an amount of fen as a yuan string with exactly two places, by integer arithmetic:
 * `850000n` → `'8500.00'`, `5n` → `'0.05'`.
 *
 * @throws RangeError for a negative amount (wages are never negative).
 */
export function formatFen(fen: bigint): string {
  if (fen < 0n) throw new RangeError('formatFen: negative amount')
  return `${fen / 100n}.${String(fen % 100n).padStart(2, '0')}`
}

/** The file a submission is written to: `payroll-{region}-{period}.json`. */
export function payrollFileName(submission: Pick<PayrollSubmission, 'region' | 'period'>): string {
  return `payroll-${submission.region}-${submission.period}.json`
}

/** How a worker's wage relates to the region's base limits. */
type WageBand = 'below-floor' | 'ordinary' | 'above-cap'

interface Worker {
  personId: string
  band: WageBand
}

/**
 * Generates the example submissions: for each region of {@link PAYROLL_REGIONS} and each period
 * of {@link PAYROLL_PERIODS} (region-major order), one submission of `workersPerRegion` lines.
 *
 * - One employer per region (a valid USCC with the region code in characters 3-8), one workforce
 *   per region: the same person ids, in the same order, in every period; no person in two regions.
 * - Wages: ordinary workers draw a lognormal wage with mean = the region's average wage, kept
 *   inside [floor, cap]; max(1, round(n / 50)) workers earn below the floor (between the minimum
 *   wage and the floor) and as many above the cap (up to 2.5 × cap). Each later month an ordinary
 *   wage stays the same (60%) or moves by −3%..+5%, staying inside [floor, cap]; below-floor and
 *   above-cap wages are fixed pay and do not move.
 * - Determinism: one xoroshiro128plus stream per region (the seed's stream jumped 1 + index
 *   times), so a region's output does not depend on the other regions. The lognormal uses
 *   Math.log/cos/exp, which V8 computes with its own fdlibm port, so outputs are reproducible
 *   across machines on the same Node major version.
 *
 * @throws RangeError on a seed or worker count outside the documented ranges.
 */
export function generatePayrolls(options: GeneratePayrollOptions): PayrollSubmission[] {
  const { seed, workersPerRegion } = options
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > MAX_SEED) {
    throw new RangeError(`seed must be an integer in [0, ${MAX_SEED}], got ${seed}`)
  }
  if (
    !Number.isSafeInteger(workersPerRegion) ||
    workersPerRegion < MIN_WORKERS_PER_REGION ||
    workersPerRegion > MAX_WORKERS_PER_REGION
  ) {
    throw new RangeError(
      `workersPerRegion must be an integer in [${MIN_WORKERS_PER_REGION}, ${MAX_WORKERS_PER_REGION}], got ${workersPerRegion}`,
    )
  }

  const root = xoroshiro128plus(seed)
  const seen = new Set<string>()
  const submissions: PayrollSubmission[] = []
  PAYROLL_REGIONS.forEach((region, index) => {
    const rng = root.clone()
    for (let j = 0; j <= index; j++) rng.jump()
    const rand = randIntFrom(rng)

    const employerId = generateUscc(rand, { regionPrefix: region.code })
    const workers = generateWorkers(rand, region, workersPerRegion, seen)
    let wages = workers.map((w) => firstWage(rng, region, w.band))
    PAYROLL_PERIODS.forEach((period, p) => {
      if (p > 0) wages = wages.map((fen, i) => nextWage(rand, region, workers[i]!.band, fen))
      submissions.push({
        // Seed and size in the id: files of another seed or size never collide with these (409).
        submissionId: `PAY-${region.code}-${period}-S${seed}-W${workersPerRegion}`,
        employerId,
        region: region.code,
        period,
        workInjuryClass: region.workInjuryClass,
        lines: workers.map((w, i) => ({ personId: w.personId, wage: formatFen(wages[i]!) })),
      })
    })
  })
  return submissions
}

/** Distinct workers (also distinct from `seen`, which it extends) and their wage bands. */
function generateWorkers(
  rand: RandInt,
  region: RegionProfile,
  count: number,
  seen: Set<string>,
): Worker[] {
  const workers: Worker[] = []
  while (workers.length < count) {
    const prefixes = region.birthplacePrefixes
    const regionPrefix = prefixes[rand(0, prefixes.length - 1)]!
    const personId = generateCitizenId(rand, { regionPrefix, birthFrom: BIRTH_FROM, birthTo: BIRTH_TO })
    if (seen.has(personId)) continue
    seen.add(personId)
    workers.push({ personId, band: 'ordinary' })
  }
  // Pick the special workers by a partial Fisher-Yates shuffle of the indices.
  const special = Math.max(1, Math.round(count / 50))
  const order = workers.map((_, i) => i)
  for (let k = 0; k < 2 * special; k++) {
    const j = rand(k, count - 1)
    ;[order[k], order[j]] = [order[j]!, order[k]!]
    workers[order[k]!]!.band = k < special ? 'below-floor' : 'above-cap'
  }
  return workers
}

/** Parts per billion: the resolution of the lognormal multiplier once it is made an integer. */
const PPB = 1_000_000_000n

/** The first month's wage of a worker in `band`, in fen. */
function firstWage(rng: RandomGenerator, region: RegionProfile, band: WageBand): bigint {
  if (band === 'below-floor') return uniformBigInt(rng, region.minimumWageFen, region.floorFen - 1n)
  if (band === 'above-cap') return uniformBigInt(rng, region.capFen + 1n, (region.capFen * 5n) / 2n)
  // Lognormal with mean = average: average × exp(σZ − σ²/2), Z standard normal by Box-Muller.
  // The float is only a dimensionless multiplier: Math.round makes it an integer number of parts
  // per billion before it touches money, and the wage is then computed in integer fen (bigint,
  // rounded half up). Redraw until inside [floor, cap] (about 9 draws in 10 succeed at σ = 0.35).
  for (let attempt = 0; attempt < 1000; attempt++) {
    const u1 = 1 - uniformFloat64(rng) // (0, 1]: log is finite
    const u2 = uniformFloat64(rng)
    const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
    const multiplier = Math.exp(LOG_SIGMA * z - (LOG_SIGMA * LOG_SIGMA) / 2)
    const multiplierPpb = BigInt(Math.round(multiplier * 1e9))
    const fen = (region.averageWageFen * multiplierPpb + PPB / 2n) / PPB
    if (fen >= region.floorFen && fen <= region.capFen) return fen
  }
  return region.averageWageFen // not reached in practice
}

/** Next month's wage: fixed pay stays, an ordinary wage stays or moves by −3%..+5%. */
function nextWage(rand: RandInt, region: RegionProfile, band: WageBand, fen: bigint): bigint {
  if (band !== 'ordinary') return fen
  if (rand(1, 100) <= 60) return fen
  const basisPoints = BigInt(rand(-300, 500))
  const moved = fen + (fen * basisPoints) / 10_000n
  return moved < region.floorFen ? region.floorFen : moved > region.capFen ? region.capFen : moved
}

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

function parseIntegerOption(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number.`)
    const n = Number(value)
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be between ${min} and ${max}.`)
    }
    return n
  }
}

/**
 * Runs the CLI with `argv` (as `process.argv`): generates, writes the files, prints summaries.
 * Bad options (and `--help`) throw commander's `CommanderError` after commander has printed its
 * message, instead of exiting the process; the entry point turns that into the exit code.
 */
export async function main(argv: readonly string[] = process.argv): Promise<void> {
  const program = new Command()
    .exitOverride()
    .name('generate-payroll')
    .description('Write seeded example payroll submissions (POST /v1/contribution-submissions bodies).')
    .option('--seed <int>', 'PRNG seed', parseIntegerOption('--seed', 0, MAX_SEED), 20240701)
    .option('--out <dir>', 'output directory', 'examples')
    .option(
      '--workers <n>',
      'workers per region',
      parseIntegerOption('--workers', MIN_WORKERS_PER_REGION, MAX_WORKERS_PER_REGION),
      300,
    )
    .parse(argv as string[])
  const opts = program.opts<{ seed: number; out: string; workers: number }>()

  const submissions = generatePayrolls({ seed: opts.seed, workersPerRegion: opts.workers })
  await mkdir(opts.out, { recursive: true })
  for (const submission of submissions) {
    const file = join(opts.out, payrollFileName(submission))
    await writeFile(file, JSON.stringify(submission, null, 2) + '\n', 'utf8')
    process.stdout.write(summaryLine(file, submission, opts.seed) + '\n')
  }
}

/** One line describing a written file: lines, total wages, counts below floor and above cap. */
export function summaryLine(file: string, submission: PayrollSubmission, seed: number): string {
  const region = PAYROLL_REGIONS.find((r) => r.code === submission.region)
  let totalFen = 0n
  let below = 0
  let above = 0
  for (const line of submission.lines) {
    const fen = BigInt(line.wage.replace('.', ''))
    totalFen += fen
    if (region !== undefined && fen < region.floorFen) below++
    if (region !== undefined && fen > region.capFen) above++
  }
  return (
    `${file}: seed ${seed}, ${submission.submissionId}, ${submission.lines.length} lines, ` +
    `total wages ${formatFen(totalFen)}, ${below} below floor, ${above} above cap`
  )
}


if (invokedDirectly(import.meta.url)) {
  main().catch((err: unknown) => {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode // commander has already printed the message or the help
      return
    }
    process.stderr.write(`generate-payroll: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
