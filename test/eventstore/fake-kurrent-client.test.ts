/**
 * The in-memory KurrentDB fake (test/helpers/fake-kurrent-client.ts) against the behaviour of the
 * real server and client it stands for: revisions, (commit, prepare) positions, expected-state
 * failures with the client's own error classes, idempotent retries, atomic multi-stream appends,
 * version gating, read and subscription boundaries, system events and filters, fault injection,
 * and the numbers-instead-of-bigints client bug.
 *
 * Positions are worked out by hand from the fake's record sizes: a prepare record takes
 * PREPARE_RECORD_OVERHEAD (88) bytes + stream name + event type + data + metadata bytes, a commit
 * record COMMIT_RECORD_SIZE (49) bytes, and the log starts at 128 (after the epoch record).
 */
import { once } from 'node:events'
import t, { type Test } from 'tap'
import {
  DeadlineExceededError,
  InvalidArgumentError,
  MaxAppendSizeExceededError,
  NotLeaderError,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  UnknownError,
  UnsupportedError,
  WrongExpectedVersionError,
  excludeSystemEvents,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type CaughtUp,
  type EventData,
} from '@kurrent/kurrentdb-client'
import {
  COMMIT_RECORD_SIZE,
  FakeKurrentClient,
  PREPARE_RECORD_OVERHEAD,
  fakeErrors,
  type FakeKurrentClientOptions,
} from '../helpers/fake-kurrent-client.js'
import { within } from '../helpers/async.js'

/** Upper bound for any single wait on a subscription (ms). */
const stepMs = 5_000

/** A client without the seeded system events, so positions start at 128. */
function bare(options: FakeKurrentClientOptions = {}): FakeKurrentClient {
  return new FakeKurrentClient({ systemEvents: false, ...options })
}

/** `Placed` events with data `{"n":k}`: 7 bytes of data for k < 10. */
function placed(...ns: number[]): EventData[] {
  return ns.map((n) => jsonEvent({ type: 'Placed', data: { n } }))
}

async function toArray<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}

/** The next `n` events of a subscription, through its async iterator (which stays open). */
async function take(iterator: AsyncIterator<AllStreamResolvedEvent>, n: number): Promise<AllStreamResolvedEvent[]> {
  const out: AllStreamResolvedEvent[] = []
  for (let i = 0; i < n; i++) {
    const step = await within(iterator.next(), stepMs, `subscription event ${i + 1} of ${n}`)
    if (step.done) throw new Error(`subscription ended after ${i} of ${n} events`)
    out.push(step.value)
  }
  return out
}

function iteratorOf(subscription: AllStreamSubscription): AsyncIterator<AllStreamResolvedEvent> {
  return subscription[Symbol.asyncIterator]()
}

/**
 * Asserts that `promise` rejects with an instance of `type`. (tap's `t.rejects(p, Class)` is no
 * use here: the client's error classes keep `name === 'Error'`, and tap compares names.)
 */
async function rejectsWith(t: Test, promise: Promise<unknown>, type: abstract new (...args: never[]) => Error, what?: string): Promise<void> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  )
  t.ok(outcome instanceof type, what ?? `rejects with ${type.name}`, { found: outcome })
}

/** Asserts that `fn` throws an instance of `type` (see rejectsWith). */
function throwsWith(t: Test, fn: () => unknown, type: abstract new (...args: never[]) => Error, what?: string): void {
  let thrown: unknown
  try {
    fn()
  } catch (error) {
    thrown = error
  }
  t.ok(thrown instanceof type, what ?? `throws ${type.name}`, { found: thrown })
}

/** Stream `order-1` (7 bytes), type `Placed` (6), data `{"n":k}` (7): 88 + 20 = 108 bytes. */
const placedSize = 108n

t.test('record sizes used by the hand-worked positions', async (t) => {
  t.equal(PREPARE_RECORD_OVERHEAD, 88)
  t.equal(COMMIT_RECORD_SIZE, 49)
  t.equal(BigInt(PREPARE_RECORD_OVERHEAD + 'order-1'.length + 'Placed'.length + '{"n":1}'.length), placedSize)
})

