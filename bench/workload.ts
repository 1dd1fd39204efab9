/**
 * The benchmark's workload: a deterministic, seeded stream of payroll submissions for Shanghai
 * (`310000`), in the shape of the body of `POST /v1/contribution-submissions`.
 *
 * Only the persons and employers are held in memory (a few hundred thousand ids at `--large`); the
 * submissions are made one at a time by a generator, so a 10M-event log never sits in memory.
 *
 * Money rule: a wage is an integer number of fen, drawn as an integer and written as a yuan string
 * by integer arithmetic (bigint); no float ever carries an amount.
 */
import { uniformInt } from 'pure-rand/distribution/uniformInt'
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus'
import type { PayrollSubmission } from '../src/cli/generate-payroll.js'
import { MAX_LINES_PER_SUBMISSION } from '../src/domain/contribution/submission.js'
import { generateCitizenId, generateUscc, randIntFrom } from '../src/domain/id-generators.js'
import { loadPolicyBook } from '../src/policy-loader.js'

/** The pooling region of every submission (Shanghai). */
export const WORKLOAD_REGION = '310000'
/** First and last month looked at for periods with a policy (36 months with the shipped table). */
export const FIRST_PERIOD = '2023-07'
export const LAST_PERIOD = '2026-06'
/** Birth dates of generated persons, both included. */
export const BIRTH_FROM = '1970-01-01'
export const BIRTH_TO = '2000-12-31'
/** Monthly wages are drawn uniformly from this range of fen, both ends included (3,000.00 to 50,000.00 yuan). */
export const WAGE_MIN_FEN = 300_000
export const WAGE_MAX_FEN = 5_000_000
/** Work-injury risk class of every submission. */
export const WORK_INJURY_CLASS = 1
/** Largest seed: xoroshiro128plus keeps the seed's low 32 bits. */
export const MAX_SEED = 0xffff_ffff
/** Redraws allowed per person or employer id before giving up (ids collide rarely; this bounds the loop). */
const MAX_ID_DRAWS = 1_000

/** Options of {@link createWorkload}. */
export interface WorkloadOptions {
  /** PRNG seed, an integer in [0, {@link MAX_SEED}]. Another seed gives other persons, employers and wages. */
  seed: number
  /**
   * Number of events to make: each submission is its lines plus one marker event. The last
   * submission (or two) is cut short so that the total is exactly `events` (with one-line
   * submissions and an odd `events`, one more). A positive integer.
   */
  events: number
  /** Lines per submission, in [1, MAX_LINES_PER_SUBMISSION]. */
  linesPerSubmission: number
  /**
   * Persons of one employer (a multiple of `linesPerSubmission`; default `linesPerSubmission`):
   * an employer posts `personsPerEmployer / linesPerSubmission` submissions a month. Lets a
   * workload of one-line submissions keep the number of employers (and so the API key's scope) small.
   */
  personsPerEmployer?: number
  /** Person ids never to use (e.g. another workload's, so that both can go to the same log). */
  excludePersons?: ReadonlySet<string>
  /** Periods (`YYYY-MM`, ascending) to post for; default {@link policyPeriods}(). */
  periods?: readonly string[]
}

/** A workload: its persons and employers, its size, and a generator of its submissions. */
export interface Workload {
  readonly seed: number
  readonly region: string
  /** The periods posted for, in order (`YYYY-MM`). */
  readonly periods: readonly string[]
  /** Every person id (18-character citizen ids), in the order they are posted within a period. */
  readonly persons: readonly string[]
  /** Every employer id (USCC); employer `k` has persons `k·personsPerEmployer …`. */
  readonly employers: readonly string[]
  readonly linesPerSubmission: number
  /** Number of submissions {@link Workload.submissions} yields. */
  readonly submissionCount: number
  /** Number of lines over all submissions. */
  readonly lineCount: number
  /** `lineCount + submissionCount`: the events the submissions append. */
  readonly eventCount: number
  /**
   * The submissions, lazily, period-major: for each period, for each employer, its persons in
   * blocks of `linesPerSubmission`. `submissionId` is `B-{seed}-{period}-{employerIndex}` (with
   * `-{block}` appended when an employer posts more than one submission a month). Every call
   * starts again from the beginning and yields the same sequence (same wages).
   */
  submissions(): Generator<PayrollSubmission>
}

