/**
 * Verification of the audit hash chain and seals (issue #6, "Tamper evidence").
 *
 * Every event must follow its stream's previous event: revision = previous + 1 (the first 0), and
 * `metadata.hash` = `eventHash({ stream, revision, type, data, previousHash })` where
 * `previousHash` is the previous event's STORED hash (GENESIS_HASH for the first). So a changed
 * event breaks its own link only, a removed middle event breaks the revision sequence at the next
 * one. Events without a hash at the START of a stream were written before the chain existed: they
 * are `unchained` (counted and listed, a failure only with `strict`), and the stream's chain starts
 * at its first hashed event, chained to GENESIS_HASH as the adapters write it. An event without a
 * hash after a hashed one is a broken link (`hash-missing`).
 *
 * Seals (seal.ts) are checked as a chain: each seal's digest over its content, its `previousDigest`
 * the digest of the seal before (64 zeros for the first), so a seal removed or altered in the middle
 * breaks the chain. The log is checked against every seal as the walk passes it: an event at a
 * position in (previous seal's position, seal's position] (outside the seals stream) must be of a
 * stream the seal names, at most at the sealed revision; and by the seal's position every head it
 * names must be reached with its hash. This finds removed last events and removed streams, and
 * events inserted below a seal. The full head map at the latest seal (the fold of all seals) is then
 * necessarily what the log holds there.
 *
 * recordedAt and metadata other than `hash` are NOT covered by the chain; verify only checks that
 * `metadata.recordedAt` equals the event's `recordedAt`, and (on the embedded store, where one
 * writer stamps under its write lock) that it never decreases in position order.
 *
 * Three entry points, usable without CLI or HTTP: {@link verifyStore} (the whole log, in position
 * order; memory: one entry per stream and one seal's heads, never per event), {@link verifyStream}
 * (one stream, against the seals from the latest back to the latest naming it), and
 * {@link verifyExportFile} (an NDJSON export, offline). All yield to the event loop every
 * {@link YIELD_EVERY} events.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { EventStore } from '../eventstore/port.js'
import { GENESIS_HASH, eventHash, storedHash } from '../eventstore/hash-chain.js'
import { SqliteEventStore } from '../eventstore/sqlite/sqlite-event-store.js'
import {
  AUDIT_SEALED,
  AUDIT_SEAL_HEADS,
  AUDIT_SEALS_STREAM,
  GENESIS_DIGEST,
  SealUnreadableError,
  YIELD_EVERY,
  parseSealed,
  previousSeal,
  readSealsTail,
  sealHeadOf,
  sealHeads,
  storeChunkReader,
  type HeadTuple,
  type LoadedSeal,
  type SealHead,
} from './seal.js'
import { readExportFile } from './export.js'

/** Why a link is broken, or what else is wrong. */
export type BreakReason =
  /** The revision is not the previous one + 1 (0 for the first): an event before it is missing
   * or events are out of order. `expected`/`found` are revisions. */
  | 'revision-sequence'
  /** The event has no `metadata.hash` although an earlier event of its stream has one. `expected`
   * is the hash it should have. */
  | 'hash-missing'
  /** `metadata.hash` differs from the hash of the event's content chained to the previous stored
   * hash: the event (stream, revision, type or data) was changed. `expected` recomputed, `found` stored. */
  | 'hash-mismatch'
  /** With `strict` only: the first event without hash of a stream (written before the chain). */
  | 'unchained'
  /** `metadata.recordedAt` is missing or differs from the event's `recordedAt` (or that is not an
   * instant). `expected` the event's recordedAt, `found` the metadata's. */
  | 'recorded-at-inconsistent'
  /** recordedAt is before the previous event's (embedded store, position order). `expected` the
   * previous event's recordedAt, `found` this one's. The store never writes that, even across a
   * clock stepped back (it stamps the later of the clock and the log's last recordedAt), so on
   * logs written since issue #14 it means an edited log. */
  | 'recorded-at-out-of-order'
  /** An event at or below a seal's position of a stream that seal does not name (inserted below the
   * seal). `found` its revision. */
  | 'unsealed-stream'
  /** An event at or below a seal's position beyond the revision the seal names. `expected` the
   * sealed revision, `found` the event's. */
  | 'sealed-revision-exceeded'
  /** A sealed stream has no events by the seal's position. `expected` is the sealed hash, `found` empty. */
  | 'sealed-stream-missing'
  /** A sealed stream ends before the sealed revision by the seal's position: its last events are
   * missing. `expected` is the sealed hash, `found` empty. */
  | 'sealed-event-missing'
  /** The event at the sealed revision has another hash. `expected` sealed, `found` in the log. */
  | 'sealed-hash-mismatch'
  /** A seal itself cannot be used: malformed, a chunk missing, its digest not matching its content
   * (`expected` recomputed, `found` recorded), or not chained to the seal before it (`expected` the
   * digest it names, `found` the previous seal's). Seals from there on are not used. */
  | 'seal-malformed'
  | 'seal-chunk-missing'
  | 'seal-digest-mismatch'
  | 'seal-chain-broken'
  /** `expectDigest` was given and no seal of the (unbroken) chain has it. `expected` that digest,
   * `found` the latest seal's. */
  | 'expected-digest-missing'
  /** A line of an export file is not an exported event (file verification only). */
  | 'malformed-line'

