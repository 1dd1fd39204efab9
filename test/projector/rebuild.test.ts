import t, { type Test } from 'tap'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { createLedger, type Ledger } from '../../src/bootstrap.js'
import { systemAuthenticator } from '../../src/http/auth.js'
import { loadConfig } from '../../src/config.js'
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.js'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { Projector } from '../../src/projector/projector.js'
import { ReadModelStore, ReadModelsSwappedError, ShadowClaimLostError } from '../../src/projector/read-model-store.js'
import { rebuildProjection } from '../../src/projector/rebuild.js'
import { PROJECTIONS, personBalances, poolBalances, transfers, type DocumentProjection } from '../../projections/index.js'
import { RecordSubmissionHandler } from '../../src/usecases/record-submission.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import { yuan } from '../../src/domain/money.js'
import { employerId, personId, submission } from '../helpers/http.js'

/**
 * `rebuildProjection` (issue #6): a projection rebuilt from the log into the shadow table and swapped
 * in equals a fold of the log from scratch up to the live checkpoint, also while a live projector
 * runs on the same file and events keep arriving; the swap's paths (events folded inside the swap,
 * a projector that moved on, one that is behind) and its failures.
 */

const WAIT_MS = 10_000

/** The service on `file` (event store, read models, projector, HTTP app), silent. */
const openService = (file: string): Promise<Ledger> => createLedger(loadConfig({ LEDGER_SQLITE_PATH: file, LOG_LEVEL: 'silent' }), { authenticator: systemAuthenticator })

const post = async (ledger: Ledger, url: string, payload?: object): Promise<void> => {
  const res = await ledger.app.inject({ method: 'POST', url, ...(payload ? { payload } : {}) })
  if (res.statusCode >= 300) throw new Error(`POST ${url}: ${res.statusCode} ${res.body}`)
}

/**
 * A varied log through HTTP: monthly submissions for persons `from`..`from+count-1` in Shanghai and
 * for a third as many after them in Beijing, then transfers to Beijing for two of the Shanghai
 * persons (register, accept, send; one completed).
 */
async function seedLog(ledger: Ledger, tag: string, from: number, count: number, periods = ['2024-01', '2024-02', '2024-03']): Promise<void> {
  const persons = Array.from({ length: count }, (_, i) => personId(from + i))
  const beijing = Array.from({ length: Math.ceil(count / 3) }, (_, i) => personId(from + count + i))
  for (const period of periods) {
    await post(ledger, '/v1/contribution-submissions', submission({ submissionId: `S-${tag}-310000-${period}`, period, lines: persons.map((p, i) => ({ personId: p, wage: `${8000 + 100 * i}.00` })) }))
    await post(ledger, '/v1/contribution-submissions', submission({ submissionId: `S-${tag}-110000-${period}`, region: '110000', period, employerId: employerId('0002'), lines: beijing.map((p) => ({ personId: p, wage: '12000.00' })) }))
  }
  for (const [i, p] of persons.slice(1, 3).entries()) {
    const id = `T-${tag}-${i}`
    await post(ledger, '/v1/transfers', { transferId: id, personId: p, fromRegion: '310000', toRegion: '110000' })
    await post(ledger, `/v1/transfers/${id}/accept`)
    await post(ledger, `/v1/transfers/${id}/send`)
    if (i === 0) await post(ledger, `/v1/transfers/${id}/complete`)
  }
}

/** Every event of the log, in order. */
async function allEvents(store: EventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = []
  for await (const e of store.readAll()) out.push(e)
  return out
}

/** The projection folded from scratch over `events` up to `upTo` (its own initial/evolve, no
 * foldBatch), each document as JSON would store it. */
function foldFromScratch(projection: DocumentProjection<unknown>, events: RecordedEvent[], upTo: bigint | null): Record<string, unknown> {
  const docs = new Map<string, unknown>()
  for (const e of events) {
    if (upTo === null || e.position > upTo) break
    for (const key of projection.keysOf(e)) docs.set(key, projection.evolve(docs.has(key) ? docs.get(key) : projection.initial(key), e, key))
  }
  return Object.fromEntries([...docs].map(([k, d]) => [k, JSON.parse(JSON.stringify(d))]))
}

