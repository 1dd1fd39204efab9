import type { Decimal } from 'decimal.js'
import { ZERO, formatYuan } from '../domain/money.js'
import { postingsOf } from '../domain/postings.js'

/**
 * The auditor's trial balance (DESIGN.md, "Money and postings"): every event of the log read as
 * postings (`postingsOf`: debit positive, credit negative, yuan) and summed by ACCOUNT CLASS, so the
 * work and the memory do not grow with the number of persons or employers:
 *
 * | account                                | class                       |
 * |----------------------------------------|-----------------------------|
 * | `employer:{employerId}`                | `employer`                  |
 * | `person:{personId}:{scheme}:individual`| `person:{scheme}:individual`|
 * | `pool:{region}:{scheme}`               | `pool:{region}:{scheme}`    |
 * | `payee:{personId}`                     | `payee`                     |
 * | `interest:{region}:pension`            | `interest:{region}`         |
 * | `opening`                              | `opening`                   |
 *
 * Pools keep their region and scheme (a handful of each), so each pool's balance from postings can
 * be checked against the `pool-balances` read model (see {@link poolBalanceFromPostings}).
 */

/** Sums of one class (or of all), yuan strings with exactly two places. */
export interface TrialBalanceLine {
  /** Sum of the debit postings (positive amounts). */
  debits: string
  /** Sum of the credit postings, as a positive amount. */
  credits: string
  /** debits − credits (negative for a credit balance: individual accounts, pools, payees). */
  net: string
}

/** The trial balance as reported. */
export interface TrialBalanceReport {
  /** Per account class, classes in ascending (code unit) order. */
  classes: Record<string, TrialBalanceLine>
  /** Over all classes; `net` must be `"0.00"`. */
  total: TrialBalanceLine
  /** Events whose own postings do not sum to zero (each should: postingsOf is balanced per event). */
  unbalancedEvents: { count: number; positions: string[] }
  /** `total.net` is zero and no event is unbalanced on its own. */
  balanced: boolean
}

/** An account name the trial balance does not know how to class (postingsOf was extended without
 * the auditor's classes). */
export class UnknownAccountError extends Error {
  override readonly name = 'UnknownAccountError'
}

/** Most positions of unbalanced events listed (the rest are counted). */
export const MAX_UNBALANCED_LISTED = 100

/**
 * The class of an account name (see the table above).
 * @throws UnknownAccountError for any other shape of name.
 */
export function accountClass(account: string): string {
  if (account === 'opening') return 'opening'
  const parts = account.split(':')
  switch (parts[0]) {
    case 'employer':
      if (parts.length === 2) return 'employer'
      break
    case 'payee':
      if (parts.length === 2) return 'payee'
      break
    case 'person':
      if (parts.length === 4 && parts[3] === 'individual') return `person:${parts[2]}:individual`
      break
    case 'pool':
      if (parts.length === 3) return account
      break
    case 'interest':
      if (parts.length === 3) return `interest:${parts[1]}`
      break
  }
  throw new UnknownAccountError(`no trial-balance class for the account ${JSON.stringify(account)}`)
}

interface Sums {
  debits: Decimal
  credits: Decimal
}

/**
 * Accumulates the trial balance event by event (memory: one pair of sums per class, plus at most
 * {@link MAX_UNBALANCED_LISTED} positions).
 */
export class TrialBalance {
  private readonly sums = new Map<string, Sums>()
  private unbalancedCount = 0
  private readonly unbalancedPositions: string[] = []

  /**
   * Adds the postings of one event (none for events that move no money).
   * @throws UnknownAccountError when a posting names an account of no known class.
   */
  add(event: { type: string; data: unknown; position: bigint }): void {
    const postings = postingsOf(event)
    let eventNet = ZERO
    for (const p of postings) {
      const cls = accountClass(p.account)
      let s = this.sums.get(cls)
      if (!s) this.sums.set(cls, (s = { debits: ZERO, credits: ZERO }))
      if (p.amount.isNegative()) s.credits = s.credits.minus(p.amount)
      else s.debits = s.debits.plus(p.amount)
      eventNet = eventNet.plus(p.amount)
    }
    if (!eventNet.isZero()) {
      this.unbalancedCount++
      if (this.unbalancedPositions.length < MAX_UNBALANCED_LISTED) this.unbalancedPositions.push(event.position.toString())
    }
  }

  /** The net (debits − credits) of one class; zero for a class never posted to. */
  net(cls: string): Decimal {
    const s = this.sums.get(cls)
    return s ? s.debits.minus(s.credits) : ZERO
  }

  /** The classes posted to so far, in ascending order. */
  classes(): string[] {
    return [...this.sums.keys()].sort()
  }

  /**
   * The report: per class and in total, two-place yuan strings.
   * @throws RangeError when a sum has more than two places (an event amount with more than two).
   */
  report(): TrialBalanceReport {
    const classes: Record<string, TrialBalanceLine> = {}
    let debits = ZERO
    let credits = ZERO
    for (const cls of this.classes()) {
      const s = this.sums.get(cls)!
      classes[cls] = line(s.debits, s.credits)
      debits = debits.plus(s.debits)
      credits = credits.plus(s.credits)
    }
    const total = line(debits, credits)
    return {
      classes,
      total,
      unbalancedEvents: { count: this.unbalancedCount, positions: [...this.unbalancedPositions] },
      balanced: debits.minus(credits).isZero() && this.unbalancedCount === 0,
    }
  }
}

function line(debits: Decimal, credits: Decimal): TrialBalanceLine {
  return { debits: formatYuan(debits), credits: formatYuan(credits), net: formatYuan(debits.minus(credits)) }
}

/**
 * A pool's balance from the postings: pools are credit-normal, so the balance is minus the net of
 * the class `pool:{region}:{scheme}` (zero when nothing was posted to it).
 */
export function poolBalanceFromPostings(trialBalance: TrialBalance, region: string, scheme: string): Decimal {
  return trialBalance.net(`pool:${region}:${scheme}`).negated()
}

/**
 * The sum of every person's individual account of `scheme` from the postings: individual accounts
 * are credit-normal, so minus the net of the class `person:{scheme}:individual` (zero when nothing
 * was posted to it).
 */
export function individualAccountsFromPostings(trialBalance: TrialBalance, scheme: string): Decimal {
  return trialBalance.net(`person:${scheme}:individual`).negated()
}
