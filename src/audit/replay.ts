import { createHash } from 'node:crypto'
import type { Decimal } from 'decimal.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate } from 'node:timers/promises'
import { canonicalJson } from '../canonical-json.js'
import { PROJECTIONS, personBalances, poolBalances, type DocumentProjection, type PersonBalancesDoc, type PoolBalancesDoc } from '../../projections/index.js'
import type { EventStore, RecordedEvent } from '../eventstore/port.js'
import { LEDGER_STREAM_PREFIXES } from '../domain/streams.js'
import { ZERO, formatYuan, yuan } from '../domain/money.js'
import { foldBatch } from '../projector/fold-batch.js'
import { ReadModelStore } from '../projector/read-model-store.js'
import { SCHEMES } from '../domain/schemes.js'
import { TrialBalance, individualAccountsFromPostings, poolBalanceFromPostings, type TrialBalanceReport } from './trial-balance.js'
import { InstantFormatError, compareInstants, parseInstant, type Instant } from './instant.js'
import { measureProjectionLag } from '../metrics/projection-lag.js'

/** The instant reading shared with the HTTP `asOf` (src/audit/instant.ts), re-exported. */
export { InstantFormatError, compareInstants, instantNanos, isInstant, parseInstant, type Instant } from './instant.js'

/**
 * The auditor's replay (issue #6): the LOG folded again, from its first event, by the same
 * projections and the same fold as the projector (`foldBatch`), into a temporary read-model store,
 * while every event is also read as postings into a trial balance. Nothing of the live read models
 * is trusted or read here; {@link compareReadModels} compares the result with them afterwards.
 *
 * Memory is bounded whatever the size of the log: events are read page by page and folded in
 * batches of {@link DEFAULT_REPLAY_BATCH_EVENTS}, each batch's documents written to a temporary
 * SQLite file (a copy of the read models, as large as the live ones, in a folder `ledger-replay-*`
 * under `tmpDir`, default `os.tmpdir()`, deleted by `close()`) before the next batch is read; the trial
 * balance sums by account class (regions × schemes, not persons); comparisons and digests read
 * both stores page by page in key order.
 */

/** Events folded into one write of the temporary read models. */
export const DEFAULT_REPLAY_BATCH_EVENTS = 1_000
/** Documents read per page when comparing or digesting read models. */
export const READ_MODEL_PAGE = 500
/** Most differences listed by {@link compareReadModels} (the rest are counted). */
export const MAX_DIFFERENCES_LISTED = 100
/** Checkpoint name of the replay in its temporary store (never the service's `main`). */
export const REPLAY_CHECKPOINT = 'replay'

/** What the replay reports after each batch (for a progress bar). */
export interface ReplayProgress {
  /** Position of the last event read (folded or skipped). */
  position: bigint
  /** Events folded so far. */
  events: number
  /** Where the replay will stop at the latest: `untilPosition` or the log's head when the replay
   * started, whichever is lower (`null` for an empty log). For a progress bar's total. */
  target: bigint | null
}

export interface ReplayOptions {
  /** The event store to read (`readAll`, in position order). Not closed by the replay. */
  store: EventStore
  /**
   * Stop before the first event recorded after this instant (its `recordedAt` later than `until`):
   * an instant as {@link parseInstant} reads it (the same as the HTTP `asOf`), e.g.
   * `2024-08-01T00:00:00+08:00`, compared exactly. `recordedAt` follows position order, so reading
   * stops there.
   */
  until?: string
  /** Stop after this position (events at positions ≤ `untilPosition` are folded). */
  untilPosition?: bigint
  /** Called after each batch is folded and written. */
  onProgress?: (progress: ReplayProgress) => void
  /** Events folded per batch (a positive integer). Default {@link DEFAULT_REPLAY_BATCH_EVENTS}. */
  batchEvents?: number
  /** The projections to run. Default: the service's {@link PROJECTIONS}. */
  projections?: readonly DocumentProjection<unknown>[]
  /** The folder under which the temporary read models are written (they are a copy of the read
   * models). Default `os.tmpdir()`. */
  tmpDir?: string
}

