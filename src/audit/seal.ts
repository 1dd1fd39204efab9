/**
 * Seals of the audit hash chain (issue #6, "Tamper evidence").
 *
 * The hash chain (src/eventstore/hash-chain.ts) makes a changed event, or an event removed from the
 * middle of a stream, evident. It cannot show that a stream's LAST events, or a whole stream, were
 * removed: what is left is still a valid chain. Seals record stream heads (last revision and its
 * hash) at points of the log; verification finds each sealed head in the log, by the seal's
 * position, with the same hash, or reports it.
 *
 * Seals are INCREMENTAL and CHAINED. A seal is an `AuditSealed` event on {@link AUDIT_SEALS_STREAM}
 * carrying only the heads of the streams that changed since the previous seal:
 *
 *   { "sealedAt": "2024-08-01T00:00:00.000Z", "position": "11",
 *     "previousDigest": "<sha-256 hex of the previous seal, 64 zeros for the first>",
 *     "digest": "<sha-256 hex>",
 *     "heads": [ ["person-A", "3", "<hash>"], ["person-C", "0", "<hash>"] ] }
 *
 * - `position`: the log position the seal covers up to (inclusive): the last event read. The
 *   seal's heads are exactly the streams (the seals stream excepted) with an event in
 *   (previous seal's `position`, `position`], each at its last revision there.
 * - `heads`: `[stream, revision, hash]`, sorted by stream (UTF-16 code units, as RFC 8785 sorts
 *   names), revisions as decimal strings. A stream whose events carry no hash yet (written before
 *   the chain existed) is sealed with the hash of 64 zeros: its revision is still protected.
 * - `digest`: SHA-256 (hex) of the RFC 8785 JSON of
 *   `{ previousDigest, position, sealedAt, heads }` ({@link sealDigest}), so each digest commits to
 *   every seal before it: the latest digest, kept outside the ledger, vouches for all of them.
 * - The full head map at a seal is the fold of every seal up to it (a later head replaces an
 *   earlier one of the same stream).
 * - Over {@link DEFAULT_CHUNK_HEADS} changed heads (or {@link CHUNK_MAX_BYTES} of them), the heads go
 *   into `AuditSealHeads` events `{ heads: [[stream, revision, hash], ...] }` written just before the
 *   `AuditSealed`, which then has, instead of `heads`,
 *   `chunks: [{ revision, first, last, heads, digest }]`: the chunk's revision in the seals stream,
 *   its first and last stream, its head count and the SHA-256 of the RFC 8785 JSON of its heads list
 *   ({@link headsDigest}). The seal's digest is then over `{ chunks, position, previousDigest,
 *   sealedAt }`: it covers the chunk references (ranges included), and each chunk is checked against
 *   its reference, so one stream's head is checked reading one chunk.
 *
 * A new seal reads only the log after the latest seal's position; it checks each new event's link
 * to its stream's previous event (read from the store for a stream's first new event), so a seal
 * never vouches for a broken link ({@link SealRefusedError}).
 */
import { createHash } from 'node:crypto'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { canonicalJson } from '../canonical-json.js'
import { z } from 'zod'
import type { EventMetadata, EventStore, NewEvent } from '../eventstore/port.js'
import { WrongExpectedRevisionError } from '../eventstore/port.js'
import { GENESIS_HASH, storedHash } from '../eventstore/hash-chain.js'
import { checkLink, type ChainBreak, type ChainState } from './verify.js'

/** The stream of seals. Its events are part of the log but never sealed as heads. */
export const AUDIT_SEALS_STREAM = 'audit-seals'
/** Event type of a seal. */
export const AUDIT_SEALED = 'AuditSealed'
/** Event type of a chunk of a large seal's heads. */
export const AUDIT_SEAL_HEADS = 'AuditSealHeads'
/** The `previousDigest` of the first seal. */
export const GENESIS_DIGEST = '0'.repeat(64)

