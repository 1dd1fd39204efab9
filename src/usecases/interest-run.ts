import { setImmediate } from 'node:timers/promises'
import { WrongExpectedRevisionError, type EventMetadata, type EventStore, type ExpectedRevision, type StreamAppend } from '../eventstore/port.js'
import { personStream } from '../domain/contribution/events.js'
import { decideInterest } from '../domain/interest/calculate.js'
import {
  INTEREST_RUN_BATCH_COMPLETED,
  INTEREST_RUN_COMPLETED,
  INTEREST_RUNS_STREAM,
  type InterestRunBatchCompletedData,
  type InterestRunCompletedData,
} from '../domain/interest/events.js'
import {
  decideStartRun,
  evolveInterestRuns,
  initialInterestRuns,
  openPass,
  type InterestRunsState,
  type StartDecision,
  type YearRun,
} from '../domain/interest/run-state.js'
import { ZERO, formatYuan, yuan } from '../domain/money.js'
import { evolvePension, initialPensionState } from '../domain/pension/pension-state.js'
import { interestRate, type PensionTables } from '../domain/pension/pension-tables.js'
import { foldStream } from './fold-stream.js'
import { KeyedLock } from './keyed-lock.js'
import { MAX_APPEND_ATTEMPTS } from './record-submission.js'

/** Persons examined (and credited) per batch: one atomic append of their events and the progress. */
export const INTEREST_BATCH_PERSONS = 500
/** Longest a pass waits, before its first batch, for the projections to reach the log's head (the
 * persons are listed from the person-balances read model), milliseconds. */
export const INTEREST_CATCH_UP_WAIT_MS = 60_000

/** Where the runner finds the persons to examine: keys of the person-balances read model, in order. */
export interface PersonDirectory {
  /** Person ids after `afterPersonId` in ascending order, at most `limit`. */
  personsAfter(afterPersonId: string | undefined, limit: number): string[]
  /** Waits (bounded) until every person written up to the log's head is listed; false when the
   * wait ended first. */
  catchUp(waitMs: number): Promise<boolean>
}

