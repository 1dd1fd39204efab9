/**
 * Events of retirement (Guo Fa [2005] No.38; RULES.md §5). Amounts are yuan strings with two places;
 * dates are Asia/Shanghai local dates (YYYY-MM-DD).
 */

/**
 * On `person-{personId}`: the person retired and the pension in payment was fixed. The
 * individual-account monthly pension is the pension individual account balance at that moment
 * divided by the months divisor for the age at retirement, rounded half-up to 0.01; the pooled
 * (basic) monthly pension is as the region computed it (the request's `pooledMonthlyAmount`).
 */
export interface RetirementRecordedData {
  personId: string
  /** Region paying the pension: the one holding the account. */
  region: string
  retiredOn: string
  ageYears: number
  ageMonths: number
  /** Pension months contributed (recorded and imported, all regions). */
  monthsContributed: number
  /** Pension individual account balance at retirement. */
  individualAccountBalance: string
  monthsDivisor: number
  /** individualAccountBalance / monthsDivisor, rounded half-up to 0.01. */
  individualAccountMonthly: string
  pooledMonthlyAmount: string
  /** individualAccountMonthly + pooledMonthlyAmount. */
  monthlyPension: string
  /** Version of the pension tables the divisor came from. */
  pensionTablesVersion: string
}

export const RETIREMENT_RECORDED = 'RetirementRecorded' as const
