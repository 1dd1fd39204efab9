import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Config } from './config.js'
import type { EventStore } from './eventstore/port.js'
import { openSqliteEventStore } from './eventstore/sqlite/sqlite-event-store.js'
import { openKurrentDbEventStore, type StoreLogger } from './eventstore/kurrentdb/kurrentdb-event-store.js'
import { buildApp, createInterestRunner } from './app.js'
import { createAuthenticator, loadApiKeyBook } from './auth/authenticator.js'
import { loadJwtVerifier } from './auth/jwt.js'
import type { Authenticator } from './http/auth.js'
import type { InterestRunLogger } from './usecases/interest-run.js'
import { loadPensionTables, loadPolicyBook } from './policy-loader.js'
import { loadDaysOff } from './calendar-loader.js'
import { Projector, type ProjectorLogger } from './projector/projector.js'
import { ReadModelMismatchError, ReadModelStore, SERVICE_BUSY_TIMEOUT_MS } from './projector/read-model-store.js'
import { checkReadModelsAgainstLog } from './projector/log-binding.js'
import { ProjectorLease } from './projector/lease.js'
import { ReadModelSelfCheck } from './projector/self-check.js'
import { readModelFault } from './projector/read-model-fault.js'
import { PROJECTIONS } from '../projections/index.js'
import { DEFAULT_SEAL_INTERVAL_MS, startPeriodicSeal } from './audit/seal.js'
import { createMetrics } from './metrics/metrics.js'
import { instrumentStore } from './metrics/instrumented-store.js'

/** The projector's checkpoint row. */
const CHECKPOINT_NAME = 'main'

/** A running ledger: store, read models, projector and the HTTP app, and how to close them. */
export interface Ledger {
  app: FastifyInstance
  store: EventStore
  readModels: ReadModelStore
  projector: Projector
  /** The read models' background self-check (its passes also run on demand: tests). */
  selfCheck: ReadModelSelfCheck
  /** Graceful shutdown, in this order: the periodic seal; the app (no new connections, requests in
   * flight answered, keep-alive connections closed after their answer); the projector (its batch
   * and checkpoint committed); the event store (queued appends written); the read models.
   * Idempotent; rejects with the first step's failure after running every step. Unbounded: the
   * caller bounds it (src/server.ts, LEDGER_SHUTDOWN_TIMEOUT_MS). */
  close(): Promise<void>
}

/**
 * Wires the ledger from a validated configuration: opens the store and the read models, starts the
 * projector, builds the app (not listening).
 * @throws PolicyTableError for a bad policy table; AuthConfigError for a bad keys file, JWT public
 * key or JWKS file; StoreUnavailableError when KurrentDB does not answer within
 * LEDGER_KURRENTDB_CONNECT_TIMEOUT_MS.
 */
