import type { Decimal } from 'decimal.js'
import { ZERO, formatYuan, yuan } from '../money.js'
import { latestRegion, type PersonAccountsState } from '../person/person-accounts.js'
import type { Scheme } from '../schemes.js'
import { PAYOUT_RECORDED, type PayoutRecordedData } from './events.js'

/** `POST /v1/payouts`. Amounts are yuan strings with two places. */
export interface RecordPayout {
  payoutId: string
  personId: string
  scheme: Scheme
  /** YYYY-MM */
  period: string
  kind: string
  /** Other schemes than pension: the amount paid. */
  amount?: string
  /** Medical only: the part paid from the medical individual account. */
  fromIndividualAccount?: string
}

export type PayoutDecision =
  | { outcome: 'record'; event: { type: typeof PAYOUT_RECORDED; data: PayoutRecordedData } }
  /** Well-formed but against a rule (422). */
  | { outcome: 'invalid'; pointer: string; detail: string }
  /** The pension of this period is paid already (409). */
  | { outcome: 'period-paid'; period: string; payoutId: string }

/**
 * Decides a payout (pure).
 *
 * Pension (RULES.md §5): needs a recorded retirement and a period from the retirement's month on,
 * once per period. Pays the pooled monthly amount from the pension pool of the region holding the
 * account, and the individual-account monthly amount from the account; when the account holds less,
 * it pays what is left and the pool pays the rest (the account never goes below zero, Guo Fa [2005]
 * No.38: "when the individual account is exhausted, the pooled fund keeps paying").
 *
 * Any scheme: the period must not be after the current month (`today`, YYYY-MM-DD, Asia/Shanghai).
 *
 * Other schemes: `amount` from that scheme's pool of the region of the person's latest contribution
 * to it; medical may take `fromIndividualAccount` (at most the amount and the medical account's
 * balance) from the medical individual account.
 */
export function decidePayout(cmd: RecordPayout, state: PersonAccountsState, today: string): PayoutDecision {
  const currentPeriod = today.slice(0, 7)
  if (cmd.period > currentPeriod) return { outcome: 'invalid', pointer: '/period', detail: `${cmd.period} is after the current month (${currentPeriod}); benefits are paid for months that have begun` }
  return cmd.scheme === 'pension' ? decidePension(cmd, state) : decideScheme(cmd, state)
}

function decidePension(cmd: RecordPayout, state: PersonAccountsState): PayoutDecision {
  const retirement = state.pension.retirement
  if (!retirement) return { outcome: 'invalid', pointer: '/personId', detail: 'the person has no retirement recorded: no pension in payment' }
  const firstPeriod = retirement.retiredOn.slice(0, 7)
  if (cmd.period < firstPeriod)
    return { outcome: 'invalid', pointer: '/period', detail: `the pension is paid from ${firstPeriod} (retired on ${retirement.retiredOn})` }
  const paid = state.pension.pensionPayouts.get(cmd.period)
  if (paid !== undefined) return { outcome: 'period-paid', period: cmd.period, payoutId: paid }
  const due = yuan(retirement.individualAccountMonthly)
  const balance = maxOf(state.pension.individualAccount, ZERO)
  const fromAccount = balance.lt(due) ? balance : due
  const covers = due.minus(fromAccount)
  const fromPool = yuan(retirement.pooledMonthlyAmount).plus(covers)
  return record(cmd, retirement.region, fromAccount, fromPool, formatYuan(covers))
}

function decideScheme(cmd: RecordPayout, state: PersonAccountsState): PayoutDecision {
  const region = latestRegion(state, cmd.scheme)
  if (region === undefined)
    return {
      outcome: 'invalid',
      pointer: '/scheme',
      detail: `the person has no ${cmd.scheme} contributions: no pool to pay from${cmd.scheme === 'maternity' ? ' (where maternity insurance is part of medical, as in Beijing and Shanghai, pay it as scheme "medical")' : ''}`,
    }
  const amount = yuan(cmd.amount ?? '0.00')
  const fromAccount = yuan(cmd.fromIndividualAccount ?? '0.00')
  if (fromAccount.gt(amount))
    return { outcome: 'invalid', pointer: '/fromIndividualAccount', detail: `fromIndividualAccount ${formatYuan(fromAccount)} is more than the amount ${formatYuan(amount)}` }
  if (fromAccount.gt(state.medicalAccount))
    return {
      outcome: 'invalid',
      pointer: '/fromIndividualAccount',
      detail: `the medical individual account holds ${formatYuan(state.medicalAccount)}, less than ${formatYuan(fromAccount)}`,
    }
  return record(cmd, region, fromAccount, amount.minus(fromAccount), undefined)
}

function record(cmd: RecordPayout, region: string, fromAccount: Decimal, fromPool: Decimal, covers: string | undefined): PayoutDecision {
  return {
    outcome: 'record',
    event: {
      type: PAYOUT_RECORDED,
      data: {
        payoutId: cmd.payoutId,
        personId: cmd.personId,
        scheme: cmd.scheme,
        kind: cmd.kind,
        period: cmd.period,
        region,
        amount: formatYuan(fromAccount.plus(fromPool)),
        fromIndividualAccount: formatYuan(fromAccount),
        fromPool: formatYuan(fromPool),
        ...(covers !== undefined ? { poolCoversAccount: covers } : {}),
      },
    },
  }
}

const maxOf = (a: Decimal, b: Decimal): Decimal => (a.gt(b) ? a : b)