t.test('revisions are 0-based; the events of an explicit transaction (history) share the commit position', async (t) => {
  const client = bare()
  const first = client.appendTransaction('order-1', placed(1, 2))
  // prepares at 128 and 236, commit record at 344 (its end: 393)
  t.strictSame(first.map((e) => [e.revision, e.commit, e.prepare]), [[0n, 344n, 128n], [1n, 344n, 236n]])
  const second = client.appendTransaction('order-2', placed(3))
  // prepare at 393, commit at 501
  t.strictSame(second.map((e) => [e.revision, e.commit, e.prepare]), [[0n, 501n, 393n]])

  const all = await toArray(client.readAll())
  t.strictSame(
    all.map((r) => [r.event?.streamId, r.event?.revision, r.event?.position, r.commitPosition]),
    [
      ['order-1', 0n, { commit: 344n, prepare: 128n }, 344n],
      ['order-1', 1n, { commit: 344n, prepare: 236n }, 344n],
      ['order-2', 0n, { commit: 501n, prepare: 393n }, 501n],
    ],
  )
  for (const r of all) t.ok(r.event!.position.prepare <= r.event!.position.commit, 'prepare <= commit')

  const read = await toArray(client.readStream('order-1'))
  t.strictSame(
    read.map((r) => ({ ...r.event, created: undefined })),
    [
      { streamId: 'order-1', id: read[0]!.event!.id, revision: 0n, type: 'Placed', data: { n: 1 }, metadata: undefined, isJson: true, created: undefined, position: { commit: 344n, prepare: 128n } },
      { streamId: 'order-1', id: read[1]!.event!.id, revision: 1n, type: 'Placed', data: { n: 2 }, metadata: undefined, isJson: true, created: undefined, position: { commit: 344n, prepare: 236n } },
    ],
  )
  t.ok(read[0]!.event!.created instanceof Date)
  t.equal(read[0]!.commitPosition, undefined, 'stream reads carry no commitPosition')
})

t.test('gRPC appends: commit === prepare for every event (perEvent), answered with the last one', async (t) => {
  const client = bare()
  const result = await client.appendToStream('order-1', placed(1, 2))
  // prepares at 128 and 236; the answer is (LogPosition, LogPosition) of the last (Streams.Append.cs, WriteEvents.cs)
  t.strictSame(result.position, { commit: 236n, prepare: 236n })
  const next = await client.appendToStream('order-1', placed(3))
  t.strictSame(next.position, { commit: 344n, prepare: 344n })
  const positions = (await toArray(client.readAll())).map((r) => r.event!.position)
  t.strictSame(positions, [
    { commit: 128n, prepare: 128n },
    { commit: 236n, prepare: 236n },
    { commit: 344n, prepare: 344n },
  ])
})

t.test('metadata and bigger data move positions by their serialized size', async (t) => {
  const client = bare()
  await client.appendToStream('s', jsonEvent({ type: 'T', data: { text: 'héllo' }, metadata: { actor: 'ann' } }))
  // 88 + 1 (s) + 1 (T) + 17 ({"text":"héllo"}, é is 2 bytes) + 15 ({"actor":"ann"}) = 122
  const next = await client.appendToStream('s', jsonEvent({ type: 'T', data: {} }))
  t.strictSame(next.position, { commit: 250n, prepare: 250n })
  const [read] = await toArray(client.readStream('s'))
  t.strictSame(read!.event!.metadata, { actor: 'ann' })
  t.strictSame(read!.event!.data, { text: 'héllo' })
})

t.test('expected-state failures throw the client WrongExpectedVersionError with its fields', async (t) => {
  const client = bare()
  await client.appendToStream('order-1', placed(1, 2), { streamState: 'no_stream' })

  const cases: [Parameters<FakeKurrentClient['appendToStream']>[2], string, unknown, unknown][] = [
    [{ streamState: 'no_stream' }, 'order-1', 'no_stream', 1n],
    [{ streamState: 5n }, 'order-1', 5n, 1n],
    [{ streamState: 0n }, 'order-1', 0n, 1n],
    [{ streamState: 'stream_exists' }, 'missing', 'stream_exists', 'no_stream'],
    [{ streamState: 0n }, 'missing', 0n, 'no_stream'],
  ]
  for (const [options, stream, expected, actual] of cases) {
    const error = await client.appendToStream(stream, placed(9), options).then(
      () => undefined,
      (err: unknown) => err,
    )
    t.ok(error instanceof WrongExpectedVersionError, `${stream} ${String(options?.streamState)}: WrongExpectedVersionError`)
    const wrong = error as WrongExpectedVersionError
    t.equal(wrong.streamName, stream)
    t.equal(wrong.expectedState, expected)
    t.equal(wrong.actualState, actual)
    t.equal(wrong.type, 'wrong-expected-version')
    t.equal(wrong.message, '', 'the client builds it without a message')
  }
  t.equal(client.streamEvents('order-1').length, 2, 'nothing written by the failed appends')

  t.strictSame((await client.appendToStream('order-1', placed(3), { streamState: 1n })).nextExpectedRevision, 2n)
  t.strictSame((await client.appendToStream('order-1', placed(4), { streamState: 'stream_exists' })).nextExpectedRevision, 3n)
  t.strictSame((await client.appendToStream('order-1', placed(5))).nextExpectedRevision, 4n)
})

