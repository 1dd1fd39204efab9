/**
 * `ledger audit replay [--until <ISO instant> | --until-position <p>] [--out report.json] [--tmp-dir <dir>] [--max-lag-events <n>]`
 * (issue #6): the log folded again by the projections into temporary read models, every event read
 * as postings into a trial balance, and the result compared with the live read models (the SQLite
 * file at LEDGER_SQLITE_PATH, checkpoint `main`) at the same position. See src/audit/replay.ts for
 * the engine and {@link AuditReport} for the report, written as JSON to `--out` (else standard
 * output); a one-line summary goes to standard error, with a progress bar there when it is a
 * terminal. The replayed read models are a temporary copy of the read models (as large as the live
 * ones) in a folder under `--tmp-dir` (default the OS's temporary folder), deleted at the end.
 * `--out`'s folder and `--tmp-dir` are checked (they exist and can be written) before the replay
 * starts. `--until` is read as the HTTP `asOf` is (src/audit/instant.ts).
 *
 * Exit status: 0 when the trial balance is balanced, the pools and the persons' individual accounts
 * agree with their postings and no document differs (and, without a cut, the comparison could be
 * made); 1 otherwise or when the replay fails; 2 for a bad configuration (including a
 * LEDGER_SQLITE_PATH with no ledger file on the embedded store) or an `--out` or `--tmp-dir` that
 * cannot be written; 3 ({@link EXIT_LIVE_BEHIND}) when all that is sound but the live read models are
 * behind the log's head by more than `--max-lag-events` (default LEDGER_READY_MAX_LAG_EVENTS): the
 * live projection is stuck or slow, and the comparison covered only what it had applied.
 */
import { accessSync, constants, existsSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, resolve } from 'node:path'
import { InvalidArgumentError, Option, type Command } from 'commander'
import cliProgress from 'cli-progress'
import { EXIT_BAD_CONFIG, configOrReport, openStore, type CliContext } from './context.js'
import { auditReplay, type AuditReport, type ReplayProgress } from '../audit/replay.js'
import { parseInstant } from '../audit/instant.js'
import { ReadModelStore } from '../projector/read-model-store.js'
import { ConfigError } from '../config.js'

/** Registers ledger audit replay (issue #6): the log folded by the projections, the trial balance, the differences against the live read models. */
export function registerAuditReplay(group: Command, ctx: CliContext): void {
  group
    .command('replay')
    .description('Replay the log through the projections into temporary read models; trial balance; compare with the live read models.')
    .addOption(
      new Option('--until <instant>', 'stop before the first event recorded after this ISO 8601 instant, with seconds and Z or ±HH:MM (as the HTTP asOf)').argParser(instantOption).conflicts('untilPosition'),
    )
    .addOption(new Option('--until-position <p>', 'stop after this log position (a decimal integer)').argParser(positionOption))
    .option('--out <file>', 'write the JSON report to this file (default: standard output); its folder is checked before the replay starts')
    .option(
      '--tmp-dir <dir>',
      'folder for the replay\'s temporary files: they hold a COPY OF THE READ MODELS (as large as the live ones), deleted at the end',
      tmpdir(),
    )
    .addOption(
      new Option('--max-lag-events <n>', 'most events the live read models may be behind the log\'s head (default LEDGER_READY_MAX_LAG_EVENTS); beyond: exit 3').argParser(
        lagOption,
      ),
    )
    .action(async (opts: AuditReplayOpts) => {
      await runAuditReplay(opts, ctx)
    })
}

interface AuditReplayOpts {
  until?: string
  untilPosition?: string
  out?: string
  tmpDir: string
  maxLagEvents?: number
}

/** Exit status when the audit is otherwise sound but the live read models are behind the head by
 * more than the lag limit (only what they had applied was compared). */
export const EXIT_LIVE_BEHIND = 3

function lagOption(value: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) > 1_000_000_000) throw new InvalidArgumentError('a number of events, 0-1000000000')
  return Number(value)
}