/** A finished replay. Call `close()` once done with `readModels` (it deletes the temporary file). */
export interface ReplayResult {
  /** Position of the last event read within the cut (folded or skipped), `null` for none. */
  position: bigint | null
  /** Events folded (those of the ledger's streams, {@link LEDGER_STREAM_PREFIXES}). */
  events: number
  /** Events of other streams within the cut, not folded (the projector's subscription never
   * delivers them either). Zero on a store holding the ledger alone. */
  skippedEvents: number
  /** The replayed read models (temporary SQLite file); their checkpoint `replay` is `position`. */
  readModels: ReadModelStore
  /** Postings of every folded event, summed by account class. */
  trialBalance: TrialBalance
  /** Closes the temporary read models and deletes their file. Idempotent. */
  close(): void
}

const isLedgerStream = (stream: string) => LEDGER_STREAM_PREFIXES.some((prefix) => stream.startsWith(prefix))

/**
 * Replays the log into temporary read models and a trial balance.
 *
 * Reads `store.readAll()` from the start in position order; folds every event of the ledger's
 * streams with `foldBatch` (the projector's fold) in batches of `batchEvents`, writing each batch
 * and the checkpoint `replay` in one transaction of a temporary {@link ReadModelStore}; adds each
 * event's postings to the trial balance. Stops after `untilPosition` and before the first event
 * recorded after `until` (both may be given; the earlier cut wins), else at the end of the log.
 *
 * @returns position (last event read, `null` when none), events folded, the temporary read models
 *   and the trial balance; the caller calls `close()`.
 * @throws InstantFormatError when `until` (or an event's `recordedAt`) is not an ISO 8601 instant.
 * @throws RangeError when `batchEvents` is not a positive integer.
 * @throws whatever the store throws (e.g. StoreUnavailableError), a projection throws, or
 *   UnknownAccountError (an event posting to an account of no known class); the temporary file is
 *   deleted first.
 */
export async function replayLog(options: ReplayOptions): Promise<ReplayResult> {
  const batchEvents = options.batchEvents ?? DEFAULT_REPLAY_BATCH_EVENTS
  if (!Number.isSafeInteger(batchEvents) || batchEvents < 1) throw new RangeError(`batchEvents must be a positive integer, got ${batchEvents}`)
  const until = options.until === undefined ? undefined : parseInstant(options.until)
  const projections = options.projections ?? PROJECTIONS

  const dir = mkdtempSync(join(options.tmpDir ?? tmpdir(), 'ledger-replay-'))
  let readModels: ReadModelStore | undefined
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    readModels?.close()
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    readModels = new ReadModelStore(join(dir, 'read-models.sqlite'))
    // A throwaway file: a crash loses nothing worth an fsync per batch.
    readModels.db.pragma('synchronous = OFF')
    const temp = readModels
    const trialBalance = new TrialBalance()
    const load = (projection: string, key: string) => temp.loadDocument(projection, key)

    const head = await options.store.headPosition()
    const target = options.untilPosition !== undefined && (head === null || options.untilPosition < head) ? options.untilPosition : head
    let position: bigint | null = null
    let events = 0
    let skippedEvents = 0
    let batch: RecordedEvent[] = []
    let batchLast: bigint | null = null
    const flush = async () => {
      if (batchLast === null) return
      temp.commitBatch(REPLAY_CHECKPOINT, foldBatch(batch, projections, load), batchLast)
      batch = []
      batchLast = null
      options.onProgress?.({ position: position!, events, target })
      // Reading SQLite pages only awaits resolved promises; let timers (a progress bar) run.
      await setImmediate()
    }

    for await (const event of options.store.readAll()) {
      if (options.untilPosition !== undefined && event.position > options.untilPosition) break
      if (until !== undefined && compareInstants(recordedAtOf(event), until) > 0) break
      position = event.position
      batchLast = event.position
      if (!isLedgerStream(event.stream)) {
        skippedEvents++
        continue
      }
      events++
      batch.push(event)
      trialBalance.add(event)
      if (batch.length >= batchEvents) await flush()
    }
    await flush()
    return { position, events, skippedEvents, readModels: temp, trialBalance, close }
  } catch (err) {
    close()
    throw err
  }
}

