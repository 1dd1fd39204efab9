/**
 * `any` and `stream_exists` keep their meaning on KurrentDB (issue #15, item 2), and a retry after
 * a lost answer writes nothing twice. The adapter needs an exact revision for the hash chain, so it
 * reads the tail on the leader, appends at that revision, and on a conflict reads again (a bounded
 * number of times); a retry whose ids are already the stream's last events is answered without a
 * write, as the server itself answers a repeat at an exact revision (IndexWriter.CheckCommit).
 */
import t from 'tap'
import { KurrentDbEventStore, MAX_APPEND_ATTEMPTS } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { encodePosition } from '../../src/eventstore/kurrentdb/mapping.js'
import { StoreUnavailableError, StreamNamedTwiceError, WrongExpectedRevisionError, streamNamedTwice } from '../../src/eventstore/port.js'
import { FakeKurrentClient, fakeErrors } from '../helpers/fake-kurrent-client.js'
import { collect } from '../helpers/async.js'
import { chainIntact } from '../helpers/hash-chain.js'

const storeOn = (client: FakeKurrentClient, atomicAppendMany = true) => new KurrentDbEventStore({ client, atomicAppendMany })


const ID_A = '0190a6f0-0000-7000-8000-00000000000a'
const ID_B = '0190a6f0-0000-7000-8000-00000000000b'

for (const expected of ['any', 'stream_exists'] as const) {
  t.test(`given a concurrent writer between the tail read and the write, when appending with ${expected}, then no conflict and the chain holds`, async (t) => {
    const client = new FakeKurrentClient({ systemEvents: false })
    const store = storeOn(client)
    const other = storeOn(client)
    t.teardown(() => store.close())
    await store.append('s-1', [{ type: 'T', data: { n: 0 } }], 'no_stream')
    client.interposeNext('appendToStream', () => other.append('s-1', [{ type: 'T', data: { n: 'other' } }], 0n))
    const r = await store.append('s-1', [{ type: 'T', data: { n: 1 } }], expected)
    t.equal(r.nextExpectedRevision, 2n, 'written after the other writer event')
    t.same((await collect(store.readStream('s-1'))).map((e) => (e.data as { n: unknown }).n), [0, 'other', 1])
    t.ok(await chainIntact(store, 's-1'), 'every hash chains from the event before it')
  })
}

t.test('given a stream that keeps moving, when appending with any, then StoreUnavailableError after the bounded attempts, never a conflict', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = storeOn(client)
  const other = storeOn(client)
  t.teardown(() => store.close())
  await store.append('s-2', [{ type: 'T', data: { n: 0 } }], 'no_stream')
  for (let i = 0; i < MAX_APPEND_ATTEMPTS; i++) client.interposeNext('appendToStream', () => other.append('s-2', [{ type: 'T', data: { i } }], 'any'))
  const error = await store.append('s-2', [{ type: 'T', data: { n: 1 } }], 'any').catch((e: unknown) => e)
  t.type(error, StoreUnavailableError)
  t.notOk(error instanceof WrongExpectedRevisionError)
  t.equal(client.streamEvents('s-2').length, 1 + MAX_APPEND_ATTEMPTS, 'only the other writer wrote')
})

t.test('stream_exists on a missing stream is a conflict, as on the server', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = storeOn(client)
  t.teardown(() => store.close())
  const error = await store.append('s-3', [{ type: 'T', data: {} }], 'stream_exists').catch((e: unknown) => e)
  t.type(error, WrongExpectedRevisionError)
  t.same([(error as WrongExpectedRevisionError).expected, (error as WrongExpectedRevisionError).actual], ['stream_exists', 'no_stream'])
})

for (const expected of ['any', 'stream_exists', 0n] as const) {
  t.test(`given a lost answer (deadline after the write), when the same append is retried with ${String(expected)}, then one copy and the first result`, async (t) => {
    const client = new FakeKurrentClient({ systemEvents: false })
    const store = storeOn(client)
    t.teardown(() => store.close())
    await store.append('s-4', [{ type: 'T', data: { n: 0 } }], 'no_stream')
    const events = [
      { id: ID_A, type: 'T', data: { n: 1 } },
      { id: ID_B, type: 'T', data: { n: 2 } },
    ]
    client.failNext('appendToStream', fakeErrors.deadlineExceeded(), { afterWrite: true })
    t.type(await store.append('s-4', events, expected).catch((e: unknown) => e), StoreUnavailableError, 'the caller sees a 503')
    // A fresh store too (the retry may come to another process).
    for (const retrying of [store, storeOn(client)]) {
      const r = await retrying.append('s-4', events, expected)
      const last = client.streamEvents('s-4').at(-1)!
      t.same([r.nextExpectedRevision, r.position], [2n, encodePosition({ commit: last.commit, prepare: last.prepare })])
    }
    t.same(client.streamEvents('s-4').map((e) => e.id).slice(1), [ID_A, ID_B], 'written once')
    t.ok(await chainIntact(store, 's-4'))
  })
}