/** Something that wants to hear about a pass (logs). */
export interface InterestRunLogger {
  info(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** A run as the API shows it. */
export interface InterestRunView {
  year: number
  ratePercent: string
  rateSource: 'table' | 'request'
  monthCounting: string
  pensionTablesVersion: string
  state: 'running' | 'interrupted' | 'completed'
  passes: {
    pass: number
    completed: boolean
    batches: number
    examined: number
    credited: number
    interest: string
    alreadyCredited: number
    skipped: number
    lastPersonId?: string
  }[]
  /** Over all passes: persons credited and the interest credited (each person once a year). */
  credited: number
  interest: string
}

export type StartResult =
  | { kind: 'started' | 'resumed' | 'running'; view: InterestRunView }
  | { kind: 'refused'; decision: Extract<StartDecision, { outcome: 'invalid' | 'conflict' }> }

/**
 * The yearly interest run (RULES.md §4): one pass goes through every person in id order, in
 * batches of INTEREST_BATCH_PERSONS; each batch is one atomic append of the persons'
 * `InterestCredited` events (each at the revision its decision read) and an
 * `InterestRunBatchCompleted` on `interest-runs` (the progress). A pass that stops (crash, shutdown)
 * is resumed after its last committed batch by starting the run again, or at the service's start
 * (`resumeUnfinished`). A person credited for the year is never credited again, so a rerun (a new
 * pass) adds only persons missed before.
 */
export class InterestRunner {
  private readonly lock = new KeyedLock()
  private running: { year: number; pass: number; done: Promise<void> } | undefined
  private stopping = false

  constructor(
    private readonly store: EventStore,
    private readonly tables: PensionTables,
    private readonly persons: PersonDirectory,
    private readonly options: { batchPersons?: number; catchUpWaitMs?: number; logger?: InterestRunLogger; metadata?: EventMetadata } = {},
  ) {}

  /**
   * Starts (or resumes) the run for `year` in the background and answers at once.
   * @throws StoreUnavailableError; WrongExpectedRevisionError when another process raced every attempt.
   */
  async start(cmd: { year: number; ratePercent?: string; currentYear: number }, metadata: EventMetadata = {}): Promise<StartResult> {
    return this.lock.run([INTEREST_RUNS_STREAM], async () => {
      for (let attempt = 1; ; attempt++) {
        const { state, revision } = await this.readRuns()
        const decision = decideStartRun(cmd, state, this.tables)
        if (decision.outcome === 'invalid' || decision.outcome === 'conflict') return { kind: 'refused', decision }
        if (decision.outcome === 'resume') {
          if (this.running?.year === cmd.year) return { kind: 'running', view: view(state.years.get(cmd.year)!) }
          this.launch(cmd.year, decision.pass, metadata)
          return { kind: 'resumed', view: view(state.years.get(cmd.year)!) }
        }
        try {
          await this.store.append(INTEREST_RUNS_STREAM, [{ ...decision.event, metadata }], revision)
        } catch (err) {
          if (!(err instanceof WrongExpectedRevisionError) || attempt >= MAX_APPEND_ATTEMPTS) throw err
          continue
        }
        evolveInterestRuns(state, decision.event)
        this.launch(cmd.year, decision.event.data.pass, metadata)
        return { kind: 'started', view: view(state.years.get(cmd.year)!) }
      }
    })
  }

  /** The run for `year` as recorded, or undefined when there is none. */
  async get(year: number): Promise<InterestRunView | undefined> {
    const run = (await this.readRuns()).state.years.get(year)
    if (!run) return undefined
    const v = view(run)
    return this.running?.year === year || v.state === 'completed' ? v : { ...v, state: 'interrupted' }
  }

  /** Resumes a pass left open by a crash or a shutdown (at the service's start). */
  async resumeUnfinished(): Promise<number | undefined> {
    const { state } = await this.readRuns()
    for (const run of state.years.values()) {
      const open = openPass(run)
      if (open && !this.running) {
        this.launch(run.year, open.pass, this.options.metadata ?? {})
        return run.year
      }
    }
    return undefined
  }

  /** Resolves when the pass running in this process (if any) has stopped. */
  async idle(): Promise<void> {
    await this.running?.done
  }

  /** Stops after the batch in flight (committed whole or not at all); a later start resumes. */
  async stop(): Promise<void> {
    this.stopping = true
    await this.idle()
  }

  /** Runs the pass in the background, after the pass still finishing in this process, if any. */
  private launch(year: number, pass: number, metadata: EventMetadata): void {
    const previous = this.running
    if (previous && previous.year === year && previous.pass === pass) return
    const entry: { year: number; pass: number; done: Promise<void> } = { year, pass, done: Promise.resolve() }
    entry.done = (previous?.done ?? Promise.resolve())
      .then(() => this.runPass(year, pass, metadata))
      .catch((err: unknown) => this.options.logger?.error({ err, year, pass }, 'interest run stopped; start it again to resume'))
      .finally(() => {
        if (this.running === entry) this.running = undefined
      })
    this.running = entry
  }

  private async runPass(year: number, pass: number, metadata: EventMetadata): Promise<void> {
    const batchPersons = this.options.batchPersons ?? INTEREST_BATCH_PERSONS
    // Persons are listed from the read model: a pass over a lagging one would miss persons and
    // still complete. It stops instead (the pass stays open; starting the run again resumes it).
    const waitMs = this.options.catchUpWaitMs ?? INTEREST_CATCH_UP_WAIT_MS
    if (!(await this.persons.catchUp(waitMs)))
      throw new Error(`the projections did not reach the log's head within ${waitMs} ms; the run did not start its batches`)
    for (;;) {
      if (this.stopping) return
      const finished = await this.runBatch(year, pass, batchPersons, metadata)
      if (finished) {
        this.options.logger?.info({ year, pass }, 'interest run completed')
        return
      }
      await setImmediate() // other requests get their turn between batches
    }
  }

  /** One batch, decided again from fresh state when it loses a race. Returns true when the pass is complete. */
  private async runBatch(year: number, pass: number, batchPersons: number, metadata: EventMetadata): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const { state, revision } = await this.readRuns()
      const run = state.years.get(year)!
      const progress = run.passes.find((p) => p.pass === pass)!
      if (progress.completed) return true
      const rate = interestRate(run.ratePercent)
      const ids = this.persons.personsAfter(progress.lastPersonId, batchPersons)
      const appends: StreamAppend[] = []
      const batch: InterestRunBatchCompletedData = {
        year,
        pass,
        batch: progress.batches + 1,
        examined: ids.length,
        lastPersonId: ids.at(-1) ?? progress.lastPersonId ?? '',
        credited: 0,
        interest: '0.00',
        alreadyCredited: 0,
        skipped: 0,
      }
      let interest = ZERO
      for (const personId of ids) {
        const person = await foldStream(this.store, personStream(personId), initialPensionState(), evolvePension)
        const d = decideInterest(personId, person.state, year, rate, run.monthCounting)
        if (d.outcome === 'credit') {
          appends.push({ stream: personStream(personId), events: [{ ...d.event, metadata }], expectedRevision: person.revision as ExpectedRevision })
          batch.credited += 1
          interest = interest.plus(yuan(d.event.data.amount))
        } else if (d.outcome === 'already-credited') batch.alreadyCredited += 1
        else batch.skipped += 1
      }
      batch.interest = formatYuan(interest)
      const last = ids.length < batchPersons
      const runEvents: { type: string; data: object; metadata: EventMetadata }[] = [{ type: INTEREST_RUN_BATCH_COMPLETED, data: batch, metadata }]
      if (last) {
        const completed: InterestRunCompletedData = {
          year,
          pass,
          batches: batch.batch,
          examined: progress.examined + batch.examined,
          credited: progress.credited + batch.credited,
          interest: formatYuan(progress.interest.plus(interest)),
          alreadyCredited: progress.alreadyCredited + batch.alreadyCredited,
          skipped: progress.skipped + batch.skipped,
        }
        runEvents.push({ type: INTEREST_RUN_COMPLETED, data: completed, metadata })
      }
      // The progress goes last: on a store without multi-stream transactions, a batch interrupted
      // half-way is examined again and its credited persons count as already credited.
      appends.push({ stream: INTEREST_RUNS_STREAM, events: runEvents, expectedRevision: revision })
      try {
        await this.store.appendMany(appends)
        this.options.logger?.info({ year, pass, batch: batch.batch, examined: batch.examined, credited: batch.credited }, 'interest run batch committed')
        return last
      } catch (err) {
        if (!(err instanceof WrongExpectedRevisionError) || attempt >= MAX_APPEND_ATTEMPTS) throw err
      }
    }
  }

  private readRuns(): Promise<{ state: InterestRunsState; revision: ExpectedRevision }> {
    return foldStream(this.store, INTEREST_RUNS_STREAM, initialInterestRuns(), evolveInterestRuns)
  }
}

/** The API view of a year's run. */
function view(run: YearRun): InterestRunView {
  const passes = run.passes.map((p) => ({
    pass: p.pass,
    completed: p.completed,
    batches: p.batches,
    examined: p.examined,
    credited: p.credited,
    interest: formatYuan(p.interest),
    alreadyCredited: p.alreadyCredited,
    skipped: p.skipped,
    ...(p.lastPersonId !== undefined ? { lastPersonId: p.lastPersonId } : {}),
  }))
  return {
    year: run.year,
    ratePercent: run.ratePercent,
    rateSource: run.rateSource,
    monthCounting: run.monthCounting,
    pensionTablesVersion: run.pensionTablesVersion,
    state: openPass(run) ? 'running' : 'completed',
    passes,
    credited: run.passes.reduce((n, p) => n + p.credited, 0),
    interest: formatYuan(run.passes.reduce((acc, p) => acc.plus(p.interest), ZERO)),
  }
}
