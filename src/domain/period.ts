/**
 * Contribution periods: `YYYY-MM`, the month a contribution is for. A business fact carried in the
 * event, never derived from the server clock or time zone.
 */

/** `YYYY-MM` with a month 01..12 and a year 1990..2099 (before 1990 there is no ledger history to post). */
export const PERIOD_PATTERN = /^(199\d|20\d\d)-(0[1-9]|1[0-2])$/

/** The first calendar day of a period, `YYYY-MM-01` (for matching policy windows). */
export function periodFirstDay(period: string): string {
  return `${period}-01`
}