/** One problem. Revisions and positions are decimal strings; hashes SHA-256 hex. */
export interface ChainBreak {
  stream: string
  /** The revision of the event at fault (for a seal problem: the sealed revision, or the seal's
   * own revision in the seals stream). */
  revision: string
  expected: string
  found: string
  reason: BreakReason
  /** Log position of the event at fault, when it is in the log. */
  position?: string
  /** 1-based line of an export file (file verification only). */
  line?: number
  /** For a problem found against a seal: the revision of that `AuditSealed` in the seals stream. */
  seal?: string
}

/** The seals as a verification used them. */
export interface SealCheck {
  /** Revision of the latest (usable) `AuditSealed` event in the seals stream. */
  revision: string
  /** Log position the latest seal covers up to. */
  position: string
  sealedAt: string
  /** The latest seal's digest: keep it outside the ledger, give it back as `expectDigest`. */
  digest: string
  /** Seals checked (the digest chain from the first to the latest). */
  seals: number
  /** Heads named by those seals, and found in the log as sealed. */
  heads: number
  matched: number
}

/** A stream with events written before the hash chain. */
export interface UnchainedStream {
  stream: string
  /** Its first event without hash. */
  firstRevision: string
  /** Its events without hash. */
  events: number
}

/** At most this many unchained streams are listed in a report (all are counted). */
export const MAX_UNCHAINED_LISTED = 1_000

/** Result of {@link verifyStore} and {@link verifyExportFile}. */
export interface VerifyReport {
  /** No problem (broken link, seal problem, recordedAt problem; unchained events with `strict`). */
  ok: boolean
  source: 'store' | 'file'
  /** Streams in the log (the seals stream included). */
  streams: number
  /** Events checked. */
  events: number
  /** Position of the last event read, or null for an empty log. */
  lastPosition: string | null
  /** The first problem, in log order (a seal's missing heads when the walk passes its position). */
  brokenAt?: ChainBreak
  /** Problems found in all. */
  problems: number
  /** Events without hash (written before the chain existed): counted, listed by stream (at most
   * {@link MAX_UNCHAINED_LISTED}); not verified, a failure only with `strict`. */
  unchained: { events: number; streams: number; list: UnchainedStream[] }
  /** The latest usable seal and what was checked against the seals (null when none was found: then
   * removed streams or last events cannot be detected). */
  seal: SealCheck | null
  /** When `expectDigest` was given: whether a seal of the chain has it. */
  expectedDigest?: { digest: string; found: boolean; revision?: string; position?: string }
}

