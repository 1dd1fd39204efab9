import { setImmediate } from 'node:timers/promises'
import {
  WrongExpectedRevisionError,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type StreamAppend,
} from '../eventstore/port.js'
import { decideSubmission, voidUnfinishedLines, type SubmissionDecision } from '../domain/contribution/decide.js'
import {
  SUBMISSION_RECORDED,
  personStream,
  submissionStream,
  type ContributionSubmissionRecordedData,
  type ContributionTotals,
} from '../domain/contribution/events.js'
import { evolvePerson, initialPersonState, type PersonContributionState } from '../domain/contribution/person-state.js'
import { submissionContentHash, type RecordSubmission } from '../domain/contribution/submission.js'
import type { PolicyBook } from '../domain/policy.js'
import { KeyedLock } from './keyed-lock.js'
import { foldStream } from './fold-stream.js'
import { PersonSummaryCache, mayBeCredited, markCredited, summarize, type PersonSummary } from './person-summary-cache.js'

/** How often a submission is decided again after losing a race on a stream's revision. */
export const MAX_APPEND_ATTEMPTS = 10
/** Upper bound of the random pause between two attempts, milliseconds. */
export const RETRY_JITTER_MAX_MS = 20
/** Person streams read between two turns of the event loop, so that a 10,000-line submission does
 * not hold up other requests for its whole read phase. */
export const READS_PER_TURN = 250

/** A recorded (or already recorded) submission, as HTTP answers it. */
export interface SubmissionReceipt {
  status: 'recorded' | 'already-recorded'
  submissionId: string
  /** Log position of the submission's event (the last event of its atomic append). */
  position: bigint
  lineCount: number
  totals: ContributionTotals
}

/** The use case's answer: a receipt, or the decision that refused the submission. */
export type RecordSubmissionResult =
  | { kind: 'receipt'; receipt: SubmissionReceipt }
  | { kind: 'refused'; decision: Exclude<SubmissionDecision, { outcome: 'record' | 'already-recorded' }> }

/** I/O around `decideSubmission`: reads the streams it needs, appends its events atomically. */
export class RecordSubmissionHandler {
  private readonly lock = new KeyedLock()
  /** Summaries of the persons this handler recorded lines for: a line for a month the person has no
   * credit in is decided without reading the person's stream (see {@link PersonSummary}). */
  private readonly summaries: PersonSummaryCache

  /**
   * @param options.maxCachedPersons persons whose summary is kept (default
   *   DEFAULT_MAX_CACHED_PERSONS; 0 reads every person's stream for every line).
   */
  constructor(
    private readonly store: EventStore,
    private readonly policies: PolicyBook,
    options: { maxCachedPersons?: number } = {},
  ) {
    this.summaries = new PersonSummaryCache(options.maxCachedPersons)
  }

  /** Whether the policy table has any row for `region` (to say which field a 422 is about). */
  regionHasPolicy(region: string): boolean {
    return this.policies.regions().includes(region)
  }

  /**
   * Records a payroll submission: the submission marker on `submission-{id}` (expected `no_stream`)
   * and one event per line on `person-{personId}` (each at the revision it was decided on), all in
   * one atomic append. Inside this process, submissions naming the same streams are decided one
   * after the other (KeyedLock); against other processes, losing a race on any stream decides again
   * from fresh state, at most MAX_APPEND_ATTEMPTS times.
   * @throws WrongExpectedRevisionError when every attempt lost its race (HTTP 409, retryable).
   * @throws StoreUnavailableError from the store (HTTP 503).
   */
  async handle(cmd: RecordSubmission, metadata: EventMetadata = {}): Promise<RecordSubmissionResult> {
    const streams = [submissionStream(cmd.submissionId), ...cmd.lines.map((l) => personStream(l.personId))]
    return this.lock.run(streams, () => this.decideAndAppend(cmd, metadata))
  }

