import t from 'tap'
import path from 'node:path'
import Database from 'better-sqlite3'
import { compareReadModels, replayLog } from '../../src/audit/replay.js'
import { foldBatch } from '../../src/projector/fold-batch.js'
import { ReadModelStore, ReadModelsSwappedError } from '../../src/projector/read-model-store.js'
import type { DocumentProjection } from '../../projections/index.js'
import type { Ledger } from '../../src/bootstrap.js'
import { employerId, personId, submission } from '../helpers/http.js'
import { caughtUp, openService, post, seed, storedDocs } from '../helpers/read-side.js'

/**
 * Idempotent documents (issue #14): every document records the position of the last event folded
 * into it and never folds an event at or before it. Before, a checkpoint moved back 200 positions
 * was applied again silently (190 documents doubled).
 */

/** 12 persons × 20 months: 240 line events and 20 submission events, more than MOVED_BACK. */
const PERSONS = 12
const PERIODS = Array.from({ length: 20 }, (_, i) => {
  const month = 7 + i // 2023-07 onwards: Shanghai has a policy from 2023-07 to 2026-06
  return `${2023 + Math.floor((month - 1) / 12)}-${String(((month - 1) % 12) + 1).padStart(2, '0')}`
})
/** How far the checkpoint is moved back, positions. */
const MOVED_BACK = 200

/** Moves the live checkpoint back `by` positions with a connection of its own (an operator's edit). */
function moveCheckpointBack(file: string, by: number): bigint {
  const db = new Database(file)
  try {
    db.prepare("UPDATE checkpoints SET position = CAST(CAST(position AS INTEGER) - ? AS TEXT) WHERE name = 'main'").run(BigInt(by))
    return BigInt((db.prepare("SELECT position FROM checkpoints WHERE name = 'main'").get() as { position: string }).position)
  } finally {
    db.close()
  }
}

/** The auditor's replay of the ledger's log compared with its live read models: the differences. */
async function differencesFromReplay(ledger: Ledger): Promise<number> {
  const replay = await replayLog({ store: ledger.store })
  try {
    return (await compareReadModels(replay.readModels, ledger.readModels)).differencesCount
  } finally {
    replay.close()
  }
}

t.test('a checkpoint moved back 200 positions before a restart: no document changes, balances equal the replay', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const first = await openService(file)
  t.teardown(() => first.close())
  await seed(first, PERSONS, PERIODS)
  const head = await caughtUp(first)
  t.ok(head > BigInt(MOVED_BACK), `the log has more than ${MOVED_BACK} events (${head})`)
  const before = storedDocs(first.readModels)
  await first.close()

  t.equal(moveCheckpointBack(file, MOVED_BACK), head - BigInt(MOVED_BACK))
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  t.equal(await caughtUp(ledger), head)
  t.equal(ledger.readModels.getCheckpoint('main'), head, 'the checkpoint is back at the head')
  t.same(storedDocs(ledger.readModels), before, 'every document as it was: the 200 events refolded changed nothing')
  t.equal(await differencesFromReplay(ledger), 0, "the live read models equal the auditor's replay")
})

t.test('a checkpoint moved back 200 positions under a running projector: its commit is refused, it reloads, refolds, doubles nothing', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await seed(ledger, PERSONS, PERIODS)
  const head = await caughtUp(ledger)
  const before = storedDocs(ledger.readModels)
  t.same((await ledger.selfCheck.runPass()).differences, [], 'the self-check finds nothing before')

  moveCheckpointBack(file, MOVED_BACK)
  t.same((await ledger.selfCheck.runPass()).differences, [], 'nor with the checkpoint behind the documents (no false difference)')
  // A new submission (a new person) makes the projector commit: the compare-and-set finds the
  // checkpoint moved, nothing is written, the projector resubscribes from the file's checkpoint.
  const newcomer = personId(99)
  await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'S-NEW', employerId: employerId('0001'), period: '2025-07', lines: [{ personId: newcomer, wage: '9000.00' }] }))
  const newHead = await caughtUp(ledger)
  t.ok(newHead > head)
  const after = storedDocs(ledger.readModels)
  const touched = new Set(['pool-balances/310000', `person-balances/${newcomer}`])
  const changed = [...before].filter(([key, doc]) => !touched.has(key) && after.get(key) !== doc).map(([key]) => key)
  t.same(changed, [], 'no document but those of the new submission changed')
  t.ok(after.has(`person-balances/${newcomer}`), 'the new submission was folded')
  t.equal(await differencesFromReplay(ledger), 0, "the live read models equal the auditor's replay")
  t.same((await ledger.selfCheck.runPass()).differences, [], 'nor the self-check after')
})

