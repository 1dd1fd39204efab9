import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { EventStore } from '../eventstore/port.js'
import { measureProjectionLag, type ProjectionLag, type ProjectionSource } from './projection-lag.js'

/**
 * The service's Prometheus metrics (issue #9), in a registry of their own per app instance (never
 * prom-client's global one: tests build several apps in one process). Served at `GET /metrics`.
 *
 * Labels hold only bounded, non-personal values: route patterns (never raw URLs, which carry person
 * ids), status codes, event types, outcome names. README.md lists every metric.
 */

/** Longest a scrape waits for the store (head position, the oldest pending event), milliseconds.
 * Past it the projection gauges read NaN and `ledger_store_up` 0. */
export const SCRAPE_STORE_TIMEOUT_MS = 2_000

/** Histogram buckets of HTTP request durations, seconds (5 ms … 30 s: a 10,000-line submission
 * takes about a second; a read waiting for `minPosition` up to 30 s). */
const HTTP_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** Histogram buckets of store append durations, seconds (an fsync is about 0.5 ms on our disks). */
const APPEND_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

/** Outcome of a `POST /v1/contribution-submissions`: `recorded` (201), `already-recorded` (200,
 * a retry), a refusal of the use case (`rule-violation`, `duplicate-months`,
 * `submission-conflict`, `no-policy`), or an HTTP-level refusal named from its status
 * (see {@link submissionOutcomeOfStatus}). */
export type SubmissionOutcome = string

/** The metrics of one app, and what records them. */
export interface LedgerMetrics {
  /** The registry `GET /metrics` serves. */
  readonly registry: Registry
  /** `ledger_http_requests_total{method,route,status_code}`. */
  readonly httpRequests: Counter<'method' | 'route' | 'status_code'>
  /** `ledger_http_request_duration_seconds{method,route,status_code}`. */
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>
  /** `ledger_events_appended_total{type}`: events of successful appends. */
  readonly eventsAppended: Counter<'type'>
  /** `ledger_store_append_duration_seconds{operation,outcome}`. */
  readonly appendDuration: Histogram<'operation' | 'outcome'>
  /** `ledger_submissions_total{outcome}`. */
  readonly submissions: Counter<'outcome'>
  /** `ledger_submission_lines_total{outcome}`: lines of those submissions. */
  readonly submissionLines: Counter<'outcome'>
  /** `ledger_projection_resubscriptions_total`: the projector's subscription dropped or failed and
   * was resumed. */
  readonly projectionResubscriptions: Counter
  /** `ledger_read_model_differences_total{projection}`: documents the read models' self-check found
   * different from the log, or damaged (src/projector/self-check.ts), and documents the projector
   * found damaged (src/projector/projector.ts). */
  readonly readModelDifferences: Counter<'projection'>
  /**
   * Registers the scrape-time gauges of the projections over `store` and `projector`:
   * `ledger_store_head_position`, `ledger_projection_position`, `ledger_projection_lag_events`,
   * `ledger_projection_lag_seconds`, `ledger_projection_live`, `ledger_store_up`. Measured once per
   * scrape, within {@link SCRAPE_STORE_TIMEOUT_MS}. Call once.
   */
  observeProjection(store: Pick<EventStore, 'headPosition' | 'readAll'>, projector: ProjectionSource, now?: () => Date): void
}

/**
 * Creates the metrics in a new registry.
 * @param options.processMetrics whether to add prom-client's default process and Node.js metrics
 * (`process_*`, `nodejs_*`, unprefixed as dashboards expect them). Default true.
 */
