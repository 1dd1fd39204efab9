import type { Decimal } from 'decimal.js'
import { ZERO, roundHalfUpToFen } from '../money.js'
import { workInjuryRate, type Policy, type SchemeRates } from '../policy.js'
import { SCHEMES, type Scheme, type WorkInjuryClass } from '../schemes.js'

/** What one worker's line owes for one scheme, in yuan. */
export interface SchemeAmounts {
  scheme: Scheme
  /** Contribution base: the wage clamped to [floor, cap]. */
  base: Decimal
  /** Rates as fractions of the base (16% → 0.16). */
  employerRate: Decimal
  employeeRate: Decimal
  /** base × employer rate, rounded half-up to the fen. */
  employer: Decimal
  /** base × employee rate, rounded half-up to the fen. */
  employee: Decimal
  /** Part credited to the person's individual account (pension, medical: the employee amount). */
  individualAccount: Decimal
  /** Part credited to the region's pooled fund: everything else. */
  pool: Decimal
}

/**
 * Schemes whose employee contribution is credited to the person's individual account:
 * pension (Guo Fa [2005] No.38, 8% of base since 2006-01-01) and medical (the employee's 2% to the
 * individual medical account, Guo Ban Fa [2021] No.14). All other amounts go to the pooled fund.
 */
export const INDIVIDUAL_ACCOUNT_SCHEMES: ReadonlySet<Scheme> = new Set<Scheme>(['pension', 'medical'])

/**
 * The contribution base: the wage clamped to [floor, cap] of the policy (Lao Ban Fa [1997] No.116:
 * floor 60%, cap 300% of the local average wage; a wage above the cap counts for nothing more).
 */
export function contributionBase(wage: Decimal, policy: Pick<Policy, 'floor' | 'cap'>): Decimal {
  if (wage.lt(policy.floor)) return policy.floor
  if (wage.gt(policy.cap)) return policy.cap
  return wage
}

/**
 * Computes every scheme in force under `policy` for one worker's monthly contribution wage.
 * Returns one entry per scheme in force, in the order of SCHEMES. Pure; never throws for a
 * policy that passed PolicyTableSchema.
 */
export function computeContribution(policy: Policy, wage: Decimal, workInjuryClass: WorkInjuryClass): SchemeAmounts[] {
  const base = contributionBase(wage, policy)
  const out: SchemeAmounts[] = []
  for (const scheme of SCHEMES) {
    const rates = ratesFor(policy, scheme, workInjuryClass)
    if (!rates) continue
    const employer = roundHalfUpToFen(base.times(rates.employer))
    const employee = roundHalfUpToFen(base.times(rates.employee))
    const individualAccount = INDIVIDUAL_ACCOUNT_SCHEMES.has(scheme) ? employee : ZERO
    out.push({
      scheme,
      base,
      employerRate: rates.employer,
      employeeRate: rates.employee,
      employer,
      employee,
      individualAccount,
      pool: employer.plus(employee).minus(individualAccount),
    })
  }
  return out
}

function ratesFor(policy: Policy, scheme: Scheme, workInjuryClass: WorkInjuryClass): SchemeRates | undefined {
  if (scheme !== 'work_injury') return policy.rates[scheme]
  const employer = workInjuryRate(policy, workInjuryClass)
  // Work injury is paid by the employer only (Social Insurance Law Art. 33).
  return employer ? { employer, employee: ZERO } : undefined
}