/** The live documents of `projection` in `file` (read on a connection of its own). */
function liveDocs(readModels: ReadModelStore, projection: string): Record<string, unknown> {
  const rows = readModels.db.prepare('SELECT key, doc FROM read_models WHERE projection = ? ORDER BY key').all(projection) as { key: string; doc: string }[]
  return Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.doc)]))
}

/** Checks every document of each projection against a fold from scratch up to the live checkpoint. */
async function expectFolded(t: Test, store: EventStore, readModels: ReadModelStore, projections: readonly DocumentProjection<unknown>[], what: string): Promise<void> {
  const events = await allEvents(store)
  const checkpoint = readModels.getCheckpoint('main')
  for (const p of projections) {
    const expected = foldFromScratch(p, events, checkpoint)
    const live = liveDocs(readModels, p.name)
    t.ok(Object.keys(expected).length > 0, `${what}: ${p.name} has documents`)
    t.same(Object.keys(live), Object.keys(expected), `${what}: ${p.name}: the same keys`)
    for (const key of Object.keys(expected)) t.same(live[key], expected[key], `${what}: ${p.name}/${key}`)
  }
}

async function caughtUp(ledger: Ledger): Promise<bigint> {
  const head = (await ledger.store.headPosition())!
  const reached = await ledger.projector.waitForPosition(head, WAIT_MS)
  if (reached !== head) throw new Error(`projector at ${reached}, head ${head}`)
  return head
}

/** Rows left in the shadow tables (documents and marks). */
const shadowRows = (readModels: ReadModelStore): number =>
  readModels.db.prepare('SELECT (SELECT COUNT(*) FROM read_models_shadow) + (SELECT COUNT(*) FROM read_models_shadow_keys)').pluck().get() as number

t.test('rebuild A, then B, append, rebuild both: each equals a fold from scratch', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  const rm = new ReadModelStore(file)
  t.teardown(async () => {
    rm.close()
    await ledger.close()
  })
  await seedLog(ledger, 'a', 0, 12)
  const head1 = await caughtUp(ledger)

  const a = await rebuildProjection({ store: ledger.store, readModels: rm, projection: personBalances, batchEvents: 7 })
  t.match(a, { projection: 'person-balances', documents: 12 + 4, position: head1, events: Number(head1), attempts: 1 })
  t.ok(a.ms >= 0 && a.lockMs >= 0 && a.lockMs <= a.ms)
  await expectFolded(t, ledger.store, rm, [personBalances, poolBalances, transfers], 'after rebuilding A')

  const b = await rebuildProjection({ store: ledger.store, readModels: rm, projection: poolBalances, batchEvents: 1_000 })
  t.match(b, { projection: 'pool-balances', documents: 2, position: head1 })
  await expectFolded(t, ledger.store, rm, [personBalances, poolBalances, transfers], 'after rebuilding B')

  await seedLog(ledger, 'b', 20, 7, ['2024-04', '2024-05'])
  const head2 = await caughtUp(ledger)
  t.ok(head2 > head1)
  for (const projection of [personBalances, poolBalances]) {
    const r = await rebuildProjection({ store: ledger.store, readModels: rm, projection, batchEvents: 5 })
    t.equal(r.position, head2, `${projection.name} folded up to the new head`)
  }
  await expectFolded(t, ledger.store, rm, [personBalances, poolBalances, transfers], 'after appending and rebuilding both')
  t.equal(shadowRows(rm), 0, 'the shadow is empty after the swaps')
  t.equal(rm.getCheckpoint('main'), head2, 'the checkpoint is unchanged')
})

