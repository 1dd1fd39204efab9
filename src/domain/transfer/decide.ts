import type { Decimal } from 'decimal.js'
import { ZERO, formatYuan, roundHalfUpToFen, yuan } from '../money.js'
import { POOLED_TRANSFER_FROM_YEAR, hasSomethingToMove, type PensionState } from '../pension/pension-state.js'
import {
  PENSION_TRANSFER_CLOSED,
  PENSION_TRANSFER_OPENED,
  PENSION_TRANSFERRED,
  TRANSFER_ACCEPTED,
  TRANSFER_CANCELLED,
  TRANSFER_COMPLETED,
  TRANSFER_REGISTERED,
  TRANSFER_REJECTED,
  TRANSFER_SENT,
  type TransferSentData,
} from './events.js'
import type { TransferState, TransferStatus } from './transfer-state.js'

/** Share of the contribution bases that moves from the source pool (Guo Ban Fa [2009] No.66 Art. 4). */
export const POOLED_TRANSFER_RATE = yuan('0.12')

/** An event for one of the two streams. */
export interface StepEvent {
  type: string
  data: object
}

/** What a step decides. */
export type TransferDecision =
  /** Append these (atomically): the transfer's events and the person's. */
  | { outcome: 'append'; transferEvents: StepEvent[]; personEvents: StepEvent[] }
  /** The same step again: nothing to append, answer with the current state (200). */
  | { outcome: 'unchanged' }
  /** Not possible in the current state, or against another open transfer (409). */
  | { outcome: 'conflict'; detail: string; status?: TransferStatus; openTransferId?: string }
  /** Well-formed but against a rule (422). */
  | { outcome: 'invalid'; detail: string; pointer: string }
  | { outcome: 'not-found' }
  /** The store cannot append the transfer's and the person's events atomically. */
  | { outcome: 'unsupported'; detail: string }

export interface RegisterTransfer {
  transferId: string
  personId: string
  fromRegion: string
  toRegion: string
  /** Local date (Asia/Shanghai) of the step. */
  today: string
}

/**
 * Registers a person's application at the destination (Art. 8). The person must have pension
 * months in `fromRegion` (recorded or imported) and no other open transfer; `fromRegion` ≠ `toRegion`.
 * The same registration again is `unchanged`; the id with other content is a conflict.
 */
export function decideRegister(cmd: RegisterTransfer, transfer: TransferState, pension: PensionState): TransferDecision {
  if (transfer.status !== 'none') {
    const r = transfer.registered!
    const same = r.personId === cmd.personId && r.fromRegion === cmd.fromRegion && r.toRegion === cmd.toRegion
    return same
      ? { outcome: 'unchanged' }
      : { outcome: 'conflict', status: transfer.status, detail: `transfer ${cmd.transferId} is registered for another person or other regions` }
  }
  if (cmd.fromRegion === cmd.toRegion) return { outcome: 'invalid', pointer: '/toRegion', detail: 'toRegion must differ from fromRegion' }
  if (pension.retirement)
    return { outcome: 'invalid', pointer: '/personId', detail: `the person retired on ${pension.retirement.retiredOn}; people already drawing a pension do not transfer (Guo Ban Fa [2009] No.66 Art. 8)` }
  if (!hasSomethingToMove(pension, cmd.fromRegion))
    return {
      outcome: 'invalid',
      pointer: '/fromRegion',
      detail: `nothing to transfer out of region ${cmd.fromRegion}: no pension months there that were not moved already, and the account is not held there`,
    }
  if (pension.openTransferId !== undefined)
    return { outcome: 'conflict', openTransferId: pension.openTransferId, detail: `person already has an open transfer, ${pension.openTransferId}` }
  const data = { transferId: cmd.transferId, personId: cmd.personId, fromRegion: cmd.fromRegion, toRegion: cmd.toRegion }
  return {
    outcome: 'append',
    transferEvents: [{ type: TRANSFER_REGISTERED, data: { ...data, registeredOn: cmd.today } }],
    personEvents: [{ type: PENSION_TRANSFER_OPENED, data }],
  }
}

/** The destination's acceptance letter: only from `registered`; again when accepted is unchanged. */
export function decideAccept(cmd: { transferId: string; today: string }, transfer: TransferState): TransferDecision {
  if (transfer.status === 'none') return { outcome: 'not-found' }
  if (transfer.status === 'accepted') return { outcome: 'unchanged' }
  if (transfer.status !== 'registered') return outOfOrder('accept', transfer.status)
  return { outcome: 'append', transferEvents: [{ type: TRANSFER_ACCEPTED, data: { transferId: cmd.transferId, acceptedOn: cmd.today } }], personEvents: [] }
}

/** The destination's written refusal: only from `registered`; the same refusal again is unchanged. */
export function decideReject(cmd: { transferId: string; reason: string; today: string }, transfer: TransferState): TransferDecision {
  if (transfer.status === 'none') return { outcome: 'not-found' }
  // The same step again answers with the recorded result, whatever reason it gives now.
  if (transfer.status === 'rejected') return { outcome: 'unchanged' }
  if (transfer.status !== 'registered') return outOfOrder('reject', transfer.status)
  return close(transfer, 'rejected', { type: TRANSFER_REJECTED, data: { transferId: cmd.transferId, reason: cmd.reason, rejectedOn: cmd.today } })
}