const counter: DocumentProjection<{ n: number }> = {
  name: 'counter',
  keysOf: () => ['a'],
  initial: () => ({ n: 0 }),
  evolve: (doc) => ({ n: doc.n + 1 }),
}
const counters = [counter as DocumentProjection<unknown>]
const event = (position: bigint) => ({ type: 'T', data: {}, position })

t.test('a batch refolded after a ReadModelsSwappedError doubles nothing', async (t) => {
  const file = path.join(t.testdir(), 'rm.sqlite')
  const live = new ReadModelStore(file)
  const rebuild = new ReadModelStore(file)
  t.teardown(() => {
    live.close()
    rebuild.close()
  })
  // Given events 1..3 folded and committed (n = 3, checkpoint 3) …
  live.commitBatch('main', foldBatch([event(1n), event(2n), event(3n)], counters, (p, k) => live.loadDocument(p, k)), 3n, { expected: null })
  t.same(live.loadDocument('counter', 'a'), { doc: { n: 3 }, position: 3n })
  // … a batch 2..4 folded from them (as after a checkpoint moved back) …
  const stale = foldBatch([event(2n), event(3n), event(4n)], counters, (p, k) => live.loadDocument(p, k))
  t.same(stale.get('counter')?.get('a'), { n: 4 }, 'events 2 and 3 are already in the document: only 4 is folded')
  // … and a rebuild swapping in the document folded to the checkpoint 3 meanwhile.
  const claim = rebuild.beginShadow('counter')
  rebuild.commitShadow(claim, 'counter', new Map([['a', { n: 3 }]]), { mark: true })
  t.match(rebuild.swapShadow(claim, 'counter', 'main', () => new Map()), { swapped: true, checkpoint: 3n })
  t.same(live.loadDocument('counter', 'a'), { doc: { n: 3 }, position: 3n }, 'the swapped document is at the checkpoint')
  t.throws(() => live.commitBatch('main', stale, 4n, { expected: 3n }), ReadModelsSwappedError)
  // When the batch is folded again from the swapped documents: each event once.
  const again = foldBatch([event(2n), event(3n), event(4n)], counters, (p, k) => live.loadDocument(p, k))
  live.commitBatch('main', again, 4n, { expected: 3n })
  t.same(live.loadDocument('counter', 'a'), { doc: { n: 4 }, position: 4n }, 'n = 4: nothing doubled')
})

t.test('the compare-and-set: a checkpoint other than the one expected writes nothing', async (t) => {
  const rm = new ReadModelStore(':memory:')
  t.teardown(() => rm.close())
  rm.commitBatch('main', new Map([['counter', new Map([['a', { n: 1 }]])]]), 1n, { expected: null })
  t.throws(() => rm.commitBatch('main', new Map([['counter', new Map([['a', { n: 9 }]])]]), 2n, { expected: 0n }), { name: 'CheckpointMovedError', stored: 1n })
  t.same(rm.getDocument('counter', 'a'), { n: 1 }, 'nothing written')
  t.equal(rm.getCheckpoint('main'), 1n)
})

t.test('documents of a file written before positions get the live checkpoint', async (t) => {
  const file = path.join(t.testdir(), 'old.sqlite')
  const old = new Database(file)
  old.exec(`
    CREATE TABLE read_models (id INTEGER PRIMARY KEY, projection TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, UNIQUE (projection, key));
    CREATE TABLE read_model_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE checkpoints (name TEXT PRIMARY KEY, position TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE read_models_shadow (id INTEGER PRIMARY KEY, projection TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, UNIQUE (projection, key));
    INSERT INTO read_models (projection, key, doc) VALUES ('counter', 'a', '{"n":7}');
    INSERT INTO checkpoints VALUES ('main', '7', '2026-11-30T00:00:00.000Z');`)
  old.close()
  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  t.same(rm.loadDocument('counter', 'a'), { doc: { n: 7 }, position: 7n })
  const refolded = foldBatch([event(6n), event(7n), event(8n)], counters, (p, k) => rm.loadDocument(p, k))
  t.same(refolded.get('counter')?.get('a'), { n: 8 }, 'events up to the checkpoint are not folded again')
})
