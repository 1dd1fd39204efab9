/**
 * The benchmark of issue #8: `npm run bench [-- options]` (see bench/README.md).
 *
 * Runs the phases in order (in-process posting, raw insert, raw scan, catch-up, replay, HTTP bulk,
 * HTTP single-line), each figure in the same run as its baseline; prints one table on standard
 * output (progress goes to standard error) and writes results.json. Exit status: 0 when every
 * selected phase ran (targets may still be missed: the table says by how much), 1 when a phase
 * failed, 2 for bad options.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'
import { MAX_LINES_PER_SUBMISSION } from '../src/domain/contribution/submission.js'
import { killAllChildren } from './child.js'
import { catchUp } from './phases/catch-up.js'
import { httpBulk } from './phases/http-bulk.js'
import { SINGLE_PERSONS_PER_EMPLOYER, httpSingle, singleBodiesNeeded } from './phases/http-single.js'
import { postInProcess } from './phases/inprocess.js'
import { PHASES, PhaseError, now, type BenchContext, type BenchOptions, type PhaseName, type PhaseOutcome } from './phases/phase.js'
import { rawInsert } from './phases/raw-insert.js'
import { rawScan } from './phases/raw-scan.js'
import { replay } from './phases/replay.js'
import { gitCommit, isoWithOffset, machineInfo, writeResults } from './results.js'
import { startService, type Service } from './service.js'
import { evaluateTargets, formatTable, tableRows } from './table.js'
import { createWorkload } from './workload.js'

/** Events of the log with `--large`. */
export const LARGE_EVENTS = 10_000_000
/** Seeds of the three workloads: the in-process log, HTTP bulk, HTTP single-line (other seeds, other persons). */
export const LOG_SEED = 1
export const HTTP_BULK_SEED = 2
export const HTTP_SINGLE_SEED = 3
/** Exit status of bad options. */
export const EXIT_USAGE = 2
/** Exit status when a phase failed. */
export const EXIT_PHASE_FAILED = 1

/** The folder holding package.json, found upwards from this module (works from bench/ and dist/bench/). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`package.json not found above ${fileURLToPath(import.meta.url)}`)
    dir = parent
  }
}

function positiveInt(flag: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError(`${flag} must be a positive whole number.`)
    const n = Number(value)
    if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${flag} must be between 1 and ${max}.`)
    return n
  }
}

function phaseList(value: string): PhaseName[] {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (names.length === 0) throw new InvalidArgumentError(`name at least one phase of ${PHASES.join(', ')}.`)
  for (const name of names) {
    if (!(PHASES as readonly string[]).includes(name)) throw new InvalidArgumentError(`unknown phase '${name}'; the phases are ${PHASES.join(', ')}.`)
  }
  return PHASES.filter((p) => names.includes(p))
}

/**
 * Events of the default log: sized so that the default run (post, copy, scan, catch up and replay
 * this log, plus the HTTP phases) finishes in under five minutes on the 2-core build machine at the
 * rates of bench/README.md. The 1M-event replay of issue #8 is `--events 1000000` (about 12 minutes
 * there), the 10M one `--large`.
 */
export const DEFAULT_EVENTS = 300_000
/** Bulk submissions posted over HTTP by default (of `--lines-per-submission` lines each). */
export const DEFAULT_HTTP_SUBMISSIONS = 50

/**
 * Parses and validates the command line.
 * @throws CommanderError (after commander has printed the message) for bad options or `--help`;
 *   its `exitCode` is {@link EXIT_USAGE} for bad options, 0 for help.
 */
