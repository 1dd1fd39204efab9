/**
 * Phase `replay`: `ledger audit replay` over the in-process log, as an auditor runs it: a child
 * process of the built CLI, on the embedded store, comparing with the live read models the
 * catch-up phase left in the log's file. Its peak memory comes from the `peak-rss` preload.
 */
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { startNode, waitForExit } from '../child.js'
import { PhaseError, now, perSecond, type BenchContext } from './phase.js'

/** Longest the replay may run before it is stopped and the phase fails, milliseconds (2 hours). */
export const REPLAY_WAIT_MS = 2 * 60 * 60 * 1000
/** Time a stopped replay gets between SIGTERM and SIGKILL, milliseconds. */
export const REPLAY_KILL_WAIT_MS = 5_000

/** Figures of {@link replay}. */
export interface ReplayFigures {
  /** The log's head position: the events replayed. */
  events: bigint
  /** Wall time from spawning the process to its exit (start-up, replay, checks, comparison, report). */
  seconds: number
  eventsPerSecond: number
  /** The process's peak resident set size (`process.resourceUsage().maxRSS`), MiB. */
  peakRssMb: number
}

/**
 * Runs `node --import dist/bench/peak-rss.js dist/src/cli/ledger.js audit replay` on the log at
 * `ctx.logPath`, report and temporary read models in `ctx.dir`.
 * @param head the log's head position (the replay's report must say it reached it).
 * @throws PhaseError when the exit code is not 0 (with the tail of its output), it runs past
 *   {@link REPLAY_WAIT_MS}, its report stops short of `head`, or the peak RSS file is missing.
 */
export async function replay(ctx: BenchContext, head: bigint): Promise<ReplayFigures> {
  const preload = pathToFileURL(path.join(ctx.repoRoot, 'dist', 'bench', 'peak-rss.js')).href
  const cli = path.join(ctx.repoRoot, 'dist', 'src', 'cli', 'ledger.js')
  const reportPath = path.join(ctx.dir, 'replay-report.json')
  const rssPath = path.join(ctx.dir, 'replay-peak-rss.json')
  fs.rmSync(rssPath, { force: true })
  ctx.progress(`replay: ledger audit replay over ${head} events`)
  const started = now()
  const child = startNode(['--import', preload, cli, 'audit', 'replay', '--out', reportPath, '--tmp-dir', ctx.dir], {
    LEDGER_STORE: 'sqlite',
    LEDGER_SQLITE_PATH: ctx.logPath,
    BENCH_PEAK_RSS_FILE: rssPath,
  }, ctx.repoRoot)
  const exit = await waitForExit(child, REPLAY_WAIT_MS, REPLAY_KILL_WAIT_MS)
  const seconds = (now() - started) / 1000
  if (exit === undefined) throw new PhaseError(`replay: still running after ${REPLAY_WAIT_MS} ms; stopped`, child.tail())
  if (exit.code !== 0) throw new PhaseError(`replay: exit code ${exit.code ?? `none (signal ${exit.signal})`}`, child.tail())
  const report = JSON.parse(fs.readFileSync(reportPath, 'utf8')) as { position?: unknown; ok?: unknown }
  if (report.position !== head.toString()) throw new PhaseError(`replay: the report's position is ${String(report.position)}, the log's head ${head}`, child.tail())
  let peak: { maxRssKb?: unknown }
  try {
    peak = JSON.parse(fs.readFileSync(rssPath, 'utf8')) as { maxRssKb?: unknown }
  } catch (err) {
    throw new PhaseError(`replay: no peak RSS from the preload (${(err as Error).message})`, child.tail())
  }
  if (typeof peak.maxRssKb !== 'number') throw new PhaseError(`replay: bad peak RSS file ${JSON.stringify(peak)}`)
  return { events: head, seconds, eventsPerSecond: perSecond(head, seconds), peakRssMb: peak.maxRssKb / 1024 }
}
