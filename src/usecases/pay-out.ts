import type { EventMetadata, EventStore } from '../eventstore/port.js'
import { decidePayout, type PayoutDecision, type RecordPayout } from '../domain/payout/decide.js'
import { PAYOUT_REQUEST_RECORDED, payoutStream, type PayoutRequestRecordedData } from '../domain/payout/events.js'
import { shanghaiDate } from '../domain/working-days.js'
import { KeyedLock } from './keyed-lock.js'
import { runKeyedPersonCommand, type KeyedResult } from './keyed-person-command.js'

/** A refused payout: the decision that refused it. */
export type PayoutRefusal = Exclude<PayoutDecision, { outcome: 'record' }>

/** Records payouts: `PayoutRecorded` on the person, `PayoutRequestRecorded` on `payout-{payoutId}`,
 * one atomic append; `payoutId` is the idempotency key. */
export class PayoutHandler {
  private readonly lock = new KeyedLock()

  /** @param clock the current instant; the current month is its Asia/Shanghai month. */
  constructor(
    private readonly store: EventStore,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * Pays (or finds paid) a payout.
   * @throws WrongExpectedRevisionError when every attempt lost its race; StoreUnavailableError.
   */
  pay(cmd: RecordPayout, metadata: EventMetadata = {}): Promise<KeyedResult<PayoutRequestRecordedData, PayoutRefusal>> {
    const request: Record<string, unknown> = {
      payoutId: cmd.payoutId,
      personId: cmd.personId,
      scheme: cmd.scheme,
      period: cmd.period,
      kind: cmd.kind,
      ...(cmd.amount !== undefined ? { amount: cmd.amount } : {}),
      ...(cmd.fromIndividualAccount !== undefined ? { fromIndividualAccount: cmd.fromIndividualAccount } : {}),
    }
    return runKeyedPersonCommand<PayoutRequestRecordedData, PayoutRefusal>(
      this.store,
      this.lock,
      {
        markerStream: payoutStream(cmd.payoutId),
        markerType: PAYOUT_REQUEST_RECORDED,
        request,
        personId: cmd.personId,
        decide: async (state) => {
          const d = decidePayout(cmd, state, shanghaiDate(this.clock()))
          if (d.outcome !== 'record') return { refused: d }
          return { append: d.event, marker: { payoutId: cmd.payoutId, payout: d.event.data } }
        },
      },
      metadata,
    )
  }
}
