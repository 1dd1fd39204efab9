import { WrongExpectedRevisionError, type EventMetadata, type EventStore, type ExpectedRevision, type StreamAppend } from '../eventstore/port.js'
import { personStream } from '../domain/contribution/events.js'
import { evolvePension, initialPensionState, type PensionState } from '../domain/pension/pension-state.js'
import { transferStream } from '../domain/transfer/events.js'
import { pooledTransfer, type TransferDecision } from '../domain/transfer/decide.js'
import { evolveTransfer, initialTransferState, type TransferState } from '../domain/transfer/transfer-state.js'
import { TRANSFER_STEP_WORKING_DAYS, addWorkingDays, shanghaiDate } from '../domain/working-days.js'
import { ZERO, formatYuan, yuan } from '../domain/money.js'
import { KeyedLock } from './keyed-lock.js'
import { foldStream } from './fold-stream.js'

/** How often a step is decided again after losing a race on a stream's revision. */
export const MAX_STEP_ATTEMPTS = 10

/** A transfer as the API shows it. Amounts are yuan strings; dates are Asia/Shanghai local dates. */
export interface TransferView {
  transferId: string
  personId: string
  fromRegion: string
  toRegion: string
  state: TransferState['status']
  registeredOn: string
  acceptedOn?: string
  rejected?: { reason: string; on: string }
  cancelled?: { reason: string; on: string }
  completedOn?: string
  sends: { sendNumber: number; sentOn: string; individualAccount: string; pooledFund: string; months: number; baseTotal: string }[]
  /** Totals moved by all sends. */
  moved: { individualAccount: string; pooledFund: string }
  /** Due date of each step, 15 working days after the previous one (Guo Ban Fa [2009] No.66 Art. 8). */
  deadlines: { decision: string; send?: string; complete?: string }
  /** Whether the step now expected is past its due date. */
  overdue: boolean
  /** After a send: months recorded in the source region since, still to move by a later send. */
  supplementaryNeeded?: { months: number; periods: string[]; baseTotal: string; pooledFund: string }
}

/** The answer to a step: appended (201) or already so (200), with the transfer after it. */
export type StepResult =
  | { kind: 'done'; appended: boolean; position: bigint; view: TransferView }
  | { kind: 'refused'; decision: Exclude<TransferDecision, { outcome: 'append' | 'unchanged' }> }

/** Reads a transfer and its person, runs a step's decision, appends its events atomically. */
export class TransferHandler {
  private readonly lock = new KeyedLock()

  /**
   * @param clock the current instant; a step's date is its local date in Asia/Shanghai.
   * @param daysOff holiday calendar: dates that are not working days although Monday-Friday.
   */
  constructor(
    private readonly store: EventStore,
    private readonly clock: () => Date = () => new Date(),
    private readonly daysOff: ReadonlySet<string> = new Set(),
  ) {}

  /** Today's local date in Asia/Shanghai. */
  today(): string {
    return shanghaiDate(this.clock())
  }

  /**
   * Runs one step: `decide` gets the transfer's state and the person's pension state (the person is
   * the registered one, or `personId` for a registration). The transfer's and the person's events
   * are one atomic append at the revisions decided on; a lost race decides again (at most
   * MAX_STEP_ATTEMPTS times).
   * @throws WrongExpectedRevisionError when every attempt lost its race; StoreUnavailableError.
   */
  async step(
    transferId: string,
    personId: string | undefined,
    decide: (transfer: TransferState, pension: PensionState) => TransferDecision,
    metadata: EventMetadata = {},
  ): Promise<StepResult> {
    if (this.store.atomicAppendMany === false) {
      // A step writes the transfer's and the person's events together; written one by one, a crash
      // between them would leave a person blocked or money half-moved. Such servers do not transfer.
      return {
        kind: 'refused',
        decision: { outcome: 'unsupported', detail: 'transfers need atomic multi-stream appends: KurrentDB 25.1+ or the embedded store' },
      }
    }
    const keys = [transferStream(transferId), ...(personId ? [personStream(personId)] : [])]
    return this.lock.run(keys, async () => {
      for (let attempt = 1; ; attempt++) {
        const t = await this.readTransfer(transferId)
        const who = t.state.registered?.personId ?? personId
        const p = who ? await this.readPension(who) : { state: initialPensionState(), revision: 'no_stream' as ExpectedRevision }
        const decision = decide(t.state, p.state)
        if (decision.outcome === 'unchanged') return { kind: 'done', appended: false, position: t.position, view: this.view(t.state, p.state) }
        if (decision.outcome !== 'append') return { kind: 'refused', decision }
        // The transfer's event goes last: the append's position is then the transfer stream's head,
        // the same position a retry of the step answers with.
        const appends: StreamAppend[] = []
        if (decision.personEvents.length > 0)
          appends.push({ stream: personStream(who!), events: decision.personEvents.map((e) => ({ ...e, metadata })), expectedRevision: p.revision })
        appends.push({ stream: transferStream(transferId), events: decision.transferEvents.map((e) => ({ ...e, metadata })), expectedRevision: t.revision })
        try {
          const result = await this.store.appendMany(appends)
          for (const e of decision.transferEvents) evolveTransfer(t.state, e)
          for (const e of decision.personEvents) evolvePension(p.state, e)
          return { kind: 'done', appended: true, position: result.position, view: this.view(t.state, p.state) }
        } catch (err) {
          if (!(err instanceof WrongExpectedRevisionError) || attempt >= MAX_STEP_ATTEMPTS) throw err
        }
      }
    })
  }