  private async decideAndAppend(cmd: RecordSubmission, metadata: EventMetadata): Promise<RecordSubmissionResult> {
    const contentHash = submissionContentHash(cmd)
    for (let attempt = 1; ; attempt++) {
      const recorded = await this.readSubmission(cmd.submissionId)
      const persons = new Map<string, PersonContributionState>()
      const revisions = new Map<string, ExpectedRevision>()
      /** Persons decided on their cached summary (no credit in the period): no stream read. */
      const summarized = new Map<string, PersonSummary>()
      if (!recorded) {
        let reads = 0
        for (const line of cmd.lines) {
          // After a lost race, every stream is read again: a summary may be what was stale. On a
          // store whose multi-stream appends are not atomic (KurrentDB before 25.1) a crashed
          // attempt can leave lines without their marker, which only a read of the stream shows.
          const summary = attempt === 1 && this.store.atomicAppendMany !== false ? this.summaries.get(line.personId) : undefined
          if (summary !== undefined && !mayBeCredited(summary, cmd.period)) {
            // Equivalent for this decision to the full state: no credit (so no duplicate and no line
            // of this submission) in the period, and the same retirement date.
            persons.set(line.personId, { ...initialPersonState(), retiredOn: summary.retiredOn })
            revisions.set(line.personId, summary.revision)
            summarized.set(line.personId, summary)
            continue
          }
          if (++reads % READS_PER_TURN === 0) await setImmediate()
          const { state, revision } = await this.readPerson(line.personId)
          persons.set(line.personId, state)
          revisions.set(line.personId, revision)
        }
      }
      await setImmediate() // the decision of a large submission is ~0.1 s of work per 1,000 lines
      const decision = decideSubmission(cmd, contentHash, {
        recorded: recorded?.data,
        persons,
        policy: this.policies.find(cmd.region, cmd.period),
      })
      switch (decision.outcome) {
        case 'already-recorded':
          return { kind: 'receipt', receipt: receipt('already-recorded', decision.recorded, recorded!.position) }
        case 'record':
          break
        default: {
          // A refused submission leaves nothing that counts: lines an interrupted attempt wrote
          // without its marker are voided, then the submission is decided again on that state.
          const voids = recorded ? [] : voidUnfinishedLines(cmd, persons, `submission ${cmd.submissionId} refused: ${decision.outcome}`)
          if (voids.length === 0) return { kind: 'refused', decision }
          try {
            await this.store.appendMany(
              voids.map((v) => ({
                stream: personStream(v.personId),
                events: [{ type: v.type, data: v.data, metadata, idempotencyKey: `submission/${cmd.submissionId}/line/${v.data.lineIndex}/void` }],
                expectedRevision: revisions.get(v.personId) ?? 'no_stream',
              })),
            )
          } catch (err) {
            if (!(err instanceof WrongExpectedRevisionError) || attempt >= MAX_APPEND_ATTEMPTS) throw err
          }
          continue
        }
      }
      const appends: StreamAppend[] = decision.lineEvents.map((e) => ({
        stream: personStream(e.personId),
        events: [{ type: e.type, data: e.data, metadata, idempotencyKey: `submission/${cmd.submissionId}/line/${e.data.lineIndex}` }],
        expectedRevision: revisions.get(e.personId) ?? 'no_stream',
      }))
      // The submission marker goes last: its position is the append's position, and on a store
      // without multi-stream transactions it is what makes a retry see the submission as complete.
      appends.push({
        stream: submissionStream(cmd.submissionId),
        events: [{ type: decision.submissionEvent.type, data: decision.submissionEvent.data, metadata, idempotencyKey: `submission/${cmd.submissionId}` }],
        expectedRevision: 'no_stream',
      })
      let result: Awaited<ReturnType<EventStore['appendMany']>>
      try {
        await setImmediate()
        result = await this.store.appendMany(appends)
      } catch (err) {
        // Whatever was (or was not) written, the summaries of these persons may no longer be true.
        this.summaries.forget(cmd.lines.map((l) => l.personId))
        if (!(err instanceof WrongExpectedRevisionError) || attempt >= MAX_APPEND_ATTEMPTS) throw err
        await pause(Math.floor(Math.random() * RETRY_JITTER_MAX_MS))
        continue
      }
      decision.lineEvents.forEach((e, i) => {
        const summary = summarized.get(e.personId) ?? summarize(persons.get(e.personId)!, revisions.get(e.personId) ?? 'no_stream')
        markCredited(summary, e.data.period)
        // appendMany answers one entry per stream in the order given: the line events come first.
        summary.revision = result.streams[i]!.nextExpectedRevision
        this.summaries.set(e.personId, summary)
      })
      return { kind: 'receipt', receipt: receipt('recorded', decision.submissionEvent.data, result.position) }
    }
  }

  /** The recorded submission (its `ContributionSubmissionRecorded` event), or undefined when none. */
  get(submissionId: string): Promise<{ data: ContributionSubmissionRecordedData; position: bigint; recordedAt: string } | undefined> {
    return this.readSubmission(submissionId)
  }

  private async readSubmission(submissionId: string): Promise<{ data: ContributionSubmissionRecordedData; position: bigint; recordedAt: string } | undefined> {
    for await (const event of this.store.readStream(submissionStream(submissionId), { maxCount: 1 })) {
      if (event.type === SUBMISSION_RECORDED) return { data: event.data as ContributionSubmissionRecordedData, position: event.position, recordedAt: event.recordedAt }
    }
    return undefined
  }

  private readPerson(personId: string): Promise<{ state: PersonContributionState; revision: ExpectedRevision }> {
    return foldStream(this.store, personStream(personId), initialPersonState(), evolvePerson)
  }
}

function receipt(status: SubmissionReceipt['status'], data: ContributionSubmissionRecordedData, position: bigint): SubmissionReceipt {
  return { status, submissionId: data.submissionId, position, lineCount: data.lineCount, totals: data.totals }
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
