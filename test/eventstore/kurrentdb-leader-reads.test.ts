/**
 * Read-your-write on a cluster (issue #15, item 1). Client 1.3.1 reads through the Rust bridge
 * with `requiresLeader: false` and no deadline (dist/streams/readStream.js), so a read right after
 * an append can be served by a follower that does not have the append yet. The adapter takes the
 * appended position from the server's answer, and reads what it must (the chain's previous event,
 * an empty append's check) on the leader under a deadline.
 *
 * The fake's cluster model: `readsFrom: 'follower'` puts the bridge on a follower;
 * `holdReplication()` freezes what that follower has.
 */
import t from 'tap'
import type { AppendResult as ClientAppendResult } from '@kurrent/kurrentdb-client'
import { KurrentDbEventStore, LEADER_READ_DEADLINE_MS } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import type { KurrentClient } from '../../src/eventstore/kurrentdb/client.js'
import { encodePosition } from '../../src/eventstore/kurrentdb/mapping.js'
import { StoreUnavailableError } from '../../src/eventstore/port.js'
import { FakeKurrentClient, type FakeStoredEvent } from '../helpers/fake-kurrent-client.js'
import { chainIntact } from '../helpers/hash-chain.js'

/** A follower-served client whose follower has nothing of what follows. */
function laggingCluster(): FakeKurrentClient {
  const client = new FakeKurrentClient({ systemEvents: false, readsFrom: 'follower' })
  client.holdReplication()
  return client
}

const storeOn = (client: KurrentClient, options: { leaderReadDeadlineMs?: number } = {}) =>
  new KurrentDbEventStore({ client, atomicAppendMany: true, ...options })

/** The port position of an event as the leader's log holds it. */
const positionOf = (e: FakeStoredEvent): bigint => encodePosition({ commit: e.commit, prepare: e.prepare })


async function toArray<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}

t.test('the fake: a follower serves stale reads until replicated; a leader read moves the bridge to the leader', async (t) => {
  const client = laggingCluster()
  await client.appendToStream('s-1', [{ id: '0190a6f0-0000-7000-8000-000000000001', type: 'T', contentType: 'application/json', data: {}, metadata: undefined }])
  const stale = await toArray(client.readStream('s-1')).catch((e: unknown) => e)
  t.equal((stale as Error).constructor.name, 'StreamNotFoundError', 'the follower has not got the stream')
  const leaderRead = await toArray(client.readStream('s-1', { requiresLeader: true })).catch((e: unknown) => e)
  t.equal((leaderRead as Error).constructor.name, 'NotLeaderError', 'a leader read on a follower: NotLeaderError')
  t.equal(client.readNode, 'leader', 'the bridge reconnected to the leader')
  t.equal((await toArray(client.readStream('s-1', { requiresLeader: true }))).length, 1, 'then the leader answers')
})

t.test('given a lagging follower, when appending, then the position is the event position, with no read back', async (t) => {
  const client = laggingCluster()
  const store = storeOn(client)
  t.teardown(() => store.close())
  const first = await store.append('s-1', [{ type: 'T', data: { n: 0 } }], 'no_stream')
  t.equal(client.calls('readStream'), 0, 'a no_stream append reads nothing: the answer has the position')
  const second = await store.append('s-1', [{ type: 'T', data: { n: 1 } }, { type: 'T', data: { n: 2 } }], 0n)
  const written = client.streamEvents('s-1')
  t.same([first.nextExpectedRevision, first.position], [0n, positionOf(written[0]!)], 'first append: revision 0, its event position')
  t.same([second.nextExpectedRevision, second.position], [2n, positionOf(written[2]!)], 'second: revision 2, the last event position')
})

t.test('given a lagging follower and no remembered tail, when chaining, then the previous event is read on the leader', async (t) => {
  const client = laggingCluster()
  const writer = storeOn(client)
  await writer.append('s-2', [{ type: 'T', data: { n: 0 } }], 'no_stream')
  // A second store (another process) knows nothing of s-2 and reads its tail for the chain.
  const store = storeOn(client)
  t.teardown(() => store.close())
  await store.append('s-2', [{ type: 'T', data: { n: 1 } }], 0n)
  await store.append('s-2', [{ type: 'T', data: { n: 2 } }], 'any')
  client.replicate()
  t.equal(client.streamEvents('s-2').length, 3)
  t.ok(await chainIntact(store, 's-2'), 'every hash chains from the event before it')
})

