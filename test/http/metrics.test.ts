import t from 'tap'
import path from 'node:path'
import { createLedger } from '../../src/bootstrap.js'
import { loadConfig } from '../../src/config.js'
import { systemAuthenticator } from '../../src/http/auth.js'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import type { EventStore } from '../../src/eventstore/port.js'
import { Projector } from '../../src/projector/projector.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import { measureProjectionLag } from '../../src/metrics/projection-lag.js'
import { instrumentStore } from '../../src/metrics/instrumented-store.js'
import { createMetrics } from '../../src/metrics/metrics.js'
import { SqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { json, personId, submission } from '../helpers/http.js'

/**
 * `GET /metrics` (issue #9): request counts by route pattern, events appended by type, submissions
 * by outcome, the projection's position and lag, resubscriptions; and the instrumented store.
 */

/** The value of the sample `name` whose labels include `labels`, from Prometheus text; undefined
 * when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = new Map([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]))
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) return Number(m[3])
  }
  return undefined
}

/** A ledger from the service's own wiring (bootstrap: instrumented store, shared metrics) on a
 * file in a fresh directory, no periodic seal, every request the system principal. */
async function serviceLedger(dir: string) {
  const config = loadConfig({
    LEDGER_SQLITE_PATH: path.join(dir, 'ledger.sqlite'),
    LEDGER_KEYS_PATH: path.join(dir, 'keys.json'),
    LEDGER_SEAL_INTERVAL_MS: '0',
    LOG_LEVEL: 'silent',
  })
  return createLedger(config, { authenticator: systemAuthenticator })
}

t.test('GET /metrics counts requests by route, events by type, submissions by outcome', async (t) => {
  const ledger = await serviceLedger(t.testdir())
  t.teardown(() => ledger.close())
  const { app } = ledger
  const post = (body: unknown) => app.inject({ method: 'POST', url: '/v1/contribution-submissions', payload: body as object })
  const persons = [personId(501), personId(502), personId(503)]

  const recorded = submission({ submissionId: 'M-1', lines: persons.map((p) => ({ personId: p, wage: '9000.00' })) })
  const first = await post(recorded)
  t.equal(first.statusCode, 201)
  t.equal((await post(recorded)).statusCode, 200, 'the retry')
  // The same person twice: a rule violation (2 lines).
  const twice = submission({ submissionId: 'M-2', lines: [{ personId: persons[0]!, wage: '9000.00' }, { personId: persons[0]!, wage: '9100.00' }] })
  t.equal((await post(twice)).statusCode, 422)
  // July again for a person M-1 credited: duplicate months (1 line).
  t.equal((await post(submission({ submissionId: 'M-3', lines: [{ personId: persons[1]!, wage: '9000.00' }] }))).statusCode, 409)
  // A malformed wage: 400 (2 lines in the body).
  const bad = submission({ submissionId: 'M-4', lines: [{ personId: personId(504), wage: 'lots' }, { personId: personId(505), wage: '1.00' }] })
  t.equal((await post(bad)).statusCode, 400)
  // A read by person: its route pattern is counted, never the id.
  const position = json(first).position as string
  t.equal((await app.inject({ method: 'GET', url: `/v1/persons/${persons[2]}/balances?minPosition=${position}` })).statusCode, 200)

  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/)
  const text = res.body

  const http = (method: string, route: string, status: string) => sample(text, 'ledger_http_requests_total', { method, route, status_code: status })
  t.equal(http('POST', '/v1/contribution-submissions', '201'), 1, 'one 201 on the submissions route')
  t.equal(http('POST', '/v1/contribution-submissions', '200'), 1, 'one 200 (the retry)')
  t.equal(http('POST', '/v1/contribution-submissions', '422'), 1)
  t.equal(http('POST', '/v1/contribution-submissions', '409'), 1)
  t.equal(http('POST', '/v1/contribution-submissions', '400'), 1)
  t.equal(http('GET', '/v1/persons/:personId/balances', '200'), 1, 'the read, by its route pattern')
  t.equal(
    sample(text, 'ledger_http_request_duration_seconds_count', { method: 'POST', route: '/v1/contribution-submissions', status_code: '201' }),
    1,
    'the 201 timed once',
  )
  for (const id of [...persons, personId(504), personId(505)]) t.notOk(text.includes(id), `no person id in the metrics (${id.slice(0, 6)}…)`)

  // M-1 wrote one ContributionRecorded per line (3) and its submission marker (1); nothing else
  // appended (the refusals wrote nothing, the seal is off).
  t.equal(sample(text, 'ledger_events_appended_total', { type: 'ContributionRecorded' }), recorded.lines.length)
  t.equal(sample(text, 'ledger_events_appended_total', { type: 'ContributionSubmissionRecorded' }), 1)
  t.equal(sample(text, 'ledger_store_append_duration_seconds_count', { operation: 'append_many', outcome: 'ok' }), 1, 'one append, timed')

  const outcome = (name: string, o: string) => sample(text, name, { outcome: o })
  t.equal(outcome('ledger_submissions_total', 'recorded'), 1)
  t.equal(outcome('ledger_submission_lines_total', 'recorded'), 3)
  t.equal(outcome('ledger_submissions_total', 'already-recorded'), 1)
  t.equal(outcome('ledger_submission_lines_total', 'already-recorded'), 3)
  t.equal(outcome('ledger_submissions_total', 'rule-violation'), 1)
  t.equal(outcome('ledger_submission_lines_total', 'rule-violation'), 2)
  t.equal(outcome('ledger_submissions_total', 'duplicate-months'), 1)
  t.equal(outcome('ledger_submission_lines_total', 'duplicate-months'), 1)
  t.equal(outcome('ledger_submissions_total', 'invalid'), 1)
  t.equal(outcome('ledger_submission_lines_total', 'invalid'), 2)

  // The read waited for M-1's position: the projections are there, nothing is pending.
  t.equal(sample(text, 'ledger_store_up'), 1)
  t.equal(sample(text, 'ledger_store_head_position'), Number(position))
  t.equal(sample(text, 'ledger_projection_position'), Number(position))
  t.equal(sample(text, 'ledger_projection_lag_events'), 0)
  t.equal(sample(text, 'ledger_projection_lag_seconds'), 0)
  t.equal(sample(text, 'ledger_projection_resubscriptions_total'), 0)
  t.ok(sample(text, 'process_cpu_user_seconds_total') !== undefined, "prom-client's process metrics are there")
})