/** Most heads in one `AuditSealHeads` event (and inline in `AuditSealed`). */
export const DEFAULT_CHUNK_HEADS = 5_000
/** Most bytes of heads (their JSON) in one chunk, whatever their count: long stream names stay far
 * below KurrentDB's append limit. */
export const CHUNK_MAX_BYTES = 512 * 1024
/**
 * Most bytes (data and metadata, estimated) of one append of seal events. KurrentDB refuses an append
 * over its `MaxAppendSize`, 1 MiB by default; a seal whose chunks do not fit is written in several
 * appends (the chunks first, `AuditSealed` last), so chunks of an interrupted seal may stay behind,
 * named by no seal and harmless. On SQLite there is no limit: pass `Infinity` for one atomic append.
 */
export const DEFAULT_MAX_APPEND_BYTES = 900_000
/** Per-event allowance for the envelope and the metadata the store adds (hash, recordedAt, ...). */
const EVENT_OVERHEAD_BYTES = 512

/** The periodic seal's interval when `LEDGER_SEAL_INTERVAL_MS` is not set: hourly. */
export const DEFAULT_SEAL_INTERVAL_MS = 3_600_000

/** Events (or seals) handled between two yields to the event loop in long loops. */
export const YIELD_EVERY = 500

/** One stream's head as a seal stores it: `[stream, revision (decimal string), hash (hex)]`. */
export type HeadTuple = [stream: string, revision: string, hash: string]

/** One stream's head, named. */
export interface SealHead {
  stream: string
  /** 0-based revision of the stream's last event, decimal string. */
  revision: string
  /** That event's audit hash (SHA-256 hex; 64 zeros for an event without hash). */
  hash: string
}

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/)
const Decimal = z.string().regex(/^\d{1,39}$/)
const HeadTupleSchema = z.tuple([z.string().min(1), Decimal, Hex64])
const ChunkRefSchema = z.strictObject({ revision: Decimal, first: z.string().min(1), last: z.string().min(1), heads: z.number().int().min(1), digest: Hex64 })
export type ChunkRef = z.infer<typeof ChunkRefSchema>

/** Data of an `AuditSealed` event (see the module comment). Exactly one of `heads`, `chunks`. */
export const AuditSealedSchema = z
  .strictObject({
    sealedAt: z.string().min(1),
    position: Decimal,
    previousDigest: Hex64,
    digest: Hex64,
    heads: z.array(HeadTupleSchema).min(1).optional(),
    chunks: z.array(ChunkRefSchema).min(1).optional(),
  })
  .refine((d) => (d.heads === undefined) !== (d.chunks === undefined), 'exactly one of heads, chunks')
export type AuditSealedData = z.infer<typeof AuditSealedSchema>

/** Data of an `AuditSealHeads` event: one chunk of a large seal's heads. */
export const AuditSealHeadsSchema = z.strictObject({ heads: z.array(HeadTupleSchema).min(1) })
export type AuditSealHeadsData = z.infer<typeof AuditSealHeadsSchema>

/** A seal as read back: the `AuditSealed` event's revision and log position, and its data. */
export interface LoadedSeal {
  /** Revision of the `AuditSealed` event in {@link AUDIT_SEALS_STREAM}. */
  revision: bigint
  /** Log position of the `AuditSealed` event itself. */
  eventPosition: bigint
  data: AuditSealedData
}

/** Why a seal cannot be used. */
export type SealProblemReason = 'seal-malformed' | 'seal-chunk-missing' | 'seal-digest-mismatch' | 'seal-chain-broken'

/** A seal that cannot be used: its data is malformed, a chunk it names is missing or malformed, its
 * digest does not match its content, or its `previousDigest` is not the previous seal's digest.
 * Verification reports it as a break. */
export class SealUnreadableError extends Error {
  override readonly name = 'SealUnreadableError'
  constructor(
    readonly reason: SealProblemReason,
    readonly sealRevision: bigint,
    message: string,
    readonly expected = '',
    readonly found = '',
  ) {
    super(message)
  }
}

