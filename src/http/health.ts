import type { FastifyPluginAsync } from 'fastify'
import type { EventStore } from '../eventstore/port.js'
import { measureProjectionLag, type ProjectionLag, type ProjectionSource } from '../metrics/projection-lag.js'
import { HttpProblem } from './problem.js'

/** Longest `GET /readyz` waits for the store (its head position and the oldest pending event),
 * milliseconds, unless the app says otherwise. */
export const READY_STORE_TIMEOUT_MS = 2_000

/** Seconds a client is told to wait before asking `/readyz` again after a 503 (`Retry-After`). */
const READY_RETRY_AFTER_SECONDS = 5

/**
 * A fault that makes the service not ready whatever the lag, reported by a component that watches
 * itself: the store (`store-file-replaced`, `disk-full`, `store-read-only`, `store-busy`), the read
 * models (`read-model-differs`, `read-model-damaged`, `projector-lease-lost`). `detail` says what
 * happened and what to do.
 */
export interface ReadinessFault {
  reason: string
  detail: string
}

/** When the service counts as ready (`GET /readyz`). */
export interface ReadinessOptions {
  /** Most events the projections may be behind the log's head (head − checkpoint; a log distance
   * on KurrentDB) and still be ready. `LEDGER_READY_MAX_LAG_EVENTS`. */
  maxLagEvents: number
  /** Oldest an event not yet applied may be, seconds, and the service still ready.
   * `LEDGER_READY_MAX_LAG_SECONDS`. */
  maxLagSeconds: number
  /** Longest the store may take to answer, milliseconds. Default READY_STORE_TIMEOUT_MS. */
  storeTimeoutMs?: number
}

/** Readiness unless configured: the defaults of LEDGER_READY_MAX_LAG_EVENTS and LEDGER_READY_MAX_LAG_SECONDS. */
export const DEFAULT_READINESS: ReadinessOptions = { maxLagEvents: 1_000, maxLagSeconds: 30 }

/**
 * The probes, open without a token (PUBLIC_ROUTES in auth.ts):
 *
 * - `GET /healthz` (liveness): the process answers. Never touches the store (a store outage must not
 *   make an orchestrator restart a healthy process). 200 `{status: 'ok', store, projectionPosition,
 *   projectionLive}` (`store` the kind configured, `projectionPosition` the checkpoint as a decimal
 *   string, `projectionLive` whether the projector's subscription is live).
 * - `GET /readyz` (readiness): the store answers its head position within `storeTimeoutMs`, the
 *   projector is live, and the projections are behind by at most `maxLagEvents` and
 *   `maxLagSeconds`. 200 `{status: 'ready', store, headPosition, projectionPosition, lagEvents,
 *   lagSeconds}` (positions and lagEvents decimal strings, lagSeconds a number); otherwise 503
 *   problem+json with `Retry-After`, `reason` (a fault a watcher reports, see {@link ReadinessFault}:
 *   the first, with `faults` listing every one as `{reason, detail}`;
 *   `store-unreachable`, `projection-not-live`, `projection-lagging`) and the same figures where the
 *   store answered.
 */
export const healthRoutes =
  (deps: {
    store: Pick<EventStore, 'headPosition' | 'readAll'>
    projector: ProjectionSource
    storeKind: string
    readiness?: ReadinessOptions
    /** The current instant (for lagSeconds). Default the system clock. */
    clock?: () => Date
    /** Watchers asked first, in order: the first fault any reports makes `/readyz` 503 with its
     * reason (synchronous and cheap: no I/O). */
    faults?: readonly (() => ReadinessFault | undefined)[]
  }): FastifyPluginAsync =>
  async (app) => {
    const readiness = deps.readiness ?? DEFAULT_READINESS
    const storeTimeoutMs = readiness.storeTimeoutMs ?? READY_STORE_TIMEOUT_MS

    // Probes (the image's HEALTHCHECK every 10 s, an orchestrator's every few seconds) would write
    // two info lines each, thousands a day: these routes log at warn and above only.
    app.get('/healthz', { logLevel: PROBE_LOG_LEVEL }, async () => ({
      status: 'ok',
      store: deps.storeKind,
      projectionPosition: (deps.projector.position ?? 0n).toString(),
      projectionLive: deps.projector.caughtUp,
    }))

    app.get('/readyz', { logLevel: PROBE_LOG_LEVEL }, async (request) => {
      // Every fault is listed (an operator cures them all, not one per restart); the first is the reason.
      const faults = (deps.faults ?? []).map((watch) => watch()).filter((f): f is ReadinessFault => f !== undefined)
      const [first] = faults
      if (first) throw notReady(first.reason, first.detail, { store: deps.storeKind, faults })
      let lag: ProjectionLag
      try {
        lag = await measureProjectionLag(deps.store, deps.projector, { timeoutMs: storeTimeoutMs, ...(deps.clock ? { now: deps.clock } : {}) })
      } catch (err) {
        request.log.warn({ err }, 'readiness: the event store did not answer')
        throw notReady('store-unreachable', `the ${deps.storeKind} event store did not answer within ${storeTimeoutMs} ms`, { store: deps.storeKind })
      }
      const figures = {
        store: deps.storeKind,
        headPosition: lag.headPosition.toString(),
        projectionPosition: lag.projectionPosition.toString(),
        lagEvents: lag.lagEvents.toString(),
        lagSeconds: lag.lagSeconds,
      }
      if (!lag.live) throw notReady('projection-not-live', "the projector's subscription to the log is not live (starting, or resubscribing after a failure)", figures)
      if (lag.lagEvents > BigInt(readiness.maxLagEvents) || lag.lagSeconds > readiness.maxLagSeconds)
        throw notReady(
          'projection-lagging',
          `the projections are ${lag.lagEvents} events and ${lag.lagSeconds} s behind the log (ready at most ${readiness.maxLagEvents} events and ${readiness.maxLagSeconds} s)`,
          { ...figures, maxLagEvents: readiness.maxLagEvents, maxLagSeconds: readiness.maxLagSeconds },
        )
      return { status: 'ready', ...figures }
    })
  }

/** Log level of the probe routes: their request lines are not written, their warnings and errors are. */
const PROBE_LOG_LEVEL = 'warn'

/** A 503 not-ready problem: its `type` and `reason` are the reason. */
function notReady(reason: string, detail: string, figures: Record<string, unknown>): HttpProblem {
  return new HttpProblem(503, reason, 'Not ready', detail, { reason, ...figures }, { 'retry-after': String(READY_RETRY_AFTER_SECONDS) })
}