t.test('a rebuild only folds up to the live checkpoint: a projector behind the head is not overtaken', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await seedLog(ledger, 'a', 0, 6)
  const head1 = await caughtUp(ledger)
  await ledger.close()
  // More events, no projector running: the checkpoint stays at head1.
  const store = openSqliteEventStore({ path: file })
  const handler = new RecordSubmissionHandler(store, loadPolicyBook())
  await handler.handle({ submissionId: 'LATER', employerId: '91310000MA1FL0000N', region: '310000', period: '2024-06', workInjuryClass: 1, lines: [{ personId: personId(0), wage: yuan('9000.00') }] })
  const rm = new ReadModelStore(file)
  t.teardown(async () => {
    rm.close()
    await store.close()
  })
  const r = await rebuildProjection({ store, readModels: rm, projection: personBalances })
  t.equal(r.position, head1, 'documents folded up to the checkpoint, not the head')
  t.equal(r.attempts, 1, 'no waiting')
  await expectFolded(t, store, rm, [personBalances], 'behind the head')
})

t.test('a rebuild while the live projector runs on the same file and events keep arriving', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  const rm = new ReadModelStore(file)
  t.teardown(async () => {
    rm.close()
    await ledger.close()
  })
  await seedLog(ledger, 'a', 0, 60, ['2024-01', '2024-02', '2024-03', '2024-04', '2024-05', '2024-06'])
  await caughtUp(ledger)
  const before = (await ledger.store.headPosition())!

  // A payroll system posting a one-line submission every few milliseconds, and a reader.
  let stop = false
  let posted = 0
  let reads = 0
  const writer = (async () => {
    for (let i = 0; !stop && i < 100 * 12; i++) {
      // 100 persons, one month after the other (2023-07 to 2024-06): every (person, month) once.
      const month = 6 + Math.floor(i / 100)
      const period = `${2023 + Math.floor(month / 12)}-${String((month % 12) + 1).padStart(2, '0')}`
      await post(ledger, '/v1/contribution-submissions', submission({ submissionId: `LIVE-${i}`, period, lines: [{ personId: personId(100 + (i % 100)), wage: '10000.00' }] }))
      posted++
      await delay(2)
    }
  })()
  const reader = (async () => {
    while (!stop) {
      const res = await ledger.app.inject({ method: 'GET', url: `/v1/pools/310000/balances` })
      if (res.statusCode === 200) reads++
      await delay(3)
    }
  })()
  const results = []
  try {
    for (const projection of PROJECTIONS) results.push(await rebuildProjection({ store: ledger.store, readModels: rm, projection, batchEvents: 3 }))
  } finally {
    stop = true
    await Promise.all([writer, reader])
  }
  t.ok(posted > 0 && reads > 0, `the service kept answering (${posted} posts, ${reads} reads)`)
  t.comment(results.map((r) => `${r.projection}: ${r.events} events, position ${r.position}, ${r.attempts} attempt(s), ${r.ms} ms, swap ${r.lockMs} ms`).join('; '))
  t.ok((await ledger.store.headPosition())! > before, 'events arrived during the rebuild')
  t.ok(results.every((r) => r.position !== null && r.position >= before), 'each rebuild folded up to a checkpoint of its time')
  const head = await caughtUp(ledger)
  t.equal(rm.getCheckpoint('main'), head)
  await expectFolded(t, ledger.store, rm, PROJECTIONS, 'after the live rebuild')
})

/** A log on `file` written through the use case, with projectors started and stopped by the test. */
async function scripted(t: Test) {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const store = openSqliteEventStore({ path: file })
  const handler = new RecordSubmissionHandler(store, loadPolicyBook())
  const rm = new ReadModelStore(file)
  const projectors: Projector[] = []
  let n = 0
  /** `count` one-line submissions (person n % 5, one month each): 2 events each. */
  const submit = async (count: number) => {
    for (let i = 0; i < count; i++, n++) {
      const month = 6 + Math.floor(n / 5)
      const period = `${2023 + Math.floor(month / 12)}-${String((month % 12) + 1).padStart(2, '0')}`
      const r = await handler.handle({ submissionId: `S-${n}`, employerId: employerId(), region: '310000', period, workInjuryClass: 1, lines: [{ personId: personId(n % 5), wage: yuan('9000.00') }] })
      if (r.kind !== 'receipt') throw new Error(`submission ${n} refused`)
    }
    return (await store.headPosition())!
  }
  /** A live projector of its own connection on the file, running until `head`. */
  const startProjector = async (head?: bigint) => {
    const readModels = new ReadModelStore(file)
    const projector = new Projector({ store, readModels, projections: PROJECTIONS, initialBackoffMs: 5 })
    projectors.push(projector)
    t.teardown(() => readModels.close())
    projector.start()
    if (head !== undefined) t.equal(await projector.waitForPosition(head, WAIT_MS), head, `projector at ${head}`)
    return projector
  }
  t.teardown(async () => {
    for (const p of projectors) await p.stop()
    rm.close()
    await store.close()
  })
  return { file, store, rm, submit, startProjector }
}