/** Options of {@link verifyStore} and {@link verifyExportFile}. */
export interface VerifyOptions {
  /** Unchained events (without hash) are problems. */
  strict?: boolean
  /** A seal digest kept outside the ledger: fail unless a seal of the chain has it. */
  expectDigest?: string
  /** Check that recordedAt never decreases in position order. Default: on for the embedded
   * (SQLite) store, off for a file. */
  recordedAtOrder?: boolean
}

/** What a stream's chain remembers of its last event. */
export interface ChainState {
  revision: bigint
  /** Its stored hash; GENESIS_HASH while the stream has no hashed event. */
  hash: string
}

/** The part of an event the chain covers. */
export interface ChainedEvent {
  stream: string
  revision: bigint
  type: string
  data: unknown
  metadata: Record<string, unknown> | undefined
}

/** An event as the walkers read it. */
type WalkedEvent = ChainedEvent & { position: bigint; recordedAt: string }

/**
 * Checks one event's link to its stream's previous event (`previous`, undefined for none seen).
 * An event without hash is `unchained` while its stream has no hashed event (state hash
 * GENESIS_HASH), else a `hash-missing` break.
 * @returns the state to remember for the stream (the event's revision and stored hash, or
 *   GENESIS_HASH when it has none, as the adapters chain), the broken link if any (first reason
 *   only: revision, then hash), and whether the event is unchained.
 */
export function checkLink(
  previous: ChainState | undefined,
  e: ChainedEvent,
): { state: ChainState; broken?: Omit<ChainBreak, 'stream' | 'position' | 'line'>; unchained?: true } {
  const stored = storedHash(e.metadata)
  const state = { revision: e.revision, hash: stored ?? GENESIS_HASH }
  const revision = e.revision.toString()
  const expectedRevision = previous ? previous.revision + 1n : 0n
  if (e.revision !== expectedRevision) {
    return { state, broken: { revision, expected: expectedRevision.toString(), found: revision, reason: 'revision-sequence' } }
  }
  const previousHash = previous?.hash ?? GENESIS_HASH
  if (stored === undefined && previousHash === GENESIS_HASH) return { state, unchained: true }
  const expected = eventHash({ stream: e.stream, revision: e.revision, type: e.type, data: e.data, previousHash })
  if (stored === undefined) return { state, broken: { revision, expected, found: '', reason: 'hash-missing' } }
  if (stored !== expected) return { state, broken: { revision, expected, found: stored, reason: 'hash-mismatch' } }
  return { state }
}

/**
 * The cheap recordedAt checks (recordedAt is outside the hash): `metadata.recordedAt` present and
 * equal to `recordedAt`, an instant; with `order`, not before `previous` (the previous event's).
 */
export function checkRecordedAt(
  e: { recordedAt: string; metadata: Record<string, unknown> | undefined },
  previous: string | undefined,
  order: boolean,
): Pick<ChainBreak, 'expected' | 'found' | 'reason'> | undefined {
  const meta = e.metadata?.recordedAt
  if (typeof meta !== 'string' || meta !== e.recordedAt || Number.isNaN(Date.parse(e.recordedAt))) {
    return { expected: e.recordedAt, found: typeof meta === 'string' ? meta : '', reason: 'recorded-at-inconsistent' }
  }
  if (order && previous !== undefined && Date.parse(e.recordedAt) < Date.parse(previous)) {
    return { expected: previous, found: e.recordedAt, reason: 'recorded-at-out-of-order' }
  }
  return undefined
}

/** The break reported for a seal that cannot be used. */
function sealBreak(err: SealUnreadableError, position?: bigint): ChainBreak {
  return {
    stream: AUDIT_SEALS_STREAM,
    revision: err.sealRevision.toString(),
    expected: err.expected,
    found: err.found,
    reason: err.reason,
    ...(position !== undefined ? { position: position.toString() } : {}),
  }
}

/** A checked seal with its heads, or the problem that ends the chain. */
type SealItem = { seal: LoadedSeal; heads: HeadTuple[] } | { problem: ChainBreak }

/** An event of the seals stream. */
interface SealsStreamEvent {
  revision: bigint
  position: bigint
  type: string
  data: unknown
}