export function parseOptions(argv: readonly string[], root: string): BenchOptions {
  const program = new Command()
    .name('bench')
    .description('Benchmark of issue #8: posting, catch-up, replay and HTTP against raw SQLite baselines; one table, results.json.')
    .exitOverride()
    .addOption(new Option('--events <n>', 'events of the in-process log (posting, raw insert, raw scan, catch-up, replay)').argParser(positiveInt('--events')).default(DEFAULT_EVENTS))
    .addOption(new Option('--large', `the 10M-event log (--events ${LARGE_EVENTS}), at which the replay's peak RSS is judged`).conflicts('events'))
    .option('--lines-per-submission <n>', 'lines of each bulk submission (in-process and HTTP)', positiveInt('--lines-per-submission', MAX_LINES_PER_SUBMISSION), 1_000)
    .option('--http-submissions <n>', 'bulk submissions posted over HTTP', positiveInt('--http-submissions'), DEFAULT_HTTP_SUBMISSIONS)
    .option('--http-connections <n>', 'concurrent connections of the HTTP bulk phase', positiveInt('--http-connections'), 4)
    .option('--single-rate <perSecond>', 'single-line submissions a second asked of the HTTP single phase', positiveInt('--single-rate'), 2_000)
    .option('--single-duration-s <s>', 'duration of the HTTP single phase, seconds', positiveInt('--single-duration-s'), 10)
    .option('--single-connections <n>', 'connections of the HTTP single phase', positiveInt('--single-connections'), 64)
    .option('--only <phases>', `comma-separated phases to run (${PHASES.join(', ')}); default all`, phaseList)
    .option('--tmp-dir <dir>', 'folder in which the run makes its temporary folder', os.tmpdir())
    .option('--keep', 'keep the temporary folder (its path is printed)', false)
    .option('--out <file>', 'where to write results.json', path.join(root, 'bench', 'results.json'))
    .parse(argv as string[])
  const o = program.opts<{
    events: number
    large?: boolean
    linesPerSubmission: number
    httpSubmissions: number
    httpConnections: number
    singleRate: number
    singleDurationS: number
    singleConnections: number
    only?: PhaseName[]
    tmpDir: string
    keep: boolean
    out: string
  }>()
  if (o.httpConnections > o.httpSubmissions) {
    program.error(`error: --http-connections (${o.httpConnections}) must not exceed --http-submissions (${o.httpSubmissions})`, { exitCode: EXIT_USAGE })
  }
  let tmpOk: boolean
  try {
    tmpOk = fs.statSync(o.tmpDir).isDirectory()
  } catch {
    tmpOk = false
  }
  if (!tmpOk) program.error(`error: --tmp-dir ${o.tmpDir} is not an existing folder`, { exitCode: EXIT_USAGE })
  return {
    events: o.large === true ? LARGE_EVENTS : o.events,
    large: o.large === true,
    linesPerSubmission: o.linesPerSubmission,
    httpSubmissions: o.httpSubmissions,
    httpConnections: o.httpConnections,
    singleRate: o.singleRate,
    singleDurationS: o.singleDurationS,
    singleConnections: o.singleConnections,
    only: o.only ?? [...PHASES],
    tmpDir: path.resolve(o.tmpDir),
    keep: o.keep,
    out: path.resolve(o.out),
  }
}

/** Runs `fn` as phase `name`: its figures, or its failure (message, and detail when it has one). */
async function runPhase<F extends object>(ctx: BenchContext, name: string, fn: () => Promise<F> | F): Promise<PhaseOutcome<F>> {
  ctx.progress(`${name}: start`)
  try {
    const figures = await fn()
    ctx.progress(`${name}: done`)
    return { status: 'ok', figures }
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err)
    const detail = err instanceof PhaseError ? err.detail : err instanceof Error ? err.stack : undefined
    ctx.progress(`${name}: FAILED: ${error}${detail ? `\n${detail}` : ''}`)
    return { status: 'failed', error, ...(detail !== undefined ? { detail } : {}) }
  }
}

/** A setup step's outcome as the phase it stood in for: "not run" when it worked, its failure otherwise. */
function asSetup<F>(outcome: PhaseOutcome<F>, reason: string): PhaseOutcome {
  return outcome.status === 'ok' ? { status: 'not run', reason, setup: true } : (outcome as PhaseOutcome)
}