/** A seal was not written because the log after the previous seal has a broken link. */
export class SealRefusedError extends Error {
  override readonly name = 'SealRefusedError'
  constructor(readonly broken: ChainBreak) {
    super(`not sealed: ${broken.stream} revision ${broken.revision}: ${broken.reason} (expected ${broken.expected || '-'}, found ${broken.found || '-'})`)
  }
}

/** Sorts by UTF-16 code units (the order RFC 8785 gives object members), not by locale. */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The named form of a head tuple. */
export const headOf = (h: HeadTuple): SealHead => ({ stream: h[0], revision: h[1], hash: h[2] })

/**
 * SHA-256 (hex) of the RFC 8785 JSON of a list of heads `[[stream, revision, hash], ...]` in the
 * order given: a chunk's digest. Computed element by element (no string of the whole list).
 */
export function headsDigest(heads: Iterable<HeadTuple>): string {
  const h = createHash('sha256')
  updateHeads(h, heads)
  return h.digest('hex')
}

function updateHeads(h: ReturnType<typeof createHash>, heads: Iterable<HeadTuple>): void {
  h.update('[')
  let first = true
  for (const head of heads) {
    h.update((first ? '' : ',') + canonicalJson(head), 'utf8')
    first = false
  }
  h.update(']')
}

/** What a seal's digest covers: everything of `AuditSealed` but the digest itself. */
export interface SealDigestInput {
  previousDigest: string
  position: string
  sealedAt: string
  heads?: Iterable<HeadTuple>
  chunks?: ChunkRef[]
}

/**
 * A seal's digest: SHA-256 (hex) of the RFC 8785 JSON of `{ previousDigest, position, sealedAt,
 * heads }` (inline) or `{ chunks, previousDigest, position, sealedAt }` (chunked). Members are
 * written in RFC 8785 order (chunks, heads, position, previousDigest, sealedAt); heads streamed.
 */
export function sealDigest(d: SealDigestInput): string {
  const h = createHash('sha256')
  h.update('{')
  if (d.chunks !== undefined) h.update(`"chunks":${canonicalJson(d.chunks)},`, 'utf8')
  if (d.heads !== undefined) {
    h.update('"heads":')
    updateHeads(h, d.heads)
    h.update(',')
  }
  h.update(`"position":${canonicalJson(d.position)},"previousDigest":${canonicalJson(d.previousDigest)},"sealedAt":${canonicalJson(d.sealedAt)}}`, 'utf8')
  return h.digest('hex')
}

/**
 * Reads the seals stream backwards: its last revision (the expected revision of the next seal's
 * append; `undefined` when the stream does not exist) and the latest `AuditSealed` event.
 * @throws SealUnreadableError when the latest `AuditSealed` has malformed data.
 */
export async function readSealsTail(store: EventStore): Promise<{ tailRevision: bigint | undefined; latest: LoadedSeal | undefined }> {
  let tailRevision: bigint | undefined
  for await (const e of store.readStream(AUDIT_SEALS_STREAM, { direction: 'backwards' })) {
    tailRevision ??= e.revision
    if (e.type !== AUDIT_SEALED) continue
    return { tailRevision, latest: { revision: e.revision, eventPosition: e.position, data: parseSealed(e.data, e.revision) } }
  }
  return { tailRevision, latest: undefined }
}

/** The latest seal of the store (not checked), or `undefined` when none was written. @throws SealUnreadableError */
export async function latestSeal(store: EventStore): Promise<LoadedSeal | undefined> {
  return (await readSealsTail(store)).latest
}

/**
 * The seal before `seal` in the seals stream (not checked), or undefined when there is none: read
 * by revision, skipping `seal`'s chunks (and any chunk of an interrupted seal).
 * @throws SealUnreadableError when it has malformed data.
 */