/**
 * The seals of the seals stream's events (in revision order), each checked (its form, chunks and
 * digest, its `previousDigest` the previous seal's digest, its position after the previous seal's),
 * until the first that is not usable, yielded as a problem. Memory: the chunks of one seal.
 */
async function* checkedSeals(events: AsyncIterable<SealsStreamEvent>): AsyncGenerator<SealItem> {
  const chunks = new Map<string, { type: string; data: unknown }>()
  let previousDigest = GENESIS_DIGEST
  let previousPosition = -1n
  let n = 0
  for await (const e of events) {
    if (++n % YIELD_EVERY === 0) await yieldToLoop()
    if (e.type === AUDIT_SEAL_HEADS) {
      chunks.set(e.revision.toString(), e)
      continue
    }
    if (e.type !== AUDIT_SEALED) continue
    try {
      const seal: LoadedSeal = { revision: e.revision, eventPosition: e.position, data: parseSealed(e.data, e.revision) }
      const heads = await sealHeads(seal, async (revision) => chunks.get(revision.toString()))
      chunks.clear()
      if (seal.data.previousDigest !== previousDigest) {
        throw new SealUnreadableError('seal-chain-broken', seal.revision, `the seal at revision ${seal.revision} does not chain to the seal before it`, seal.data.previousDigest, previousDigest)
      }
      const position = BigInt(seal.data.position)
      if (position <= previousPosition) {
        throw new SealUnreadableError('seal-malformed', seal.revision, `the seal at revision ${seal.revision} covers position ${position}, not after the seal before it`)
      }
      previousDigest = seal.data.digest
      previousPosition = position
      yield { seal, heads }
    } catch (err) {
      if (!(err instanceof SealUnreadableError)) throw err
      yield { problem: sealBreak(err, e.position) }
      return
    }
  }
}

/** A seal whose interval the walk is in. */
interface ActiveSeal {
  seal: LoadedSeal
  position: bigint
  heads: Map<string, { revision: bigint; hash: string; flagged: boolean }>
  /** Streams already reported as unsealed below it. */
  unsealed: Set<string>
}

/**
 * Walks events in log order, keeping per stream its last revision and hash, and checks each seal
 * (from `seals`, in order) against the log as the walk passes its position.
 */
class LogWalker {
  private readonly streams = new Map<string, ChainState>()
  private readonly unchained = new Map<string, UnchainedStream>()
  private unchainedEvents = 0
  private events = 0
  private lastPosition: bigint | null = null
  private lastRecordedAt: string | undefined
  private first: ChainBreak | undefined
  private problems = 0
  private active: ActiveSeal | undefined
  private sealsOpen = true
  private latest: LoadedSeal | undefined
  private sealCount = 0
  private headsChecked = 0
  private matched = 0
  private expected: LoadedSeal | undefined
  /** A seal problem found ahead of the walk, reported once the walk reaches the seal's event. */
  private pending: ChainBreak | undefined

  constructor(
    private readonly seals: AsyncGenerator<SealItem>,
    private readonly options: VerifyOptions & { recordedAtOrder: boolean },
  ) {}

  /** A problem outside the walk (a malformed line). */
  fail(b: ChainBreak): void {
    this.problems++
    this.first ??= b
  }

  /** Loads the first seal. */
  async start(): Promise<void> {
    await this.nextSeal()
  }

  /** Stops reading seals. */
  async close(): Promise<void> {
    await this.seals.return(undefined)
  }

  private async nextSeal(): Promise<void> {
    this.active = undefined
    if (!this.sealsOpen) return
    const next = await this.seals.next()
    if (next.done) {
      this.sealsOpen = false
      return
    }
    if ('problem' in next.value) {
      this.pending = next.value.problem
      this.sealsOpen = false
      return
    }
    const { seal, heads } = next.value
    this.sealCount++
    this.latest = seal
    if (seal.data.digest === this.options.expectDigest) this.expected ??= seal
    const map: ActiveSeal['heads'] = new Map()
    for (const [stream, revision, hash] of heads) map.set(stream, { revision: BigInt(revision), hash, flagged: false })
    this.active = { seal, position: BigInt(seal.data.position), heads: map, unsealed: new Set() }
  }

