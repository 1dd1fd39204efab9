import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod'
import type { EventStore } from './eventstore/port.js'
import type { PolicyBook } from './domain/policy.js'
import type { Projector } from './projector/projector.js'
import type { ReadModelStore } from './projector/read-model-store.js'
import { RecordSubmissionHandler } from './usecases/record-submission.js'
import { ImportLegacyHandler } from './usecases/import-legacy.js'
import { frameworkErrorHandler, installProblemHandlers } from './http/errors.js'
import { installClosingGate } from './http/closing.js'
import { installJsonBodyParser } from './http/json-body.js'
import { healthRoutes, type ReadinessFault, type ReadinessOptions } from './http/health.js'
import { createMetrics, type LedgerMetrics } from './metrics/metrics.js'
import { installHttpMetrics, submissionMetrics } from './metrics/http.js'
import { installAuth, type Authenticator } from './http/auth.js'
import { installOpenApi } from './http/openapi.js'
import {
  CONNECTION_TIMEOUT_MS,
  DEFAULT_HTTP_TIMEOUTS,
  DEFAULT_RATE_LIMIT_PER_MINUTE,
  KEEP_ALIVE_TIMEOUT_MS,
  clientErrorHandlerWith,
  httpServerOptions,
  installLimits,
  type HttpTimeouts,
} from './http/limits.js'
import { legacyRoutes } from './http/legacy.js'
import { personRoutes } from './http/persons.js'
import { poolRoutes } from './http/pools.js'
import { submissionRoutes } from './http/submissions.js'
import { transferRoutes } from './http/transfers.js'
import { TransferHandler } from './usecases/transfers.js'
import type { PensionTables } from './domain/pension/pension-tables.js'
import { RetirementHandler } from './usecases/retire.js'
import { PayoutHandler } from './usecases/pay-out.js'
import { ReversalHandler } from './usecases/reverse.js'
import { InterestRunner } from './usecases/interest-run.js'
import { retirementRoutes } from './http/retirement.js'
import { payoutRoutes } from './http/payouts.js'
import { reversalRoutes } from './http/reversals.js'
import { interestRunRoutes } from './http/interest-runs.js'
import { MAX_PATH_PARAM_LENGTH, auditRoutes } from './http/audit.js'
import { personBalances } from '../projections/index.js'

export { REQUEST_TIMEOUT_MS } from './http/limits.js'

/** What the HTTP app needs; built by `bootstrap.ts`, or by tests directly. */
export interface AppDeps {
  store: EventStore
  storeKind: string
  readModels: ReadModelStore
  projector: Projector
  policies: PolicyBook
  /** Months divisors and record-keeping interest rates. */
  pensionTables: PensionTables
  /** The interest runner (built by `createInterestRunner` when absent). */
  interestRunner?: InterestRunner
  /** Longest a read waits for `minPosition`, milliseconds. */
  readWaitMs: number
  /** Largest request body, bytes. */
  maxBodyBytes: number
  /** The header and request timeouts and how often they are checked, milliseconds; default
   * DEFAULT_HTTP_TIMEOUTS (10 s, 30 s, checked every second: http/limits.ts). Tests shorten them. */
  timeouts?: Partial<HttpTimeouts>
  /** Requests a caller may make in a minute (0: no limit); default DEFAULT_RATE_LIMIT_PER_MINUTE. */
  rateLimitPerMinute?: number
  /** Holiday calendar: dates that are not working days although Monday-Friday (transfer deadlines). */
  daysOff?: ReadonlySet<string>
  /** The current instant (tests set it); default the system clock. */
  clock?: () => Date
  /** Turns bearer tokens into principals (API keys, JWTs); tests not about authorisation use
   * `systemAuthenticator`. */
  authenticator: Authenticator
  /** Fastify logger option: `false` in tests, a pino options object in the service. */
  logger?: FastifyServerOptions['logger']
  /** The Prometheus metrics served at `/metrics` (bootstrap shares them with the instrumented
   * store and the projector); default a fresh registry of this app's own. */
  metrics?: LedgerMetrics
  /** When `/readyz` says ready (LEDGER_READY_MAX_LAG_*); default DEFAULT_READINESS in http/health.ts. */
  readiness?: ReadinessOptions
  /** More readiness watchers, after the store's own fault (the read models' self-check, the
   * projector's lease): see healthRoutes. */
  readinessFaults?: readonly (() => ReadinessFault | undefined)[]
}

