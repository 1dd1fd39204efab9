import type { EventMetadata, EventStore } from '../eventstore/port.js'
import { decidePayout, type PayoutDecision, type RecordPayout } from '../domain/payout/decide.js'
import { PAYOUT_REQUEST_RECORDED, payoutStream, type PayoutRecordedData, type PayoutRequestRecordedData } from '../domain/payout/events.js'
import { personStream } from '../domain/contribution/events.js'
import { evolvePersonAccounts, initialPersonAccounts, type PersonAccountsState } from '../domain/person/person-accounts.js'
import { foldStream } from './fold-stream.js'
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

  /** The payout recorded under `payoutId` (from its marker), or undefined when none. */
  async recorded(payoutId: string): Promise<PayoutRecordedData | undefined> {
    for await (const e of this.store.readStream(payoutStream(payoutId), { maxCount: 1 }))
      if (e.type === PAYOUT_REQUEST_RECORDED) return (e.data as PayoutRequestRecordedData).payout
    return undefined
  }

  /** The person's accounts folded from the log (what a payout is decided on). */
  async accounts(personId: string): Promise<PersonAccountsState> {
    return (await foldStream(this.store, personStream(personId), initialPersonAccounts(), evolvePersonAccounts)).state
  }

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