  async accept(e: WalkedEvent, line?: number): Promise<void> {
    this.events++
    this.lastPosition = e.position
    while (this.active && e.position > this.active.position) {
      this.finalize(this.active)
      await this.nextSeal()
    }
    const at = { position: e.position.toString(), ...(line !== undefined ? { line } : {}) }
    const revision = e.revision.toString()
    const link = checkLink(this.streams.get(e.stream), e)
    this.streams.set(e.stream, link.state)
    if (link.broken) this.fail({ stream: e.stream, ...link.broken, ...at })
    if (link.unchained) {
      this.unchainedEvents++
      const u = this.unchained.get(e.stream)
      if (u) u.events++
      else {
        this.unchained.set(e.stream, { stream: e.stream, firstRevision: revision, events: 1 })
        if (this.options.strict) this.fail({ stream: e.stream, revision, expected: 'a hash', found: '', reason: 'unchained', ...at })
      }
    }
    const recorded = checkRecordedAt(e, this.lastRecordedAt, this.options.recordedAtOrder)
    this.lastRecordedAt = e.recordedAt
    if (recorded) this.fail({ stream: e.stream, revision, ...recorded, ...at })
    if (this.pending && e.position >= BigInt(this.pending.position ?? '0')) {
      this.fail(this.pending)
      this.pending = undefined
    }

    const active = this.active
    if (!active || e.stream === AUDIT_SEALS_STREAM) return
    const seal = active.seal.revision.toString()
    const head = active.heads.get(e.stream)
    if (!head) {
      if (active.unsealed.has(e.stream)) return
      active.unsealed.add(e.stream)
      this.fail({ stream: e.stream, revision, expected: '', found: revision, reason: 'unsealed-stream', ...at, seal })
    } else if (e.revision > head.revision && !head.flagged) {
      head.flagged = true
      this.fail({ stream: e.stream, revision, expected: head.revision.toString(), found: revision, reason: 'sealed-revision-exceeded', ...at, seal })
    }
  }

  /** At the seal's position: every head it names reached, with its hash (in stream order). */
  private finalize(active: ActiveSeal): void {
    const seal = active.seal.revision.toString()
    for (const [stream, head] of active.heads) {
      this.headsChecked++
      const state = this.streams.get(stream)
      if (state && state.revision === head.revision && state.hash === head.hash) {
        this.matched++
        continue
      }
      if (head.flagged) continue
      const revision = head.revision.toString()
      if (!state) this.fail({ stream, revision, expected: head.hash, found: '', reason: 'sealed-stream-missing', seal })
      else if (state.revision < head.revision) this.fail({ stream, revision, expected: head.hash, found: '', reason: 'sealed-event-missing', seal })
      else if (state.revision > head.revision) {
        this.fail({ stream, revision: state.revision.toString(), expected: revision, found: state.revision.toString(), reason: 'sealed-revision-exceeded', seal })
      } else this.fail({ stream, revision, expected: head.hash, found: state.hash, reason: 'sealed-hash-mismatch', seal })
    }
  }

