import t from 'tap'
import { v7 as uuidV7 } from 'uuid'
import { KurrentDbEventStore, REPEAT_WINDOW_EVENTS } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { StoreUnavailableError, type NewEvent } from '../../src/eventstore/port.js'
import { FakeKurrentClient, fakeErrors } from '../helpers/fake-kurrent-client.js'

/**
 * The repeat of an `any`/`stream_exists` append is looked for by its first id among the stream's last
 * events (kurrentdb-event-store.ts plan): as many as the append has, plus REPEAT_WINDOW_EVENTS of other
 * writers. A window of REPEAT_WINDOW_EVENTS alone missed an append of more events than that: the retry
 * after a lost answer went at the stream's current revision, which the server takes as new events
 * (IndexWriter.CheckCommit: expectedVersion == curVersion -> CommitOk, no id check).
 */

t.test('given an `any` append of more than REPEAT_WINDOW_EVENTS events whose answer was lost, when it is retried, then nothing is written twice', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  await store.append('s-1', [{ type: 'T', data: { n: -1 } }], 'no_stream')

  const count = REPEAT_WINDOW_EVENTS + 20
  const events: NewEvent[] = Array.from({ length: count }, (_, n) => ({ id: uuidV7(), type: 'T', data: { n } }))
  client.failNext('appendToStream', fakeErrors.deadlineExceeded(), { afterWrite: true })
  const first = await store.append('s-1', events, 'any').catch((e: unknown) => e)
  t.type(first, StoreUnavailableError, 'the answer is lost (the events are written)')
  t.equal(client.streamEvents('s-1').length, 1 + count)

  const retry = await store.append('s-1', events, 'any')
  t.equal(client.streamEvents('s-1').length, 1 + count, 'the retry writes nothing (a repeat)')
  t.equal(retry.nextExpectedRevision, BigInt(count), "the retry answers the first append's revision")
})
