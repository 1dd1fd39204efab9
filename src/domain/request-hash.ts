import { createHash } from 'node:crypto'
import { canonicalJson } from '../canonical-json.js'

/**
 * Idempotency of keyed requests (payouts, reversals): a request is compared with the one recorded
 * under its key through the SHA-256 of its RFC 8785 canonical JSON.
 */

/** SHA-256 (hex) of the RFC 8785 canonical JSON of `request`. */
export function requestHash(request: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(request), 'utf8').digest('hex')
}

/** Top-level fields whose canonical JSON differs between two requests, sorted. */
export function differingFields(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)])
  return [...keys].filter((k) => canonicalJson(a[k] ?? null) !== canonicalJson(b[k] ?? null)).sort()
}
