/**
 * `ledger status [--url <base>] [--json]` (issue #9): where the ledger is and how far its read
 * models are.
 *
 * Without `--url`: the configured store (kind and location: the SQLite file, or the KurrentDB
 * connection string without its password), the log's head position, the projection checkpoint in
 * the read models at LEDGER_SQLITE_PATH, the lag in events between them, and whether the read
 * models are bound to this store (they remember the store they were folded from; a service refuses
 * to start on read models of another store). Nothing is created: a missing file is reported as such.
 *
 * With `--url`: `GET /readyz` of the service, or `/healthz` when it has no `/readyz`; both are
 * public (a `--token` is sent when given). Fields shown as answered: `status`, `store`,
 * `headPosition`, `projectionPosition`, `lagEvents` (worked out from the positions when absent); a
 * 503 (not ready) is reported with its reason and detail.
 *
 * Exit status 0 when the status could be read (whatever it says); 1 when the service cannot be
 * reached or the store cannot be opened; 2 for a bad configuration or flags.
 */
import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { ConfigError, type Config } from '../config.js'
import type { EventStore } from '../eventstore/port.js'
import { ReadModelStore } from '../projector/read-model-store.js'
import { configOrReport, EXIT_BAD_CONFIG, openStore, type CliContext } from './context.js'
import { addServiceOptions, callService, problemLine, problemOf, serviceTarget, ServiceUnreachableError, type ServiceOptions } from './service.js'
import { formatTable } from './table.js'
import { redactConnectionString } from '../eventstore/kurrentdb/mapping.js'

/** The live projector's checkpoint row (as in bootstrap.ts). */
const CHECKPOINT_NAME = 'main'
/** Most events counted one by one to measure a KurrentDB lag (its positions are not event counts). */
export const MAX_LAG_EVENTS_COUNTED = 100_000

/** What `status` reports. Positions and counts as decimal strings, as on the wire. */
export interface LedgerStatus {
  source: 'embedded' | 'service'
  /** `sqlite` or `kurrentdb` (from the service: as it says). */
  store?: string
  /** The SQLite file, the KurrentDB connection string (no password), or the service's URL. */
  location: string
  headPosition?: string
  projectionPosition?: string
  /** Events appended and not yet projected (`100000+` when more were counted on KurrentDB). */
  lagEvents?: string
  /** Embedded: the store the read models were folded from, or `none yet`. */
  readModelsBoundTo?: string
  /** Embedded: whether they were folded from this store (`true` also when not yet bound). */
  readModelsBound?: boolean
  /** Service: its `status` field (`ok`, `ready`, …) and the path read. */
  serviceStatus?: string
  endpoint?: string
  /** Anything the reader should know (a missing file, a lagging projection). */
  notes: string[]
}

/** Registers `status` on the program. */
export function registerStatus(program: Command, ctx: CliContext): void {
  addServiceOptions(
    program.command('status').description('Store kind and location, log head, projection checkpoint, lag in events, whether the read models belong to the store.'),
    'ask',
  )
    .option('--json', 'print the status as JSON')
    .action(async (opts: ServiceOptions & { json?: boolean }) => {
      ctx.setStatus(await runStatus(opts, ctx))
    })
}

/** `status`: the exit status. */
export async function runStatus(opts: ServiceOptions & { json?: boolean }, ctx: CliContext): Promise<number> {
  const service = serviceTarget(opts, ctx, 'status', false)
  if (service === null) return EXIT_BAD_CONFIG
  let status: LedgerStatus
  if (service) {
    try {
      status = await serviceStatus(service.url, service.token)
    } catch (err) {
      if (!(err instanceof ServiceUnreachableError || err instanceof StatusError)) throw err
      ctx.err(`status: ${err.message}`)
      return 1
    }
  } else {
    const config = configOrReport(ctx)
    if (!config) return EXIT_BAD_CONFIG
    try {
      status = await embeddedStatus(config)
    } catch (err) {
      ctx.err(`status: cannot open the ${config.LEDGER_STORE} store: ${err instanceof Error ? err.message : String(err)}`)
      return err instanceof ConfigError ? EXIT_BAD_CONFIG : 1
    }
  }
  if (opts.json) ctx.out(JSON.stringify(status, null, 2))
  else for (const line of statusLines(status)) ctx.out(line)
  return 0
}

/** The service answered something `status` cannot read. */
class StatusError extends Error {
  override readonly name = 'StatusError'
}

/** The status of the service at `url`: `/readyz`, else `/healthz`. */
export async function serviceStatus(url: string, token?: string): Promise<LedgerStatus> {
  const target = { url, ...(token !== undefined ? { token } : {}) }
  let endpoint = '/readyz'
  let answer = await callService(target, 'GET', endpoint)
  if (answer.status === 404) {
    endpoint = '/healthz'
    answer = await callService(target, 'GET', endpoint)
  }
  const body = answer.json as Record<string, unknown> | undefined
  // A not-ready answer (503 problem) still says why, and where the projections are when it knows.
  if (!body || typeof body !== 'object' || (answer.status !== 200 && answer.status !== 503))
    throw new StatusError(`GET ${url}${endpoint}: ${problemLine(problemOf(answer))}; is --url the ledger service?`)
  const text = (v: unknown): string | undefined => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined)
  const head = text(body['headPosition'])
  const projection = text(body['projectionPosition'])
  const lag = text(body['lagEvents']) ?? (head !== undefined && projection !== undefined && isDecimal(head) && isDecimal(projection) ? positionGap(BigInt(head), BigInt(projection)) : undefined)
  const notes: string[] = []
  if (answer.status !== 200) notes.push(`${endpoint} answered ${problemLine(problemOf(answer))}`)
  if (body['projectionCaughtUp'] === false) notes.push('the projections have not caught up with the log')
  const store = text(body['store'])
  const serviceState = answer.status === 200 ? text(body['status']) : `not ready (${text(body['reason']) ?? answer.status})`
  return {
    source: 'service',
    location: url,
    endpoint,
    ...(serviceState !== undefined ? { serviceStatus: serviceState } : {}),
    ...(store !== undefined ? { store } : {}),
    ...(head !== undefined ? { headPosition: head } : {}),
    ...(projection !== undefined ? { projectionPosition: projection } : {}),
    ...(lag !== undefined ? { lagEvents: lag } : {}),
    notes,
  }
}