/** Every selected phase, in order; outcomes by phase. */
async function runPhases(ctx: BenchContext): Promise<Partial<Record<PhaseName, PhaseOutcome>>> {
  const { options } = ctx
  const selected = new Set(options.only)
  const outcomes: Partial<Record<PhaseName, PhaseOutcome>> = {}
  for (const p of PHASES) if (!selected.has(p)) outcomes[p] = { status: 'not run', reason: 'not selected (--only)' }

  // 1-5: the in-process log and what reads it.
  const logPhases: PhaseName[] = ['inprocess', 'raw-insert', 'raw-scan', 'catch-up', 'replay']
  if (logPhases.some((p) => selected.has(p))) {
    const workload = createWorkload({ seed: LOG_SEED, events: options.events, linesPerSubmission: options.linesPerSubmission })
    const built = await runPhase(ctx, selected.has('inprocess') ? 'inprocess' : 'inprocess (untimed setup: the log)', () => postInProcess(ctx, workload))
    outcomes.inprocess = selected.has('inprocess') ? built : asSetup(built, 'not selected; the log was built as untimed setup for the selected phases')
    const head = built.status === 'ok' ? built.figures.events : undefined
    const noLog: PhaseOutcome = { status: 'not run', reason: 'no log: building it failed' }

    if (selected.has('raw-insert')) outcomes['raw-insert'] = head !== undefined ? await runPhase(ctx, 'raw-insert', () => rawInsert(ctx)) : noLog
    if (selected.has('raw-scan')) outcomes['raw-scan'] = head !== undefined ? await runPhase(ctx, 'raw-scan', () => rawScan(ctx)) : noLog

    // The replay compares with live read models at the log's head: without them it exits 1.
    let readModelsAtHead = false
    if (selected.has('catch-up') || selected.has('replay')) {
      if (head === undefined) {
        if (selected.has('catch-up')) outcomes['catch-up'] = noLog
      } else {
        const caught = await runPhase(ctx, selected.has('catch-up') ? 'catch-up' : 'catch-up (untimed setup: read models for the replay)', () => catchUp(ctx))
        outcomes['catch-up'] = selected.has('catch-up') ? caught : asSetup(caught, 'not selected; run as untimed setup: the replay compares with live read models')
        readModelsAtHead = caught.status === 'ok'
      }
    }
    if (selected.has('replay')) {
      outcomes.replay =
        head === undefined ? noLog : readModelsAtHead ? await runPhase(ctx, 'replay', () => replay(ctx, head)) : { status: 'not run', reason: 'no live read models: catch-up failed' }
    }
  }

  // 6-7: HTTP against one service.
  if (selected.has('http-bulk') || selected.has('http-single')) {
    const bulk = createWorkload({ seed: HTTP_BULK_SEED, events: options.httpSubmissions * (options.linesPerSubmission + 1), linesPerSubmission: options.linesPerSubmission })
    const singleBodies = singleBodiesNeeded(options.singleRate, options.singleDurationS, options.singleConnections)
    const single = createWorkload({
      seed: HTTP_SINGLE_SEED,
      events: singleBodies * 2,
      linesPerSubmission: 1,
      personsPerEmployer: SINGLE_PERSONS_PER_EMPLOYER,
      excludePersons: new Set(bulk.persons),
    })
    const employers = [...(selected.has('http-bulk') ? bulk.employers : []), ...(selected.has('http-single') ? single.employers : [])]
    let service: Service | undefined
    const started = await runPhase(ctx, 'service (setup)', async () => {
      service = await startService({ repoRoot: ctx.repoRoot, dir: ctx.dir, employers })
      return { baseUrl: service.baseUrl }
    })
    try {
      if (service === undefined) {
        const failed: PhaseOutcome = started.status === 'failed' ? { ...started, error: `the service did not start: ${started.error}` } : { status: 'not run', reason: 'no service' }
        if (selected.has('http-bulk')) outcomes['http-bulk'] = failed
        if (selected.has('http-single')) outcomes['http-single'] = failed
      } else {
        const svc = service
        if (selected.has('http-bulk')) outcomes['http-bulk'] = await runPhase(ctx, 'http-bulk', () => httpBulk(ctx, svc, bulk))
        if (selected.has('http-single')) outcomes['http-single'] = await runPhase(ctx, 'http-single', () => httpSingle(ctx, svc, single))
      }
    } finally {
      if (service !== undefined) {
        ctx.progress('service: stopping')
        await service.stop()
      }
    }
  }
  return outcomes
}

/** Entry: options, temporary folder, phases, table, results.json, clean-up. */
async function main(): Promise<number> {
  const root = repoRoot()
  let options: BenchOptions
  try {
    options = parseOptions(process.argv, root)
  } catch (err) {
    if (err instanceof CommanderError) return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? 0 : EXIT_USAGE
    throw err
  }
  for (const built of ['dist/src/server.js', 'dist/src/cli/ledger.js', 'dist/bench/peak-rss.js']) {
    if (!fs.existsSync(path.join(root, built))) {
      process.stderr.write(`bench: ${built} is missing; run npm run build first (npm run bench does)\n`)
      return EXIT_USAGE
    }
  }

  const startedAt = new Date()
  const origin = now()
  const dir = fs.mkdtempSync(path.join(options.tmpDir, 'ledger-bench-'))
  const ctx: BenchContext = {
    options,
    repoRoot: root,
    dir,
    logPath: path.join(dir, 'log.sqlite'),
    progress: (line) => process.stderr.write(`[bench ${((now() - origin) / 1000).toFixed(1).padStart(7)} s] ${line}\n`),
  }
  const cleanUp = (): void => {
    killAllChildren()
    if (options.keep) process.stderr.write(`bench: temporary files kept in ${dir}\n`)
    else fs.rmSync(dir, { recursive: true, force: true })
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`bench: ${signal}: stopping\n`)
    cleanUp()
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  ctx.progress(`options ${JSON.stringify(options)}; temporary folder ${dir}`)
  let outcomes: Partial<Record<PhaseName, PhaseOutcome>>
  try {
    outcomes = await runPhases(ctx)
  } finally {
    cleanUp()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  const ordered: Partial<Record<PhaseName, PhaseOutcome>> = {}
  for (const p of PHASES) if (outcomes[p] !== undefined) ordered[p] = outcomes[p]
  const targets = evaluateTargets(ordered)
  process.stdout.write(formatTable(tableRows(ordered, targets)) + '\n')
  writeResults(options.out, { startedAt: isoWithOffset(startedAt), commit: gitCommit(root), machine: machineInfo(), options, phases: ordered, targets })
  process.stderr.write(`bench: results written to ${options.out}\n`)
  return Object.values(ordered).some((o) => o.status === 'failed') ? EXIT_PHASE_FAILED : 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    killAllChildren()
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = EXIT_PHASE_FAILED
  },
)