/** Withdrawal before anything was sent (from `registered` or `accepted`). */
export function decideCancel(cmd: { transferId: string; reason: string; today: string }, transfer: TransferState): TransferDecision {
  if (transfer.status === 'none') return { outcome: 'not-found' }
  if (transfer.status === 'cancelled') return { outcome: 'unchanged' }
  if (transfer.status !== 'registered' && transfer.status !== 'accepted') return outOfOrder('cancel', transfer.status)
  return close(transfer, 'cancelled', { type: TRANSFER_CANCELLED, data: { transferId: cmd.transferId, reason: cmd.reason, cancelledOn: cmd.today } })
}

/** The destination confirms receipt: only from `sent`; again when completed is unchanged. */
export function decideComplete(cmd: { transferId: string; today: string }, transfer: TransferState): TransferDecision {
  if (transfer.status === 'none') return { outcome: 'not-found' }
  if (transfer.status === 'completed') return { outcome: 'unchanged' }
  if (transfer.status !== 'sent') return outOfOrder('complete', transfer.status)
  return close(transfer, 'completed', { type: TRANSFER_COMPLETED, data: { transferId: cmd.transferId, completedOn: cmd.today } })
}

/** What a send would move now from the person's record in `fromRegion` (Art. 4). */
export interface PooledTransfer {
  periods: string[]
  /** Individual-account parts credited for those periods. */
  periodsIndividualAccount: Decimal
  legacyYears: boolean
  months: number
  /** Σ bases of the months from 1998-01 on. */
  baseTotal: Decimal
  /** 12% of baseTotal, rounded half-up to the fen once. */
  pooledFund: Decimal
}

/**
 * The pooled-fund part of a transfer out of `fromRegion`: every month not yet moved (recorded and
 * imported), with 12% of the bases of those from 1998-01 on, rounded half-up to 0.01 once
 * (Guo Ban Fa [2009] No.66 Art. 4; no interest on the pooled part, Ren She Bu Fa [2009] No.187).
 */
export function pooledTransfer(pension: PensionState, fromRegion: string): PooledTransfer {
  const r = pension.regions.get(fromRegion)
  if (!r) return { periods: [], periodsIndividualAccount: ZERO, legacyYears: false, months: 0, baseTotal: ZERO, pooledFund: ZERO }
  const periods = [...r.pending.keys()].sort()
  let baseTotal = ZERO
  let periodsIndividualAccount = ZERO
  for (const p of periods) {
    const line = r.pending.get(p)!
    periodsIndividualAccount = periodsIndividualAccount.plus(line.individualAccount)
    if (Number(p.slice(0, 4)) >= POOLED_TRANSFER_FROM_YEAR) baseTotal = baseTotal.plus(line.base)
  }
  const legacyYears = !r.legacyTransferred && r.legacyMonths > 0
  if (legacyYears) baseTotal = baseTotal.plus(r.legacyBaseTotal)
  const months = periods.length + (legacyYears ? r.legacyMonths : 0)
  return { periods, periodsIndividualAccount, legacyYears, months, baseTotal, pooledFund: roundHalfUpToFen(baseTotal.times(POOLED_TRANSFER_RATE)) }
}

/**
 * The source region sends: from `accepted`, the individual account balance (the whole of it when
 * the account is held in the source region; else only what the source region's unmoved months
 * credited) and the pooled amount; from `sent` or `completed`, a supplementary send of months
 * recorded in the source region since, with their individual-account parts (unchanged when there
 * are none, so a retried send moves money once).
 */
export function decideSend(cmd: { transferId: string; today: string }, transfer: TransferState, pension: PensionState): TransferDecision {
  if (transfer.status === 'none') return { outcome: 'not-found' }
  const first = transfer.status === 'accepted'
  if (!first && transfer.status !== 'sent' && transfer.status !== 'completed') return outOfOrder('send', transfer.status)
  const r = transfer.registered!
  const moved = pooledTransfer(pension, r.fromRegion)
  if (!first && moved.months === 0) return { outcome: 'unchanged' }
  const data: TransferSentData = {
    transferId: cmd.transferId,
    personId: r.personId,
    fromRegion: r.fromRegion,
    toRegion: r.toRegion,
    sendNumber: transfer.sends.length + 1,
    sentOn: cmd.today,
    individualAccount: formatYuan(first && pension.heldIn === r.fromRegion ? pension.individualAccount : moved.periodsIndividualAccount),
    pooledFund: formatYuan(moved.pooledFund),
    months: moved.months,
    baseTotal: formatYuan(moved.baseTotal),
    periods: moved.periods,
    legacyYears: moved.legacyYears,
  }
  return { outcome: 'append', transferEvents: [{ type: TRANSFER_SENT, data }], personEvents: [{ type: PENSION_TRANSFERRED, data }] }
}

function close(transfer: TransferState, outcome: 'completed' | 'rejected' | 'cancelled', event: StepEvent): TransferDecision {
  const r = transfer.registered!
  return {
    outcome: 'append',
    transferEvents: [event],
    personEvents: [{ type: PENSION_TRANSFER_CLOSED, data: { transferId: r.transferId, personId: r.personId, outcome } }],
  }
}

function outOfOrder(step: string, status: TransferStatus): TransferDecision {
  return { outcome: 'conflict', status, detail: `cannot ${step} a transfer that is ${status}` }
}