function instantOption(value: string): string {
  try {
    parseInstant(value)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
  return value
}

function positionOption(value: string): string {
  if (!/^\d{1,39}$/.test(value)) throw new InvalidArgumentError('a log position: a decimal integer (up to 39 digits)')
  return value
}

/**
 * A progress bar on `stream` (standard error) when it is a terminal, else `undefined`: per mille of
 * the way from position 0 to the replay's target (positions, not events: a KurrentDB position grows
 * with the bytes of the log, so this is still a fair measure there), with the position and the
 * events folded.
 */
export function progressBar(stream: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): { update(p: ReplayProgress): void; stop(): void } | undefined {
  if (!stream.isTTY) return undefined
  const bar = new cliProgress.SingleBar(
    { stream: stream as NodeJS.WritableStream, format: 'replay [{bar}] {percentage}% | position {position} | {events} events', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  )
  bar.start(1000, 0, { position: '-', events: 0 })
  return {
    update: (p) => {
      const permille = p.target === null || p.target <= 0n ? 1000 : Number((p.position * 1000n) / p.target)
      bar.update(Math.min(permille, 1000), { position: p.position.toString(), events: p.events })
    },
    stop: () => bar.stop(),
  }
}

/** `audit replay`: configuration, store and live read models, the replay, the report, the status. */
async function runAuditReplay(opts: AuditReplayOpts, ctx: CliContext): Promise<void> {
  const config = configOrReport(ctx)
  if (!config) return
  const file = config.LEDGER_SQLITE_PATH
  const fileExists = file !== ':memory:' && existsSync(file)
  if (config.LEDGER_STORE === 'sqlite' && !fileExists) {
    // Opening would create an empty ledger: an audit of nothing, and a stray file.
    ctx.err(`audit replay: no ledger at ${file} (LEDGER_SQLITE_PATH)`)
    ctx.setStatus(EXIT_BAD_CONFIG)
    return
  }
  // Found now, not after a replay of the whole log.
  const unwritable = (opts.out !== undefined ? outFileProblem(opts.out) : undefined) ?? folderProblem(opts.tmpDir, '--tmp-dir')
  if (unwritable !== undefined) {
    ctx.err(`audit replay: ${unwritable}`)
    ctx.setStatus(EXIT_BAD_CONFIG)
    return
  }
  let report: AuditReport
  const progress = progressBar()
  try {
    const store = await openStore(config)
    try {
      const live = fileExists ? new ReadModelStore(file) : undefined
      try {
        report = await auditReplay({
          store,
          storeIdentity: config.LEDGER_STORE,
          ...(live ? { live } : { liveUnavailable: `no read-model file at ${file} (LEDGER_SQLITE_PATH)` }),
          ...(opts.until !== undefined ? { until: opts.until } : {}),
          ...(opts.untilPosition !== undefined ? { untilPosition: BigInt(opts.untilPosition) } : {}),
          ...(progress ? { onProgress: progress.update } : {}),
          tmpDir: opts.tmpDir,
          maxLagEvents: opts.maxLagEvents ?? config.LEDGER_READY_MAX_LAG_EVENTS,
        })
      } finally {
        live?.close()
      }
    } finally {
      await store.close()
    }
    progress?.stop()
    const json = JSON.stringify(report, null, 2)
    if (opts.out !== undefined) writeFileSync(opts.out, json + '\n')
    else ctx.out(json)
  } catch (err) {
    progress?.stop()
    ctx.err(`audit replay: ${err instanceof Error ? err.message : String(err)}`)
    ctx.setStatus(err instanceof ConfigError ? EXIT_BAD_CONFIG : 1)
    return
  }
  ctx.err(summary(report))
  ctx.setStatus(!report.ok ? 1 : report.liveBehind ? EXIT_LIVE_BEHIND : 0)
}

/** Why `dir` cannot take new files (missing, not a folder, not writable), or `undefined`. */
export function folderProblem(dir: string, what: string): string | undefined {
  let isDirectory: boolean
  try {
    isDirectory = statSync(dir).isDirectory()
  } catch (err) {
    return `${what}: the folder ${dir} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
  }
  if (!isDirectory) return `${what}: ${dir} is not a folder`
  try {
    accessSync(dir, constants.W_OK | constants.X_OK)
  } catch (err) {
    return `${what}: the folder ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
  }
  return undefined
}

/** Why the report cannot be written to `file` (its folder, or the file itself when it exists), or
 * `undefined`. */
export function outFileProblem(file: string): string | undefined {
  const path = resolve(file)
  const folder = folderProblem(dirname(path), '--out')
  if (folder !== undefined) return folder
  if (!existsSync(path)) return undefined
  if (statSync(path).isDirectory()) return `--out: ${file} is a folder`
  try {
    accessSync(path, constants.W_OK)
  } catch (err) {
    return `--out: ${file} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
  }
  return undefined
}

/** The one-line human summary. */
export function summary(r: AuditReport): string {
  const tb = r.trialBalance
  const parts = [
    `audit replay: ${!r.ok ? 'FAILED' : r.liveBehind ? 'BEHIND' : 'OK'}: position ${r.position ?? 'none'}, ${r.events} events`,
    tb.balanced ? 'trial balance balanced (0.00)' : `trial balance NOT balanced (net ${tb.total.net}, ${tb.unbalancedEvents.count} unbalanced events)`,
    r.poolsAgree ? 'pools agree' : `${r.poolMismatches.length} pool balance(s) disagree with their postings`,
    r.personsAgree ? 'persons agree' : `individual accounts of ${r.personMismatches.map((m) => m.scheme).join(', ')} disagree with their postings`,
    r.compared ? `${r.differencesCount} difference(s) from the live read models at ${r.livePosition}` : `not compared: ${r.reason}`,
  ]
  if (r.liveBehind)
    parts.push(
      `the live projection is BEHIND: its checkpoint ${r.livePosition ?? 'none'} is ${r.liveLagEvents} events before the log's head ${r.headPosition ?? 'none'} (limit ${r.maxLagEvents}); ` +
        'events after the checkpoint were not compared; see /readyz and the projector\'s log',
    )
  return parts.join('; ')
}