/**
 * Builds the Fastify instance with every route of the `/v1` contract and the problem-details error
 * handling. Does not listen; `server.ts` does, tests use `inject` or listen on port 0.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const timeouts = { ...DEFAULT_HTTP_TIMEOUTS, ...deps.timeouts }
  // Counts the 408s the client error handler answers (set once the metrics are installed, below).
  let countRequestTimeout: (request: IncomingMessage | undefined) => void = () => undefined
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: deps.maxBodyBytes,
    // Header and request timeouts, and how often Node checks them: given when the server is created
    // (Node's default check, every 30 s, made them fire 20-30 s late).
    http: httpServerOptions(timeouts),
    requestTimeout: timeouts.requestMs,
    // A timed-out or malformed request is answered as a problem, not Fastify's plain JSON; a 408 is
    // logged and counted.
    clientErrorHandler: clientErrorHandlerWith((request) => countRequestTimeout(request)),
    connectionTimeout: CONNECTION_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // Errors Fastify raises before routing (a bad URL encoding, an over-long path parameter) are
    // problem details too.
    frameworkErrors: frameworkErrorHandler,
    // Audit routes take stream names of up to 200 characters, validated by their schema (Fastify's
    // default limit, 100, would refuse longer ones before routing, as 414).
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    // Requests arriving while the app closes are answered by installClosingGate, as problems.
    return503OnClosing: false,
    // The request id (`reqId` in the logs) is each written event's `correlationId`: a UUID, unique
    // across restarts and instances (Fastify's default counter starts again at req-1 every start).
    genReqId: () => randomUUID(),
  }).withTypeProvider<ZodTypeProvider>()
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  // JSON only: a text/plain body is 415, not a string for the schema to refuse.
  app.removeContentTypeParser('text/plain')
  installJsonBodyParser(app)
  installProblemHandlers(app)
  // Security headers and the rate limit: before authentication's hook and before any route.
  await installLimits(app, { perMinute: deps.rateLimitPerMinute ?? DEFAULT_RATE_LIMIT_PER_MINUTE })
  // After the security headers (its 503 carries them), before authentication and the routes.
  installClosingGate(app)
  installAuth(app, deps.authenticator)
  // The OpenAPI document and /docs: before the routes, which @fastify/swagger collects as they are added.
  await installOpenApi(app)
  const metrics = deps.metrics ?? createMetrics()
  metrics.observeProjection(deps.store, deps.projector)
  countRequestTimeout = installHttpMetrics(app, metrics)
  await app.register(
    healthRoutes({
      store: deps.store,
      projector: deps.projector,
      storeKind: deps.storeKind,
      ...(deps.readiness ? { readiness: deps.readiness } : {}),
      faults: [() => deps.store.fault?.(), ...(deps.readinessFaults ?? [])],
    }),
  )
  await app.register(submissionRoutes(new RecordSubmissionHandler(deps.store, deps.policies), submissionMetrics(metrics)))
  await app.register(legacyRoutes(new ImportLegacyHandler(deps.store, deps.policies)))
  await app.register(personRoutes({ store: deps.store, readModels: deps.readModels, projector: deps.projector, readWaitMs: deps.readWaitMs }))
  await app.register(
    poolRoutes({ store: deps.store, readModels: deps.readModels, projector: deps.projector, readWaitMs: deps.readWaitMs, knownRegions: new Set(deps.policies.regions()) }),
  )
  const daysOff = deps.daysOff ?? new Set<string>()
  await app.register(
    transferRoutes({
      handler: new TransferHandler(deps.store, deps.clock, daysOff),
      readModels: deps.readModels,
      projector: deps.projector,
      readWaitMs: deps.readWaitMs,
      daysOff,
      knownRegions: new Set(deps.policies.regions()),
    }),
  )
  await app.register(retirementRoutes(new RetirementHandler(deps.store, deps.pensionTables, deps.clock)))
  await app.register(payoutRoutes(new PayoutHandler(deps.store, deps.clock)))
  await app.register(reversalRoutes(new ReversalHandler(deps.store)))
  const runner = deps.interestRunner ?? createInterestRunner(deps)
  await app.register(interestRunRoutes(runner, deps.clock ?? (() => new Date())))
  await app.register(auditRoutes({ store: deps.store }))
  // A pass in flight stops after its batch when the app closes; the next start resumes it.
  app.addHook('onClose', () => runner.stop())
  return app
}

/**
 * The interest runner over the app's store, listing persons from the person-balances read model
 * after the projector has reached the log's head (bounded by the runner's catch-up wait).
 */
export function createInterestRunner(
  deps: Pick<AppDeps, 'store' | 'readModels' | 'projector' | 'pensionTables'>,
  options: ConstructorParameters<typeof InterestRunner>[3] = {},
): InterestRunner {
  return new InterestRunner(
    deps.store,
    deps.pensionTables,
    {
      personsAfter: (after, limit) => deps.readModels.listKeys(personBalances.name, { limit, ...(after !== undefined ? { afterKey: after } : {}) }),
      catchUp: async (waitMs) => {
        const head = await deps.store.headPosition()
        if (head === null) return true
        const reached = await deps.projector.waitForPosition(head, waitMs)
        return reached !== null && reached >= head
      },
    },
    options,
  )
}
