import t from 'tap'
import { jsonEvent } from '@kurrent/kurrentdb-client'
import { KurrentDbEventStore, openKurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { StoreUnavailableError, WrongExpectedRevisionError, type RecordedEvent } from '../../src/eventstore/port.js'
import { RecordSubmissionHandler } from '../../src/usecases/record-submission.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import { yuan } from '../../src/domain/money.js'
import { FakeKurrentClient, fakeErrors } from '../helpers/fake-kurrent-client.js'
import { collect, within } from '../helpers/async.js'
import { runEventStoreConformance } from './conformance.js'

/**
 * The KurrentDB adapter's logic without a server: against FakeKurrentClient, a scripted client
 * that behaves as the official client and a KurrentDB server do (test/helpers/fake-kurrent-client.ts).
 */

const WAIT_MS = 5_000
const warnings: object[] = []
const logger = { info: () => {}, warn: (o: object) => void warnings.push(o), error: () => {} }
const storeOn = (client: FakeKurrentClient, atomic = true) =>
  new KurrentDbEventStore({ client, atomicAppendMany: atomic, pageSize: 3, resubscribeInitialMs: 5, resubscribeMaxMs: 20, logger, streamPrefixes: ['s-', 'person-', 'submission-', 'c-'] })

// The whole port contract, through the adapter, on a 25.1 server (atomic multi-stream appends),
// fresh, and with history written by explicit transactions of an old client (events sharing
// their commit position: see PositionModel in the fake).
const withTransactionHistory = (): FakeKurrentClient => {
  const client = new FakeKurrentClient()
  client.appendTransaction('legacy-1', [jsonEvent({ type: 'Old', data: { n: 1 } }), jsonEvent({ type: 'Old', data: { n: 2 } })])
  return client
}
await runEventStoreConformance(t, 'KurrentDB adapter on a scripted 25.1 client', async () => storeOn(new FakeKurrentClient()))
await runEventStoreConformance(t, 'KurrentDB adapter, after explicit-transaction history', async () => storeOn(withTransactionHistory()))

t.test('revisions and positions the client hands back as numbers are bigints', async (t) => {
  const client = new FakeKurrentClient({ numbersInsteadOfBigints: true, systemEvents: false })
  const store = storeOn(client)
  t.teardown(() => store.close())
  await store.append('s-1', [{ type: 'T', data: { n: 1 } }, { type: 'T', data: { n: 2 } }], 'no_stream')
  const events = await collect(store.readStream('s-1'))
  t.same(events.map((e) => typeof e.revision), ['bigint', 'bigint'])
  t.same(events.map((e) => e.revision), [0n, 1n])
  const all = await collect(store.readAll())
  t.ok(all.every((e) => typeof e.position === 'bigint'))
  t.doesNotThrow(() => JSON.stringify(all.map((e) => ({ ...e, revision: e.revision.toString(), position: e.position.toString() }))))
})

t.test('a wrong expected version is the port conflict; an unavailable server is StoreUnavailableError', async (t) => {
  const client = new FakeKurrentClient()
  const store = storeOn(client)
  t.teardown(() => store.close())
  await store.append('s-2', [{ type: 'T', data: {} }], 'no_stream')
  const conflict = await store.append('s-2', [{ type: 'T', data: {} }], 'no_stream').catch((e: unknown) => e)
  t.type(conflict, WrongExpectedRevisionError)
  t.same([(conflict as WrongExpectedRevisionError).expected, (conflict as WrongExpectedRevisionError).actual], ['no_stream', 0n])
  for (const error of [fakeErrors.unavailable(), fakeErrors.notLeader(), fakeErrors.deadlineExceeded()]) {
    client.failNext('appendToStream', error)
    const e = await store.append('s-2', [{ type: 'T', data: {} }], 'any').catch((x: unknown) => x)
    t.type(e, StoreUnavailableError, error.constructor.name)
  }
  client.failNext('multiStreamAppend', fakeErrors.unavailable())
  t.type(await store.appendMany([{ stream: 's-3', events: [{ type: 'T', data: {} }], expectedRevision: 'any' }]).catch((x: unknown) => x), StoreUnavailableError)
  t.rejects(store.append('s-2', [{ type: 'T', data: { n: 1n } }], 'any'), TypeError, 'bigint data refused before the client sees it')
})

t.test('on a server before 25.1: a warning naming the version, per-stream appends, deterministic ids', async (t) => {
  warnings.length = 0
  const client = new FakeKurrentClient({ serverVersion: '24.10.6', systemEvents: false })
  const store = await openKurrentDbEventStore({ url: 'kurrentdb://fake', client, logger })
  t.teardown(() => store.close())
  t.equal(store.atomicAppendMany, false)
  t.match(JSON.stringify(warnings), /24\.10\.6/)
  const r = await store.appendMany([
    { stream: 'c-a', events: [{ type: 'T', data: {}, idempotencyKey: 'k/a' }], expectedRevision: 'no_stream' },
    { stream: 'c-marker', events: [{ type: 'M', data: {}, idempotencyKey: 'k/marker' }], expectedRevision: 'no_stream' },
  ])
  t.equal(client.calls('multiStreamAppend'), 0, 'never tried the multi-stream append')
  const [a] = client.streamEvents('c-a')
  const [marker] = client.streamEvents('c-marker')
  t.ok(a && marker)
  t.ok(client.events.indexOf(marker!) > client.events.indexOf(a!), 'the marker is written last')
  t.equal(r.position, (await collect(store.readStream('c-marker')))[0]!.position, 'the position is the marker’s')
})

t.test('an unknown version tries the multi-stream append; the client refusing it switches to the fallback', async (t) => {
  warnings.length = 0
  const client = new FakeKurrentClient({ serverVersion: 'unknown', supportsMultiStreamAppend: false, systemEvents: false })
  const store = await openKurrentDbEventStore({ url: 'kurrentdb://fake', client, logger })
  t.teardown(() => store.close())
  t.equal(store.atomicAppendMany, true)
  await store.appendMany([{ stream: 'c-b', events: [{ type: 'T', data: {} }], expectedRevision: 'no_stream' }])
  t.equal(store.atomicAppendMany, false)
  t.equal(client.streamEvents('c-b').length, 1, 'written once, by the fallback')
  t.match(JSON.stringify(warnings), /multiStreamAppend/)
})

t.test('fallback: a submission half-written by a crash is completed by its retry, nothing twice', async (t) => {
  const client = new FakeKurrentClient({ serverVersion: '24.10.6', systemEvents: false })
  const store = await openKurrentDbEventStore({ url: 'kurrentdb://fake', client })
  t.teardown(() => store.close())
  const handler = new RecordSubmissionHandler(store, loadPolicyBook())
  const A = '11010519491231002X'
  const B = '440524188001010014'
  const cmd = {
    submissionId: 'HALF-1',
    employerId: '91310000MA1FL0000N',
    region: '310000',
    period: '2024-07',
    workInjuryClass: 1 as const,
    lines: [
      { personId: A, wage: yuan('8500.00') },
      { personId: B, wage: yuan('5000.00') },
    ],
  }
  // The second person append fails (the process "dies" there): A's line is written, B's and the
  // marker are not.
  let appends = 0
  const original = client.appendToStream.bind(client)
  client.appendToStream = async (stream, events, options) => {
    appends++
    if (appends === 2) throw fakeErrors.unavailable('connection reset')
    return original(stream, events, options)
  }
  await t.rejects(handler.handle(cmd), StoreUnavailableError)
  t.equal(client.streamEvents(`person-${A}`).length + client.streamEvents(`person-${B}`).length, 1, 'half-written: one line')
  t.equal(client.streamEvents('submission-HALF-1').length, 0, 'no marker')

  const retry = await handler.handle(cmd)
  if (retry.kind !== 'receipt') throw new Error(JSON.stringify(retry))
  t.equal(retry.receipt.status, 'recorded')
  // Totals over both lines, worked out in test/domain/decide.test.ts: A at 8500.00, B on the floor 7384.00.
  t.same(retry.receipt.totals, { employer: '4082.19', employee: '1667.82', individualAccount: '1588.40', pool: '4161.61' })
  t.equal(client.streamEvents(`person-${A}`).length, 1, 'A once')
  t.equal(client.streamEvents(`person-${B}`).length, 1, 'B once')
  t.equal(client.streamEvents('submission-HALF-1').length, 1, 'the marker, last')
  const again = await handler.handle(cmd)
  t.equal(again.kind === 'receipt' && again.receipt.status, 'already-recorded')
})

t.test('the subscription resubscribes after a drop, from the last position, never delivering twice', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: true })
  const store = storeOn(client)
  t.teardown(() => store.close())
  for (let i = 0; i < 6; i++) await store.append('s-sub', [{ type: 'T', data: { n: i } }], 'any')
  // 1st subscription: 2 events, then an error; 2nd: replays 2 already-seen events, 2 more, then
  // ends cleanly; 3rd: the rest and live.
  client.scriptSubscription(0, { dropAfter: 2, error: fakeErrors.unavailable() })
  client.scriptSubscription(1, { replay: 2, dropAfter: 4 })
  const abort = new AbortController()
  const seen: RecordedEvent[] = []
  let caughtUp = 0
  const consume = (async () => {
    for await (const e of store.subscribeAll({ signal: abort.signal, onCaughtUp: () => caughtUp++ })) {
      seen.push(e)
      if (seen.length === 7) abort.abort()
    }
  })()
  await new Promise((r) => setTimeout(r, 50))
  await store.append('s-sub', [{ type: 'T', data: { n: 6 } }], 'any')
  await within(consume, WAIT_MS, 'seven events')
  t.same(seen.map((e) => (e.data as { n: number }).n), [0, 1, 2, 3, 4, 5, 6], 'each once, in order')
  t.ok(seen.every((e, i) => i === 0 || e.position > seen[i - 1]!.position))
  t.ok(client.subscriptionCount >= 3, `resubscribed (${client.subscriptionCount} subscriptions)`)
  t.ok(caughtUp >= 1, 'caughtUp reported')
  t.notOk(seen.some((e) => e.stream.startsWith('$') || e.type.startsWith('$')), 'no system events')
})

t.test('start-up: an unreachable server is a clear StoreUnavailableError', async (t) => {
  const client = new FakeKurrentClient({ unavailable: true })
  const err = (await openKurrentDbEventStore({ url: 'kurrentdb://ops:pw@db.internal:2113?tls=false', client, connectTimeoutMs: 500 }).catch((e: unknown) => e)) as Error
  t.type(err, StoreUnavailableError)
  t.match(err.message, /cannot reach KurrentDB at kurrentdb:\/\/ops:\*\*\*@db\.internal:2113\?tls=false within 500 ms/)
  t.match(err.message, /docker compose up -d kurrentdb/)
  t.ok(client.isDisposed, 'the client is released')
})
