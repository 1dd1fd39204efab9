/**
 * Phase `inprocess`: posting in-process. Every submission of the log's workload goes through
 * `RecordSubmissionHandler.handle` (the use case HTTP calls) into a fresh SQLite event store file,
 * one after the other. The log it leaves is what the raw insert, raw scan, catch-up and replay
 * phases read.
 */
import fs from 'node:fs'
import { yuan } from '../../src/domain/money.js'
import type { WorkInjuryClass } from '../../src/domain/schemes.js'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import { RecordSubmissionHandler } from '../../src/usecases/record-submission.js'
import type { Workload } from '../workload.js'
import { PhaseError, PROGRESS_INTERVAL_MS, now, perSecond, type BenchContext } from './phase.js'

/** Figures of {@link postInProcess}. */
export interface InProcessFigures {
  submissions: number
  lines: number
  /** The log's head position after posting (= events appended: positions start at 1). */
  events: bigint
  /** Time inside `handle` (with the wage parsing HTTP also does), summed; generating the workload is not counted. */
  seconds: number
  linesPerSecond: number
  eventsPerSecond: number
  /** The store connection's pragmas, as the raw-insert baseline must match them. */
  storePragmas: { journalMode: string; synchronous: number }
}

/**
 * Posts every submission of `workload` to a new log at `ctx.logPath` (an existing file is
 * removed first), sequentially, awaiting each.
 * @returns the figures; the log file is closed and left for the next phases.
 * @throws PhaseError when a submission is refused (with the decision) or the head position does
 *   not equal the workload's events.
 */
export async function postInProcess(ctx: BenchContext, workload: Workload): Promise<InProcessFigures> {
  for (const suffix of ['', '-wal', '-shm']) fs.rmSync(ctx.logPath + suffix, { force: true })
  const store = openSqliteEventStore({ path: ctx.logPath })
  try {
    const handler = new RecordSubmissionHandler(store, loadPolicyBook())
    const storePragmas = {
      journalMode: String(store.db.pragma('journal_mode', { simple: true })),
      synchronous: Number(store.db.pragma('synchronous', { simple: true })),
    }
    ctx.progress(`inprocess: posting ${workload.submissionCount} submissions (${workload.lineCount} lines, ${workload.eventCount} events)`)
    let timedMs = 0
    let submissions = 0
    let lines = 0
    let lastProgress = now()
    for (const s of workload.submissions()) {
      const started = now()
      const result = await handler.handle({
        ...s,
        workInjuryClass: s.workInjuryClass as WorkInjuryClass,
        lines: s.lines.map((l) => ({ personId: l.personId, wage: yuan(l.wage) })),
      })
      timedMs += now() - started
      if (result.kind !== 'receipt') {
        throw new PhaseError(`submission ${s.submissionId} was refused: ${result.decision.outcome}`, JSON.stringify(result.decision).slice(0, 2_000))
      }
      submissions++
      lines += s.lines.length
      if (now() - lastProgress >= PROGRESS_INTERVAL_MS) {
        lastProgress = now()
        ctx.progress(`inprocess: ${lines} of ${workload.lineCount} lines, ${Math.round(perSecond(lines, timedMs / 1000))} lines/s`)
      }
    }
    const events = (await store.headPosition()) ?? 0n
    if (events !== BigInt(workload.eventCount)) {
      throw new PhaseError(`the log's head is ${events} after posting, expected ${workload.eventCount} events`)
    }
    const seconds = timedMs / 1000
    return {
      submissions,
      lines,
      events,
      seconds,
      linesPerSecond: perSecond(lines, seconds),
      eventsPerSecond: perSecond(events, seconds),
      storePragmas,
    }
  } finally {
    await store.close()
  }
}
