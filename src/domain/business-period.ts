import { CONTRIBUTION_LINE_VOIDED, CONTRIBUTION_RECORDED } from './contribution/events.js'
import { INTEREST_CREDITED } from './interest/events.js'
import { LEGACY_HISTORY_IMPORTED, POOL_LEGACY_BALANCE_IMPORTED } from './legacy/events.js'
import { PAYOUT_RECORDED } from './payout/events.js'
import { RETIREMENT_RECORDED } from './retirement/events.js'
import { CONTRIBUTION_REVERSED, PAYOUT_REVERSED } from './reversal/events.js'
import {
  PENSION_TRANSFERRED,
  TRANSFER_ACCEPTED,
  TRANSFER_CANCELLED,
  TRANSFER_COMPLETED,
  TRANSFER_REGISTERED,
  TRANSFER_REJECTED,
  TRANSFER_SENT,
} from './transfer/events.js'

/** Date fields of the transfer process's events, by type. */
const TRANSFER_DATES: Record<string, string> = {
  [TRANSFER_REGISTERED]: 'registeredOn',
  [TRANSFER_ACCEPTED]: 'acceptedOn',
  [TRANSFER_REJECTED]: 'rejectedOn',
  [TRANSFER_CANCELLED]: 'cancelledOn',
  [TRANSFER_SENT]: 'sentOn',
  [PENSION_TRANSFERRED]: 'sentOn',
  [TRANSFER_COMPLETED]: 'completedOn',
}

/**
 * The business month (YYYY-MM) an event belongs to, for the business view of balances
 * (`?asOfPeriod=`): the contribution or payout period; the period of what a reversal undoes; December
 * of an interest year; the month of an import's `asOf`, a retirement's date or a transfer step's
 * date. `undefined` for events without one (idempotency markers, interest-run progress): they change
 * no balance.
 */
export function businessPeriodOf(event: { type: string; data: unknown }): string | undefined {
  const d = event.data as Record<string, unknown>
  switch (event.type) {
    case CONTRIBUTION_RECORDED:
    case CONTRIBUTION_LINE_VOIDED:
    case CONTRIBUTION_REVERSED:
    case PAYOUT_RECORDED:
      return d['period'] as string
    case PAYOUT_REVERSED:
      return (d['payout'] as { period: string }).period
    case INTEREST_CREDITED:
      return `${d['year'] as number}-12`
    case LEGACY_HISTORY_IMPORTED:
    case POOL_LEGACY_BALANCE_IMPORTED:
      return (d['asOf'] as string).slice(0, 7)
    case RETIREMENT_RECORDED:
      return (d['retiredOn'] as string).slice(0, 7)
    default: {
      const field = TRANSFER_DATES[event.type]
      return field ? (d[field] as string).slice(0, 7) : undefined
    }
  }
}