function recordedAtOf(event: RecordedEvent): Instant {
  try {
    return parseInstant(event.recordedAt)
  } catch (err) {
    throw new InstantFormatError(`event at position ${event.position}: recordedAt ${(err as Error).message}`)
  }
}

/** One document that differs between two read-model stores (`null` on the side that lacks it). */
export interface ReadModelDifference {
  projection: string
  key: string
  replayed: unknown
  live: unknown
  /** Present when the live document is damaged (its text is not JSON): what is wrong; `live` is
   * then its text as stored. */
  liveDamaged?: string
}

export interface ComparisonResult {
  /** Documents compared (keys present on either side). */
  documents: number
  /** Every difference counted. */
  differencesCount: number
  /** The first {@link MAX_DIFFERENCES_LISTED} (or `maxListed`) differences, in projection then key order. */
  differences: ReadModelDifference[]
}

/** Orders keys as SQLite's `ORDER BY key` does (BINARY collation: UTF-8 bytes). */
const compareKeys = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))

/** The documents of one projection in key order, read page by page. */
async function* documentsOf(store: ReadModelStore, projection: string, pageSize: number): AsyncGenerator<{ key: string; doc: unknown }> {
  let afterKey: string | undefined
  for (;;) {
    const page = store.listDocuments<unknown>(projection, { limit: pageSize, ...(afterKey !== undefined ? { afterKey } : {}) })
    for (const row of page) yield row
    if (page.length < pageSize) return
    afterKey = page.at(-1)!.key
    await setImmediate()
  }
}

/** The live documents of one projection in key order, read page by page as stored text: one that is
 * not JSON comes with `damaged` (what is wrong) and its text, so that the audit reports it and goes on. */
async function* liveDocumentsOf(store: ReadModelStore, projection: string, pageSize: number): AsyncGenerator<{ key: string; doc: unknown; damaged?: string }> {
  let afterKey: string | undefined
  for (;;) {
    const page = store.documentRows(projection, { limit: pageSize, ...(afterKey !== undefined ? { afterKey } : {}) })
    for (const row of page) {
      let doc: unknown
      try {
        doc = JSON.parse(row.doc) as unknown
      } catch (err) {
        yield { key: row.key, doc: row.doc, damaged: `damaged: its text is not JSON (${(err as Error).message})` }
        continue
      }
      yield { key: row.key, doc }
    }
    if (page.length < pageSize) return
    afterKey = page.at(-1)!.key
    await setImmediate()
  }
}

/**
 * Compares every document of every projection of `replayed` with `live`: both listed in key order,
 * page by page, merged; a document is equal when its RFC 8785 canonical JSON is. Neither store's
 * checkpoint is looked at: the caller makes sure both are at the same position.
 * @returns the number of documents compared, the number of differences and the first `maxListed`
 *   of them (`replayed` or `live` is `null` where that side has no document for the key).
 */
export async function compareReadModels(
  replayed: ReadModelStore,
  live: ReadModelStore,
  projections: readonly DocumentProjection<unknown>[] = PROJECTIONS,
  options: { maxListed?: number; pageSize?: number } = {},
): Promise<ComparisonResult> {
  const maxListed = options.maxListed ?? MAX_DIFFERENCES_LISTED
  const pageSize = options.pageSize ?? READ_MODEL_PAGE
  const result: ComparisonResult = { documents: 0, differencesCount: 0, differences: [] }
  const differ = (projection: string, key: string, a: unknown, b: unknown, liveDamaged?: string) => {
    result.differencesCount++
    if (result.differences.length < maxListed) result.differences.push({ projection, key, replayed: a, live: b, ...(liveDamaged !== undefined ? { liveDamaged } : {}) })
  }
  type Live = { key: string; doc: unknown; damaged?: string }
  for (const { name } of projections) {
    const left = documentsOf(replayed, name, pageSize)
    const right = liveDocumentsOf(live, name, pageSize)
    let a = await left.next()
    let b = await right.next()
    while (!a.done || !b.done) {
      result.documents++
      const order = a.done ? 1 : b.done ? -1 : compareKeys(a.value.key, b.value.key)
      if (order < 0) {
        const { key, doc } = (a as IteratorYieldResult<{ key: string; doc: unknown }>).value
        differ(name, key, doc, null)
        a = await left.next()
      } else if (order > 0) {
        const { key, doc, damaged } = (b as IteratorYieldResult<Live>).value
        differ(name, key, null, doc, damaged)
        b = await right.next()
      } else {
        const x = (a as IteratorYieldResult<{ key: string; doc: unknown }>).value
        const y = (b as IteratorYieldResult<Live>).value
        if (y.damaged !== undefined || canonicalJson(x.doc) !== canonicalJson(y.doc)) differ(name, x.key, x.doc, y.doc, y.damaged)
        a = await left.next()
        b = await right.next()
      }
    }
  }
  return result
}

