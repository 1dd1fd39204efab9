/**
 * The event store conformance suite: what every adapter of `src/eventstore/port.ts` does the same
 * way (DESIGN.md, "Event store port"). It uses only the port, so it runs unchanged against the
 * embedded SQLite store and KurrentDB.
 *
 * Assumptions, so that it also runs against a long-lived server:
 * - the log may already hold events: every case uses stream names unique to this run and reasons
 *   about positions relative to its own appends (never "the first position is 1");
 * - nobody else writes to the store while a case runs (cases compare the log head before/after);
 * - `readAll`/`readStream` across several pages is exercised when the adapter is built with a page
 *   size below {@link multiPageEventCount} (the SQLite test uses 3).
 */
import { createHash, randomUUID } from 'node:crypto'
import { canonicalize } from 'json-canonicalize'
import type { Test } from 'tap'
import {
  StoreUnavailableError,
  StreamNamedTwiceError,
  WrongExpectedRevisionError,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type RecordedEvent,
} from '../../src/eventstore/port.js'
import { collect, within } from '../helpers/async.js'
import { chainIntact } from '../helpers/hash-chain.js'

/** Events appended by the multi-page read cases: more than a small test page size (3), so reads
 * cross page boundaries, including a last partial page (10 = 3 + 3 + 3 + 1). */
export const multiPageEventCount = 10

/** Upper bound for waiting on one subscription step (an event or the iterator's end), in ms. */
export const subscriptionStepTimeoutMs = 5_000

/** Number of concurrent appends racing for the same expected revision. */
const concurrentAppendCount = 20
/** Number of concurrent `any` appends to one stream: each round of KurrentDB's read-tail-then-append
 * lets at least one through, so this stays within the adapter's MAX_APPEND_ATTEMPTS (5). */
const concurrentAnyAppendCount = 4

/** UUID of any version 1-8, RFC 9562 variant, lower case. */
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
/** UUID version 7 (time-ordered), the default id of the port. */
const uuidV7Pattern = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
/** ISO 8601 instant in UTC with `Z`, as `Date.prototype.toISOString` writes it (ms optional). */
const isoUtcPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/

/** Options of {@link runEventStoreConformance}. */
export interface ConformanceOptions {
  /** When set, every case is registered as skipped with this reason (e.g. "no KurrentDB server"). */
  skip?: string
}

type Case = (t: Test, store: EventStore) => Promise<void>

/** Hands out stream names unique to this run and case, with a shared prefix per case. */
class StreamNames {
  readonly prefix: string
  private counter = 0
  constructor() {
    // A random prefix keeps names unique across cases, runs and a long-lived server's history.
    this.prefix = `conf${randomUUID().replaceAll('-', '').slice(0, 12)}`
  }
  /** A fresh stream name `{prefix}{category}-{n}`. */
  next(category = 'stream'): string {
    this.counter += 1
    return `${this.prefix}${category}-${this.counter}`
  }
}

/** `n` events of type `Tested` with data `{ n: i }` for i = 0..n-1 (or from `start`). */
function events(n: number, start = 0): NewEvent[] {
  return Array.from({ length: n }, (_, i) => ({ type: 'Tested', data: { n: start + i } }))
}


/** The `data.n` of each event (the events' order as appended by {@link events}). */
function ns(list: RecordedEvent[]): unknown[] {
  return list.map((e) => (e.data as { n?: unknown }).n)
}


/** Takes the next `n` events of a subscription iterator, each within the step timeout. */
async function take(
  iterator: AsyncIterator<RecordedEvent>,
  n: number,
  what: string,
): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = []
  while (out.length < n) {
    const step = await within(iterator.next(), subscriptionStepTimeoutMs, `${what} #${out.length + 1}`)
    if (step.done === true) throw new Error(`subscription ended after ${out.length} of ${n} events (${what})`)
    out.push(step.value)
  }
  return out
}

/** Expects `promise` to reject with WrongExpectedRevisionError carrying exactly these fields. */
async function expectConflict(
  t: Test,
  promise: Promise<unknown>,
  stream: string,
  expected: ExpectedRevision,
  actual: bigint | 'no_stream',
  message: string,
): Promise<void> {
  try {
    await promise
    t.fail(`${message}: expected WrongExpectedRevisionError, the append succeeded`)
  } catch (error) {
    t.ok(error instanceof WrongExpectedRevisionError, `${message}: WrongExpectedRevisionError`)
    const e = error as WrongExpectedRevisionError
    t.equal(e.name, 'WrongExpectedRevisionError', `${message}: name`)
    t.equal(e.stream, stream, `${message}: stream`)
    t.equal(e.expected, expected, `${message}: expected`)
    t.equal(e.actual, actual, `${message}: actual`)
  }
}