export async function previousSeal(store: EventStore, seal: LoadedSeal): Promise<LoadedSeal | undefined> {
  let next = seal.revision - 1n
  for (const c of seal.data.chunks ?? []) if (BigInt(c.revision) <= next) next = BigInt(c.revision) - 1n
  while (next >= 0n) {
    let found: { type: string; data: unknown; position: bigint } | undefined
    for await (const e of store.readStream(AUDIT_SEALS_STREAM, { fromRevision: next, maxCount: 1 })) if (e.revision === next) found = e
    if (!found) return undefined
    if (found.type === AUDIT_SEALED) return { revision: next, eventPosition: found.position, data: parseSealed(found.data, next) }
    next -= 1n
  }
  return undefined
}

/** `AuditSealed` data validated. @throws SealUnreadableError (`seal-malformed`) */
export function parseSealed(data: unknown, revision: bigint): AuditSealedData {
  const parsed = AuditSealedSchema.safeParse(data)
  if (!parsed.success) throw new SealUnreadableError('seal-malformed', revision, `the seal at revision ${revision} of ${AUDIT_SEALS_STREAM} is malformed`)
  return parsed.data
}

const malformed = (seal: LoadedSeal, why: string) =>
  new SealUnreadableError('seal-malformed', seal.revision, `the seal at revision ${seal.revision} of ${AUDIT_SEALS_STREAM} is malformed: ${why}`)

/** Whether heads are sorted by stream, each stream once. */
function strictlySorted(heads: HeadTuple[]): boolean {
  for (let i = 1; i < heads.length; i++) if (byCodeUnits(heads[i - 1]![0], heads[i]![0]) >= 0) return false
  return true
}

/**
 * Checks a seal on its own, without reading its chunks: its form (heads sorted, chunk references in
 * order and before the seal, `position` before the seal's own event) and its digest over its
 * content (inline heads, or chunk references).
 * @throws SealUnreadableError (`seal-malformed`, `seal-digest-mismatch`)
 */
export function checkSealed(seal: LoadedSeal): void {
  const d = seal.data
  if (BigInt(d.position) >= seal.eventPosition) throw malformed(seal, `it covers position ${d.position}, not before its own (${seal.eventPosition})`)
  if (d.heads && !strictlySorted(d.heads)) throw malformed(seal, 'heads not sorted by stream')
  if (d.chunks) {
    let previous: ChunkRef | undefined
    for (const c of d.chunks) {
      const ordered = byCodeUnits(c.first, c.last) <= 0 && (!previous || (byCodeUnits(previous.last, c.first) < 0 && BigInt(previous.revision) < BigInt(c.revision)))
      if (!ordered || BigInt(c.revision) >= seal.revision) throw malformed(seal, `chunk reference ${c.revision} out of order`)
      previous = c
    }
  }
  const digest = sealDigest(d)
  if (digest !== d.digest) {
    throw new SealUnreadableError('seal-digest-mismatch', seal.revision, `the seal at revision ${seal.revision} does not match its digest`, digest, d.digest)
  }
}

/** Reads one event of the seals stream by revision: its type and data, or undefined. */
export type ChunkReader = (revision: bigint) => Promise<{ type: string; data: unknown } | undefined>

/** A {@link ChunkReader} over a store. */
export const storeChunkReader =
  (store: EventStore): ChunkReader =>
  async (revision) => {
    for await (const e of store.readStream(AUDIT_SEALS_STREAM, { fromRevision: revision, maxCount: 1 })) return e.revision === revision ? e : undefined
    return undefined
  }

/**
 * All heads of a seal (the heads changed since the previous seal), sorted by stream; the seal
 * checked ({@link checkSealed}) and each chunk checked against its reference.
 * @throws SealUnreadableError when the seal or a chunk is malformed, a chunk is missing, or a
 *   digest does not match.
 */