/** The count of a projection's documents and the digest of them. */
export interface ProjectionDigest {
  count: number
  /**
   * SHA-256, lowercase hex, of the RFC 8785 canonical JSON of the ARRAY of all the projection's
   * documents in key order (SQLite BINARY order), i.e. of `canonicalJson([doc1, doc2, …])`: `[`, the
   * documents' canonical JSON separated by `,`, `]`. An empty projection digests `[]`.
   */
  digest: string
}

/**
 * Counts and digests one projection's documents (page by page, see {@link ProjectionDigest});
 * `onDocument` sees each document on the way (one read for the digest and another check).
 */
export async function digestProjection(
  store: ReadModelStore,
  projection: string,
  pageSize = READ_MODEL_PAGE,
  onDocument?: (key: string, doc: unknown) => void,
): Promise<ProjectionDigest> {
  const hash = createHash('sha256')
  let count = 0
  hash.update('[')
  for await (const { key, doc } of documentsOf(store, projection, pageSize)) {
    if (count > 0) hash.update(',')
    hash.update(canonicalJson(doc), 'utf8')
    onDocument?.(key, doc)
    count++
  }
  hash.update(']')
  return { count, digest: hash.digest('hex') }
}

/** Two places (every amount the ledger writes has them); an amount with more is shown unrounded. */
const showAmount = (amount: Decimal): string => (amount.decimalPlaces() <= 2 ? formatYuan(amount) : amount.toFixed())

/** One scheme's individual accounts: the sum over the person documents and the balance from postings. */
export interface IndividualAccountsLine {
  /** The sum of `schemes[scheme].individualAccount` over every `person-balances` document, yuan. */
  documents: string
  /** −net of the class `person:{scheme}:individual` (credit-normal), yuan. */
  fromPostings: string
}

/** A scheme whose individual accounts, summed over the person documents, are not their balance
 * from postings. */
export interface PersonAccountsMismatch extends IndividualAccountsLine {
  scheme: string
}

/**
 * Digests the `person-balances` documents of `readModels` ({@link digestProjection}) and, in the same
 * pass (page by page, Decimal sums), checks the individual accounts against the postings: for every
 * scheme (the five of {@link SCHEMES}, any other a document carries, any other posted to), the sum of
 * `individualAccount` over all person documents equals {@link individualAccountsFromPostings}. A
 * projection that credits or debits an account wrongly shows the same in the live and the replayed
 * read models; the postings (read from the events by `postingsOf`) do not share its code.
 * @throws RangeError when a document's `individualAccount` is not a decimal amount.
 */
export async function checkPersons(
  readModels: ReadModelStore,
  trialBalance: TrialBalance,
  pageSize = READ_MODEL_PAGE,
): Promise<ProjectionDigest & { individualAccounts: Record<string, IndividualAccountsLine>; mismatches: PersonAccountsMismatch[] }> {
  const sums = new Map<string, Decimal>(SCHEMES.map((s) => [s, ZERO]))
  const digest = await digestProjection(readModels, personBalances.name, pageSize, (key, doc) => {
    for (const [scheme, balances] of Object.entries((doc as PersonBalancesDoc).schemes ?? {})) {
      const amount = (balances as { individualAccount?: unknown } | undefined)?.individualAccount
      if (amount === undefined) continue
      if (typeof amount !== 'string') throw new RangeError(`person-balances ${key}: ${scheme}.individualAccount is not an amount: ${JSON.stringify(amount)}`)
      let value
      try {
        value = yuan(amount)
      } catch {
        throw new RangeError(`person-balances ${key}: ${scheme}.individualAccount is not an amount: ${JSON.stringify(amount)}`)
      }
      sums.set(scheme, (sums.get(scheme) ?? ZERO).plus(value))
    }
  })
  for (const cls of trialBalance.classes()) {
    const m = /^person:(.*):individual$/.exec(cls)
    if (m && !sums.has(m[1]!)) sums.set(m[1]!, ZERO)
  }
  const individualAccounts: Record<string, IndividualAccountsLine> = {}
  const mismatches: PersonAccountsMismatch[] = []
  for (const scheme of [...sums.keys()].sort()) {
    const documents = sums.get(scheme)!
    const fromPostings = individualAccountsFromPostings(trialBalance, scheme)
    const line = { documents: showAmount(documents), fromPostings: showAmount(fromPostings) }
    individualAccounts[scheme] = line
    if (!documents.eq(fromPostings)) mismatches.push({ scheme, ...line })
  }
  return { ...digest, individualAccounts, mismatches }
}