t.test('given the stream ends with only part of the ids, when appending with any, then a conflict (the server: corrupted idempotency)', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = storeOn(client)
  t.teardown(() => store.close())
  await store.append('s-5', [{ id: ID_A, type: 'T', data: { n: 1 } }], 'no_stream')
  const error = await store.append('s-5', [{ id: ID_A, type: 'T', data: { n: 1 } }, { id: ID_B, type: 'T', data: { n: 2 } }], 'any').catch((e: unknown) => e)
  t.type(error, WrongExpectedRevisionError)
  t.equal(client.streamEvents('s-5').length, 1, 'nothing written')
})

t.test('given a concurrent writer on one stream of an atomic appendMany with any, then it is retried and the chain holds', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = storeOn(client)
  const other = storeOn(client)
  t.teardown(() => store.close())
  await store.append('s-6', [{ type: 'T', data: { n: 0 } }], 'no_stream')
  client.interposeNext('multiStreamAppend', () => other.append('s-6', [{ type: 'T', data: { n: 'other' } }], 0n))
  const r = await store.appendMany([
    { stream: 's-6', events: [{ type: 'T', data: { n: 1 } }], expectedRevision: 'any' },
    { stream: 's-7', events: [{ type: 'T', data: { n: 2 } }], expectedRevision: 'no_stream' },
  ])
  t.same(r.streams.map((s) => s.nextExpectedRevision), [2n, 0n])
  t.ok(await chainIntact(store, 's-6'))
})

t.test('given a lost answer of an atomic appendMany, when retried with the same ids, then nothing is written twice', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = storeOn(client)
  t.teardown(() => store.close())
  const appends = [
    { stream: 's-8', events: [{ id: ID_A, type: 'T', data: {} }], expectedRevision: 'any' as const },
    { stream: 's-9', events: [{ id: ID_B, type: 'T', data: {} }], expectedRevision: 'any' as const },
  ]
  client.failNext('multiStreamAppend', fakeErrors.deadlineExceeded(), { afterWrite: true })
  t.type(await store.appendMany(appends).catch((e: unknown) => e), StoreUnavailableError)
  const r = await storeOn(client).appendMany(appends)
  t.same(r.streams.map((s) => s.nextExpectedRevision), [0n, 0n])
  t.equal(client.events.length, 2, 'written once')
  t.equal(r.position, encodePosition({ commit: client.events[1]!.commit, prepare: client.events[1]!.prepare }))
})

for (const atomic of [true, false]) {
  t.test(`appendMany naming a stream twice (differing in case) is refused before sending (${atomic ? 'atomic' : 'per stream'})`, async (t) => {
    const client = new FakeKurrentClient({ systemEvents: false })
    const store = storeOn(client, atomic)
    t.teardown(() => store.close())
    const error = await store
      .appendMany([
        { stream: 'person-Ann', events: [{ type: 'T', data: {} }], expectedRevision: 'any' },
        { stream: 'person-ann', events: [{ type: 'T', data: {} }], expectedRevision: 'any' },
      ])
      .catch((e: unknown) => e)
    t.type(error, StreamNamedTwiceError)
    t.equal((error as StreamNamedTwiceError).stream, 'person-ann')
    t.same([client.calls('multiStreamAppend'), client.calls('appendToStream'), client.events.length], [0, 0, 0], 'nothing sent, nothing written')
  })
}

t.test('stream names compare as .NET OrdinalIgnoreCase: each character upper-cased by itself', async (t) => {
  t.equal(streamNamedTwice(['person-Ann', 's-1', 'person-ann']), 'person-ann')
  t.equal(streamNamedTwice(['s-é', 's-É']), 's-É', 'non-ASCII letters too')
  t.equal(streamNamedTwice(['s-straße', 's-STRASSE']), undefined, "'ß' has no one-character upper case: it stays")
  t.equal(streamNamedTwice(['s-1', 's-2']), undefined)
})