export async function sealHeads(seal: LoadedSeal, readChunk: ChunkReader): Promise<HeadTuple[]> {
  checkSealed(seal)
  if (seal.data.heads) return seal.data.heads
  const heads: HeadTuple[] = []
  for (const ref of seal.data.chunks ?? []) heads.push(...(await readChunkHeads(seal, ref, readChunk)))
  return heads
}

/**
 * The head a seal records for one stream (reading at most the one chunk whose range holds it), or
 * undefined. The seal is checked ({@link checkSealed}) and the chunk read against its reference.
 * @throws SealUnreadableError as {@link sealHeads}.
 */
export async function sealHeadOf(seal: LoadedSeal, stream: string, readChunk: ChunkReader): Promise<SealHead | undefined> {
  checkSealed(seal)
  let heads = seal.data.heads
  if (!heads) {
    const ref = seal.data.chunks?.find((c) => byCodeUnits(c.first, stream) <= 0 && byCodeUnits(stream, c.last) <= 0)
    if (!ref) return undefined
    heads = await readChunkHeads(seal, ref, readChunk)
  }
  let lo = 0
  let hi = heads.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const c = byCodeUnits(heads[mid]![0], stream)
    if (c === 0) return headOf(heads[mid]!)
    if (c < 0) lo = mid + 1
    else hi = mid - 1
  }
  return undefined
}

async function readChunkHeads(seal: LoadedSeal, ref: ChunkRef, readChunk: ChunkReader): Promise<HeadTuple[]> {
  const chunk = await readChunk(BigInt(ref.revision))
  if (!chunk || chunk.type !== AUDIT_SEAL_HEADS) {
    throw new SealUnreadableError('seal-chunk-missing', seal.revision, `the seal at revision ${seal.revision} names chunk revision ${ref.revision}, which is not an ${AUDIT_SEAL_HEADS} event`)
  }
  const parsed = AuditSealHeadsSchema.safeParse(chunk.data)
  if (!parsed.success) throw malformed(seal, `chunk revision ${ref.revision} is malformed`)
  const heads = parsed.data.heads
  const digest = headsDigest(heads)
  if (digest !== ref.digest) {
    throw new SealUnreadableError('seal-digest-mismatch', seal.revision, `chunk revision ${ref.revision} of the seal at revision ${seal.revision} does not match its digest`, digest, ref.digest)
  }
  if (heads.length !== ref.heads || heads[0]![0] !== ref.first || heads.at(-1)![0] !== ref.last || !strictlySorted(heads)) {
    throw malformed(seal, `chunk revision ${ref.revision} does not match its reference`)
  }
  return heads
}

/** Options of {@link seal}. */
export interface SealOptions {
  /** The seal's `sealedAt`; default the system clock. */
  clock?: () => Date
  /** Most heads per chunk (and inline); default {@link DEFAULT_CHUNK_HEADS}. */
  chunkHeads?: number
  /** Most estimated bytes per append; default {@link DEFAULT_MAX_APPEND_BYTES}; `Infinity` for one append. */
  maxAppendBytes?: number
  /** Metadata of the seal's events (actor, correlationId). Default `{ actor: 'ledger' }`. */
  metadata?: EventMetadata
}

/** What {@link seal} did. */
export type SealOutcome =
  | {
      sealed: true
      /** Revision of the `AuditSealed` event. */
      revision: bigint
      /** Its data (with `heads` or `chunks`). */
      data: AuditSealedData
      /** Heads it records (the streams changed since the previous seal). */
      heads: number
      /** Events appended (chunks and the seal) and in how many appends. */
      events: number
      appends: number
      /** Events of the log read after the previous seal (including the seals stream's). */
      read: number
    }
  | {
      sealed: false
      /** `empty`: the log has no events to seal; `unchanged`: nothing but seals since the latest seal. */
      reason: 'empty' | 'unchanged'
      previous?: LoadedSeal
    }