/** A pool scheme whose balance from postings is not the `pool-balances` document's `balance`. */
export interface PoolMismatch {
  region: string
  scheme: string
  /** −net of the class `pool:{region}:{scheme}` (credit-normal), yuan. */
  fromPostings: string
  /** The document's `balance`, or `null` when no document holds the pool. */
  document: string | null
}

/**
 * Every `pool-balances` document of `readModels` in region order, and the check that each pool's
 * balance from the trial balance's postings equals the document's `balance` (for every scheme of
 * every document, and every pool class posted to).
 */
export async function checkPools(readModels: ReadModelStore, trialBalance: TrialBalance): Promise<{ pools: Record<string, PoolBalancesDoc>; mismatches: PoolMismatch[] }> {
  const pools: Record<string, PoolBalancesDoc> = {}
  const mismatches: PoolMismatch[] = []
  const checked = new Set<string>()
  for await (const { key, doc } of documentsOf(readModels, poolBalances.name, READ_MODEL_PAGE)) {
    const pool = doc as PoolBalancesDoc
    pools[key] = pool
    for (const [scheme, balance] of Object.entries(pool.schemes)) {
      checked.add(`pool:${key}:${scheme}`)
      const fromPostings = poolBalanceFromPostings(trialBalance, key, scheme)
      if (!fromPostings.eq(yuan(balance.balance))) mismatches.push({ region: key, scheme, fromPostings: formatYuan(fromPostings), document: balance.balance })
    }
  }
  for (const cls of trialBalance.classes()) {
    if (!cls.startsWith('pool:') || checked.has(cls)) continue
    const [, region = '', scheme = ''] = cls.split(':')
    mismatches.push({ region, scheme, fromPostings: formatYuan(poolBalanceFromPostings(trialBalance, region, scheme)), document: null })
  }
  return { pools, mismatches }
}

/** The checkpoint of the service's projector in the live read models. */
export const LIVE_CHECKPOINT = 'main'

/** The report of `ledger audit replay` (see {@link auditReplay}). Positions are decimal strings,
 * amounts two-place yuan strings. */
