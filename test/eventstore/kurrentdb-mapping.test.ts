import t from 'tap'
import {
  DeadlineExceededError,
  NotLeaderError,
  UnavailableError,
  WrongExpectedVersionError,
  type AllStreamResolvedEvent,
} from '@kurrent/kurrentdb-client'
import { StoreUnavailableError, WrongExpectedRevisionError } from '../../src/eventstore/port.js'
import {
  EVENT_ID_NAMESPACE,
  decodePosition,
  encodePosition,
  fromWireState,
  redactConnectionString,
  toBigInt,
  toEventData,
  toPortError,
  toRecordedEvent,
} from '../../src/eventstore/kurrentdb/mapping.js'
import { supportsMultiStreamAppend } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { v5 as uuidV5 } from 'uuid'

t.test('positions keep the whole (commit, prepare) pair, in its order', async (t) => {
  // 2^64 = 18446744073709551616; commit 1, prepare 2 → 18446744073709551618
  t.equal(encodePosition({ commit: 1n, prepare: 2n }), 18446744073709551618n)
  t.equal(encodePosition({ commit: 0n, prepare: 0n }), 0n)
  t.same(decodePosition(18446744073709551618n), { commit: 1n, prepare: 2n })
  // events of one transaction share a commit position: the prepare part orders them
  t.ok(encodePosition({ commit: 500n, prepare: 300n }) < encodePosition({ commit: 500n, prepare: 400n }))
  t.ok(encodePosition({ commit: 500n, prepare: 400n }) < encodePosition({ commit: 501n, prepare: 0n }))
  const big = { commit: 123456789012345n, prepare: 123456789012300n }
  t.same(decodePosition(encodePosition(big)), big, 'round trip')
  t.throws(() => encodePosition({ commit: 1n, prepare: 1n << 64n }), RangeError)
  t.throws(() => decodePosition(-1n), RangeError)
})

t.test('numbers where the client types say bigint are converted, lossy ones refused', async (t) => {
  t.equal(toBigInt(42, 'x'), 42n)
  t.equal(toBigInt(42n, 'x'), 42n)
  t.equal(toBigInt('42', 'x'), 42n)
  t.throws(() => toBigInt(2 ** 53 + 2, 'revision'), /revision .* not an exact integer/)
  t.throws(() => toBigInt(1.5, 'revision'), RangeError)
  t.equal(encodePosition({ commit: 7, prepare: 5 }), 7n * 2n ** 64n + 5n, 'a position of numbers')
})

t.test('stream states: the client v1 wire numbers and v2 names', async (t) => {
  t.equal(fromWireState(-1n), 'no_stream')
  t.equal(fromWireState(-2n), 'any')
  t.equal(fromWireState(-4n), 'stream_exists')
  t.equal(fromWireState(-1), 'no_stream', 'as a number')
  t.equal(fromWireState(7n), 7n)
  t.equal(fromWireState('stream_exists'), 'stream_exists')
  t.equal(fromWireState(undefined), 'no_stream')
  t.throws(() => fromWireState(-3n), RangeError)
})

t.test('client errors become the port errors', async (t) => {
  const wrong = new WrongExpectedVersionError(undefined, { streamName: 'person-1', expected: 3n, current: 5n })
  const mapped = toPortError(wrong) as WrongExpectedRevisionError
  t.type(mapped, WrongExpectedRevisionError)
  t.same([mapped.stream, mapped.expected, mapped.actual], ['person-1', 3n, 5n])
  const noStream = toPortError(new WrongExpectedVersionError(undefined, { streamName: 's', expected: 'stream_exists', current: 'no_stream' })) as WrongExpectedRevisionError
  t.same([noStream.expected, noStream.actual], ['stream_exists', 'no_stream'])
  // built from a v1 server error, the client holds wire numbers: expected -1 (no stream), actual 0
  const v1 = new WrongExpectedVersionError(undefined, { streamName: 's', expected: -1n as never, current: 0n })
  const v1mapped = toPortError(v1) as WrongExpectedRevisionError
  t.same([v1mapped.expected, v1mapped.actual], ['no_stream', 0n])

  for (const err of [new UnavailableError(), new DeadlineExceededError()]) {
    const e = toPortError(err) as StoreUnavailableError
    t.type(e, StoreUnavailableError, err.constructor.name)
    t.equal(e.retryAfterSeconds, 2)
    t.equal(e.cause, err)
  }
  const notLeader = Object.create(NotLeaderError.prototype) as NotLeaderError
  t.type(toPortError(notLeader), StoreUnavailableError, 'not leader')
  const other = new Error('boom')
  t.equal(toPortError(other), other, 'anything else unchanged')
})