const isDecimal = (s: string) => /^\d{1,39}$/.test(s)
const positionGap = (head: bigint, projection: bigint): string => (head > projection ? head - projection : 0n).toString()

/** The checkpoint of the read models and the store they are bound to (read only: binds nothing). */
export function readModelState(readModels: ReadModelStore): { checkpoint: bigint | null; boundTo: string | undefined } {
  const row = readModels.db.prepare("SELECT value FROM read_model_meta WHERE key = 'store'").get() as { value: string } | undefined
  return { checkpoint: readModels.getCheckpoint(CHECKPOINT_NAME), boundTo: row?.value }
}

/** The status of the configured store and read models (see the module's comment). */
export async function embeddedStatus(config: Config): Promise<LedgerStatus> {
  const kind = config.LEDGER_STORE
  const file = config.LEDGER_SQLITE_PATH
  const fileExists = file !== ':memory:' && existsSync(file)
  const location = kind === 'kurrentdb' ? redactConnectionString(config.LEDGER_KURRENTDB_URL!) : file
  const notes: string[] = []
  if (kind === 'sqlite' && !fileExists) {
    notes.push(`no ledger at ${file} (LEDGER_SQLITE_PATH) yet: the service creates it at its first start`)
    return { source: 'embedded', store: kind, location, notes }
  }
  const store = await openStore(config)
  try {
    const head = await store.headPosition()
    const status: LedgerStatus = { source: 'embedded', store: kind, location, headPosition: (head ?? 0n).toString(), notes }
    if (!fileExists) {
      notes.push(`no read models at ${file} (LEDGER_SQLITE_PATH) yet: the service creates them at its first start`)
      return status
    }
    const readModels = new ReadModelStore(file)
    let state: ReturnType<typeof readModelState>
    try {
      state = readModelState(readModels)
    } finally {
      readModels.close()
    }
    const checkpoint = state.checkpoint ?? 0n
    status.projectionPosition = checkpoint.toString()
    status.readModelsBoundTo = state.boundTo ?? 'none yet'
    status.readModelsBound = state.boundTo === undefined || state.boundTo === kind
    if (!status.readModelsBound) notes.push(`the read models at ${file} were folded from the ${state.boundTo} store, not ${kind}: point LEDGER_SQLITE_PATH at another file or delete it to rebuild`)
    else if (head !== null && checkpoint > head) notes.push(`the checkpoint (${checkpoint}) is beyond the log's head (${head}): the log was replaced; delete ${file}'s read models to rebuild them`)
    else {
      status.lagEvents = await lagEvents(store, kind, state.checkpoint, head)
      if (status.lagEvents !== '0') notes.push('the projections lag behind the log: a running service (npm start, or ledger serve) projects the rest')
    }
    return status
  } finally {
    await store.close()
  }
}

/**
 * Events after `checkpoint` up to `head`. SQLite numbers events 1, 2, 3 … so it is the difference;
 * KurrentDB positions grow with bytes, so its events are counted (at most MAX_LAG_EVENTS_COUNTED).
 */
async function lagEvents(store: EventStore, kind: string, checkpoint: bigint | null, head: bigint | null): Promise<string> {
  if (head === null) return '0'
  if (kind === 'sqlite') return positionGap(head, checkpoint ?? 0n)
  let n = 0
  for await (const e of store.readAll({ ...(checkpoint !== null ? { fromPosition: checkpoint } : {}), maxCount: MAX_LAG_EVENTS_COUNTED + 1 })) {
    if (checkpoint !== null && e.position <= checkpoint) continue
    if (++n > MAX_LAG_EVENTS_COUNTED) return `${MAX_LAG_EVENTS_COUNTED}+`
  }
  return String(n)
}

/** The status as a two-column table, then its notes. */
export function statusLines(s: LedgerStatus): string[] {
  const rows: string[][] = [
    [s.source === 'service' ? 'service' : 'store', s.source === 'service' ? `${s.location} (GET ${s.endpoint})` : `${s.store} ${s.location}`],
  ]
  if (s.source === 'service') {
    if (s.serviceStatus !== undefined) rows.push(['status', s.serviceStatus])
    if (s.store !== undefined) rows.push(['store', s.store])
  }
  rows.push(['head position', s.headPosition ?? '-'])
  rows.push(['projection checkpoint', s.projectionPosition ?? '-'])
  rows.push(['lag', s.lagEvents !== undefined ? `${s.lagEvents} event(s)` : '-'])
  if (s.source === 'embedded' && s.readModelsBoundTo !== undefined)
    rows.push(['read models', s.readModelsBound ? `bound to this store (${s.readModelsBoundTo})` : `bound to ANOTHER store (${s.readModelsBoundTo})`])
  return [...formatTable([{ heading: '' }, { heading: '' }], rows).slice(1), ...s.notes.map((n) => `note: ${n}`)]
}