t.test('idempotent retries: the same ids at the same expected state write nothing and answer the same', async (t) => {
  const client = bare()
  const events = placed(1, 2)
  const original = await client.appendToStream('order-1', events, { streamState: 'no_stream' })
  await client.appendToStream('order-1', placed(3), { streamState: 1n })
  const logLength = client.events.length

  t.strictSame(await client.appendToStream('order-1', events, { streamState: 'no_stream' }), original, "retry with 'no_stream'")
  t.strictSame(await client.appendToStream('order-1', events, { streamState: 'any' }), original, "retry with 'any'")
  t.strictSame(await client.appendToStream('order-1', events, { streamState: 'stream_exists' }), original, "retry with 'stream_exists'")
  t.strictSame(await client.appendToStream('order-1', [events[1]!], { streamState: 0n }), original, 'a suffix at its own expected revision')
  t.equal(client.events.length, logLength, 'no duplicates')

  // Upper-case ids are the same Guid; the server hands them back lower case.
  const upper = { ...events[0]!, id: events[0]!.id.toUpperCase() } as EventData
  t.strictSame((await client.appendToStream('order-1', [upper], { streamState: 'no_stream' })).nextExpectedRevision, 0n)
  t.equal(client.streamEvents('order-1')[0]!.id, events[0]!.id.toLowerCase())

  // Only partly the same ids: the server's "corrupted idempotency" is a wrong expected version.
  const partly = [events[0]!, ...placed(7)]
  const error = await client.appendToStream('order-1', partly, { streamState: 'no_stream' }).catch((err: unknown) => err)
  t.ok(error instanceof WrongExpectedVersionError)
  t.equal((error as WrongExpectedVersionError).actualState, 2n)
  const anyError = await client.appendToStream('order-1', partly, { streamState: 'any' }).catch((err: unknown) => err)
  t.ok(anyError instanceof WrongExpectedVersionError, "also with 'any' (expected 'any' in the error)")
  t.equal((anyError as WrongExpectedVersionError).expectedState, 'any')
  t.equal(client.events.length, logLength)
})

t.test('an id already used in another stream is not a duplicate there: it is written', async (t) => {
  const client = bare()
  const [event] = placed(1)
  await client.appendToStream('order-1', event!)
  const result = await client.appendToStream('order-2', event!, { streamState: 'no_stream' })
  t.equal(result.nextExpectedRevision, 0n)
  t.equal(client.events.length, 2)
  t.equal(client.streamEvents('order-2')[0]!.id, event!.id)
})

t.test('a lost answer (fault after the write) followed by a retry with the same ids', async (t) => {
  const client = bare()
  const events = placed(1)
  client.failNext('appendToStream', fakeErrors.deadlineExceeded(), { afterWrite: true })
  await rejectsWith(t, client.appendToStream('order-1', events, { streamState: 'no_stream' }), DeadlineExceededError)
  t.equal(client.streamEvents('order-1').length, 1, 'the write happened')
  const retry = await client.appendToStream('order-1', events, { streamState: 'no_stream' })
  t.strictSame(retry, { success: true, nextExpectedRevision: 0n, position: { commit: 128n, prepare: 128n } })
  t.equal(client.events.length, 1)
})

t.test('an empty append to a missing stream reports revision 0 (the client reads an unset field)', async (t) => {
  const client = bare()
  const result = await client.appendToStream('nothing', [], { streamState: 'no_stream' })
  t.equal(result.nextExpectedRevision, 0n)
  t.equal(client.events.length, 0)
})

t.test('appends over maxAppendSize fail with MaxAppendSizeExceededError', async (t) => {
  const client = bare({ maxAppendSize: 10 })
  const error = await client.appendToStream('s', jsonEvent({ type: 'T', data: { text: 'more than ten bytes' } })).catch((e: unknown) => e)
  t.ok(error instanceof MaxAppendSizeExceededError)
  t.equal((error as MaxAppendSizeExceededError).maxAppendSize, 10)
})

t.test('data the client cannot serialize is refused loudly', async (t) => {
  const client = bare()
  await rejectsWith(t, client.appendToStream('s', jsonEvent({ type: 'T', data: { amount: 1n } as never })), TypeError)
  t.equal(client.events.length, 0)
})

