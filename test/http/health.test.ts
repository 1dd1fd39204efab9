import t from 'tap'
import { createTestLedger } from '../helpers/ledger.js'
import { json, personId, problem, submission } from '../helpers/http.js'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import type { EventStore } from '../../src/eventstore/port.js'
import type { Authenticator } from '../../src/http/auth.js'
import { Projector } from '../../src/projector/projector.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'

/**
 * `GET /healthz` (liveness: never the store), `GET /readyz` (the store answers and the projections
 * are live and within the configured lag), both and `/metrics` open without a token (issue #9).
 */

type Ledger = Awaited<ReturnType<typeof createTestLedger>>

/** Waits (bounded) until the projector's subscription is live. */
async function untilLive(projector: Projector): Promise<void> {
  for (let i = 0; i < 500 && !projector.caughtUp; i++) await new Promise((r) => setTimeout(r, 10))
}

const post = (ledger: Ledger, submissionId: string, persons: number[]) =>
  ledger.app.inject({
    method: 'POST',
    url: '/v1/contribution-submissions',
    payload: submission({ submissionId, lines: persons.map((n) => ({ personId: personId(n), wage: '9000.00' })) }),
  })

/** A store over a fresh in-memory SQLite store whose headPosition is replaced. */
function withHead(headPosition: EventStore['headPosition']): EventStore {
  const store = openSqliteEventStore({ path: ':memory:' })
  return Object.assign(Object.create(store) as EventStore, { headPosition, close: () => store.close() })
}

t.test('/readyz: 200 while within the lag; 503 projection-lagging beyond it', async (t) => {
  const ledger = await createTestLedger({ app: { readiness: { maxLagEvents: 2, maxLagSeconds: 3_600 } } })
  t.teardown(ledger.close)
  await untilLive(ledger.projector)
  const r = await post(ledger, 'Y-1', [701])
  const applied = BigInt(json(r).position)
  t.equal(await ledger.projector.waitForPosition(applied, 5_000), applied)
  const ready = await ledger.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 200)
  t.same(json(ready), { status: 'ready', store: 'sqlite', headPosition: String(applied), projectionPosition: String(applied), lagEvents: '0', lagSeconds: 0 })

  await ledger.projector.stop()
  // One line and the marker: 2 events behind, the most still ready.
  t.equal(BigInt(json(await post(ledger, 'Y-2', [702])).position), applied + 2n)
  const atLimit = await ledger.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(atLimit.statusCode, 200, 'lag 2 of at most 2')
  t.match(json(atLimit), { status: 'ready', lagEvents: '2' })

  // Two more: 4 behind.
  t.equal(BigInt(json(await post(ledger, 'Y-3', [703])).position), applied + 4n)
  const lagging = await ledger.app.inject({ method: 'GET', url: '/readyz' })
  const body = problem(t, lagging, 503, 'lagging')
  t.equal(lagging.headers['retry-after'], '5')
  t.match(body, {
    reason: 'projection-lagging',
    store: 'sqlite',
    headPosition: String(applied + 4n),
    projectionPosition: String(applied),
    lagEvents: '4',
    maxLagEvents: 2,
    maxLagSeconds: 3_600,
  })
  t.type(body.lagSeconds, 'number')
  // Liveness does not care.
  t.equal((await ledger.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
})

t.test('/readyz: 503 projection-not-live before the projector has caught up', async (t) => {
  // A projector never started: its subscription was never live.
  const store = openSqliteEventStore({ path: ':memory:' })
  const readModels = new ReadModelStore(':memory:')
  const idle = new Projector({ store, readModels, projections: [] })
  const ledger = await createTestLedger({ app: { projector: idle } })
  t.teardown(async () => {
    await ledger.close()
    await store.close()
    readModels.close()
  })
  const res = await ledger.app.inject({ method: 'GET', url: '/readyz' })
  t.match(problem(t, res, 503, 'not live'), { reason: 'projection-not-live', store: 'sqlite', headPosition: '0', projectionPosition: '0', lagEvents: '0' })
})

t.test('/readyz: 503 store-unreachable when the head does not come or fails; /healthz still 200', async (t) => {
  for (const [what, headPosition] of [
    ['hangs', () => new Promise<bigint | null>(() => undefined)],
    ['throws', () => Promise.reject(new Error('disk gone'))],
  ] as const) {
    const down = withHead(headPosition)
    const ledger = await createTestLedger({ app: { store: down, readiness: { maxLagEvents: 1_000, maxLagSeconds: 30, storeTimeoutMs: 50 } } })
    t.teardown(async () => {
      await ledger.close()
      await down.close()
    })
    const res = await ledger.app.inject({ method: 'GET', url: '/readyz' })
    const body = problem(t, res, 503, `the store ${what}`)
    t.equal(body.reason, 'store-unreachable', what)
    t.equal(body.store, 'sqlite')
    t.equal(body.headPosition, undefined, 'no figures the store did not give')
    t.notMatch(body.detail, /disk gone/, 'the store error stays in the log')
    const alive = await ledger.app.inject({ method: 'GET', url: '/healthz' })
    t.equal(alive.statusCode, 200, `/healthz while the store ${what}`)
    t.match(json(alive), { status: 'ok', store: 'sqlite', projectionPosition: '0' })
    if (what === 'throws') {
      const metrics = (await ledger.app.inject({ method: 'GET', url: '/metrics' })).body
      t.match(metrics, /^ledger_store_up 0$/m, 'the scrape says the store is down')
      t.match(metrics, /^ledger_projection_lag_events nan$/im, 'NaN (prom-client writes Nan; Prometheus reads it in any case)')
    }
  }
})

t.test('/healthz, /readyz and /metrics need no token; /v1 still does', async (t) => {
  const nobody: Authenticator = { authenticate: async () => undefined }
  const ledger = await createTestLedger({ authenticator: nobody, app: { rateLimitPerMinute: 1 } })
  t.teardown(ledger.close)
  await untilLive(ledger.projector)
  // Twice each, over a rate limit of 1 a minute: the probes are not limited either.
  for (let i = 0; i < 2; i++) {
    t.equal((await ledger.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
    t.equal((await ledger.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
    t.equal((await ledger.app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200)
  }
  t.equal((await ledger.app.inject({ method: 'GET', url: '/v1/pools/310000/balances' })).statusCode, 401)
  const metrics = (await ledger.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /^ledger_http_requests_total\{method="GET",route="\/v1\/pools\/:region\/balances",status_code="401"\} 1$/m)
  t.notMatch(metrics, /authorization|bearer/i, 'nothing of a token')
})

t.test('/readyz: every fault the watchers report is listed; the first is the reason', async (t) => {
  // Given two watchers that each report a fault, and one that reports none
  const ledger = await createTestLedger({
    app: {
      readinessFaults: [
        () => ({ reason: 'read-model-damaged', detail: 'the person document p1 is damaged' }),
        () => undefined,
        () => ({ reason: 'read-model-differs', detail: 'the pool document 310000 differs' }),
      ],
    },
  })
  t.teardown(ledger.close)
  // When /readyz is asked
  const r = await ledger.app.inject({ method: 'GET', url: '/readyz' })
  // Then it is 503 with the first fault as its reason, and both listed (cured together, not one a restart)
  const body = problem(t, r, 503, '/readyz') as unknown as { reason: string; faults: { reason: string; detail: string }[] }
  t.equal(body.reason, 'read-model-damaged')
  t.same(body.faults, [
    { reason: 'read-model-damaged', detail: 'the person document p1 is damaged' },
    { reason: 'read-model-differs', detail: 'the pool document 310000 differs' },
  ])
})
