/**
 * The service under test of the HTTP phases: the built `dist/src/server.js` as a child process on a
 * free loopback port, with its own log file, a keys file holding one payroll key, no rate limit,
 * no periodic seal and warnings-only logging.
 */
import net from 'node:net'
import path from 'node:path'
import { createKey } from '../src/auth/api-keys.js'
import { appendKey } from '../src/cli/keys.js'
import { startNode, stopChild, type Child } from './child.js'
import { PhaseError } from './phases/phase.js'

/** Longest the service may take to answer `GET /healthz` with 200 after it is started, milliseconds. */
export const HEALTH_WAIT_MS = 30_000
/** Pause between two health probes, milliseconds. */
export const HEALTH_POLL_MS = 100
/** Longest one health probe may take, milliseconds. */
export const HEALTH_PROBE_TIMEOUT_MS = 2_000
/** Time the service gets between SIGTERM and SIGKILL, milliseconds (its own graceful shutdown is
 * bounded at 10 s). */
export const SERVICE_KILL_WAIT_MS = 15_000
/** Most employers one API key may name (EmployersScope in src/auth/api-keys.ts). */
export const MAX_KEY_EMPLOYERS = 10_000
/** The key's id: the `actor` of every event the HTTP phases append. */
export const BENCH_KEY_ID = 'bench-payroll'

/** A started service. */
export interface Service {
  /** `http://127.0.0.1:{port}`. */
  readonly baseUrl: string
  /** The bearer token of the payroll key. */
  readonly token: string
  readonly child: Child
  /** The log file it writes. */
  readonly sqlitePath: string
  /** SIGTERM, then SIGKILL after {@link SERVICE_KILL_WAIT_MS}; resolves when it has exited. */
  stop(): Promise<void>
}

/**
 * Starts the service with a payroll key for `employers` (files `http.sqlite` and `keys.json` in
 * `dir`) and waits until `GET /healthz` answers 200.
 * @throws PhaseError when there are more than {@link MAX_KEY_EMPLOYERS} employers, or the service
 *   exits or stays unhealthy for {@link HEALTH_WAIT_MS} (with the tail of its output); it is
 *   stopped in that case.
 */
export async function startService(options: { repoRoot: string; dir: string; employers: readonly string[] }): Promise<Service> {
  const { repoRoot, dir } = options
  const employers = [...new Set(options.employers)]
  if (employers.length > MAX_KEY_EMPLOYERS) {
    throw new PhaseError(`the HTTP workloads have ${employers.length} employers; one API key holds at most ${MAX_KEY_EMPLOYERS} (use fewer --http-submissions or more --lines-per-submission)`)
  }
  const keysPath = path.join(dir, 'keys.json')
  const sqlitePath = path.join(dir, 'http.sqlite')
  const { entry, token } = createKey({ id: BENCH_KEY_ID, role: 'payroll', employers, note: 'benchmark (bench/run.ts)' })
  appendKey(keysPath, entry)
  const port = await freePort()
  // e.g. BENCH_SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the service
  // (NODE_OPTIONS refuses --cpu-prof).
  const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
  const child = startNode([...nodeArgs, path.join(repoRoot, 'dist', 'src', 'server.js')], {
    PORT: String(port),
    HOST: '127.0.0.1',
    LEDGER_STORE: 'sqlite',
    LEDGER_SQLITE_PATH: sqlitePath,
    LEDGER_KEYS_PATH: keysPath,
    LEDGER_RATE_LIMIT_PER_MINUTE: '0',
    LEDGER_SEAL_INTERVAL_MS: '0',
    LOG_LEVEL: 'warn',
  }, repoRoot)
  const service: Service = {
    baseUrl: `http://127.0.0.1:${port}`,
    token,
    child,
    sqlitePath,
    stop: async () => {
      await stopChild(child, SERVICE_KILL_WAIT_MS)
    },
  }
  try {
    await waitHealthy(service)
  } catch (err) {
    await service.stop()
    throw err
  }
  return service
}

/** A TCP port free on 127.0.0.1 right now (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))))
    })
  })
}

/** The figures of `GET /readyz`, in its 200 body or its 503 problem (positions and lagEvents as
 * decimal strings). */
export interface Health {
  /** `ready` on a 200; absent on a 503 (whose `reason` says why). */
  status?: string
  reason?: string
  headPosition: string
  projectionPosition: string
  /** Head minus the projections' checkpoint: '0' when they have applied everything appended. */
  lagEvents: string
  /** Age of the oldest event not yet applied, seconds. */
  lagSeconds: number
}

/** The service's `GET /readyz` figures (ready or not), or undefined when it does not answer them
 * (not started, or the store did not answer). */
export async function health(baseUrl: string): Promise<Health | undefined> {
  try {
    const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(HEALTH_PROBE_TIMEOUT_MS) })
    if (res.status !== 200 && res.status !== 503) return undefined
    const body = (await res.json()) as Partial<Health>
    return typeof body.headPosition === 'string' ? (body as Health) : undefined
  } catch {
    return undefined
  }
}

/** Whether the service answers `GET /healthz` (liveness) with 200. */
async function alive(baseUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(HEALTH_PROBE_TIMEOUT_MS) })
    await res.body?.cancel()
    return res.status === 200
  } catch {
    return false
  }
}

/**
 * Waits until the service is ready with its projector having applied everything appended
 * (`GET /readyz` 200 with `lagEvents` '0'), at most `waitMs` milliseconds, probing every
 * {@link HEALTH_POLL_MS}.
 * @returns whether it caught up, and the seconds waited.
 */
export async function waitProjectionCaughtUp(baseUrl: string, waitMs: number): Promise<{ caughtUp: boolean; seconds: number }> {
  const started = Date.now()
  while (Date.now() - started < waitMs) {
    const ready = await health(baseUrl)
    if (ready?.status === 'ready' && ready.lagEvents === '0') return { caughtUp: true, seconds: (Date.now() - started) / 1000 }
    await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS))
  }
  return { caughtUp: false, seconds: (Date.now() - started) / 1000 }
}

async function waitHealthy(service: Service): Promise<void> {
  const deadline = Date.now() + HEALTH_WAIT_MS
  while (Date.now() < deadline) {
    if (service.child.hasExited()) {
      const exit = await service.child.exited
      throw new PhaseError(`the service exited at start (code ${exit.code ?? `none, signal ${exit.signal}`})`, service.child.tail())
    }
    if (await alive(service.baseUrl)) return
    await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS))
  }
  throw new PhaseError(`the service did not answer GET /healthz with 200 within ${HEALTH_WAIT_MS} ms`, service.child.tail())
}