t.test('multiStreamAppend: one transaction, answered with its last event position, each stream its revision', async (t) => {
  const client = bare()
  await client.appendToStream('order-1', placed(1))
  // order-1 event: prepare 128, end 236
  const result = await client.multiStreamAppend([
    { streamName: 'order-1', expectedState: 0n, events: placed(2) },
    { streamName: 'order-2', expectedState: 'no_stream', events: placed(3, 4) },
  ])
  // prepares at 236, 344, 452, each committed by itself (no commit record): the answer is the last's LogPosition
  t.strictSame(result, {
    position: 452n,
    responses: [
      { streamName: 'order-1', revision: 1n },
      { streamName: 'order-2', revision: 1n },
    ],
  })
  const positions = (await toArray(client.readAll({ fromPosition: { commit: 236n, prepare: 236n } }))).map((r) => r.event!.position)
  t.strictSame(positions, [
    { commit: 236n, prepare: 236n },
    { commit: 344n, prepare: 344n },
    { commit: 452n, prepare: 452n },
  ])

  const perEvent = bare()
  const single = await perEvent.multiStreamAppend([
    { streamName: 'a', expectedState: 'any', events: [jsonEvent({ type: 'T', data: {} })] },
    { streamName: 'b', expectedState: 'any', events: [jsonEvent({ type: 'T', data: {} })] },
  ])
  // prepares at 128 and 220 (88 + 1 + 1 + 2 = 92 bytes each): the position is the last event's
  t.equal(single.position, 220n)
})

t.test('multiStreamAppend is all or nothing: a wrong stream fails the whole append', async (t) => {
  const client = bare()
  await client.appendToStream('order-2', placed(1))
  const logLength = client.events.length
  const error = await client
    .multiStreamAppend([
      { streamName: 'order-1', expectedState: 'no_stream', events: placed(2) },
      { streamName: 'order-2', expectedState: 'no_stream', events: placed(3) },
      { streamName: 'order-3', expectedState: 5n, events: placed(4) },
    ])
    .catch((err: unknown) => err)
  t.ok(error instanceof WrongExpectedVersionError)
  const wrong = error as WrongExpectedVersionError
  t.equal(wrong.streamName, 'order-2', 'the first failing stream')
  t.equal(wrong.expectedState, 'no_stream')
  t.equal(wrong.actualState, 0n)
  t.equal(client.events.length, logLength, 'nothing written')
  t.equal(client.streamEvents('order-1').length, 0)
  await rejectsWith(t, toArray(client.readStream('order-1')), StreamNotFoundError)
})

t.test('multiStreamAppend retried with the same ids is idempotent', async (t) => {
  const client = bare()
  const requests = [
    { streamName: 'order-1', expectedState: 'no_stream' as const, events: placed(1) },
    { streamName: 'order-2', expectedState: 'no_stream' as const, events: placed(2) },
  ]
  const original = await client.multiStreamAppend(requests)
  t.strictSame(await client.multiStreamAppend(requests), original)
  t.equal(client.events.length, 2)
})

t.test('multiStreamAppend on an older server throws the client UnsupportedError first', async (t) => {
  for (const options of [{ serverVersion: '24.10.0' }, { supportsMultiStreamAppend: false }] as const) {
    const client = bare(options)
    const badMetadata = jsonEvent({ type: 'T', data: {}, metadata: { n: 1 } as never })
    const error = await client.multiStreamAppend([{ streamName: 's', expectedState: 'any', events: [badMetadata] }]).catch((e: unknown) => e)
    t.ok(error instanceof UnsupportedError, JSON.stringify(options))
    const unsupported = error as UnsupportedError
    t.equal(unsupported.feature, 'multiStreamAppend')
    t.equal(unsupported.minimumVersion, '25.1')
    t.equal(unsupported.message, 'multiStreamAppend requires server version 25.1 or higher.')
    t.equal(client.events.length, 0)
  }
  t.equal(await bare({ serverVersion: '24.10.0' }).serverVersion(), '24.10.0')
  t.equal(await bare().serverVersion(), '25.1.0')
})