/** The chain state of a stream's event by revision, read from the store (undefined when absent). */
async function storedState(store: EventStore, stream: string, revision: bigint): Promise<ChainState | undefined> {
  for await (const e of store.readStream(stream, { fromRevision: revision, maxCount: 1 })) {
    if (e.revision === revision) return { revision, hash: storedHash(e.metadata) ?? GENESIS_HASH }
  }
  return undefined
}

/**
 * Writes a seal of the heads of the streams changed since the latest seal (see the module comment),
 * chained to it, reading only the log after its position. Memory: one entry per changed stream.
 * Writes nothing when no event outside the seals stream came after the latest seal. Yields to the
 * event loop every {@link YIELD_EVERY} events.
 * @throws SealRefusedError when an event read has a broken link to its stream's previous event
 *   (wrong revision, wrong hash, or no hash after hashed events): run `verify`. Events without a
 *   hash at the start of a stream (before the chain existed) are not a broken link.
 * @throws SealUnreadableError when the latest seal cannot be read back (malformed, a chunk missing,
 *   its digest not matching).
 * @throws WrongExpectedRevisionError when another seal was written meanwhile (try again).
 * @throws StoreUnavailableError, StoreLimitExceededError from the store.
 */
export async function seal(store: EventStore, options: SealOptions = {}): Promise<SealOutcome> {
  const chunkHeads = options.chunkHeads ?? DEFAULT_CHUNK_HEADS
  if (!Number.isSafeInteger(chunkHeads) || chunkHeads < 1) throw new RangeError(`chunkHeads must be a positive integer, got ${chunkHeads}`)
  const maxAppendBytes = options.maxAppendBytes ?? DEFAULT_MAX_APPEND_BYTES
  const { tailRevision, latest } = await readSealsTail(store)
  // Never chain onto a seal that does not check out.
  if (latest) await sealHeads(latest, storeChunkReader(store))

  const heads = new Map<string, ChainState>()
  // From the previous seal's position, inclusive (a position that is not an event's may not be
  // readable on KurrentDB); that event itself is skipped.
  const after = latest ? BigInt(latest.data.position) : undefined
  let position: bigint | undefined = after
  let read = 0
  for await (const e of store.readAll(after !== undefined ? { fromPosition: after } : {})) {
    if (after !== undefined && e.position <= after) continue
    read++
    position = e.position
    if (read % YIELD_EVERY === 0) await yieldToLoop()
    if (e.stream === AUDIT_SEALS_STREAM) continue
    let previous = heads.get(e.stream)
    if (!previous && e.revision > 0n) previous = await storedState(store, e.stream, e.revision - 1n)
    const link = checkLink(previous, e)
    if (link.broken) throw new SealRefusedError({ stream: e.stream, position: e.position.toString(), ...link.broken })
    heads.set(e.stream, link.state)
  }
  if (heads.size === 0 || position === undefined) return latest ? { sealed: false, reason: 'unchanged', previous: latest } : { sealed: false, reason: 'empty' }

  const sorted: HeadTuple[] = [...heads].sort(([a], [b]) => byCodeUnits(a, b)).map(([stream, s]) => [stream, s.revision.toString(), s.hash])
  heads.clear()
  const base = {
    sealedAt: (options.clock?.() ?? new Date()).toISOString(),
    position: position.toString(),
    previousDigest: latest?.data.digest ?? GENESIS_DIGEST,
  }
  const chunks = chunkHeadsList(sorted, chunkHeads)
  const firstRevision = tailRevision === undefined ? 0n : tailRevision + 1n
  const metadata = options.metadata ?? { actor: 'ledger' }
  const events: NewEvent[] = []
  let data: AuditSealedData
  if (chunks.length <= 1) {
    data = { ...base, digest: sealDigest({ ...base, heads: sorted }), heads: sorted }
  } else {
    chunks.forEach((c) => events.push({ type: AUDIT_SEAL_HEADS, data: { heads: c } satisfies AuditSealHeadsData, metadata }))
    const refs: ChunkRef[] = chunks.map((c, i) => ({ revision: (firstRevision + BigInt(i)).toString(), first: c[0]![0], last: c.at(-1)![0], heads: c.length, digest: headsDigest(c) }))
    data = { ...base, digest: sealDigest({ ...base, chunks: refs }), chunks: refs }
  }
  events.push({ type: AUDIT_SEALED, data, metadata })

  // One append when everything fits; otherwise the chunks in as few appends as fit, the seal last.
  let expected: bigint | 'no_stream' = tailRevision ?? 'no_stream'
  let appends = 0
  for (const group of appendGroups(events, maxAppendBytes)) {
    const result = await store.append(AUDIT_SEALS_STREAM, group, expected)
    expected = result.nextExpectedRevision
    appends++
  }
  return { sealed: true, revision: firstRevision + BigInt(events.length - 1), data, heads: sorted.length, events: events.length, appends, read }
}