/**
 * The months in [{@link FIRST_PERIOD}, {@link LAST_PERIOD}] for which the shipped policy table has
 * a policy for `region` (36 for Shanghai with the shipped table).
 * @throws Error when there is none.
 */
export function policyPeriods(region: string = WORKLOAD_REGION): string[] {
  const book = loadPolicyBook()
  const periods: string[] = []
  for (let period = FIRST_PERIOD; period <= LAST_PERIOD; period = nextPeriod(period)) {
    if (book.find(region, period) !== undefined) periods.push(period)
  }
  if (periods.length === 0) throw new Error(`the shipped policy table has no policy for ${region} in ${FIRST_PERIOD}..${LAST_PERIOD}`)
  return periods
}

/**
 * Builds a workload: draws its persons and employers now (persons = submissions a period ×
 * linesPerSubmission, where submissions a period = ⌈⌈events / (linesPerSubmission + 1)⌉ / periods⌉;
 * employers = ⌈persons / personsPerEmployer⌉); wages are drawn as the submissions are generated.
 * @throws RangeError for options outside their documented ranges.
 */
export function createWorkload(options: WorkloadOptions): Workload {
  const { seed, events, linesPerSubmission } = options
  const personsPerEmployer = options.personsPerEmployer ?? linesPerSubmission
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > MAX_SEED) throw new RangeError(`seed must be an integer in [0, ${MAX_SEED}], got ${seed}`)
  if (!Number.isSafeInteger(events) || events < 1) throw new RangeError(`events must be a positive integer, got ${events}`)
  if (!Number.isSafeInteger(linesPerSubmission) || linesPerSubmission < 1 || linesPerSubmission > MAX_LINES_PER_SUBMISSION) {
    throw new RangeError(`linesPerSubmission must be an integer in [1, ${MAX_LINES_PER_SUBMISSION}], got ${linesPerSubmission}`)
  }
  if (!Number.isSafeInteger(personsPerEmployer) || personsPerEmployer < 1 || personsPerEmployer % linesPerSubmission !== 0) {
    throw new RangeError(`personsPerEmployer must be a positive multiple of linesPerSubmission (${linesPerSubmission}), got ${personsPerEmployer}`)
  }
  const periods = options.periods ?? policyPeriods(WORKLOAD_REGION)
  const submissionsNeeded = Math.ceil(events / (linesPerSubmission + 1))
  const submissionsPerPeriod = Math.ceil(submissionsNeeded / periods.length)
  const personCount = submissionsPerPeriod * linesPerSubmission
  const employerCount = Math.ceil(personCount / personsPerEmployer)

  // Stream 0 (the seed's own): persons, then employers. Stream 1 (jumped once): wages.
  const idRng = xoroshiro128plus(seed)
  const wageRoot = idRng.clone()
  wageRoot.jump()
  const rand = randIntFrom(idRng)
  const persons = drawDistinct(personCount, options.excludePersons, () =>
    generateCitizenId(rand, { regionPrefix: WORKLOAD_REGION, birthFrom: BIRTH_FROM, birthTo: BIRTH_TO }),
  )
  const employers = drawDistinct(employerCount, undefined, () => generateUscc(rand, { regionPrefix: WORKLOAD_REGION }))

  // The plan: how many lines each submission gets, in order (only its length is kept).
  const plan = planSubmissions(events, linesPerSubmission, submissionsPerPeriod * periods.length)
  const blocksPerEmployer = personsPerEmployer / linesPerSubmission

  return {
    seed,
    region: WORKLOAD_REGION,
    periods,
    persons,
    employers,
    linesPerSubmission,
    submissionCount: plan.submissions,
    lineCount: plan.lines,
    eventCount: plan.lines + plan.submissions,
    *submissions() {
      const wageRng = wageRoot.clone()
      let made = 0
      for (const period of periods) {
        for (let block = 0; block < submissionsPerPeriod; block++) {
          if (made === plan.submissions) return
          const size = plan.linesOf(made)
          const first = block * linesPerSubmission
          const employerIndex = Math.floor(first / personsPerEmployer)
          const blockOfEmployer = block % blocksPerEmployer
          const lines = []
          for (let i = first; i < first + size; i++) {
            lines.push({ personId: persons[i]!, wage: formatFen(BigInt(uniformInt(wageRng, WAGE_MIN_FEN, WAGE_MAX_FEN))) })
          }
          yield {
            submissionId: `B-${seed}-${period}-${employerIndex}` + (blocksPerEmployer > 1 ? `-${blockOfEmployer}` : ''),
            employerId: employers[employerIndex]!,
            region: WORKLOAD_REGION,
            period,
            workInjuryClass: WORK_INJURY_CLASS,
            lines,
          }
          made++
        }
      }
    },
  }
}