export interface AuditReport {
  /** Last position read by the replay (`null`: no event within the cut). */
  position: string | null
  /** Events folded. */
  events: number
  /** Events of streams outside the ledger's categories, not folded (normally 0). */
  skippedEvents: number
  /** The cut as given (`null` when not given). */
  until: string | null
  untilPosition: string | null
  /** The live read models' checkpoint `main` (`null`: none, or no live read models). */
  livePosition: string | null
  /** Every replayed `pool-balances` document, by region, in full. */
  pools: Record<string, PoolBalancesDoc>
  /** Replayed `person-balances` documents: how many, and their digest ({@link ProjectionDigest}). */
  persons: number
  personsDigest: string
  /** Per scheme (schemes in ascending order), the individual accounts summed over the replayed
   * person documents and their balance from postings ({@link checkPersons}). */
  individualAccounts: Record<string, IndividualAccountsLine>
  /** Every scheme's two sums agree. */
  personsAgree: boolean
  personMismatches: PersonAccountsMismatch[]
  /** Replayed `transfers` documents: how many, and their digest. */
  transfers: number
  transfersDigest: string
  /** The postings of every folded event, by account class; `balanced` when the total nets to 0.00. */
  trialBalance: TrialBalanceReport
  /** Each pool's balance from postings equals the replayed document's `balance`. */
  poolsAgree: boolean
  poolMismatches: PoolMismatch[]
  /** Whether the replayed read models were compared with the live ones; `reason` says why not. */
  compared: boolean
  reason?: string
  /** Documents compared (keys present on either side), differences counted, the first listed. */
  documentsCompared: number
  differencesCount: number
  differences: ReadModelDifference[]
  /** Balanced, pools agree, persons agree, no differences, and compared (unless a cut was asked for, where not
   * comparing is expected): the command's exit status is 0 exactly when `ok` and not `liveBehind`. */
  ok: boolean
  /** The log's head when the audit began (`null`: an empty log). */
  headPosition: string | null
  /** Events of the log the live read models have not applied (head − checkpoint on SQLite; counted
   * on KurrentDB, at most MAX_COUNTED_LAG_EVENTS), as of the audit's start; `null` without live read
   * models. The comparison covers only what is at or before their checkpoint. */
  liveLagEvents: string | null
  /** The limit `liveLagEvents` is held to (`--max-lag-events`, default LEDGER_READY_MAX_LAG_EVENTS). */
  maxLagEvents: number
  /** The live read models are behind the head by more than `maxLagEvents`: the live projection is
   * stuck or slow (`/readyz` fails with `projection-lagging` too), and what it has not applied was
   * not compared. The command exits 3 when this is the only finding. */
  liveBehind: boolean
}

export interface AuditReplayOptions {
  /** The event store (read only). */
  store: EventStore
  /** The live read models (the service's file), or `undefined` with `liveUnavailable` saying why. */
  live?: ReadModelStore
  liveUnavailable?: string
  /** The event store's kind (`sqlite`, `kurrentdb`): the live read models must have been folded
   * from it (their `read_model_meta` row `store`), else they are not compared. */
  storeIdentity?: string
  until?: string
  untilPosition?: bigint
  onProgress?: (progress: ReplayProgress) => void
  batchEvents?: number
  projections?: readonly DocumentProjection<unknown>[]
  /** Where the replay's temporary read models go (see {@link ReplayOptions.tmpDir}). */
  tmpDir?: string
  /** Most events the live read models may be behind the log's head before the report says
   * `liveBehind`; default {@link DEFAULT_MAX_LAG_EVENTS} (LEDGER_READY_MAX_LAG_EVENTS's default). */
  maxLagEvents?: number
}

/** The live read models' lag at which the audit reports `liveBehind`, unless told: the readiness
 * limit's default (LEDGER_READY_MAX_LAG_EVENTS), events. */
export const DEFAULT_MAX_LAG_EVENTS = 1_000

/** Longest the store may take to tell the live read models' lag (its head, and on KurrentDB a count
 * of the events after the checkpoint), milliseconds. */
export const LIVE_LAG_TIMEOUT_MS = 60_000

/**
 * The whole audit: replays the log (see {@link replayLog}), checks the trial balance, the pools and
 * the persons' individual accounts against the postings, digests persons and transfers, and compares with the live read models at the same position.
 *
 * Without `until`/`untilPosition` the replay stops at the live checkpoint `main`, so both sides are
 * at the same position (with no checkpoint, or no live read models, it reads the whole log and does
 * not compare). With a cut, the live read models are compared only when the replay's position is
 * their checkpoint. The live side is read inside one read transaction begun before its checkpoint
 * is read, so a service running meanwhile cannot move it under the comparison (SQLite WAL snapshot;
 * the WAL is not checkpointed while the audit runs). The live side's lag (the log's head minus its
 * checkpoint) is measured at the start too: beyond `maxLagEvents` the report says `liveBehind`.
 *
 * @throws as {@link replayLog}; the temporary read models are deleted in any case.
 */
