import { z } from 'zod'
import { readJsonFile } from './json-file.js'

/** Most days off a holiday calendar may list (decades of public holidays). */
export const MAX_DAYS_OFF = 5_000

const CalendarSchema = z.strictObject({
  note: z.string().optional(),
  daysOff: z
    .array(z.string().regex(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, 'a date YYYY-MM-DD'))
    .max(MAX_DAYS_OFF),
})

/** A holiday calendar file that cannot be used. */
export class CalendarError extends Error {
  override readonly name = 'CalendarError'
}

/**
 * Loads a holiday calendar (`{ "daysOff": ["2024-10-01", ...] }`): dates that are not working days
 * although Monday to Friday. No file: no days off beyond weekends.
 * @throws CalendarError naming the file and the bad field.
 */
export function loadDaysOff(file: string | undefined): ReadonlySet<string> {
  if (!file) return new Set()
  return new Set(readJsonFile(file, CalendarSchema, 'holiday calendar', (m) => new CalendarError(m)).daysOff)
}