t.test('multiStreamAppend refuses metadata that is not a plain object of strings, as the client does', async (t) => {
  const client = bare()
  const refused = [{ n: 1 }, ['a'], 'text', new Uint8Array([1])]
  for (const metadata of refused) {
    const event = jsonEvent({ type: 'T', data: {}, metadata: metadata as never })
    await t.rejects(
      client.multiStreamAppend([{ streamName: 's', expectedState: 'any', events: [event] }]),
      { message: 'multiStreamAppend requires metadata to be a plain object with string keys and string values.' },
      JSON.stringify(metadata),
    )
  }
  const ok = jsonEvent({ type: 'T', data: {}, metadata: { actor: 'ann', recordedAt: '2025-01-01T00:00:00Z' } })
  await client.multiStreamAppend([{ streamName: 's', expectedState: 'any', events: [ok] }])
  const [read] = await toArray(client.readStream('s'))
  // Written as record properties, read back through v1 with the server's own keys (issue #15, item 3).
  t.strictSame(read!.event!.metadata, { actor: 'ann', recordedAt: '2025-01-01T00:00:00Z', '$schema.name': 'T', '$schema.format': 'Json' })
})

t.test('multiStreamAppend: no requests, a stream with no events, or a stream twice (any case), is refused by the server', async (t) => {
  const client = bare()
  await rejectsWith(t, client.multiStreamAppend([]), UnknownError)
  // StreamsService.cs AppendRequestComparer (OrdinalIgnoreCase) -> ABORTED, which the client's
  // convertToCommandError turns into a TimeoutError (CommandError.js, case ABORTED).
  await rejectsWith(
    t,
    client.multiStreamAppend([
      { streamName: 'Order-1', expectedState: 'any', events: placed(1) },
      { streamName: 'order-1', expectedState: 'any', events: placed(2) },
    ]),
    TimeoutError,
    'a stream twice: TimeoutError',
  )
  // AppendRequestValidator.cs: INVALID_ARGUMENT, which the client has no class for: UnknownError.
  const empty = await client
    .multiStreamAppend([
      { streamName: 'order-1', expectedState: 'any', events: placed(1) },
      { streamName: 'order-2', expectedState: 'any', events: [] },
    ])
    .catch((err: unknown) => err)
  t.ok(empty instanceof UnknownError, 'a stream with no events: UnknownError')
  t.equal((empty as UnknownError).code, 3, 'gRPC INVALID_ARGUMENT')
  t.equal(client.events.length, 0)
})

t.test('readStream: a missing stream throws StreamNotFoundError when iterated, not when called', async (t) => {
  const client = bare()
  let iterator: AsyncIterableIterator<unknown> | undefined
  t.doesNotThrow(() => (iterator = client.readStream('missing')), 'calling readStream does not throw')
  const error = await iterator!.next().catch((e: unknown) => e)
  t.ok(error instanceof StreamNotFoundError)
  t.equal((error as StreamNotFoundError).streamName, 'missing')
  t.equal((error as StreamNotFoundError).type, 'stream-not-found')
  throwsWith(t, () => client.readStream('missing', { fromRevision: -1n }), InvalidArgumentError, 'a negative revision throws at once')
})

t.test('readStream: revisions are inclusive both ways; maxCount; end', async (t) => {
  const client = bare()
  await client.appendToStream('order-1', placed(0, 1, 2, 3, 4))
  const revisions = async (options: Parameters<FakeKurrentClient['readStream']>[1]): Promise<bigint[]> =>
    (await toArray(client.readStream('order-1', options))).map((r) => r.event!.revision)
  t.strictSame(await revisions({}), [0n, 1n, 2n, 3n, 4n])
  t.strictSame(await revisions({ fromRevision: 2n, maxCount: 2 }), [2n, 3n])
  t.strictSame(await revisions({ fromRevision: 2n, direction: 'backwards' }), [2n, 1n, 0n])
  t.strictSame(await revisions({ fromRevision: 'end', direction: 'backwards', maxCount: 1 }), [4n])
  t.strictSame(await revisions({ fromRevision: 'end' }), [])
  t.strictSame(await revisions({ fromRevision: 9n }), [])
})

t.test('readAll: forwards from a position includes it; backwards from it excludes it', async (t) => {
  const client = bare()
  // History of explicit transactions: positions that share their commit part.
  client.appendTransaction('order-1', placed(1))
  client.appendTransaction('order-2', placed(2))
  client.appendTransaction('order-3', placed(3))
  const all = await toArray(client.readAll())
  const second = all[1]!.event!.position
  t.strictSame(second, { commit: 393n, prepare: 285n })
  t.strictSame(
    (await toArray(client.readAll({ fromPosition: second }))).map((r) => r.event!.streamId),
    ['order-2', 'order-3'],
    'forwards, inclusive',
  )
  t.strictSame(
    (await toArray(client.readAll({ fromPosition: second, direction: 'backwards' }))).map((r) => r.event!.streamId),
    ['order-1'],
    'backwards, exclusive',
  )
  t.strictSame((await toArray(client.readAll({ fromPosition: second, maxCount: 1 }))).map((r) => r.event!.streamId), ['order-2'])
  t.strictSame((await toArray(client.readAll({ direction: 'backwards', fromPosition: 'end', maxCount: 1 }))).map((r) => r.event!.streamId), ['order-3'])
  t.strictSame(await toArray(client.readAll({ fromPosition: 'end' })), [])
  t.strictSame(
    (await toArray(client.readAll({ filter: streamNameFilter({ prefixes: ['order-1', 'order-3'] }) }))).map((r) => r.event!.streamId),
    ['order-1', 'order-3'],
  )
})