t.test('the swap folds the events the projector committed after phase 1', async (t) => {
  const { store, rm, submit, startProjector } = await scripted(t)
  const p1 = await startProjector(await submit(4))
  await p1.stop()
  const head = await submit(3) // 6 events the checkpoint does not cover yet
  t.equal(rm.getCheckpoint('main'), 8n)
  const r = await rebuildProjection({
    store,
    readModels: rm,
    projection: personBalances,
    beforeSwapAttempt: async () => {
      await startProjector(head) // phase 1 folded up to 8; the projector is at 14 by the swap
    },
  })
  t.match(r, { position: head, attempts: 1, events: Number(head) })
  await expectFolded(t, store, rm, [personBalances], 'events folded inside the swap')
})

t.test('a projector that moved past the events read for the swap: the swap is retried', async (t) => {
  const { store, rm, submit, startProjector } = await scripted(t)
  await startProjector(await submit(4))
  const r = await rebuildProjection({
    store,
    readModels: rm,
    projection: personBalances,
    beforeSwapAttempt: async (attempt) => {
      if (attempt === 1) {
        const head = await submit(2)
        t.equal(await startProjector(head).then((p) => p.waitForPosition(head, WAIT_MS)), head)
      }
    },
  })
  t.equal(r.attempts, 2)
  t.equal(r.position, 12n)
  await expectFolded(t, store, rm, [personBalances], 'after a retried swap')
})

t.test('a checkpoint behind the shadow (read models reset meanwhile): the swap waits for it', async (t) => {
  const { file, store, rm, submit, startProjector } = await scripted(t)
  const p1 = await startProjector(await submit(5))
  let second: Promise<Projector> | undefined
  const r = await rebuildProjection({
    store,
    readModels: rm,
    projection: personBalances,
    retryDelayMs: 20,
    beforeSwapAttempt: async (attempt) => {
      if (attempt !== 1) return
      await p1.stop()
      const raw = new ReadModelStore(file)
      raw.db.exec("DELETE FROM read_models; DELETE FROM checkpoints WHERE name = 'main'")
      raw.close()
      // A projector started again folds from scratch, a little later.
      second = delay(100).then(() => startProjector())
    },
  })
  t.ok(r.attempts > 1, `waited (${r.attempts} attempts)`)
  t.equal(r.position, 10n)
  await (await second!).waitForPosition(10n, WAIT_MS)
  await expectFolded(t, store, rm, [personBalances, poolBalances], 'after waiting for the checkpoint')
})

t.test('a checkpoint that stays behind: the rebuild fails after swapTimeoutMs, nothing swapped', async (t) => {
  const { store, rm, submit, startProjector } = await scripted(t)
  const p1 = await startProjector(await submit(3))
  await p1.stop()
  const corrupt = '{"corrupt":true}'
  rm.db.prepare("UPDATE read_models SET doc = ? WHERE projection = 'person-balances' AND key = ?").run(corrupt, personId(0))
  const before = liveDocs(rm, 'person-balances')
  const started = Date.now()
  await t.rejects(
    rebuildProjection({
      store,
      readModels: rm,
      projection: personBalances,
      swapTimeoutMs: 300,
      retryDelayMs: 20,
      beforeSwapAttempt: (attempt) => {
        if (attempt === 1) rm.db.exec("UPDATE checkpoints SET position = '2' WHERE name = 'main'")
      },
    }),
    { name: 'RebuildError', message: /the live checkpoint main \(2\) stayed behind the rebuilt position 6 for 300 ms.*nothing was swapped/ },
  )
  t.ok(Date.now() - started >= 300, 'bounded by swapTimeoutMs')
  t.same(liveDocs(rm, 'person-balances'), before, 'the live documents are as they were')
  t.equal(shadowRows(rm), 0, 'the shadow was cleared')
  t.equal(rm.db.prepare("SELECT COUNT(*) AS n FROM read_model_meta WHERE key LIKE 'rebuild:%'").pluck().get(), 0, 'and its claim released')
})

