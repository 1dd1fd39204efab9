import { WrongExpectedRevisionError, type EventMetadata, type EventStore } from '../eventstore/port.js'
import { personStream } from '../domain/contribution/events.js'
import { evolvePersonAccounts, initialPersonAccounts } from '../domain/person/person-accounts.js'
import type { PensionTables } from '../domain/pension/pension-tables.js'
import { decideRetirement, type RecordRetirement, type RetirementDecision } from '../domain/retirement/decide.js'
import { RETIREMENT_RECORDED, type RetirementRecordedData } from '../domain/retirement/events.js'
import { shanghaiDate } from '../domain/working-days.js'
import { KeyedLock } from './keyed-lock.js'
import { foldStream } from './fold-stream.js'
import { MAX_APPEND_ATTEMPTS } from './record-submission.js'

export type RetirementResult =
  | { kind: 'recorded' | 'already-recorded'; position: bigint; retirement: RetirementRecordedData }
  | { kind: 'refused'; decision: Exclude<RetirementDecision, { outcome: 'record' | 'already-recorded' }> }

/** Records a person's retirement: one `RetirementRecorded` on `person-{personId}`. */
export class RetirementHandler {
  private readonly lock = new KeyedLock()

  /** @param clock the current instant; today is its Asia/Shanghai date. */
  constructor(
    private readonly store: EventStore,
    private readonly tables: PensionTables,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * @throws WrongExpectedRevisionError when every attempt lost its race; StoreUnavailableError.
   */
  retire(cmd: RecordRetirement, metadata: EventMetadata = {}): Promise<RetirementResult> {
    const stream = personStream(cmd.personId)
    return this.lock.run([stream], async () => {
      for (let attempt = 1; ; attempt++) {
        let retiredAt = 0n
        const { state, revision } = await foldStream(this.store, stream, initialPersonAccounts(), (s, e) => {
          if (e.type === RETIREMENT_RECORDED) retiredAt = e.position
          return evolvePersonAccounts(s, e)
        })
        const decision = decideRetirement(cmd, state, this.tables, shanghaiDate(this.clock()))
        if (decision.outcome === 'already-recorded') return { kind: 'already-recorded', position: retiredAt, retirement: decision.recorded }
        if (decision.outcome !== 'record') return { kind: 'refused', decision }
        try {
          const result = await this.store.append(stream, [{ ...decision.event, metadata }], revision)
          return { kind: 'recorded', position: result.position, retirement: decision.event.data }
        } catch (err) {
          if (!(err instanceof WrongExpectedRevisionError) || attempt >= MAX_APPEND_ATTEMPTS) throw err
        }
      }
    })
  }
}