export async function auditReplay(options: AuditReplayOptions): Promise<AuditReport> {
  const { live } = options
  const projections = options.projections ?? PROJECTIONS
  const snapshot = live !== undefined && !live.db.inTransaction
  if (snapshot) live.db.exec('BEGIN')
  try {
    let notComparable = live === undefined ? (options.liveUnavailable ?? 'no live read models') : undefined
    if (live && options.storeIdentity !== undefined) {
      const row = live.db.prepare('SELECT value FROM read_model_meta WHERE key = ?').get('store') as { value: string } | undefined
      if (row && row.value !== options.storeIdentity) notComparable = `the live read models were folded from the ${row.value} event store, not ${options.storeIdentity}`
    }
    const checkpoint = live ? live.getCheckpoint(LIVE_CHECKPOINT) : null
    const cut = options.until !== undefined || options.untilPosition !== undefined
    // How far the live side is behind the head, read now, in the snapshot of its checkpoint (the
    // comparison below stops at the checkpoint, so a projector stuck far behind would pass unseen).
    const maxLagEvents = options.maxLagEvents ?? DEFAULT_MAX_LAG_EVENTS
    const lag = live !== undefined ? await measureProjectionLag(options.store, { position: checkpoint, caughtUp: true }, { timeoutMs: LIVE_LAG_TIMEOUT_MS }) : undefined
    const head = lag ? lag.headPosition : ((await options.store.headPosition()) ?? 0n)
    const liveLagEvents = lag ? lag.lagEvents : null
    const liveBehind = liveLagEvents !== null && liveLagEvents > BigInt(maxLagEvents)
    const untilPosition = options.untilPosition ?? (!cut && notComparable === undefined && checkpoint !== null ? checkpoint : undefined)

    const replay = await replayLog({
      store: options.store,
      ...(options.until !== undefined ? { until: options.until } : {}),
      ...(untilPosition !== undefined ? { untilPosition } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...(options.batchEvents !== undefined ? { batchEvents: options.batchEvents } : {}),
      ...(options.tmpDir !== undefined ? { tmpDir: options.tmpDir } : {}),
      projections,
    })
    try {
      const trialBalance = replay.trialBalance.report()
      const { pools, mismatches } = await checkPools(replay.readModels, replay.trialBalance)
      const persons = await checkPersons(replay.readModels, replay.trialBalance)
      const transfers = await digestProjection(replay.readModels, 'transfers')

      const show = (p: bigint | null) => (p === null ? 'none' : p.toString())
      if (notComparable === undefined && replay.position !== checkpoint) {
        notComparable = cut
          ? `the replay stopped at position ${show(replay.position)}, the live read models are at ${show(checkpoint)}`
          : checkpoint === null
            ? `the live read models have applied no event yet (no checkpoint '${LIVE_CHECKPOINT}')`
            : `the live read models' checkpoint (${checkpoint}) is beyond the log's head (${show(replay.position)})`
      }
      const comparison = notComparable === undefined ? await compareReadModels(replay.readModels, live!, projections) : { documents: 0, differencesCount: 0, differences: [] }
      const ok = trialBalance.balanced && mismatches.length === 0 && persons.mismatches.length === 0 && comparison.differencesCount === 0 && (notComparable === undefined || cut)
      return {
        position: replay.position?.toString() ?? null,
        events: replay.events,
        skippedEvents: replay.skippedEvents,
        until: options.until ?? null,
        untilPosition: options.untilPosition?.toString() ?? null,
        livePosition: checkpoint?.toString() ?? null,
        pools,
        persons: persons.count,
        personsDigest: persons.digest,
        individualAccounts: persons.individualAccounts,
        personsAgree: persons.mismatches.length === 0,
        personMismatches: persons.mismatches,
        transfers: transfers.count,
        transfersDigest: transfers.digest,
        trialBalance,
        poolsAgree: mismatches.length === 0,
        poolMismatches: mismatches,
        compared: notComparable === undefined,
        ...(notComparable !== undefined ? { reason: notComparable } : {}),
        documentsCompared: comparison.documents,
        differencesCount: comparison.differencesCount,
        differences: comparison.differences,
        ok,
        headPosition: head === 0n ? null : head.toString(),
        liveLagEvents: liveLagEvents?.toString() ?? null,
        maxLagEvents,
        liveBehind,
      }
    } finally {
      replay.close()
    }
  } finally {
    if (snapshot && live.db.inTransaction) live.db.exec('COMMIT')
  }
}