t.test('a corrupted live document (and a stray one) is repaired; other projections are untouched', async (t) => {
  const { store, rm, submit, startProjector } = await scripted(t)
  await startProjector(await submit(6))
  rm.db.prepare("UPDATE read_models SET doc = ? WHERE projection = 'person-balances' AND key = ?").run('{"schemes":{}}', personId(1))
  rm.db.prepare("INSERT INTO read_models (projection, key, doc) VALUES ('person-balances', 'ghost', '{}')").run()
  rm.db.prepare("UPDATE read_models SET doc = ? WHERE projection = 'pool-balances' AND key = '310000'").run('{"broken":1}')
  const r = await rebuildProjection({ store, readModels: rm, projection: personBalances })
  t.equal(r.documents, 5)
  t.equal(r.replaced, 2, 'only the corrupted document and the stray one were written')
  await expectFolded(t, store, rm, [personBalances], 'repaired')
  t.same(rm.getDocument('pool-balances', '310000'), { broken: 1 }, 'another projection is not touched')
  await rebuildProjection({ store, readModels: rm, projection: poolBalances })
  await expectFolded(t, store, rm, [personBalances, poolBalances], 'both repaired')
})

t.test('read models whose checkpoint is not a position of the log are refused', async (t) => {
  const { store, rm, submit, startProjector } = await scripted(t)
  const p = await startProjector(await submit(2))
  await p.stop()
  rm.db.exec("UPDATE checkpoints SET position = '99' WHERE name = 'main'")
  await t.rejects(rebuildProjection({ store, readModels: rm, projection: personBalances }), { name: 'RebuildError', message: /the live checkpoint main \(99\) is not a position of the log \(the last event read is 4\)/ })
  t.equal(shadowRows(rm), 0)
})

t.test('a second rebuild of the same projection takes the shadow over; the first stops', async (t) => {
  const { store, rm, submit, startProjector } = await scripted(t)
  await startProjector(await submit(4))
  let second: Awaited<ReturnType<typeof rebuildProjection>> | undefined
  await t.rejects(
    rebuildProjection({
      store,
      readModels: rm,
      projection: personBalances,
      beforeSwapAttempt: async () => {
        second = await rebuildProjection({ store, readModels: rm, projection: personBalances })
      },
    }),
    ShadowClaimLostError,
  )
  t.equal(second?.position, 8n)
  await expectFolded(t, store, rm, [personBalances], 'after the second rebuild')
})

t.test('progress: every progressEvery events folded and documents compared', async (t) => {
  const { store, rm, submit, startProjector } = await scripted(t)
  await startProjector(await submit(6)) // 12 events, 5 persons
  rm.db.prepare("UPDATE read_models SET doc = '{}' WHERE projection = 'person-balances' AND key = ?").run(personId(2))
  const progress: unknown[] = []
  const r = await rebuildProjection({ store, readModels: rm, projection: personBalances, batchEvents: 2, compareChunk: 2, progressEvery: 4, onProgress: (p) => progress.push(p) })
  t.same(progress, [
    { projection: 'person-balances', phase: 'fold', events: 4, position: 4n },
    { projection: 'person-balances', phase: 'fold', events: 8, position: 8n },
    { projection: 'person-balances', phase: 'fold', events: 12, position: 12n },
    { projection: 'person-balances', phase: 'compare', documents: 4, differing: 1 },
  ])
  t.match(r, { documents: 5, replaced: 1, events: 12 })
})

