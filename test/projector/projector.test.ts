import t from 'tap'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { Projector } from '../../src/projector/projector.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import type { DocumentProjection } from '../../projections/index.js'

/** A counting projection: one document per stream, counting the events seen. */
const counter: DocumentProjection<{ n: number }> = {
  name: 'counter',
  keysOf: (e) => [String((e.data as { stream: string }).stream)],
  initial: () => ({ n: 0 }),
  evolve: (doc) => ({ n: doc.n + 1 }),
}

const WAIT_MS = 5_000

t.test('a new projector resumes from the checkpoint and never applies an event twice', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  const readModels = new ReadModelStore(':memory:')
  t.teardown(async () => {
    await store.close()
    readModels.close()
  })
  for (let i = 0; i < 5; i++) await store.append('s-a', [{ type: 'T', data: { stream: 'a' } }], 'any')
  const p1 = new Projector({ store, readModels, projections: [counter], maxBatchEvents: 2 })
  p1.start()
  t.equal(await p1.waitForPosition(5n, WAIT_MS), 5n)
  await p1.stop()
  t.same(readModels.getDocument('counter', 'a'), { n: 5 })

  for (let i = 0; i < 3; i++) await store.append('s-b', [{ type: 'T', data: { stream: 'b' } }], 'any')
  const p2 = new Projector({ store, readModels, projections: [counter] })
  t.equal(p2.position, 5n, 'starts from the stored checkpoint')
  p2.start()
  t.equal(await p2.waitForPosition(8n, WAIT_MS), 8n)
  // live: appended while the projector runs
  await store.append('s-a', [{ type: 'T', data: { stream: 'a' } }], 'any')
  t.equal(await p2.waitForPosition(9n, WAIT_MS), 9n)
  await p2.stop()
  t.same(readModels.getDocument('counter', 'a'), { n: 6 }, '5 + 1, not 11')
  t.same(readModels.getDocument('counter', 'b'), { n: 3 })
  t.equal(readModels.getCheckpoint('main'), 9n)
})

t.test('a projection that throws commits nothing and is retried from the checkpoint', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  const readModels = new ReadModelStore(':memory:')
  t.teardown(async () => {
    await store.close()
    readModels.close()
  })
  let failuresLeft = 2
  const flaky: DocumentProjection<{ n: number }> = {
    ...counter,
    evolve: (doc) => {
      if (failuresLeft > 0) {
        failuresLeft -= 1
        throw new Error('injected failure')
      }
      return { n: doc.n + 1 }
    },
  }
  const errors: unknown[] = []
  await store.append('s-a', [{ type: 'T', data: { stream: 'a' } }, { type: 'T', data: { stream: 'a' } }], 'any')
  const p = new Projector({
    store,
    readModels,
    projections: [flaky],
    initialBackoffMs: 5,
    maxBackoffMs: 20,
    logger: { info: () => {}, error: (obj) => errors.push(obj) },
  })
  p.start()
  t.equal(await p.waitForPosition(2n, WAIT_MS), 2n)
  await p.stop()
  t.equal(errors.length, 2, 'each failure was logged')
  t.same(readModels.getDocument('counter', 'a'), { n: 2 }, 'both events applied once')
})

t.test('waitForPosition is bounded', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  const readModels = new ReadModelStore(':memory:')
  const p = new Projector({ store, readModels, projections: [counter] })
  p.start()
  t.teardown(async () => {
    await p.stop()
    await store.close()
    readModels.close()
  })
  t.equal(await p.waitForPosition(1n, 50), null, 'nothing to reach: answers after the wait with what it has')
  t.equal(await p.waitForPosition(1n, 0), null)
})