  async finish(source: 'store' | 'file'): Promise<VerifyReport> {
    while (this.active) {
      this.finalize(this.active)
      await this.nextSeal()
    }
    if (this.pending) this.fail(this.pending)
    this.pending = undefined
    const expectDigest = this.options.expectDigest
    if (expectDigest !== undefined && !this.expected) {
      this.fail({ stream: AUDIT_SEALS_STREAM, revision: '', expected: expectDigest, found: this.latest?.data.digest ?? '', reason: 'expected-digest-missing' })
    }
    const list: UnchainedStream[] = []
    for (const u of this.unchained.values()) {
      if (list.length === MAX_UNCHAINED_LISTED) break
      list.push(u)
    }
    const latest = this.latest
    return {
      ok: this.problems === 0,
      source,
      streams: this.streams.size,
      events: this.events,
      lastPosition: this.lastPosition?.toString() ?? null,
      ...(this.first ? { brokenAt: this.first } : {}),
      problems: this.problems,
      unchained: { events: this.unchainedEvents, streams: this.unchained.size, list },
      seal: latest
        ? {
            revision: latest.revision.toString(),
            position: latest.data.position,
            sealedAt: latest.data.sealedAt,
            digest: latest.data.digest,
            seals: this.sealCount,
            heads: this.headsChecked,
            matched: this.matched,
          }
        : null,
      ...(expectDigest !== undefined
        ? {
            expectedDigest: {
              digest: expectDigest,
              found: this.expected !== undefined,
              ...(this.expected ? { revision: this.expected.revision.toString(), position: this.expected.data.position } : {}),
            },
          }
        : {}),
    }
  }
}

/** The seals stream of a store up to a log position. */
async function* storeSealEvents(store: EventStore, bound: bigint): AsyncGenerator<SealsStreamEvent> {
  for await (const e of store.readStream(AUDIT_SEALS_STREAM)) {
    if (e.position > bound) return
    yield e
  }
}

/** The seals stream's events in an export file. */
async function* fileSealEvents(file: string): AsyncGenerator<SealsStreamEvent> {
  for await (const item of readExportFile(file)) if ('event' in item && item.event.stream === AUDIT_SEALS_STREAM) yield item.event
}

/**
 * Verifies the whole log of `store` up to its head when called: every event's link (read with
 * `readAll` in position order), recordedAt, and every seal (read alongside from the seals stream)
 * against the log and against the seal before it.
 * Memory: one entry per stream, and the heads of one seal.
 * @returns the report; `ok` false names the first problem in `brokenAt`.
 * @throws StoreUnavailableError when the store cannot be read.
 */
export async function verifyStore(store: EventStore, options: VerifyOptions = {}): Promise<VerifyReport> {
  const bound = (await store.headPosition()) ?? -1n
  const walker = new LogWalker(checkedSeals(storeSealEvents(store, bound)), {
    ...options,
    recordedAtOrder: options.recordedAtOrder ?? store instanceof SqliteEventStore,
  })
  try {
    await walker.start()
    if (bound >= 0n) {
      let n = 0
      for await (const e of store.readAll()) {
        if (e.position > bound) break
        await walker.accept(e)
        if (++n % YIELD_EVERY === 0) await yieldToLoop()
      }
    }
    return await walker.finish('store')
  } finally {
    await walker.close()
  }
}

/** Result of {@link verifyStream}. */
export interface StreamVerifyReport {
  stream: string
  /** Events of the stream read. */
  events: number
  /** The stream's last event, or null when it has none. */
  head: { revision: string; hash: string } | null
  ok: boolean
  /** The first problem: a broken link or recordedAt problem, else the seals' head not matching.
   * When a seal itself cannot be used, `stream` is the seals stream and `revision` the seal's there. */
  brokenAt?: Omit<ChainBreak, 'stream'> & { stream?: string }
  /** Its events without hash (written before the chain existed), when it has any. */
  unchained?: { events: number; firstRevision: string }
  /** When a seal names the stream: its head there (`revision`, `hash`), that seal's `sealedAt` and
   * `position`, whether the log has that hash at that revision by that position (`matches`), and
   * the latest seal's digest (`latestDigest`), chained back to that seal. */
  seal?: { sealedAt: string; position: string; revision: string; hash: string; matches: boolean; latestDigest: string }
}

/**
 * Verifies one stream: its chain (read in revision order), recordedAt, and the seals: from the
 * latest back to the latest naming the stream (all of them when none does), each checked on its own
 * (digest over its content; only the chunk that may hold the stream is read, checked against its
 * reference) and chained to the one after it. The stream's head there must be in the log by that
 * seal's position, and no event at or below the latest seal's position may go beyond it. (The whole
 * seal chain, from the first seal, is checked by {@link verifyStore}.)
 * @returns undefined when the stream has no events and no seal names it.
 * @throws StoreUnavailableError when the store cannot be read.
 */
