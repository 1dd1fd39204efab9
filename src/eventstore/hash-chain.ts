import { createHash } from 'node:crypto'
import { canonicalJson } from '../canonical-json.js'

/**
 * The audit hash chain (issue #6): every event's metadata carries `hash`, the SHA-256 (hex) of the
 * RFC 8785 canonical JSON of `{ stream, revision, type, data, previousHash }`, where `revision` is
 * the decimal string of the 0-based stream revision and `previousHash` the hash of the stream's
 * previous event, or GENESIS_HASH for its first. Changing an event's stream, revision, type or data,
 * or removing or reordering an event inside a stream, breaks the chain from there on; removing a
 * stream's last events or a whole stream is found against a seal (audit-seals).
 *
 * Adapters compute the hash when they append (they alone know the revision); verifiers recompute it
 * from what they read.
 */

/** The `previousHash` of a stream's first event. */
export const GENESIS_HASH = '0'.repeat(64)

/** Metadata key of the hash. */
export const HASH_KEY = 'hash'

/**
 * RFC 8785 canonical JSON of an event's data (computed once per event, outside any lock).
 * @throws TypeError when the data is not JSON (see {@link canonicalJson}).
 */
export function canonicalData(data: unknown): string {
  return canonicalJson(data)
}

/**
 * The hash of one event, from its data already in canonical form. The envelope's members are
 * written in RFC 8785 order (data, previousHash, revision, stream, type: sorted by code unit) with
 * JSON string escaping, which is RFC 8785's for strings; `eventHash` computes the same from objects.
 */
export function chainHash(e: { stream: string; revision: bigint; type: string; canonicalData: string; previousHash: string }): string {
  const envelope =
    `{"data":${e.canonicalData},"previousHash":${JSON.stringify(e.previousHash)},` +
    `"revision":${JSON.stringify(e.revision.toString())},"stream":${JSON.stringify(e.stream)},"type":${JSON.stringify(e.type)}}`
  return createHash('sha256').update(envelope, 'utf8').digest('hex')
}

/** The hash of a recorded event (for verifiers): the same as `chainHash`. */
export function eventHash(e: { stream: string; revision: bigint; type: string; data: unknown; previousHash: string }): string {
  return chainHash({ stream: e.stream, revision: e.revision, type: e.type, canonicalData: canonicalData(e.data), previousHash: e.previousHash })
}

/** The hash a recorded event carries, if any. */
export function storedHash(metadata: Record<string, unknown> | undefined): string | undefined {
  const h = metadata?.[HASH_KEY]
  return typeof h === 'string' ? h : undefined
}