/**
 * Formats an amount of fen as yuan with exactly two places, by integer arithmetic:
 * `452307n` → `'4523.07'`.
 * @throws RangeError for a negative amount.
 */
export function formatFen(fen: bigint): string {
  if (fen < 0n) throw new RangeError('formatFen: negative amount')
  return `${fen / 100n}.${String(fen % 100n).padStart(2, '0')}`
}

/** The month after `period` (`YYYY-MM`). */
function nextPeriod(period: string): string {
  const year = Number(period.slice(0, 4))
  const month = Number(period.slice(5, 7))
  return month === 12 ? `${year + 1}-01` : `${year}-${String(month + 1).padStart(2, '0')}`
}

/** `count` distinct values of `draw()`, none of them in `exclude`. */
function drawDistinct(count: number, exclude: ReadonlySet<string> | undefined, draw: () => string): string[] {
  const seen = new Set<string>()
  const out: string[] = []
  while (out.length < count) {
    let value: string | undefined
    for (let attempt = 0; attempt < MAX_ID_DRAWS && value === undefined; attempt++) {
      const candidate = draw()
      if (!seen.has(candidate) && exclude?.has(candidate) !== true) value = candidate
    }
    if (value === undefined) throw new Error(`could not draw a new id after ${MAX_ID_DRAWS} attempts (${out.length} of ${count} drawn)`)
    seen.add(value)
    out.push(value)
  }
  return out
}

/**
 * Number of submissions and lines for `events` events, and the lines of submission `i`: full
 * submissions, the last cut short. A remainder of one event cannot be a submission of its own (it
 * needs a line and a marker): the submission before gives it a line, so the total stays exact
 * (with one-line submissions that is impossible, and there is one event more).
 */
function planSubmissions(events: number, linesPerSubmission: number, maxSubmissions: number): { submissions: number; lines: number; linesOf(i: number): number } {
  const full = Math.floor(events / (linesPerSubmission + 1))
  const rest = events - full * (linesPerSubmission + 1)
  let tail: number[] // lines of the last submissions (replacing full ones at the end)
  let fullKept = full
  if (rest === 0) tail = []
  else if (rest >= 2) tail = [rest - 1]
  else if (full >= 1 && linesPerSubmission >= 2) {
    fullKept = full - 1
    tail = [linesPerSubmission - 1, 1] // (n - 1 + 1) + (1 + 1) = n + 2 = (n + 1) + rest
  } else tail = [1]
  const submissions = fullKept + tail.length
  if (submissions > maxSubmissions) throw new Error(`internal: ${submissions} submissions planned, room for ${maxSubmissions}`)
  const lines = fullKept * linesPerSubmission + tail.reduce((a, b) => a + b, 0)
  return { submissions, lines, linesOf: (i) => (i < fullKept ? linesPerSubmission : tail[i - fullKept]!) }
}