export async function verifyStream(store: EventStore, stream: string, options: { recordedAtOrder?: boolean } = {}): Promise<StreamVerifyReport | undefined> {
  const order = options.recordedAtOrder ?? store instanceof SqliteEventStore
  let latest: LoadedSeal | undefined
  let named: { seal: LoadedSeal; head: SealHead } | undefined
  let sealProblem: ChainBreak | undefined
  if (stream !== AUDIT_SEALS_STREAM) {
    let current: LoadedSeal | undefined
    try {
      latest = (await readSealsTail(store)).latest
      current = latest
      const readChunk = storeChunkReader(store)
      let walked = 0
      while (current) {
        const head = await sealHeadOf(current, stream, readChunk)
        if (head) {
          named = { seal: current, head }
          break
        }
        if (current.data.previousDigest === GENESIS_DIGEST) break
        const later: LoadedSeal = current
        current = await previousSeal(store, later)
        if (!current || current.data.digest !== later.data.previousDigest) {
          const err = new SealUnreadableError('seal-chain-broken', later.revision, `the seal at revision ${later.revision} does not chain to the seal before it`, later.data.previousDigest, current?.data.digest ?? '')
          current = later
          throw err
        }
        if (BigInt(current.data.position) >= BigInt(later.data.position)) {
          const err = new SealUnreadableError('seal-malformed', later.revision, `the seal at revision ${later.revision} covers a position not after the seal before it`)
          current = later
          throw err
        }
        if (++walked % YIELD_EVERY === 0) await yieldToLoop()
      }
    } catch (err) {
      if (!(err instanceof SealUnreadableError)) throw err
      sealProblem = sealBreak(err, current?.revision === err.sealRevision ? current.eventPosition : undefined)
      named = undefined
    }
  }

  const checkSeals = latest !== undefined && sealProblem === undefined
  const latestPosition = latest ? BigInt(latest.data.position) : -1n
  const sealedRevision = named ? BigInt(named.head.revision) : undefined
  const sealedPosition = named ? BigInt(named.seal.data.position) : -1n
  let state: ChainState | undefined
  let events = 0
  let first: ChainBreak | undefined
  const note = (b: ChainBreak) => (first ??= b)
  let unchained: StreamVerifyReport['unchained']
  let lastRecordedAt: string | undefined
  let flagged = false
  let bySealed = 0
  let hashAtSealed: string | undefined
  for await (const e of store.readStream(stream)) {
    events++
    if (events % YIELD_EVERY === 0) await yieldToLoop()
    const revision = e.revision.toString()
    const at = { position: e.position.toString() }
    const link = checkLink(state, e)
    state = link.state
    if (link.broken) note({ stream, ...link.broken, ...at })
    if (link.unchained) unchained = unchained ? { ...unchained, events: unchained.events + 1 } : { events: 1, firstRevision: revision }
    const recorded = checkRecordedAt(e, lastRecordedAt, order)
    lastRecordedAt = e.recordedAt
    if (recorded) note({ stream, revision, ...recorded, ...at })
    if (checkSeals && e.position <= latestPosition && !flagged) {
      if (sealedRevision === undefined) {
        flagged = true
        note({ stream, revision, expected: '', found: revision, reason: 'unsealed-stream', ...at, seal: latest!.revision.toString() })
      } else if (e.revision > sealedRevision) {
        flagged = true
        note({ stream, revision, expected: sealedRevision.toString(), found: revision, reason: 'sealed-revision-exceeded', ...at, seal: latest!.revision.toString() })
      }
    }
    if (named && e.position <= sealedPosition) {
      bySealed++
      if (e.revision === sealedRevision) hashAtSealed = link.state.hash
    }
  }
  if (events === 0 && !named && !sealProblem) return undefined
  const matches = named !== undefined && hashAtSealed === named.head.hash
  if (named && !matches && !flagged) {
    const reason: BreakReason = hashAtSealed !== undefined ? 'sealed-hash-mismatch' : bySealed === 0 ? 'sealed-stream-missing' : 'sealed-event-missing'
    note({ stream, revision: named.head.revision, expected: named.head.hash, found: hashAtSealed ?? '', reason, seal: named.seal.revision.toString() })
  }
  if (sealProblem) note(sealProblem)
  let shown: StreamVerifyReport['brokenAt']
  if (first) {
    const { stream: where, ...rest } = first as ChainBreak
    shown = where === stream ? rest : first
  }
  return {
    stream,
    events,
    head: state ? { revision: state.revision.toString(), hash: state.hash } : null,
    ok: shown === undefined,
    ...(shown ? { brokenAt: shown } : {}),
    ...(unchained ? { unchained } : {}),
    ...(named && latest
      ? {
          seal: {
            sealedAt: named.seal.data.sealedAt,
            position: named.seal.data.position,
            revision: named.head.revision,
            hash: named.head.hash,
            matches,
            latestDigest: latest.data.digest,
          },
        }
      : {}),
  }
}