t.test('bad options are refused', async (t) => {
  const { store, rm } = await scripted(t)
  await t.rejects(rebuildProjection({ store, readModels: rm, projection: personBalances, batchEvents: 0 }), RangeError)
  await t.rejects(rebuildProjection({ store, readModels: rm, projection: personBalances, swapTimeoutMs: -1 }), RangeError)
})

t.test('an empty log and no checkpoint: an empty projection, position none', async (t) => {
  const { store, rm } = await scripted(t)
  rm.db.prepare("INSERT INTO read_models (projection, key, doc) VALUES ('person-balances', 'ghost', '{}')").run()
  const r = await rebuildProjection({ store, readModels: rm, projection: personBalances })
  t.match(r, { documents: 0, position: null, events: 0, attempts: 1 })
  t.same(liveDocs(rm, 'person-balances'), {})
})

t.test('a live batch folded from documents a swap then replaced is refused and folded again', async (t) => {
  const file = path.join(t.testdir(), 'rm.sqlite')
  const live = new ReadModelStore(file)
  const other = new ReadModelStore(file)
  t.teardown(() => {
    live.close()
    other.close()
  })
  const counter = new Map([['counter', new Map<string, unknown>([['a', { n: 1 }]])]])
  live.commitBatch('main', counter, 1n)
  t.same(live.getDocument('counter', 'a'), { n: 1 }) // read: the batch is folded from this
  const claim = other.beginShadow('counter')
  other.commitShadow(claim, 'counter', new Map([['a', { n: 100 }]]), { mark: true })
  t.match(other.swapShadow(claim, 'counter', 'main', () => new Map()), { swapped: true, checkpoint: 1n, replaced: 1 })
  t.throws(() => live.commitBatch('main', new Map([['counter', new Map([['a', { n: 2 }]])]]), 2n), ReadModelsSwappedError)
  t.same(live.getDocument('counter', 'a'), { n: 100 }, 'nothing written')
  t.equal(live.getCheckpoint('main'), 1n)
  live.commitBatch('main', new Map([['counter', new Map([['a', { n: 101 }]])]]), 2n)
  t.same(live.getDocument('counter', 'a'), { n: 101 }, 'the batch folded again is committed')
})

t.test('the projector refolds a batch a swap overtook (another connection swaps during its fold)', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const store = openSqliteEventStore({ path: file })
  const live = new ReadModelStore(file)
  const other = new ReadModelStore(file)
  let swapDuringFold = false
  const errors: unknown[] = []
  const counter: DocumentProjection<{ n: number }> = {
    name: 'counter',
    keysOf: () => ['a'],
    initial: () => ({ n: 0 }),
    evolve: (doc) => {
      if (swapDuringFold) {
        // As a rebuild in another process would, between this batch's reads and its commit.
        swapDuringFold = false
        const claim = other.beginShadow('counter')
        other.commitShadow(claim, 'counter', new Map([['a', { n: 100 }]]), { mark: true })
        other.swapShadow(claim, 'counter', 'main', () => new Map())
      }
      return { n: doc.n + 1 }
    },
  }
  const projector = new Projector({ store, readModels: live, projections: [counter as DocumentProjection<unknown>], initialBackoffMs: 5, logger: { info: () => {}, error: (o) => errors.push(o) } })
  t.teardown(async () => {
    await projector.stop()
    live.close()
    other.close()
    await store.close()
  })
  projector.start()
  await store.append('s', [{ type: 'T', data: {} }, { type: 'T', data: {} }], 'any')
  t.equal(await projector.waitForPosition(2n, WAIT_MS), 2n)
  swapDuringFold = true
  await store.append('s', [{ type: 'T', data: {} }], 'any')
  t.equal(await projector.waitForPosition(3n, WAIT_MS), 3n)
  t.same(live.getDocument('counter', 'a'), { n: 101 }, 'folded from the swapped-in document, not from the one it replaced (3)')
  t.match(errors, [{ err: { name: 'ReadModelsSwappedError' } }], 'the refused batch was logged once')
})