t.test('event data: ids, metadata of strings', async (t) => {
  const event = { type: 'T', data: { a: 1 }, metadata: { actor: 'x', correlationId: 'c-1' }, idempotencyKey: 'submission/S1/line/0' }
  const d1 = toEventData(event, { deterministicIds: true, recordedAt: '2024-07-01T00:00:00.000Z' })
  const d2 = toEventData(event, { deterministicIds: true, recordedAt: '2024-07-02T00:00:00.000Z' })
  t.equal(d1.id, d2.id, 'the same key gives the same id (a retry writes the same event)')
  t.equal(d1.id, uuidV5('submission/S1/line/0', EVENT_ID_NAMESPACE))
  t.match(d1.id, /^[0-9a-f-]{14}5/, 'a version 5 UUID')
  t.not(toEventData({ ...event, idempotencyKey: 'submission/S1/line/1' }, { deterministicIds: true, recordedAt: 'r' }).id, d1.id)
  const v7 = toEventData(event, { deterministicIds: false, recordedAt: 'r' })
  t.match(v7.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/, 'a version 7 UUID when ids need not be deterministic')
  t.equal(toEventData({ ...event, id: '0190f0a0-0000-7000-8000-000000000001' }, { deterministicIds: true, recordedAt: 'r' }).id, '0190f0a0-0000-7000-8000-000000000001', 'a given id is kept')
  t.same(d1.metadata, { actor: 'x', correlationId: 'c-1', recordedAt: '2024-07-01T00:00:00.000Z' }, 'string values, recordedAt added')
  t.equal(d1.contentType, 'application/json')
  t.throws(() => toEventData({ type: 'T', data: 'text' }, { deterministicIds: false, recordedAt: 'r' }), TypeError)
})

t.test('recorded events: ledger events mapped, system events and links without events skipped', async (t) => {
  const created = new Date('2024-07-01T08:00:00.000Z')
  const resolved = (streamId: string, type: string, extra: object = {}) =>
    ({
      event: { streamId, id: 'e1', isJson: true, revision: 3, type, created, data: { x: 1 }, metadata: { actor: 'a' }, position: { commit: 10, prepare: 9 }, ...extra },
    }) as unknown as AllStreamResolvedEvent
  const e = toRecordedEvent(resolved('person-1', 'ContributionRecorded'))!
  t.same(
    { ...e },
    { id: 'e1', stream: 'person-1', revision: 3n, position: 10n * 2n ** 64n + 9n, type: 'ContributionRecorded', data: { x: 1 }, metadata: { actor: 'a' }, recordedAt: '2024-07-01T08:00:00.000Z' },
  )
  t.equal(toRecordedEvent(resolved('person-1', 'T', { metadata: { recordedAt: '2024-07-01T08:00:00.123+08:00' } }))!.recordedAt, '2024-07-01T08:00:00.123+08:00', 'our own recordedAt wins')
  t.equal(toRecordedEvent(resolved('$stats-1', 'T')), undefined, 'system stream')
  t.equal(toRecordedEvent(resolved('person-1', '$metadata')), undefined, 'system event type')
  t.equal(toRecordedEvent(resolved('person-1', 'T', { isJson: false })), undefined, 'binary event')
  t.equal(toRecordedEvent({ link: undefined } as unknown as AllStreamResolvedEvent), undefined, 'no event')
})

t.test('multi-stream append needs KurrentDB 25.1+', async (t) => {
  t.equal(supportsMultiStreamAppend('25.1.0'), true)
  t.equal(supportsMultiStreamAppend('26.0.2'), true)
  t.equal(supportsMultiStreamAppend('25.0.1'), false)
  t.equal(supportsMultiStreamAppend('24.10.6'), false)
  t.equal(supportsMultiStreamAppend('23.10.0'), false)
  t.equal(supportsMultiStreamAppend('unknown'), true, 'unknown: tried, the client refuses if unsupported')
})

t.test('connection strings are logged without their password', async (t) => {
  t.equal(redactConnectionString('kurrentdb://admin:changeit@db:2113?tls=false'), 'kurrentdb://admin:***@db:2113?tls=false')
  t.equal(redactConnectionString('kurrentdb://db:2113'), 'kurrentdb://db:2113')
})