/** Splits sorted heads into chunks of at most `max` heads and {@link CHUNK_MAX_BYTES} bytes. */
function chunkHeadsList(heads: HeadTuple[], max: number): HeadTuple[][] {
  const chunks: HeadTuple[][] = []
  let current: HeadTuple[] = []
  let bytes = 0
  for (const h of heads) {
    const size = h[0].length + h[1].length + h[2].length + 12
    if (current.length > 0 && (current.length >= max || bytes + size > CHUNK_MAX_BYTES)) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(h)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** Groups events into consecutive appends of at most `maxBytes` (estimated), at least one event each. */
function appendGroups(events: NewEvent[], maxBytes: number): NewEvent[][] {
  const groups: NewEvent[][] = []
  let current: NewEvent[] = []
  let bytes = 0
  for (const e of events) {
    const size = Buffer.byteLength(JSON.stringify(e.data)) + Buffer.byteLength(JSON.stringify(e.metadata ?? {})) + EVENT_OVERHEAD_BYTES
    if (current.length > 0 && bytes + size > maxBytes) {
      groups.push(current)
      current = []
      bytes = 0
    }
    current.push(e)
    bytes += size
  }
  if (current.length > 0) groups.push(current)
  return groups
}

/** What the periodic seal logs through (pino's and Fastify's loggers fit). */
export interface SealLogger {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
  error(obj: object, msg: string): void
}

/** A running periodic seal. */
export interface PeriodicSeal {
  /** Stops the timer and waits for a seal in progress. Idempotent. */
  stop(): Promise<void>
}

/**
 * Seals every `intervalMs` milliseconds (the first after one interval), one seal at a time: the next
 * interval starts when a seal ends. Errors are logged, never thrown (a seal another process wrote
 * meanwhile is a warning). The timer does not keep the process alive.
 * @throws RangeError when `intervalMs` is not a positive integer.
 */
export function startPeriodicSeal(store: EventStore, options: { intervalMs: number; logger?: SealLogger; seal?: SealOptions }): PeriodicSeal {
  const { intervalMs, logger } = options
  if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0) throw new RangeError(`intervalMs must be a positive integer, got ${intervalMs}`)
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  const schedule = () => {
    if (stopped) return
    timer = setTimeout(() => {
      running = runOnce().finally(() => {
        running = undefined
        schedule()
      })
    }, intervalMs)
    timer.unref()
  }
  const runOnce = async () => {
    try {
      const outcome = await seal(store, options.seal)
      if (outcome.sealed) {
        logger?.info({ revision: outcome.revision.toString(), position: outcome.data.position, heads: outcome.heads, digest: outcome.data.digest }, 'audit seal written')
      }
    } catch (err) {
      if (err instanceof WrongExpectedRevisionError) logger?.warn({ err }, 'audit seal skipped: another seal was written meanwhile')
      else logger?.error({ err }, 'audit seal failed')
    }
  }
  schedule()
  return {
    stop: async () => {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}