t.test('the projection lag shows events appended while the projector is stopped', async (t) => {
  const ledger = await serviceLedger(t.testdir())
  t.teardown(() => ledger.close())
  const { app } = ledger
  const first = await app.inject({ method: 'POST', url: '/v1/contribution-submissions', payload: submission({ submissionId: 'L-1', lines: [{ personId: personId(601), wage: '9000.00' }] }) })
  const applied = BigInt(json(first).position)
  t.equal(await ledger.projector.waitForPosition(applied, 5_000), applied)
  await ledger.projector.stop()
  // Two lines and the marker: 3 events the projections have not applied (SQLite positions are dense).
  const second = await app.inject({
    method: 'POST',
    url: '/v1/contribution-submissions',
    payload: submission({ submissionId: 'L-2', lines: [{ personId: personId(602), wage: '9000.00' }, { personId: personId(603), wage: '9000.00' }] }),
  })
  t.equal(BigInt(json(second).position), applied + 3n)
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(sample(text, 'ledger_projection_position'), Number(applied))
  t.equal(sample(text, 'ledger_store_head_position'), Number(applied + 3n))
  t.equal(sample(text, 'ledger_projection_lag_events'), 3)
  t.ok(sample(text, 'ledger_projection_lag_seconds')! >= 0, 'an age, not NaN')
})