t.test('given a lagging follower, when an empty append checks the expected revision, then it sees the leader', async (t) => {
  const client = laggingCluster()
  const store = storeOn(client)
  t.teardown(() => store.close())
  const written = await store.append('s-3', [{ type: 'T', data: {} }], 'no_stream')
  const check = await storeOn(client).append('s-3', [], 0n)
  t.same(check, written, 'revision 0 at the event position, no conflict')
  const many = await storeOn(client).appendMany([
    { stream: 's-4', events: [{ type: 'T', data: {} }], expectedRevision: 'no_stream' },
    { stream: 's-3', events: [], expectedRevision: 0n },
  ])
  t.same(many.streams.map((s) => s.nextExpectedRevision), [0n, 0n])
  t.equal(many.position, positionOf(client.streamEvents('s-4')[0]!), 'the last event written')
})

t.test('given an atomic appendMany on a lagging follower, then its position is the last event written', async (t) => {
  const client = laggingCluster()
  const store = storeOn(client)
  t.teardown(() => store.close())
  const r = await store.appendMany([
    { stream: 's-5', events: [{ type: 'T', data: { n: 1 } }], expectedRevision: 'no_stream' },
    { stream: 's-6', events: [{ type: 'T', data: { n: 2 } }, { type: 'T', data: { n: 3 } }], expectedRevision: 'no_stream' },
  ])
  t.equal(r.position, positionOf(client.streamEvents('s-6')[1]!))
  t.equal(r.position, positionOf(client.events.at(-1)!), 'the head of the log')
})

t.test('given an answer without a position, then the position is read on the leader', async (t) => {
  const fake = laggingCluster()
  // The server answers NoPosition when it cannot read the event it matched (IndexWriter.CheckCommit
  // logPos -1); append.js then hands back `position: undefined`.
  const client: KurrentClient = {
    appendToStream: async (stream, events, options): Promise<ClientAppendResult> => ({ ...(await fake.appendToStream(stream, events, options)), position: undefined }),
    multiStreamAppend: (requests) => fake.multiStreamAppend(requests),
    readStream: (stream, options) => fake.readStream(stream, options),
    readAll: (options) => fake.readAll(options),
    subscribeToAll: (options) => fake.subscribeToAll(options),
    dispose: () => fake.dispose(),
    serverVersion: () => fake.serverVersion(),
  }
  const store = storeOn(client)
  t.teardown(() => store.close())
  const r = await store.append('s-7', [{ type: 'T', data: {} }], 'no_stream')
  t.equal(r.position, positionOf(fake.streamEvents('s-7')[0]!))
})

t.test('a leader read that never answers is StoreUnavailableError after the deadline', async (t) => {
  t.ok(LEADER_READ_DEADLINE_MS > 0, 'a named deadline')
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = storeOn(client, { leaderReadDeadlineMs: 50 })
  t.teardown(() => store.close())
  await client.appendToStream('s-8', [{ id: '0190a6f0-0000-7000-8000-000000000008', type: 'T', contentType: 'application/json', data: {}, metadata: undefined }])
  client.stallNext('readStream')
  const error = await store.append('s-8', [], 0n).catch((e: unknown) => e)
  t.type(error, StoreUnavailableError, 'the empty append cannot check: 503')
  t.match((error as Error).message, /50 ms/, 'naming the deadline')
  t.same(await store.append('s-8', [], 0n).then((r) => r.nextExpectedRevision), 0n, 'the next read answers again')
})

t.test('given an appendToStream whose shared batchAppend call ended without an answer, when the deadline passes, then the append is a 503 and the stream can be appended again', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true, appendAnswerDeadlineMs: 100 })
  t.teardown(() => store.close())
  client.stallNext('appendToStream')
  const err = await store.append('person-1', [{ type: 'T', data: { n: 1 } }], 'no_stream').catch((e: unknown) => e)
  t.type(err, StoreUnavailableError, 'not a wait for ever')
  t.match((err as Error).message, /did not answer an append to person-1 within 100 ms; it may have been written/)
  const next = await store.append('person-1', [{ type: 'T', data: { n: 1 } }], 'no_stream')
  t.equal(next.nextExpectedRevision, 0n, 'the next append goes through')
})