export function createMetrics(options: { processMetrics?: boolean } = {}): LedgerMetrics {
  const registry = new Registry()
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const httpRequests = new Counter({
    name: 'ledger_http_requests_total',
    help: 'HTTP requests answered, by method, matched route pattern (unmatched: "none") and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers,
  })
  const httpRequestDuration = new Histogram({
    name: 'ledger_http_request_duration_seconds',
    help: 'Time from receiving a request to answering it, seconds, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_BUCKETS_SECONDS,
    registers,
  })
  const eventsAppended = new Counter({
    name: 'ledger_events_appended_total',
    help: 'Events written to the event store by successful appends, by event type.',
    labelNames: ['type'] as const,
    registers,
  })
  const appendDuration = new Histogram({
    name: 'ledger_store_append_duration_seconds',
    help: 'Duration of event store appends, seconds, by operation (append, append_many) and outcome (ok, conflict, error).',
    labelNames: ['operation', 'outcome'] as const,
    buckets: APPEND_BUCKETS_SECONDS,
    registers,
  })
  const submissions = new Counter({
    name: 'ledger_submissions_total',
    help: 'Payroll submissions (POST /v1/contribution-submissions) by outcome: recorded, already-recorded, or the reason of a refusal.',
    labelNames: ['outcome'] as const,
    registers,
  })
  const submissionLines = new Counter({
    name: 'ledger_submission_lines_total',
    help: 'Lines of payroll submissions, by the outcome of their submission (as ledger_submissions_total).',
    labelNames: ['outcome'] as const,
    registers,
  })
  const projectionResubscriptions = new Counter({
    name: 'ledger_projection_resubscriptions_total',
    help: "Times the projector's subscription to the log dropped or failed and was resumed from the checkpoint.",
    registers,
  })
  const readModelDifferences = new Counter({
    name: 'ledger_read_model_differences_total',
    help: 'Read-model documents the background self-check found different from the fold of the log, or the self-check or the projector found damaged, by projection (cure: ledger projections rebuild).',
    labelNames: ['projection'] as const,
    registers,
  })

  let observed = false
  const observeProjection: LedgerMetrics['observeProjection'] = (store, projector, now) => {
    if (observed) throw new Error('observeProjection: already observing a projector')
    observed = true
    // One measurement per scrape: the registry collects every metric at once, and each gauge's
    // collect() asks for the measurement in flight.
    let inFlight: Promise<ProjectionLag | undefined> | undefined
    const measure = () =>
      (inFlight ??= measureProjectionLag(store, projector, { timeoutMs: SCRAPE_STORE_TIMEOUT_MS, ...(now ? { now } : {}) })
        .catch(() => undefined)
        .finally(() => {
          inFlight = undefined
        }))
    const gauge = (name: string, help: string, value: (lag: ProjectionLag | undefined) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          this.set(value(await measure()))
        },
      })
    gauge('ledger_store_up', 'Whether the event store answered this scrape within its timeout (1) or not (0).', (lag) => (lag ? 1 : 0))
    gauge('ledger_store_head_position', "Position of the log's last event (0: empty log); NaN when the store did not answer.", (lag) =>
      lag ? Number(lag.headPosition) : Number.NaN,
    )
    gauge('ledger_projection_position', "The projections' checkpoint: position of the last event applied (0: none yet).", () => Number(projector.position ?? 0n))
    gauge(
      'ledger_projection_lag_events',
      'Head position minus the projections\' checkpoint (events not yet applied on SQLite; a log distance on KurrentDB); NaN when the store did not answer.',
      (lag) => (lag ? Number(lag.lagEvents) : Number.NaN),
    )
    gauge(
      'ledger_projection_lag_seconds',
      'Age of the oldest event the projections have not applied, seconds (0: caught up); NaN when the store did not answer.',
      (lag) => (lag ? lag.lagSeconds : Number.NaN),
    )
    gauge('ledger_projection_live', "Whether the projector's subscription is live, caught up with the log (1) or not (0).", () => (projector.caughtUp ? 1 : 0))
  }

  return { registry, httpRequests, httpRequestDuration, eventsAppended, appendDuration, submissions, submissionLines, projectionResubscriptions, readModelDifferences, observeProjection }
}

/** HTTP statuses of a submission refused before or outside the use case, by outcome name. */
const SUBMISSION_STATUS_OUTCOMES: Readonly<Record<number, SubmissionOutcome>> = {
  400: 'invalid',
  401: 'unauthenticated',
  403: 'forbidden',
  408: 'timeout',
  409: 'conflict',
  413: 'too-large',
  415: 'unsupported-media-type',
  422: 'unprocessable',
  429: 'rate-limited',
  503: 'store-unavailable',
}

/** The outcome name of a submission answered `statusCode` without the use case naming one:
 * `invalid` (400), `too-large` (413), `store-unavailable` (503) …, `error` for another 5xx,
 * `other` for anything else. */
export function submissionOutcomeOfStatus(statusCode: number): SubmissionOutcome {
  return SUBMISSION_STATUS_OUTCOMES[statusCode] ?? (statusCode >= 500 ? 'error' : 'other')
}
