/**
 * The fake's cluster model and write-path controls (issue #15): a follower that lags, leader-only
 * reads, reads that never answer, a writer interposed between a caller's read and its write, and
 * the positions the server answers appends with. Positions are worked out by hand as in
 * fake-kurrent-client.test.ts: a prepare record is 88 bytes + stream + type + data + metadata, the
 * log starts at 128.
 */
import t from 'tap'
import { NotLeaderError, StreamNotFoundError, jsonEvent, type EventData } from '@kurrent/kurrentdb-client'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'
import { within } from '../helpers/async.js'

/** `Placed` events with data `{"n":k}`: on stream `order-1` a 108-byte record for k < 10. */
const placed = (...ns: number[]): EventData[] => ns.map((n) => jsonEvent({ type: 'Placed', data: { n } }))

async function toArray<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  )
}

t.test('a follower with replication held serves the log as it was; the leader serves all of it', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false, readsFrom: 'follower' })
  await client.appendToStream('order-1', placed(1))
  client.holdReplication()
  await client.appendToStream('order-1', placed(2))
  await client.appendToStream('order-2', placed(3))
  const revisions = (await toArray(client.readStream('order-1'))).map((r) => r.event!.revision)
  t.same(revisions, [0n], 'readStream on the follower: only what was replicated')
  t.ok((await errorOf(toArray(client.readStream('order-2')))) instanceof StreamNotFoundError, 'a stream the follower has not got is missing')
  t.same((await toArray(client.readAll())).map((r) => r.event!.streamId), ['order-1'], 'readAll on the follower likewise')
  client.replicate()
  t.same((await toArray(client.readAll())).map((r) => r.event!.streamId), ['order-1', 'order-1', 'order-2'], 'replicated: everything')
})

t.test('a leader-only read on a follower fails once with NotLeaderError naming the leader, then the bridge is on the leader', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false, readsFrom: 'follower' })
  client.holdReplication()
  await client.appendToStream('order-1', placed(1))
  const error = await errorOf(toArray(client.readAll({ requiresLeader: true })))
  t.ok(error instanceof NotLeaderError)
  t.same((error as NotLeaderError).leader, { address: 'node1.kurrentdb.local', port: 2113 }, 'the leader from the bridge metadata')
  t.equal(client.readNode, 'leader')
  t.equal((await toArray(client.readStream('order-1'))).length, 1, 'every later read is served by the leader')
})

t.test('stallNext: the next read never answers, the one after does', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  await client.appendToStream('order-1', placed(1))
  client.stallNext('readStream')
  const stalled = toArray(client.readStream('order-1'))
  const outcome = await Promise.race([stalled.then(() => 'answered'), new Promise((resolve) => setTimeout(() => resolve('no answer'), 100))])
  t.equal(outcome, 'no answer', 'no answer within 100 ms')
  t.equal((await within(toArray(client.readStream('order-1')), 5_000, 'next read')).length, 1)
})

t.test('interposeNext: another write lands between the request and the commit check', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  await client.appendToStream('order-1', placed(1))
  client.interposeNext('appendToStream', () => client.appendToStream('order-1', placed(2), { streamState: 0n }))
  const error = await errorOf(client.appendToStream('order-1', placed(3), { streamState: 0n }))
  t.equal((error as Error).constructor.name, 'WrongExpectedVersionError', 'the caller expected revision 0 is now stale')
  t.same(client.streamEvents('order-1').map((e) => e.revision), [0n, 1n], 'only the interposed write happened')
})

t.test('appends are answered with (P, P) of their last prepare; a repeat of an explicit-transaction event with its prepare offset', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  // Explicit transaction: prepares at 128 and 236, commit record at 344.
  const old = client.appendTransaction('order-1', placed(1, 2))
  t.same(old.map((e) => [e.commit, e.prepare]), [[344n, 128n], [344n, 236n]])
  const repeat: EventData[] = old.map((e) => ({ id: e.id, type: 'Placed', contentType: 'application/json', data: { n: 0 }, metadata: undefined }))
  // IndexWriter.CheckCommit: the matched last event's LogPosition (its prepare), not its $all position.
  t.same(await client.appendToStream('order-1', repeat, { streamState: 'no_stream' }), {
    success: true,
    nextExpectedRevision: 1n,
    position: { commit: 236n, prepare: 236n },
  })
  // A new append after the commit record (end 393): one prepare at 393.
  t.same((await client.appendToStream('order-1', placed(3), { streamState: 1n })).position, { commit: 393n, prepare: 393n })
  t.equal((await client.multiStreamAppend([{ streamName: 'order-1', expectedState: 2n, events: placed(4) }])).position, 501n, 'multiStreamAppend: the last prepare, 393 + 108')
})
