import type { Decimal } from 'decimal.js'
import { CONTRIBUTION_LINE_VOIDED, CONTRIBUTION_RECORDED, type ContributionRecordedData } from './contribution/events.js'
import { INTEREST_CREDITED, type InterestCreditedData } from './interest/events.js'
import {
  LEGACY_HISTORY_IMPORTED,
  POOL_LEGACY_BALANCE_IMPORTED,
  type LegacyHistoryImportedData,
  type PoolLegacyBalanceImportedData,
} from './legacy/events.js'
import { yuan } from './money.js'
import { PAYOUT_RECORDED, type PayoutRecordedData } from './payout/events.js'
import { CONTRIBUTION_REVERSED, PAYOUT_REVERSED, type PayoutReversedData } from './reversal/events.js'
import { TRANSFER_SENT, type TransferSentData } from './transfer/events.js'

/**
 * Every event that moves money read as balanced postings between named accounts (DESIGN.md,
 * "Money and postings"): a debit is a positive amount, a credit a negative one, and the postings
 * of one event sum to zero. Accounts:
 * - `employer:{employerId}`: what an employer owes for its payroll (employer and employee parts);
 * - `person:{personId}:{scheme}:individual`: a person's individual account (pension, medical);
 * - `pool:{region}:{scheme}`: a region's pooled fund;
 * - `payee:{personId}`: what was paid to a person;
 * - `interest:{region}:pension`: record-keeping interest credited to the region's accounts;
 * - `opening`: balances brought in from the previous system (legacy imports).
 * Accounts holding money for people (individual accounts, pools, payees) are credit-normal: their
 * balance is minus the sum of their postings.
 */
export interface Posting {
  account: string
  /** Debit positive, credit negative, yuan. */
  amount: Decimal
}

const debit = (account: string, amount: Decimal): Posting => ({ account, amount })
const credit = (account: string, amount: Decimal): Posting => ({ account, amount: amount.negated() })
const negate = (postings: Posting[]): Posting[] => postings.map((p) => ({ account: p.account, amount: p.amount.negated() }))

/** Postings of a contribution line: the employer pays employer and employee parts; the individual
 * accounts and pools receive them. */
function contribution(d: Pick<ContributionRecordedData, 'personId' | 'employerId' | 'region' | 'schemes'>): Posting[] {
  const out: Posting[] = []
  for (const s of d.schemes) {
    out.push(debit(`employer:${d.employerId}`, yuan(s.employer).plus(yuan(s.employee))))
    if (!yuan(s.individualAccount).isZero()) out.push(credit(`person:${d.personId}:${s.scheme}:individual`, yuan(s.individualAccount)))
    out.push(credit(`pool:${d.region}:${s.scheme}`, yuan(s.pool)))
  }
  return out
}

function payout(d: PayoutRecordedData): Posting[] {
  return [
    debit(`person:${d.personId}:${d.scheme}:individual`, yuan(d.fromIndividualAccount)),
    debit(`pool:${d.region}:${d.scheme}`, yuan(d.fromPool)),
    credit(`payee:${d.personId}`, yuan(d.amount)),
  ]
}

/**
 * The postings of one event (empty for events that move no money: markers, process steps,
 * retirements; and `PensionTransferred`, the person's copy of `TransferSent`, counted once there).
 */
export function postingsOf(event: { type: string; data: unknown }): Posting[] {
  switch (event.type) {
    case CONTRIBUTION_RECORDED:
      return contribution(event.data as ContributionRecordedData)
    case CONTRIBUTION_LINE_VOIDED:
    case CONTRIBUTION_REVERSED:
      return negate(contribution(event.data as ContributionRecordedData))
    case LEGACY_HISTORY_IMPORTED: {
      const d = event.data as LegacyHistoryImportedData
      return [debit('opening', yuan(d.individualAccountBalance)), credit(`person:${d.personId}:pension:individual`, yuan(d.individualAccountBalance))]
    }
    case POOL_LEGACY_BALANCE_IMPORTED: {
      const d = event.data as PoolLegacyBalanceImportedData
      return Object.entries(d.schemes).flatMap(([scheme, amount]) => [debit('opening', yuan(amount!)), credit(`pool:${d.region}:${scheme}`, yuan(amount!))])
    }
    case TRANSFER_SENT: {
      const d = event.data as TransferSentData
      return [debit(`pool:${d.fromRegion}:pension`, yuan(d.pooledFund)), credit(`pool:${d.toRegion}:pension`, yuan(d.pooledFund))]
    }
    case PAYOUT_RECORDED:
      return payout(event.data as PayoutRecordedData)
    case PAYOUT_REVERSED:
      return negate(payout((event.data as PayoutReversedData).payout))
    case INTEREST_CREDITED: {
      const d = event.data as InterestCreditedData
      return [debit(`interest:${d.region}:pension`, yuan(d.amount)), credit(`person:${d.personId}:pension:individual`, yuan(d.amount))]
    }
    default:
      return []
  }
}