t.test('system events: in $all unless filtered; $epoch-information never', async (t) => {
  const client = new FakeKurrentClient()
  await client.appendToStream('order-1', placed(1))
  client.appendSystemEvent('$$order-1', '$metadata', { $maxAge: 60 })
  client.appendSystemEvent('$ce-order', '$>', new TextEncoder().encode('0@order-1'))
  const streams = async (options: Parameters<FakeKurrentClient['readAll']>[0]): Promise<string[]> =>
    (await toArray(client.readAll(options))).map((r) => `${r.event!.streamId}/${r.event!.type}`)

  t.strictSame(await streams({}), ['$users/$User', '$user-admin/$UserCreated', 'order-1/Placed', '$$order-1/$metadata', '$ce-order/$>'])
  t.equal(client.events[0]!.streamId, '$epoch-information', 'the epoch event is in the log')
  t.strictSame(await streams({ filter: excludeSystemEvents() }), ['order-1/Placed'])
  t.strictSame(await streams({ filter: streamNameFilter({ prefixes: ['order-'] }) }), ['order-1/Placed'])
  const [link] = (await toArray(client.readAll({ filter: streamNameFilter({ prefixes: ['$ce-'] }) }))).map((r) => r.event!)
  t.equal(link!.isJson, false)
  t.strictSame(link!.data, new TextEncoder().encode('0@order-1'))
})

t.test('subscribeToAll: exclusive of fromPosition, caughtUp after the history, then live', async (t) => {
  const client = bare()
  // History of explicit transactions: positions that share their commit part.
  client.appendTransaction('order-1', placed(1))
  client.appendTransaction('order-2', placed(2))
  client.appendTransaction('order-3', placed(3))
  const first = client.events[0]!
  const subscription = client.subscribeToAll({ fromPosition: { commit: first.commit, prepare: first.prepare } })
  const caughtUp = once(subscription, 'caughtUp') as Promise<[CaughtUp]>
  const iterator = iteratorOf(subscription)
  t.strictSame((await take(iterator, 2)).map((r) => r.event!.streamId), ['order-2', 'order-3'], 'starts after the position')
  const [info] = await within(caughtUp, stepMs, 'caughtUp')
  // order-3: prepare 442 (after order-2's commit record 393..442), commit 550
  t.strictSame(info.position, { commit: 550n, prepare: 442n }, 'caughtUp carries the head position')
  t.ok(info.date instanceof Date)
  t.ok(subscription.id, 'confirmed with an id')

  await client.appendToStream('order-4', placed(4))
  const [live] = await take(iterator, 1)
  t.equal(live!.event!.streamId, 'order-4', 'live event delivered')
  t.equal(typeof live!.commitPosition, 'bigint')

  await subscription.unsubscribe()
  t.strictSame(await within(iterator.next(), stepMs, 'end'), { done: true, value: undefined }, 'unsubscribe ends it without error')
  t.equal(client.liveSubscriptions, 0)
})

t.test('subscribeToAll from end delivers only new events; from start everything', async (t) => {
  const client = bare()
  await client.appendToStream('old', placed(1))
  const fromEnd = client.subscribeToAll({ fromPosition: 'end' })
  const fromStart = client.subscribeToAll()
  const caughtUp = once(fromEnd, 'caughtUp')
  await within(caughtUp, stepMs, 'caughtUp of an end subscription')
  await client.appendToStream('new', placed(2))
  t.strictSame((await take(iteratorOf(fromEnd), 1)).map((r) => r.event!.streamId), ['new'])
  t.strictSame((await take(iteratorOf(fromStart), 2)).map((r) => r.event!.streamId), ['old', 'new'])
  await client.dispose()
})