const cases: [string, Case][] = [
  [
    'append to a new stream with no_stream, then with the exact revision',
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      const first = await store.append(stream, events(1), 'no_stream')
      t.equal(first.nextExpectedRevision, 0n, 'first event is revision 0')
      t.equal(typeof first.position, 'bigint', 'position is a bigint')
      t.equal(await store.headPosition(), first.position, 'head is the appended event')

      const second = await store.append(stream, events(2, 1), 0n)
      t.equal(second.nextExpectedRevision, 2n, 'two more events: revisions 1 and 2')
      t.ok(second.position > first.position, 'position grows')

      const read = await collect(store.readStream(stream))
      t.same(
        read.map((e) => e.revision),
        [0n, 1n, 2n],
        'revisions are 0-based and contiguous',
      )
      t.same(ns(read), [0, 1, 2], 'events in append order')
      t.ok(read.every((e) => e.stream === stream && e.type === 'Tested'), 'stream and type kept')
      t.ok(read.every((e) => typeof e.revision === 'bigint' && typeof e.position === 'bigint'), 'bigints')
      t.equal(read[2]?.position, second.position, 'result position is the last event written')
      t.ok(read[0]!.position < read[1]!.position && read[1]!.position < read[2]!.position, 'positions increase')
    },
  ],
  [
    "expected revision 'no_stream'",
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      await store.append(stream, events(2), 'no_stream')
      await expectConflict(t, store.append(stream, events(1), 'no_stream'), stream, 'no_stream', 1n, 'existing stream')
      t.same(ns(await collect(store.readStream(stream))), [0, 1], 'conflict wrote nothing')
    },
  ],
  [
    "expected revision 'stream_exists'",
    async (t, store) => {
      const names = new StreamNames()
      const missing = names.next()
      await expectConflict(
        t,
        store.append(missing, events(1), 'stream_exists'),
        missing,
        'stream_exists',
        'no_stream',
        'missing stream',
      )
      t.same(await collect(store.readStream(missing)), [], 'conflict wrote nothing')

      const stream = names.next()
      await store.append(stream, events(1), 'no_stream')
      const result = await store.append(stream, events(1, 1), 'stream_exists')
      t.equal(result.nextExpectedRevision, 1n, 'appended to the existing stream')
    },
  ],
  [
    "expected revision 'any'",
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      const created = await store.append(stream, events(1), 'any')
      t.equal(created.nextExpectedRevision, 0n, "'any' creates a missing stream")
      const appended = await store.append(stream, events(2, 1), 'any')
      t.equal(appended.nextExpectedRevision, 2n, "'any' appends to an existing stream")
      t.same(ns(await collect(store.readStream(stream))), [0, 1, 2])
    },
  ],
  [
    'expected revision as a bigint',
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      await store.append(stream, events(3), 'no_stream') // revisions 0, 1, 2
      await expectConflict(t, store.append(stream, events(1), 1n), stream, 1n, 2n, 'behind')
      await expectConflict(t, store.append(stream, events(1), 3n), stream, 3n, 2n, 'ahead')
      await expectConflict(t, store.append(stream, events(1), 0n), stream, 0n, 2n, 'far behind')
      const ok = await store.append(stream, events(1, 3), 2n)
      t.equal(ok.nextExpectedRevision, 3n, 'exact revision appends')
      t.same(ns(await collect(store.readStream(stream))), [0, 1, 2, 3], 'conflicts wrote nothing')

      const missing = names.next()
      await expectConflict(t, store.append(missing, events(1), 0n), missing, 0n, 'no_stream', 'missing stream')
      t.same(await collect(store.readStream(missing)), [], 'missing stream still missing')
    },
  ],
  [
    'an empty append only checks the expectation',
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      const written = await store.append(stream, events(2), 'no_stream')
      const headBefore = await store.headPosition()
      const empty = await store.append(stream, [], 1n)
      t.equal(empty.nextExpectedRevision, 1n, 'revision unchanged')
      t.equal(empty.position, written.position, "position is the stream's last event")
      await expectConflict(t, store.append(stream, [], 5n), stream, 5n, 1n, 'empty append still checks')

      const missing = names.next()
      const none = await store.append(missing, [], 'no_stream')
      t.equal(none.position, headBefore, 'missing stream: position is the log head')
      t.equal(await store.headPosition(), headBefore, 'nothing written')
      t.same(await collect(store.readStream(missing)), [], 'stream still missing')
    },
  ],
  [
    'positions strictly increase across streams',
    async (t, store) => {
      const names = new StreamNames()
      const a = names.next('a')
      const b = names.next('b')
      const r1 = await store.append(a, events(2), 'no_stream')
      const r2 = await store.append(b, events(1, 2), 'no_stream')
      const r3 = await store.append(a, events(1, 3), 1n)
      t.ok(r1.position < r2.position && r2.position < r3.position, 'append results increase')

      const aEvents = await collect(store.readStream(a))
      const bEvents = await collect(store.readStream(b))
      t.same(aEvents.map((e) => e.revision), [0n, 1n, 2n], 'a: own revisions 0..2')
      t.same(bEvents.map((e) => e.revision), [0n], 'b: own revision 0')
      const firstPosition = aEvents[0]!.position
      const all = (await collect(store.readAll({ fromPosition: firstPosition, maxCount: 4 })))
      t.same(ns(all), [0, 1, 2, 3], 'log order is append order across streams')
      t.same(all.map((e) => e.stream), [a, a, b, a])
      for (let i = 1; i < all.length; i += 1) {
        t.ok(all[i - 1]!.position < all[i]!.position, `position ${i} > position ${i - 1}`)
      }
      t.equal(all[3]!.position, r3.position)
    },
  ],
  [
    'appendMany writes several streams',
    async (t, store) => {
      const names = new StreamNames()
      const a = names.next('a')
      const b = names.next('b')
      await store.append(b, events(1), 'no_stream') // b at revision 0
      const result = await store.appendMany([
        { stream: a, events: events(2, 10), expectedRevision: 'no_stream' },
        { stream: b, events: events(3, 20), expectedRevision: 0n },
      ])
      t.same(
        result.streams,
        [
          { stream: a, nextExpectedRevision: 1n },
          { stream: b, nextExpectedRevision: 3n },
        ],
        'per stream revisions in the order given',
      )
      const aEvents = await collect(store.readStream(a))
      const bEvents = await collect(store.readStream(b))
      t.same(ns(aEvents), [10, 11])
      t.same(ns(bEvents), [0, 20, 21, 22])
      const maxWritten = [...aEvents, ...bEvents.slice(1)].reduce((m, e) => (e.position > m ? e.position : m), 0n)
      t.equal(result.position, maxWritten, 'position is the last event written')
      t.equal(await store.headPosition(), result.position, 'log head is the last event written')
    },
  ],
  [
    'appendMany is all or nothing',
    async (t, store) => {
      const names = new StreamNames()
      const a = names.next('a')
      const b = names.next('b')
      await store.append(a, events(1), 'no_stream')
      await store.append(b, events(2), 'no_stream') // b at revision 1
      const headBefore = await store.headPosition()
      await expectConflict(
        t,
        store.appendMany([
          { stream: a, events: events(3, 10), expectedRevision: 0n },
          { stream: b, events: events(1, 20), expectedRevision: 0n },
        ]),
        b,
        0n,
        1n,
        'conflict on the second stream',
      )
      t.same(ns(await collect(store.readStream(a))), [0], 'first stream unchanged')
      t.same(ns(await collect(store.readStream(b))), [0, 1], 'second stream unchanged')
      t.equal(await store.headPosition(), headBefore, 'log head unchanged')

      const c = names.next('c')
      await expectConflict(
        t,
        store.appendMany([
          { stream: c, events: events(1), expectedRevision: 'stream_exists' },
          { stream: b, events: events(1), expectedRevision: 0n },
        ]),
        c,
        'stream_exists',
        'no_stream',
        'the first mismatching stream is reported',
      )
      t.equal(await store.headPosition(), headBefore, 'log head still unchanged')
    },
  ],
  [
    'appendMany rejects the same stream twice',
    async (t, store) => {
      const names = new StreamNames()
      const a = names.next()
      const headBefore = await store.headPosition()
      const error = await store
        .appendMany([
          { stream: a, events: events(1), expectedRevision: 'no_stream' },
          { stream: a, events: events(1, 1), expectedRevision: 'any' },
        ])
        .then(
          () => undefined,
          (e: unknown) => e,
        )
      t.ok(error instanceof Error, 'rejected with an Error')
      t.notOk(error instanceof WrongExpectedRevisionError, 'a programming error, not a conflict')
      t.same(await collect(store.readStream(a)), [], 'nothing written')
      t.equal(await store.headPosition(), headBefore, 'log head unchanged')
    },
  ],
  [
    'readStream forwards, backwards, fromRevision, maxCount',
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      const n = multiPageEventCount // revisions 0..9
      await store.append(stream, events(n), 'no_stream')
      const revisions = async (options?: Parameters<EventStore['readStream']>[1]): Promise<bigint[]> =>
        (await collect(store.readStream(stream, options))).map((e) => e.revision)

      t.same(await revisions(), [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n], 'forwards, all pages')
      t.same(await revisions({ fromRevision: 2n }), [2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n], 'from 2')
      t.same(await revisions({ maxCount: 3 }), [0n, 1n, 2n], 'first 3')
      t.same(await revisions({ fromRevision: 2n, maxCount: 4 }), [2n, 3n, 4n, 5n], 'from 2, 4 events')
      t.same(await revisions({ fromRevision: 9n }), [9n], 'from the last')
      t.same(await revisions({ fromRevision: 10n }), [], 'past the end')
      t.same(await revisions({ maxCount: 0 }), [], 'maxCount 0')
      t.same(await revisions({ maxCount: 100 }), [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n], 'maxCount above size')

      t.same(
        await revisions({ direction: 'backwards' }),
        [9n, 8n, 7n, 6n, 5n, 4n, 3n, 2n, 1n, 0n],
        'backwards from the last event',
      )
      t.same(await revisions({ direction: 'backwards', fromRevision: 4n }), [4n, 3n, 2n, 1n, 0n], 'backwards from 4')
      t.same(await revisions({ direction: 'backwards', maxCount: 2 }), [9n, 8n], 'last 2')
      t.same(
        await revisions({ direction: 'backwards', fromRevision: 6n, maxCount: 4 }),
        [6n, 5n, 4n, 3n],
        'backwards from 6, 4 events',
      )
      t.same(await revisions({ direction: 'backwards', fromRevision: 0n }), [0n], 'backwards from 0')
      t.same(await revisions({ direction: 'forwards', fromRevision: 7n }), [7n, 8n, 9n], 'explicit forwards')

      const all = await collect(store.readStream(stream))
      t.same(ns(all), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'data in revision order')
      for (let i = 1; i < all.length; i += 1) {
        t.ok(all[i - 1]!.position < all[i]!.position, `position of revision ${i} grows`)
      }
    },
  ],
  [
    'readStream of a missing stream yields nothing',
    async (t, store) => {
      const names = new StreamNames()
      const missing = names.next()
      t.same(await collect(store.readStream(missing)), [], 'forwards')
      t.same(await collect(store.readStream(missing, { direction: 'backwards' })), [], 'backwards')
      t.same(await collect(store.readStream(missing, { fromRevision: 3n, maxCount: 2 })), [], 'with options')
    },
  ],
  [
    'readAll from a position, with maxCount, across pages',
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      await store.append(stream, events(multiPageEventCount), 'no_stream') // n = 0..9
      const positions = (await collect(store.readStream(stream))).map((e) => e.position)
      const p0 = positions[0]!

      const fromFirst = await collect(store.readAll({ fromPosition: p0 }))
      t.same(ns(fromFirst), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'all our events, across pages, in order')
      t.same(fromFirst.map((e) => e.position), positions, 'the same positions as readStream')
      t.ok(fromFirst.every((e) => e.stream === stream), 'nothing else after our first event')

      const inclusive = await collect(store.readAll({ fromPosition: positions[4]!, maxCount: 3 }))
      t.same(ns(inclusive), [4, 5, 6], 'fromPosition is inclusive; maxCount 3')
      t.same(inclusive.map((e) => e.revision), [4n, 5n, 6n])

      t.same(ns(await collect(store.readAll({ fromPosition: p0, maxCount: 7 }))), [0, 1, 2, 3, 4, 5, 6], 'crossing a page boundary')
      t.same(ns(await collect(store.readAll({ fromPosition: positions[9]!, maxCount: 5 }))), [9], 'maxCount above what is left')
      t.same(await collect(store.readAll({ fromPosition: p0, maxCount: 0 })), [], 'maxCount 0')

      const whole = await collect(store.readAll())
      for (let i = 1; i < whole.length; i += 1) {
        if (!(whole[i - 1]!.position < whole[i]!.position)) {
          t.fail(`readAll out of order at index ${i}`)
          break
        }
      }
      t.same(ns(whole.filter((e) => e.stream === stream)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'the whole log holds ours')
      t.equal(whole.at(-1)?.position, await store.headPosition(), 'the whole log ends at the head')
    },
  ],
  [
    'data and metadata round-trip',
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      const data = {
        amount: '1234.50',
        big: '12345678901234567890.01',
        negative: '-0.01',
        name: '张三 Zoë ‘quoted’ 🚀 \u0000 \n tab\t',
        nested: { list: [1, 'two', { three: 3, four: [4.5, -6, null] }], flag: true, nothing: null, empty: {} },
        emptyList: [],
      }
      const metadata = {
        actor: 'payroll-系统',
        correlationId: randomUUID(),
        causationId: randomUUID(),
        custom: JSON.stringify({ deep: ['x', 1, false] }),
      }
      const before = Date.now()
      await store.append(stream, [{ type: 'ContributionRecorded', data, metadata }], 'no_stream')
      const after = Date.now()
      const [event] = await collect(store.readStream(stream))
      t.equal(event?.type, 'ContributionRecorded', 'type')
      t.same(event?.data, data, 'data round-trips')
      t.strictSame(event?.data, data, 'data round-trips exactly (no type changes)')
      t.match(event?.metadata, metadata, 'given metadata kept')
      t.equal(typeof event?.metadata.recordedAt, 'string', 'metadata carries recordedAt')
      t.match(event?.recordedAt, isoUtcPattern, 'recordedAt is an ISO 8601 UTC instant')
      const recordedMs = Date.parse(event!.recordedAt)
      // A server-side clock may differ a little from ours: allow a minute of skew.
      const skewMs = 60_000
      t.ok(recordedMs >= before - skewMs && recordedMs <= after + skewMs, 'recordedAt is about now')

      const plain = names.next()
      await store.append(plain, [{ type: 'NoMetadata', data: { ok: true } }], 'no_stream')
      const [bare] = await collect(store.readStream(plain))
      t.same(bare?.data, { ok: true })
      t.equal(typeof bare?.metadata.recordedAt, 'string', 'recordedAt added when no metadata is given')
    },
  ],
  [
    'event ids: unique UUID v7 by default, a given id kept',
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      await store.append(stream, events(3), 'no_stream')
      await store.append(stream, events(2, 3), 2n)
      const ids = (await collect(store.readStream(stream))).map((e) => e.id)
      t.equal(ids.length, 5)
      t.equal(new Set(ids).size, 5, 'ids are unique')
      for (const id of ids) t.match(id, uuidV7Pattern, `${id} is a UUID v7`)

      const givenId = randomUUID() // a v4, so it cannot be confused with one the store made
      const other = names.next()
      await store.append(other, [{ id: givenId, type: 'WithId', data: {} }, { type: 'WithoutId', data: {} }], 'no_stream')
      const [withId, withoutId] = await collect(store.readStream(other))
      t.equal(withId?.id, givenId, 'the given id is kept')
      t.match(withoutId?.id, uuidPattern, 'the other gets an id')
      t.not(withoutId?.id, givenId)
    },
  ],
  [
    'subscribeAll: catch-up, then live, in order',
    async (t, store) => {
      const names = new StreamNames()
      const a = names.next('a')
      const b = names.next('b')
      const headBefore = (await store.headPosition()) ?? undefined
      await store.append(a, events(2), 'no_stream') // history: 0, 1
      const controller = new AbortController()
      t.teardown(() => controller.abort())
      const iterator = store
        .subscribeAll({ afterPosition: headBefore, streamPrefixes: [names.prefix], signal: controller.signal })[Symbol.asyncIterator]()
      const history = await take(iterator, 2, 'history')
      t.same(ns(history), [0, 1], 'history first')

      // Appended after the subscription has caught up and is waiting.
      const pending = take(iterator, 3, 'live events')
      await store.append(b, events(1, 2), 'no_stream')
      await store.append(a, events(2, 3), 1n)
      const live = await pending
      t.same(ns(live), [2, 3, 4], 'live events in append order')
      t.same(live.map((e) => e.stream), [b, a, a])
      const delivered = [...history, ...live]
      for (let i = 1; i < delivered.length; i += 1) {
        t.ok(delivered[i - 1]!.position < delivered[i]!.position, `delivery ${i} after delivery ${i - 1}`)
      }
      controller.abort()
      const end = await within(iterator.next(), subscriptionStepTimeoutMs, 'the end after abort')
      t.equal(end.done, true, 'abort ends the iterator')
    },
  ],
  [
    'subscribeAll never delivers at or before afterPosition, nor twice',
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      await store.append(stream, events(3), 'no_stream') // n = 0, 1, 2
      const positions = (await collect(store.readStream(stream))).map((e) => e.position)
      const controller = new AbortController()
      t.teardown(() => controller.abort())
      const iterator = store
        .subscribeAll({ afterPosition: positions[1], streamPrefixes: [names.prefix], signal: controller.signal })[Symbol.asyncIterator]()
      const [first] = await take(iterator, 1, 'first event after the checkpoint')
      t.equal(first?.position, positions[2], 'starts just after afterPosition')
      t.same(ns([first!]), [2])

      const pending = take(iterator, 1, 'the next live event')
      await store.append(stream, events(1, 3), 2n)
      const [next] = await pending
      t.same(ns([next!]), [3], 'the next event is the new one: nothing repeated')
      controller.abort()
      t.equal((await within(iterator.next(), subscriptionStepTimeoutMs, 'end')).done, true)
    },
  ],
  [
    'subscribeAll from the start of the log',
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      await store.append(stream, events(2), 'no_stream')
      const controller = new AbortController()
      t.teardown(() => controller.abort())
      const iterator = store
        .subscribeAll({ streamPrefixes: [names.prefix], signal: controller.signal })[Symbol.asyncIterator]()
      t.same(ns(await take(iterator, 2, 'history from the start')), [0, 1])
      controller.abort()
      t.equal((await within(iterator.next(), subscriptionStepTimeoutMs, 'end')).done, true)
    },
  ],
  [
    'subscribeAll filters by stream prefix',
    async (t, store) => {
      const names = new StreamNames()
      const headBefore = (await store.headPosition()) ?? undefined
      const wantedPrefix = `${names.prefix}person-`
      const person1 = `${wantedPrefix}1`
      const person2 = `${wantedPrefix}2`
      const transfer = `${names.prefix}transfer-1`
      await store.append(person1, events(1, 0), 'no_stream')
      await store.append(transfer, events(1, 100), 'no_stream')
      await store.append(person2, events(1, 1), 'no_stream')
      const controller = new AbortController()
      t.teardown(() => controller.abort())
      const iterator = store
        .subscribeAll({ afterPosition: headBefore, streamPrefixes: [wantedPrefix], signal: controller.signal })[Symbol.asyncIterator]()
      t.same(ns(await take(iterator, 2, 'history of matching streams')), [0, 1], 'history filtered')

      const pending = take(iterator, 1, 'a live matching event')
      await store.append(transfer, events(1, 101), 0n)
      await store.append(person1, events(1, 2), 0n)
      const [live] = await pending
      t.same(ns([live!]), [2], 'non-matching live event skipped')
      t.equal(live?.stream, person1)

      const several = new StreamNames()
      const x = several.next('x')
      const y = several.next('y')
      const z = several.next('z')
      const before = (await store.headPosition()) ?? undefined
      await store.append(x, events(1, 0), 'no_stream')
      await store.append(y, events(1, 1), 'no_stream')
      await store.append(z, events(1, 2), 'no_stream')
      const controller2 = new AbortController()
      t.teardown(() => controller2.abort())
      const it2 = store
        .subscribeAll({
          afterPosition: before,
          streamPrefixes: [`${several.prefix}x-`, `${several.prefix}z-`],
          signal: controller2.signal,
        })[Symbol.asyncIterator]()
      t.same(ns(await take(it2, 2, 'two prefixes')), [0, 2], 'any of several prefixes')
      controller.abort()
      controller2.abort()
    },
  ],
  [
    'subscribeAll: abort ends the iterator',
    async (t, store) => {
      const names = new StreamNames()
      const head = (await store.headPosition()) ?? undefined

      const idle = new AbortController()
      const iterator = store
        .subscribeAll({ afterPosition: head, streamPrefixes: [names.prefix], signal: idle.signal })[Symbol.asyncIterator]()
      const waiting = iterator.next() // nothing to deliver: the subscription waits
      idle.abort()
      t.equal((await within(waiting, subscriptionStepTimeoutMs, 'end while waiting')).done, true, 'while waiting')

      const early = new AbortController()
      early.abort()
      const stream = names.next()
      await store.append(stream, events(1), 'no_stream')
      const none = await within(
        collect(store.subscribeAll({ afterPosition: head, streamPrefixes: [names.prefix], signal: early.signal })),
        subscriptionStepTimeoutMs,
        'an aborted subscription to end',
      )
      t.same(none, [], 'an already aborted signal delivers nothing')

      const broken = new AbortController()
      t.teardown(() => broken.abort())
      let seen = 0
      await within(
        (async () => {
          for await (const event of store.subscribeAll({
            afterPosition: head,
            streamPrefixes: [names.prefix],
            signal: broken.signal,
          })) {
            t.equal(event.stream, stream)
            seen += 1
            break // the consumer stops: the iterator's return() must end cleanly
          }
        })(),
        subscriptionStepTimeoutMs,
        'break out of a subscription',
      )
      t.equal(seen, 1, 'one event then break')
    },
  ],
  [
    'every event carries its audit hash, chained per stream from the genesis value',
    async (t, store) => {
      const names = new StreamNames()
      const a = names.next()
      const b = names.next()
      await store.append(a, [{ type: 'First', data: { n: 1, z: 'é', a: [2, 1] } }, { type: 'Second', data: { n: 2 } }], 'no_stream')
      await store.append(a, [{ type: 'Third', data: { n: 3 } }], 1n)
      await store.appendMany([
        { stream: a, events: [{ type: 'Fourth', data: { n: 4 } }], expectedRevision: 'any' },
        { stream: b, events: [{ type: 'Other', data: { m: 1 } }], expectedRevision: 'no_stream' },
      ])
      await store.append(b, [{ type: 'Other', data: { m: 2 } }], 'stream_exists')
      // The hash worked out apart from the adapters: SHA-256 of the RFC 8785 JSON of
      // { stream, revision (decimal string), type, data, previousHash }, 64 zeros before the first.
      for (const stream of [a, b]) {
        let previous = '0'.repeat(64)
        const read = await collect(store.readStream(stream))
        for (const e of read) {
          const expected = createHash('sha256')
            .update(canonicalize({ stream, revision: e.revision.toString(), type: e.type, data: e.data, previousHash: previous }), 'utf8')
            .digest('hex')
          t.equal(e.metadata['hash'], expected, `${stream === a ? 'a' : 'b'} revision ${e.revision}: hash chained`)
          previous = expected
        }
        t.equal(read.length, stream === a ? 4 : 2)
      }
    },
  ],
  [
    `${concurrentAppendCount} concurrent appends at the same revision: exactly one wins`,
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      await store.append(stream, events(1), 'no_stream') // revision 0
      const results = await Promise.allSettled(
        Array.from({ length: concurrentAppendCount }, (_, i) =>
          store.append(stream, [{ type: 'Raced', data: { contender: i } }], 0n),
        ),
      )
      const won = results.filter((r) => r.status === 'fulfilled')
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      t.equal(won.length, 1, 'exactly one append succeeds')
      t.equal(lost.length, concurrentAppendCount - 1, 'all others fail')
      t.ok(
        lost.every((r) => r.reason instanceof WrongExpectedRevisionError),
        'every loser gets WrongExpectedRevisionError',
      )
      t.ok(
        lost.every((r) => {
          const e = r.reason as WrongExpectedRevisionError
          return e.stream === stream && e.expected === 0n && e.actual === 1n
        }),
        'losers see the winner: actual revision 1',
      )
      const winnerIndex = results.findIndex((r) => r.status === 'fulfilled')
      const read = await collect(store.readStream(stream))
      t.same(read.map((e) => e.revision), [0n, 1n], 'one event added')
      t.same(read[1]?.data, { contender: winnerIndex }, "the winner's event")
    },
  ],
  [
    'append answers the position its last event has in readStream and readAll (issue #15)',
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      const first = await store.append(stream, events(1), 'no_stream')
      const second = await store.append(stream, events(2, 1), 0n)
      const read = await collect(store.readStream(stream))
      t.same([first.position, second.position], [read[0]!.position, read[2]!.position], 'readStream positions')
      const fromAll = await collect(store.readAll({ fromPosition: first.position }))
      t.same(
        fromAll.filter((e) => e.stream === stream).map((e) => e.position),
        read.map((e) => e.position),
        'readAll from the first answer starts at that event',
      )
      t.equal(fromAll[0]?.position, first.position, 'the first answer is the position of an event in the log')
      const many = await store.appendMany([
        { stream: names.next(), events: events(1), expectedRevision: 'no_stream' },
        { stream, events: events(1, 3), expectedRevision: 2n },
      ])
      const [lastWritten] = await collect(store.readStream(stream, { fromRevision: 3n }))
      t.equal(many.position, lastWritten!.position, 'appendMany answers its last event position')
    },
  ],
  [
    `${concurrentAnyAppendCount} concurrent appends with 'any' all succeed, chained one after the other (issue #15)`,
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      await store.append(stream, events(1), 'no_stream')
      const results = await Promise.allSettled(
        Array.from({ length: concurrentAnyAppendCount }, (_, i) => store.append(stream, [{ type: 'Raced', data: { contender: i } }], 'any')),
      )
      t.same(
        results.map((r) => r.status),
        results.map(() => 'fulfilled'),
        "no conflict: 'any' appends after whatever is there",
      )
      const read = await collect(store.readStream(stream))
      t.same(read.map((e) => e.revision), Array.from({ length: concurrentAnyAppendCount + 1 }, (_, i) => BigInt(i)), 'every append written once')
      t.ok(await chainIntact(store, stream), 'each hash chains from the event before it')
    },
  ],
  [
    'a repeated append with the same explicit ids is never written twice (issue #15)',
    async (t, store) => {
      const names = new StreamNames()
      for (const expected of ['no_stream', 'any'] as const) {
        const stream = names.next()
        const repeat: NewEvent[] = [
          { id: randomUUID(), type: 'Tested', data: { n: 0 } },
          { id: randomUUID(), type: 'Tested', data: { n: 1 } },
        ]
        const first = await store.append(stream, repeat, expected)
        // KurrentDB answers the repeat as the first append; SQLite refuses it (see ExpectedRevision).
        const again = await store.append(stream, repeat, expected).then(
          (r) => r,
          (e: unknown) => e,
        )
        if (!(again instanceof Error)) t.same(again, first, `${expected}: a repeat answered is the first append's result`)
        else t.notOk(again instanceof StoreUnavailableError, `${expected}: a repeat refused is refused for good (${again.name})`)
        t.same((await collect(store.readStream(stream))).map((e) => e.id), repeat.map((e) => e.id), `${expected}: one copy`)
      }
    },
  ],
  [
    'appendMany naming a stream twice (differing in case) is refused and writes nothing (issue #15)',
    async (t, store) => {
      const names = new StreamNames()
      const a = names.next()
      const b = names.next('Stream')
      const head = await store.headPosition()
      const error = await store
        .appendMany([
          { stream: a, events: events(1), expectedRevision: 'no_stream' },
          { stream: b, events: events(1), expectedRevision: 'no_stream' },
          { stream: b.toLowerCase(), events: events(1), expectedRevision: 'no_stream' },
        ])
        .catch((e: unknown) => e)
      t.ok(error instanceof StreamNamedTwiceError, 'StreamNamedTwiceError')
      t.equal((error as StreamNamedTwiceError).stream, b.toLowerCase(), 'naming the repeated name')
      t.equal(await store.headPosition(), head, 'nothing written')
      t.same(await collect(store.readStream(a)), [], 'not even the first stream')
    },
  ],
  [
    'metadata reads back as written, whichever append wrote it, on every read path (issue #15)',
    async (t, store) => {
      const names = new StreamNames()
      const [a, b, c] = [names.next('a'), names.next('b'), names.next('c')]
      const headBefore = (await store.headPosition()) ?? undefined
      const metadata = { actor: 'conformance', correlationId: 'corr-1' }
      await store.append(a, [{ type: 'Tested', data: { n: 0 }, metadata }], 'no_stream')
      // appendMany is KurrentDB's multi-stream (v2) append, whose metadata the server stores as
      // record properties and v1 reads give back with `$schema.*` keys of its own.
      await store.appendMany([
        { stream: b, events: [{ type: 'Tested', data: { n: 1 }, metadata }], expectedRevision: 'no_stream' },
        { stream: c, events: [{ type: 'Tested', data: { n: 2 }, metadata }], expectedRevision: 'no_stream' },
      ])
      const keys = (e: RecordedEvent) => Object.keys(e.metadata).sort()
      const expected = ['actor', 'correlationId', 'hash', 'recordedAt']
      const read = [...(await collect(store.readStream(a))), ...(await collect(store.readStream(b))), ...(await collect(store.readStream(c)))]
      for (const e of read) {
        t.same(keys(e), expected, `readStream ${e.stream}: only the keys written, the hash and recordedAt`)
        t.equal(e.metadata.actor, 'conformance')
        t.equal(e.metadata.correlationId, 'corr-1')
      }
      const all = (await collect(store.readAll({ fromPosition: read[0]!.position }))).filter((e) => e.stream.startsWith(names.prefix))
      t.same(all.map((e) => e.metadata), read.map((e) => e.metadata), 'readAll: the same metadata')
      const controller = new AbortController()
      t.teardown(() => controller.abort())
      const iterator = store.subscribeAll({ afterPosition: headBefore, streamPrefixes: [names.prefix], signal: controller.signal })[Symbol.asyncIterator]()
      const delivered = await take(iterator, 3, 'subscription')
      t.same(delivered.map((e) => e.metadata), read.map((e) => e.metadata), 'subscribeAll: the same metadata')
      controller.abort()
    },
  ],
  [
    "readAll from an event's position starts at it; past the head it reads nothing (issue #15)",
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      await store.append(stream, events(3), 'no_stream')
      const appended = await collect(store.readStream(stream))
      const fromSecond = (await collect(store.readAll({ fromPosition: appended[1]!.position }))).filter((e) => e.stream === stream)
      t.same(ns(fromSecond), [1, 2], 'inclusive of the position given')
      const head = (await store.headPosition())!
      // Far past the head on any store: on KurrentDB 1000 bytes past the head's commit position.
      t.same(await collect(store.readAll({ fromPosition: head + (1000n << 64n) })), [], 'past the head: nothing')
    },
  ],
  [
    'subscribeAll calls onCaughtUp once, when it has delivered the history (issue #15)',
    async (t, store) => {
      const names = new StreamNames()
      const stream = names.next()
      const headBefore = (await store.headPosition()) ?? undefined
      await store.append(stream, events(2), 'no_stream')
      const controller = new AbortController()
      t.teardown(() => controller.abort())
      let caughtUp = 0
      const subscription = store.subscribeAll({ afterPosition: headBefore, streamPrefixes: [names.prefix], signal: controller.signal, onCaughtUp: () => caughtUp++ })
      const iterator = subscription[Symbol.asyncIterator]()
      t.same(ns(await take(iterator, 2, 'history')), [0, 1])
      const pending = take(iterator, 1, 'a live event')
      await store.append(stream, events(1, 2), 1n)
      t.same(ns(await pending), [2])
      t.equal(caughtUp, 1, 'once, by the time the history is delivered and a live event came')
      controller.abort()
    },
  ],
]

/**
 * Registers the conformance suite as a tap subtest `name` of `t`, one subtest per case. Each case
 * gets a store from `makeStore()` and closes it at the end. With `options.skip`, every case is
 * registered as skipped with that reason (tap counts them as skipped, never as passed).
 * @returns the parent subtest's promise (awaiting it is optional: tap runs queued subtests).
 */
export function runEventStoreConformance(
  t: Test,
  name: string,
  makeStore: () => Promise<EventStore>,
  options: ConformanceOptions = {},
): Promise<unknown> {
  return t.test(name, async (suite) => {
    for (const [caseName, run] of cases) {
      const caseOptions = options.skip === undefined ? {} : { skip: options.skip }
      suite.test(caseName, caseOptions, async (ct) => {
        const store = await makeStore()
        try {
          await run(ct, store)
        } finally {
          await store.close()
        }
      })
    }
  })
}
