/**
 * Working days for the transfer procedure's deadlines (Guo Ban Fa [2009] No.66 Art. 8: each step
 * within 15 working days of the previous one). Monday to Friday are working days unless a holiday
 * calendar names them as days off. Dates are calendar dates `YYYY-MM-DD` (Asia/Shanghai local
 * dates); the arithmetic is on the calendar, never on a clock.
 */

/** Working days allowed for each step of a transfer. */
export const TRANSFER_STEP_WORKING_DAYS = 15

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/

function parse(date: string): Date {
  const m = DATE.exec(date)
  if (!m) throw new RangeError(`not a date YYYY-MM-DD: ${date}`)
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])))
  if (d.toISOString().slice(0, 10) !== date) throw new RangeError(`not a calendar date: ${date}`)
  return d
}

/** Whether `date` is a working day: Monday to Friday and not in `daysOff`. */
export function isWorkingDay(date: string, daysOff: ReadonlySet<string>): boolean {
  const weekday = parse(date).getUTCDay()
  return weekday !== 0 && weekday !== 6 && !daysOff.has(date)
}

/**
 * The date `days` working days after `date` (the day itself does not count): the deadline of a step
 * that must happen within `days` working days of `date`.
 * @throws RangeError for a malformed date or a negative count.
 */
export function addWorkingDays(date: string, days: number, daysOff: ReadonlySet<string>): string {
  if (!Number.isInteger(days) || days < 0) throw new RangeError(`not a day count: ${days}`)
  const d = parse(date)
  let left = days
  while (left > 0) {
    d.setUTCDate(d.getUTCDate() + 1)
    if (isWorkingDay(d.toISOString().slice(0, 10), daysOff)) left--
  }
  return d.toISOString().slice(0, 10)
}

/** The local date (YYYY-MM-DD) of an instant in Asia/Shanghai. */
export function shanghaiDate(instant: Date): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(instant)
}