/**
 * Verifies an NDJSON export (export.ts) offline, without store or service: each stream's chain in
 * file order, recordedAt, and every seal in the file (its chunks must be in the file too), read
 * alongside. The file must be a whole export (from the start of the log): a stream whose first line
 * is not revision 0 is a broken link. Reads the file twice at once; memory: one entry per stream
 * and one seal's heads.
 * @returns the report; a line that is not an exported event is a `malformed-line` problem.
 * @throws Error (ENOENT, EACCES ...) when the file cannot be read.
 */
export async function verifyExportFile(file: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const walker = new LogWalker(checkedSeals(fileSealEvents(file)), { ...options, recordedAtOrder: options.recordedAtOrder ?? false })
  try {
    await walker.start()
    let n = 0
    for await (const item of readExportFile(file)) {
      if ('event' in item) await walker.accept(item.event, item.line)
      else walker.fail({ stream: '', revision: '', expected: 'an exported event', found: item.error, reason: 'malformed-line', line: item.line })
      if (++n % YIELD_EVERY === 0) await yieldToLoop()
    }
    return await walker.finish('file')
  } finally {
    await walker.close()
  }
}

/** One line saying what a report found, for people (the JSON report is for programs). */
export function summaryLine(r: VerifyReport): string {
  const where = r.source === 'file' ? 'lines' : 'events'
  const parts: string[] = []
  if (r.unchained.events > 0) {
    parts.push(`${r.unchained.events} unchained event(s) in ${r.unchained.streams} stream(s) (written before the hash chain, not verified; --strict fails them)`)
  }
  if (r.seal) {
    const s = r.seal
    parts.push(
      `seal ${s.revision} (position ${s.position}, ${s.sealedAt}): ${s.matched} of ${s.heads} sealed heads found in ${s.seals} seal(s); ` +
        `latest digest ${s.digest}: keep it outside the ledger and give it to --expect-digest`,
    )
  } else parts.push('WARNING no seal: removed streams or last events cannot be detected')
  if (r.expectedDigest) {
    const x = r.expectedDigest
    parts.push(x.found ? `expected digest found: seal ${x.revision} (position ${x.position})` : `expected digest ${x.digest} NOT FOUND`)
  }
  const tail = parts.map((p) => `; ${p}`).join('')
  if (r.ok) return `ok: ${r.events} ${where} in ${r.streams} streams verified${tail}`
  const b = r.brokenAt!
  const at = b.line !== undefined ? `line ${b.line}: ` : ''
  const what = b.stream ? `${b.stream}${b.revision ? ` revision ${b.revision}` : ''}` : 'not an event'
  return `BROKEN: ${at}${what}: ${b.reason} (expected ${b.expected || '-'}, found ${b.found || '-'}); ${r.problems} problem(s), ${r.events} ${where} in ${r.streams} streams${tail}`
}