t.test('subscribeToAll filters: stream prefixes and excludeSystemEvents', async (t) => {
  const client = new FakeKurrentClient()
  const prefixed = client.subscribeToAll({ filter: streamNameFilter({ prefixes: ['order-'] }) })
  const noSystem = client.subscribeToAll({ filter: excludeSystemEvents() })
  await client.appendToStream('other-1', placed(1))
  client.appendSystemEvent('$$order-1', '$metadata', {})
  await client.appendToStream('order-1', placed(2))
  t.strictSame((await take(iteratorOf(prefixed), 1)).map((r) => r.event!.streamId), ['order-1'])
  t.strictSame((await take(iteratorOf(noSystem), 2)).map((r) => r.event!.streamId), ['other-1', 'order-1'])
  t.throws(() => client.subscribeToAll({ filter: streamNameFilter({ prefixes: ['x'], checkpointInterval: 0 }) }), {
    message: 'CheckpointInterval must be greater than 0.',
  })
  await client.dispose()
})

t.test('fault injection: a subscription dropped with an error after K events', async (t) => {
  const client = bare()
  await client.appendToStream('s', placed(1, 2, 3))
  client.scriptNextSubscription({ dropAfter: 2, error: fakeErrors.unavailable() })
  const delivered: bigint[] = []
  const error = await (async () => {
    for await (const resolved of client.subscribeToAll() as AsyncIterable<AllStreamResolvedEvent>) delivered.push(resolved.event!.revision)
  })().catch((e: unknown) => e)
  t.strictSame(delivered, [0n, 1n], 'the events before the drop are delivered')
  t.ok(error instanceof UnavailableError)
  t.equal((error as UnavailableError).code, 14)
  t.equal(client.liveSubscriptions, 0)

  // The next subscription is healthy again.
  const again = client.subscribeToAll()
  t.strictSame((await take(iteratorOf(again), 3)).map((r) => r.event!.revision), [0n, 1n, 2n])
  await again.unsubscribe()
})

t.test('fault injection: a subscription that ends unexpectedly, and one refused at start', async (t) => {
  const client = bare()
  await client.appendToStream('s', placed(1, 2, 3))
  client.scriptSubscription(0, { dropAfter: 1 })
  t.strictSame((await toArray(client.subscribeToAll() as AsyncIterable<AllStreamResolvedEvent>)).length, 1, 'ends cleanly after 1')

  client.failNext('subscribeToAll', fakeErrors.notLeader('leader.local', 2114))
  const refused = await toArray(client.subscribeToAll() as AsyncIterable<AllStreamResolvedEvent>).catch((e: unknown) => e)
  t.ok(refused instanceof NotLeaderError)
  t.strictSame((refused as NotLeaderError).leader, { address: 'leader.local', port: 2114 })
  t.equal(client.subscriptionCount, 2)
})

t.test('fault injection: replay of already-delivered events after a resubscribe', async (t) => {
  const client = bare()
  await client.appendToStream('s', placed(0, 1, 2, 3, 4))
  const third = client.streamEvents('s')[2]!
  client.scriptNextSubscription({ replay: 2 })
  const subscription = client.subscribeToAll({ fromPosition: { commit: third.commit, prepare: third.prepare } })
  t.strictSame(
    (await take(iteratorOf(subscription), 4)).map((r) => r.event!.revision),
    [1n, 2n, 3n, 4n],
    'two events at or before the position, then the ones after it',
  )
  await subscription.unsubscribe()

  const everyResubscribe = bare({ replayOnResubscribe: 1 })
  await everyResubscribe.appendToStream('s', placed(0, 1))
  const first = everyResubscribe.events[0]!
  const resubscribed = everyResubscribe.subscribeToAll({ fromPosition: { commit: first.commit, prepare: first.prepare } })
  t.strictSame((await take(iteratorOf(resubscribed), 2)).map((r) => r.event!.revision), [0n, 1n])
  await everyResubscribe.dispose()
})

t.test('dropSubscriptions drops every live subscription, as a server restart', async (t) => {
  const client = bare()
  const subscription = client.subscribeToAll()
  const errored = once(subscription, 'error')
  await within(once(subscription, 'caughtUp'), stepMs, 'caughtUp')
  client.dropSubscriptions(fakeErrors.unavailable('Server restarting'))
  const [error] = await within(errored, stepMs, 'error')
  t.ok(error instanceof UnavailableError)
  t.equal(client.liveSubscriptions, 0)
})