t.test('lagSeconds is the age of the first event after the checkpoint; 0 when caught up', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  t.teardown(() => store.close())
  await store.append('s-1', [{ type: 'A', data: {} }, { type: 'B', data: {} }], 'no_stream')
  const events: { position: bigint; recordedAt: string }[] = []
  for await (const e of store.readAll()) events.push(e)
  const [a, b] = events as [(typeof events)[0], (typeof events)[0]]
  // 42.5 s after the second event was recorded.
  const now = () => new Date(Date.parse(b.recordedAt) + 42_500)
  const behind = await measureProjectionLag(store, { position: a.position, caughtUp: true }, { timeoutMs: 1_000, now })
  t.equal(behind.lagEvents, 1n)
  t.equal(behind.lagSeconds, 42.5)
  t.equal(behind.headPosition, b.position)
  const none = await measureProjectionLag(store, { position: null, caughtUp: false }, { timeoutMs: 1_000, now: () => new Date(Date.parse(a.recordedAt) + 10_000) })
  t.equal(none.lagEvents, b.position, 'nothing applied: every event pending')
  t.equal(none.lagSeconds, 10, 'the age of the first event')
  t.equal(none.live, false)
  const caughtUp = await measureProjectionLag(store, { position: b.position, caughtUp: true }, { timeoutMs: 1_000, now })
  t.same([caughtUp.lagEvents, caughtUp.lagSeconds], [0n, 0])
})

t.test('the instrumented store counts successful appends by type, times every append, and stays the store', async (t) => {
  const raw = openSqliteEventStore({ path: ':memory:' })
  const metrics = createMetrics({ processMetrics: false })
  const store = instrumentStore(raw, metrics)
  t.teardown(() => store.close())
  await store.append('s-1', [{ type: 'A', data: {} }, { type: 'B', data: {} }, { type: 'A', data: {} }], 'no_stream')
  await store.appendMany([
    { stream: 's-2', events: [{ type: 'B', data: {} }], expectedRevision: 'no_stream' },
    { stream: 's-3', events: [{ type: 'C', data: {} }], expectedRevision: 'no_stream' },
  ])
  await t.rejects(store.append('s-1', [{ type: 'A', data: {} }], 'no_stream'), { name: 'WrongExpectedRevisionError' })
  await t.rejects(store.appendMany([{ stream: 's-4', events: [{ type: 'D', data: {} }], expectedRevision: 0n }]), { name: 'WrongExpectedRevisionError' })
  const text = await metrics.registry.metrics()
  t.equal(sample(text, 'ledger_events_appended_total', { type: 'A' }), 2)
  t.equal(sample(text, 'ledger_events_appended_total', { type: 'B' }), 2)
  t.equal(sample(text, 'ledger_events_appended_total', { type: 'C' }), 1)
  t.equal(sample(text, 'ledger_events_appended_total', { type: 'D' }), undefined, 'a refused append counts no event')
  t.equal(sample(text, 'ledger_store_append_duration_seconds_count', { operation: 'append', outcome: 'ok' }), 1)
  t.equal(sample(text, 'ledger_store_append_duration_seconds_count', { operation: 'append_many', outcome: 'ok' }), 1)
  t.equal(sample(text, 'ledger_store_append_duration_seconds_count', { operation: 'append', outcome: 'conflict' }), 1)
  t.equal(sample(text, 'ledger_store_append_duration_seconds_count', { operation: 'append_many', outcome: 'conflict' }), 1)
  // Everything else is the store's own.
  t.ok(store instanceof SqliteEventStore, 'instanceof sees the class (audit verify relies on it)')
  t.equal(store.db, raw.db, "the SQLite store's db")
  t.equal(await store.headPosition(), 5n)
  let read = 0
  for await (const _ of store.readAll()) read++
  t.equal(read, 5)
})

t.test('each resubscription after a failure is counted', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  const readModels = new ReadModelStore(':memory:')
  await store.append('s-1', [{ type: 'A', data: {} }], 'no_stream')
  // The first subscription fails at once; the next ones are the store's.
  let attempts = 0
  const flaky: EventStore = Object.assign(Object.create(store) as EventStore, {
    subscribeAll: (options: Parameters<EventStore['subscribeAll']>[0]) => {
      if (attempts++ === 0)
        return {
          [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('dropped')) }),
        }
      return store.subscribeAll(options)
    },
  })
  let resubscribed = 0
  const projector = new Projector({ store: flaky, readModels, projections: [], initialBackoffMs: 1, onResubscribe: () => resubscribed++ })
  t.teardown(async () => {
    await projector.stop()
    await store.close()
    readModels.close()
  })
  projector.start()
  t.equal(await projector.waitForPosition(1n, 5_000), 1n, 'the projector got past the failure')
  t.equal(attempts, 2, 'subscribed twice')
  t.equal(resubscribed, 1, 'one resubscription')
})