export async function createLedger(
  config: Config,
  options: {
    logger?: FastifyServerOptions['logger']
    projectorLogger?: ProjectorLogger
    storeLogger?: StoreLogger
    interestLogger?: InterestRunLogger
    /** Replaces the keys file and JWT authentication: for tests that are not about authentication
     * (`systemAuthenticator`); the service never sets it. */
    authenticator?: Authenticator
  } = {},
): Promise<Ledger> {
  const policies = loadPolicyBook(config.LEDGER_POLICY_PATH)
  const pensionTables = loadPensionTables(config.LEDGER_PENSION_TABLES_PATH)
  const daysOff = loadDaysOff(config.LEDGER_HOLIDAYS_PATH)
  // Keys file and JWT keys, checked before anything is opened (a bad file stops the start).
  const keys = options.authenticator ? undefined : loadApiKeyBook(config.LEDGER_KEYS_PATH)
  const jwt = options.authenticator
    ? undefined
    : loadJwtVerifier({
        publicKeyPath: config.LEDGER_JWT_PUBLIC_KEY_PATH,
        jwksPath: config.LEDGER_JWT_JWKS_PATH,
        issuer: config.LEDGER_JWT_ISSUER,
        audience: config.LEDGER_JWT_AUDIENCE,
      })
  const authenticator = options.authenticator ?? createAuthenticator({ keys: keys!, jwt })
  const openedStore: EventStore =
    config.LEDGER_STORE === 'kurrentdb'
      ? await openKurrentDbEventStore({
          url: config.LEDGER_KURRENTDB_URL!,
          connectTimeoutMs: config.LEDGER_KURRENTDB_CONNECT_TIMEOUT_MS,
          ...(options.storeLogger ? { logger: options.storeLogger } : {}),
        })
      : openSqliteEventStore({ path: config.LEDGER_SQLITE_PATH, ...(options.storeLogger ? { logger: options.storeLogger } : {}) })
  // Metrics (GET /metrics): appends counted and timed at the store's edge, for every writer here.
  const metrics = createMetrics()
  const store = instrumentStore(openedStore, metrics)
  // Read models and the checkpoint live in SQLite for both stores (beside a remote store: a local file).

  const readModels = new ReadModelStore(config.LEDGER_SQLITE_PATH)
  // One projector per read-model file (issue #14): a second service on the file refuses to start.
  const lease = new ProjectorLease(readModels, { file: config.LEDGER_SQLITE_PATH, ...(options.projectorLogger ? { logger: leaseLogger(options.projectorLogger) } : {}) })
  try {
    readModels.bindToStore(config.LEDGER_STORE)
    await lease.acquire()
    const logBinding = await checkReadModelsAgainstLog(readModels, store, { checkpointName: CHECKPOINT_NAME })
    logBinding.bind()
  } catch (err) {
    lease.release()
    readModels.close()
    await store.close()
    if (err instanceof ReadModelMismatchError) {
      err.message = `${err.message}; point LEDGER_SQLITE_PATH at another file, or delete ${config.LEDGER_SQLITE_PATH} to rebuild the read models from the log`
    }
    throw err
  }
  // From here on the projector never waits synchronously for the file's lock: a busy commit is
  // retried asynchronously (the event loop, and /healthz, stay free).
  readModels.setBusyTimeout(SERVICE_BUSY_TIMEOUT_MS)
  const projector = new Projector({
    store,
    readModels,
    projections: PROJECTIONS,
    checkpointName: CHECKPOINT_NAME,
    leaseOwner: lease.owner,
    onLeaseLost: (detail) => lease.markLost(detail),
    onResubscribe: () => metrics.projectionResubscriptions.inc(),
    onDamaged: (projection) => metrics.readModelDifferences.inc({ projection }),
    ...(options.projectorLogger ? { logger: options.projectorLogger } : {}),
  })
  projector.start()
  const selfCheck = new ReadModelSelfCheck({
    store,
    readModels,
    projections: PROJECTIONS,
    checkpointName: CHECKPOINT_NAME,
    intervalMs: config.LEDGER_READ_MODEL_CHECK_INTERVAL_MS,
    onDifference: (projection) => metrics.readModelDifferences.inc({ projection }),
    ...(options.projectorLogger ? { logger: leaseLogger(options.projectorLogger) } : {}),
  })
  selfCheck.start()
  const interestRunner = createInterestRunner(
    { store, readModels, projector, pensionTables },
    { ...(options.interestLogger ? { logger: options.interestLogger } : {}), metadata: { actor: 'ledger', correlationId: 'resume-at-start' } },
  )
  const app = await buildApp({
    store,
    storeKind: config.LEDGER_STORE,
    readModels,
    projector,
    policies,
    pensionTables,
    interestRunner,
    authenticator,
    readWaitMs: config.LEDGER_READ_WAIT_MS,
    maxBodyBytes: config.LEDGER_MAX_BODY_BYTES,
    rateLimitPerMinute: config.LEDGER_RATE_LIMIT_PER_MINUTE,
    daysOff,
    logger: options.logger,
    metrics,
    readiness: { maxLagEvents: config.LEDGER_READY_MAX_LAG_EVENTS, maxLagSeconds: config.LEDGER_READY_MAX_LAG_SECONDS },
    readinessFaults: [() => lease.fault(), () => readModelFault(readModels)],
  })
  if (keys && !keys.exists && !jwt)
    app.log.warn(
      `no API keys file at ${config.LEDGER_KEYS_PATH} and no JWT key configured: every /v1 request is refused (401) until a key exists; ` +
        `create the first one with: npm run ledger -- keys create --role admin --id admin (the service sees it without a restart; ` +
        `in the compose stack: docker compose exec ledger node dist/src/cli/ledger.js keys create --role admin --id admin)`,
    )
  // An interest run a crash or a shutdown interrupted goes on from its last committed batch.
  void interestRunner.resumeUnfinished().catch((err: unknown) => options.interestLogger?.error({ err }, 'could not resume the interest run'))
  // The periodic audit seal (src/audit/seal.ts): hourly unless LEDGER_SEAL_INTERVAL_MS says otherwise
  // (0: off); failures are logged, never thrown. SQLite has no append limit: one append per seal.
  const sealIntervalMs = config.LEDGER_SEAL_INTERVAL_MS ?? DEFAULT_SEAL_INTERVAL_MS
  const periodicSeal =
    sealIntervalMs > 0
      ? startPeriodicSeal(store, {
          intervalMs: sealIntervalMs,
          logger: app.log.child({ component: 'audit-seal' }),
          seal: { metadata: { actor: 'ledger', correlationId: 'periodic-seal' }, ...(config.LEDGER_STORE === 'sqlite' ? { maxAppendBytes: Number.POSITIVE_INFINITY } : {}) },
        })
      : undefined
  let closing: Promise<void> | undefined
  // The order of a graceful shutdown (issue #9): no new seal; the app stops accepting connections and
  // answers the requests in flight (each answered after its append committed); the projector commits
  // its batch and checkpoint; the store writes the appends still queued for a group commit (the
  // interest runner's, stopped with the app) and closes; the read models last. A step that fails
  // does not skip the later ones; the first failure is thrown at the end.
  const close = () =>
    (closing ??= (async () => {
      const failures: unknown[] = []
      const step = async (run: () => unknown) => {
        try {
          await run()
        } catch (err) {
          failures.push(err)
        }
      }
      await step(() => periodicSeal?.stop())
      await step(() => app.close())
      await step(() => selfCheck.stop())
      await step(() => projector.stop())
      await step(() => lease.release())
      await step(() => store.close())
      await step(() => readModels.close())
      if (failures.length > 0) throw failures[0]
    })())
  return { app, store, readModels, projector, selfCheck, close }
}

/** The projector's logger as the lease's and the self-check's (pino has warn; a plain
 * ProjectorLogger gets it from info). */
function leaseLogger(logger: ProjectorLogger): { warn(obj: object, msg?: string): void; error(obj: object, msg?: string): void } {
  const withWarn = logger as ProjectorLogger & { warn?: (obj: object, msg?: string) => void }
  return { warn: (obj, msg) => (withWarn.warn ? withWarn.warn(obj, msg) : logger.info(obj, msg)), error: (obj, msg) => logger.error(obj, msg) }
}