t.test('numbersInsteadOfBigints: revision and positions come back as JS numbers', async (t) => {
  const client = bare({ numbersInsteadOfBigints: true })
  client.appendTransaction('s', placed(1))
  const [fromStream] = await toArray(client.readStream('s'))
  t.equal(typeof fromStream!.event!.revision, 'number')
  t.equal(fromStream!.event!.revision as unknown, 0)
  const [fromAll] = await toArray(client.readAll())
  t.equal(typeof fromAll!.event!.position.commit, 'number')
  // stream 's': 88 + 1 + 6 + 7 = 102 bytes, so the commit record is at 128 + 102 = 230
  t.equal(fromAll!.event!.position.commit as unknown, 230)
  t.equal(fromAll!.event!.position.prepare as unknown, 128)
  t.equal(fromAll!.commitPosition as unknown, 230)

  const subscription = client.subscribeToAll()
  const [fromSubscription] = await take(iteratorOf(subscription), 1)
  t.equal(typeof fromSubscription!.event!.revision, 'bigint', 'subscriptions (gRPC path) convert with BigInt')
  await subscription.unsubscribe()

  const everywhere = bare({ numbersInsteadOfBigints: ['subscribeToAll'] })
  await everywhere.appendToStream('s', placed(1))
  const sub = everywhere.subscribeToAll()
  const [numbered] = await take(iteratorOf(sub), 1)
  t.equal(typeof numbered!.event!.revision, 'number')
  t.equal(typeof (await toArray(everywhere.readStream('s')))[0]!.event!.revision, 'bigint')
  await sub.unsubscribe()
})

t.test('unavailable: every call fails with UnavailableError until it is back', async (t) => {
  const client = bare({ unavailable: true })
  await rejectsWith(t, client.appendToStream('s', placed(1)), UnavailableError)
  await rejectsWith(t, client.multiStreamAppend([{ streamName: 's', expectedState: 'any', events: placed(1) }]), UnavailableError)
  await rejectsWith(t, client.serverVersion(), UnavailableError)
  const reading = client.readStream('s')
  await rejectsWith(t, reading.next(), UnavailableError, 'reads fail when iterated')
  await rejectsWith(t, client.readAll().next(), UnavailableError)
  const subscription = client.subscribeToAll()
  const [error] = await within(once(subscription, 'error'), stepMs, 'subscription error')
  t.ok(error instanceof UnavailableError, 'subscriptions emit the error')

  client.setUnavailable(false)
  t.equal((await client.appendToStream('s', placed(1))).nextExpectedRevision, 0n)
})

t.test('failNext per call kind: NotLeaderError and DeadlineExceededError, then healthy', async (t) => {
  const client = bare()
  await client.appendToStream('s', placed(1))
  client.failNext('readAll', fakeErrors.notLeader())
  client.failNext('readStream', fakeErrors.deadlineExceeded(), { times: 2 })
  client.failNext('appendToStream', fakeErrors.notLeader())
  await rejectsWith(t, toArray(client.readAll()), NotLeaderError)
  t.equal((await toArray(client.readAll())).length, 1)
  await rejectsWith(t, toArray(client.readStream('s')), DeadlineExceededError)
  await rejectsWith(t, toArray(client.readStream('s')), DeadlineExceededError)
  t.equal((await toArray(client.readStream('s'))).length, 1)
  await rejectsWith(t, client.appendToStream('s', placed(2)), NotLeaderError)
  t.equal(client.streamEvents('s').length, 1, 'a failed append wrote nothing')
  t.equal(client.calls('readStream'), 3)
})

t.test('dispose ends live subscriptions; later calls fail unless callsAfterDispose is succeed', async (t) => {
  const client = bare()
  const subscription = client.subscribeToAll()
  const iterator = iteratorOf(subscription)
  await client.dispose()
  t.strictSame(await within(iterator.next(), stepMs, 'end'), { done: true, value: undefined })
  t.equal(client.liveSubscriptions, 0)
  await rejectsWith(t, client.appendToStream('s', placed(1)), UnavailableError)
  await rejectsWith(t, client.readAll().next(), UnavailableError)

  const lenient = bare({ callsAfterDispose: 'succeed' })
  await lenient.dispose()
  t.equal((await lenient.appendToStream('s', placed(1))).nextExpectedRevision, 0n)
})

t.test('concurrent appends with the same expected revision: one wins', async (t) => {
  const client = bare()
  await client.appendToStream('s', placed(0))
  const results = await Promise.allSettled([
    client.appendToStream('s', placed(1), { streamState: 0n }),
    client.appendToStream('s', placed(2), { streamState: 0n }),
  ])
  t.strictSame(
    results.map((r) => r.status),
    ['fulfilled', 'rejected'],
  )
  t.ok((results[1] as PromiseRejectedResult).reason instanceof WrongExpectedVersionError)
})