  /** The transfer as it stands in the log, or undefined when there is none. */
  async get(transferId: string): Promise<{ view: TransferView; position: bigint } | undefined> {
    const t = await this.readTransfer(transferId)
    if (t.state.status === 'none') return undefined
    const p = await this.readPension(t.state.registered!.personId)
    return { view: this.view(t.state, p.state), position: t.position }
  }

  /** Builds the API view: dates, deadlines, totals, what a supplementary send would move. */
  view(t: TransferState, pension: PensionState): TransferView {
    const r = t.registered!
    const today = this.today()
    const due = (from: string) => addWorkingDays(from, TRANSFER_STEP_WORKING_DAYS, this.daysOff)
    const firstSend = t.sends[0]
    const deadlines = {
      decision: due(r.registeredOn),
      ...(t.acceptedOn ? { send: due(t.acceptedOn) } : {}),
      ...(firstSend ? { complete: due(firstSend.sentOn) } : {}),
    }
    const pendingDue = t.status === 'registered' ? deadlines.decision : t.status === 'accepted' ? deadlines.send : t.status === 'sent' ? deadlines.complete : undefined
    const supplementary = firstSend ? pooledTransfer(pension, r.fromRegion) : undefined
    const sum = (pick: (s: (typeof t.sends)[number]) => string) => formatYuan(t.sends.reduce((acc, s) => acc.plus(yuan(pick(s))), ZERO))
    return {
      transferId: r.transferId,
      personId: r.personId,
      fromRegion: r.fromRegion,
      toRegion: r.toRegion,
      state: t.status,
      registeredOn: r.registeredOn,
      ...(t.acceptedOn ? { acceptedOn: t.acceptedOn } : {}),
      ...(t.rejected ? { rejected: t.rejected } : {}),
      ...(t.cancelled ? { cancelled: t.cancelled } : {}),
      ...(t.completedOn ? { completedOn: t.completedOn } : {}),
      sends: t.sends.map((s) => ({
        sendNumber: s.sendNumber,
        sentOn: s.sentOn,
        individualAccount: s.individualAccount,
        pooledFund: s.pooledFund,
        months: s.months,
        baseTotal: s.baseTotal,
      })),
      moved: { individualAccount: sum((s) => s.individualAccount), pooledFund: sum((s) => s.pooledFund) },
      deadlines,
      overdue: pendingDue !== undefined && today > pendingDue,
      ...(supplementary && supplementary.months > 0
        ? {
            supplementaryNeeded: {
              months: supplementary.months,
              periods: supplementary.periods,
              baseTotal: formatYuan(supplementary.baseTotal),
              pooledFund: formatYuan(supplementary.pooledFund),
            },
          }
        : {}),
    }
  }

  private readTransfer(transferId: string): Promise<{ state: TransferState; revision: ExpectedRevision; position: bigint }> {
    return foldStream(this.store, transferStream(transferId), initialTransferState(), evolveTransfer)
  }

  private readPension(personId: string): Promise<{ state: PensionState; revision: ExpectedRevision }> {
    return foldStream(this.store, personStream(personId), initialPensionState(), evolvePension)
  }
}
