/**
 * What every phase shares: the phase names in run order, the options they read, the context of one
 * run (temporary folder, repository root), and the outcome a phase reports.
 */
import { performance } from 'node:perf_hooks'

/** The phases, in the order they run. */
export const PHASES = ['inprocess', 'raw-insert', 'raw-scan', 'catch-up', 'replay', 'http-bulk', 'http-single'] as const
export type PhaseName = (typeof PHASES)[number]

/** The command line's options, validated (counts are positive integers). */
export interface BenchOptions {
  /** Events of the log posted in-process (and scanned, caught up, replayed). */
  events: number
  /** Whether `--large` was given (it sets `events` to 10,000,000). */
  large: boolean
  /** Lines of each bulk submission (in-process and HTTP bulk); transactions of the raw insert are this + 1 rows. */
  linesPerSubmission: number
  /** Bulk submissions posted over HTTP. */
  httpSubmissions: number
  /** Concurrent connections of the HTTP bulk phase. */
  httpConnections: number
  /** Requests a second asked of the single-line HTTP phase (over all connections). */
  singleRate: number
  /** Duration of the single-line HTTP phase, seconds. */
  singleDurationS: number
  /** Connections of the single-line HTTP phase. */
  singleConnections: number
  /** Phases to run (the others show as "not run"). */
  only: PhaseName[]
  /** Folder in which the run's temporary folder is made. */
  tmpDir: string
  /** Keep the temporary folder (its path is printed). */
  keep: boolean
  /** Where results.json is written. */
  out: string
}

/** One run: its options, where it works, and how it reports progress. */
export interface BenchContext {
  options: BenchOptions
  /** The repository root (the folder holding package.json). */
  repoRoot: string
  /** The run's own temporary folder (removed at the end unless `--keep`). */
  dir: string
  /** The SQLite file of the in-process log (built by `inprocess`, read by the next four phases). */
  logPath: string
  /** Writes one progress line to standard error. */
  progress(line: string): void
}

/**
 * What a phase reports: its figures; or that it failed (with a message and, when there is one, the
 * tail of a child's output or the first problem body); or that it did not run (and why).
 */
export type PhaseOutcome<F = PhaseFigures> =
  | { status: 'ok'; figures: F; note?: string }
  | { status: 'failed'; error: string; detail?: string }
  | { status: 'not run'; reason: string; /** It ran, untimed, as setup of a selected phase. */ setup?: true }

/** Figures of a phase: an object of numbers (and bigint positions) named with their units
 * (`seconds`, `eventsPerSecond`, `p99Ms`, …). */
export type PhaseFigures = object

/** A failure worth reporting as it is (its message says what went wrong; `detail` adds evidence). */
export class PhaseError extends Error {
  override readonly name = 'PhaseError'
  constructor(
    message: string,
    readonly detail?: string,
  ) {
    super(message)
  }
}

/** Milliseconds since an arbitrary origin, for intervals (monotonic). */
export const now = (): number => performance.now()

/** `count / seconds`, or 0 for a zero-length interval. */
export function perSecond(count: number | bigint, seconds: number): number {
  return seconds > 0 ? Number(count) / seconds : 0
}

/** Interval between two progress lines of a long phase, milliseconds. */
export const PROGRESS_INTERVAL_MS = 10_000
