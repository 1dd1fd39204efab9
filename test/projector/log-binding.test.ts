import t, { type Test } from 'tap'
import path from 'node:path'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import type { EventStore } from '../../src/eventstore/port.js'
import { checkReadModelsAgainstLog } from '../../src/projector/log-binding.js'
import { ReadModelMismatchError, ReadModelStore } from '../../src/projector/read-model-store.js'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'
import { collect } from '../helpers/async.js'

/**
 * A read-model file is bound to the log it is folded from, by that log's first event: on KurrentDB the
 * file is apart from the log, and pointing it at another log whose head is past its checkpoint would
 * otherwise fold the other log on from the middle.
 */

/** The checkpoint name the service folds under. */
const CHECKPOINT = 'main'

/** A KurrentDB log (scripted client) holding `n` events in stream `person-{tag}`. */
async function kurrentLog(t: Test, tag: string, n: number): Promise<EventStore> {
  const store = new KurrentDbEventStore({ client: new FakeKurrentClient({ systemEvents: false }), atomicAppendMany: true })
  t.teardown(() => store.close())
  if (n > 0) await store.append(`person-${tag}`, Array.from({ length: n }, (_, i) => ({ type: 'Tested', data: { i } })), 'no_stream')
  return store
}

/** What the service does at start: every check, then the binding once the start is accepted. */
const accept = async (readModels: ReadModelStore, log: EventStore): Promise<void> => (await checkReadModelsAgainstLog(readModels, log, { checkpointName: CHECKPOINT })).bind()

const readModelsIn = (t: Test): ReadModelStore => {
  const readModels = new ReadModelStore(path.join(t.testdir(), 'read-models.sqlite'))
  t.teardown(() => readModels.close())
  return readModels
}

t.test('given a new read-model file, when it is opened on a log with events, then it is bound to that log’s first event', async (t) => {
  const log = await kurrentLog(t, 'A', 3)
  const readModels = readModelsIn(t)
  await accept(readModels, log)
  const [first] = await collect(log.readAll({ maxCount: 1 }))
  t.same(readModels.boundLog(), { id: first!.id, position: first!.position })
  await log.append('person-A', [{ type: 'Tested', data: { i: 3 } }], 2n)
  t.equal(await accept(readModels, log).then(() => 'accepted'), 'accepted', 'opened again on the same, longer log: accepted')
  t.same(readModels.boundLog(), { id: first!.id, position: first!.position }, 'the binding is unchanged')
})

t.test('given a file bound to log A, when it is opened on log B whose head is past its checkpoint, then the start is refused naming both first events', async (t) => {
  const a = await kurrentLog(t, 'A', 2)
  const b = await kurrentLog(t, 'B', 50)
  const readModels = readModelsIn(t)
  await accept(readModels, a)
  readModels.commitBatch(CHECKPOINT, new Map(), (await a.headPosition())!)
  t.ok((await b.headPosition())! > readModels.getCheckpoint(CHECKPOINT)!, "B's head is past the checkpoint (the check on the head alone would pass)")
  const err = await accept(readModels, b).catch((e: unknown) => e)
  t.type(err, ReadModelMismatchError)
  const [firstA] = await collect(a.readAll({ maxCount: 1 }))
  const [firstB] = await collect(b.readAll({ maxCount: 1 }))
  t.match((err as Error).message, `its first event is ${firstA!.id}`)
  t.match((err as Error).message, `this log's is ${firstB!.id}`)
  t.same(readModels.boundLog()?.id, firstA!.id, 'the binding is unchanged')
})

t.test('given a file bound to a log, when it is opened on an empty log, then the start is refused', async (t) => {
  const a = await kurrentLog(t, 'A', 1)
  const empty = await kurrentLog(t, 'E', 0)
  const readModels = readModelsIn(t)
  await accept(readModels, a)
  const err = await accept(readModels, empty).catch((e: unknown) => e)
  t.type(err, ReadModelMismatchError)
  t.match((err as Error).message, /this log is empty/)
})

t.test('given a file first opened on an empty log, when events arrive, then the next opening binds it', async (t) => {
  const sqlite = openSqliteEventStore({ path: ':memory:' })
  t.teardown(() => sqlite.close())
  const readModels = readModelsIn(t)
  await accept(readModels, sqlite)
  t.equal(readModels.boundLog(), undefined, 'nothing to bind to yet')
  const written = await sqlite.append('person-A', [{ type: 'Tested', data: { i: 0 } }], 'no_stream')
  await accept(readModels, sqlite)
  t.equal(readModels.boundLog()?.position, written.position)
})

t.test('given an earlier version’s file folded from log A (no binding), when one start is made on a wiped log by mistake, then it is refused, records nothing, and a start on log A is still accepted', async (t) => {
  const right = await kurrentLog(t, 'A', 50)
  const wiped = await kurrentLog(t, 'W', 1)
  const readModels = readModelsIn(t)
  readModels.commitBatch(CHECKPOINT, new Map(), (await right.headPosition())!)
  const wrong = await accept(readModels, wiped).catch((e: unknown) => e)
  t.type(wrong, ReadModelMismatchError)
  t.match((wrong as Error).message, /checkpoint \(\d+\) is beyond the log's head/)
  t.equal(readModels.boundLog(), undefined, 'a refused start records no binding')
  await accept(readModels, right)
  const [first] = await collect(right.readAll({ maxCount: 1 }))
  t.equal(readModels.boundLog()?.id, first!.id, 'accepted on log A, and bound to it')
})
