import t from 'tap'
import path from 'node:path'
import Database from 'better-sqlite3'
import { rebuildProjection } from '../../src/projector/rebuild.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import { personBalances, poolBalances } from '../../projections/index.js'
import { personId } from '../helpers/http.js'
import { caughtUp, openService, post, seed, editFile } from '../helpers/read-side.js'

/**
 * The self-check after its review (issue #14): a document that missed events, a pool document
 * folded beyond the log's head, and marks found while the file was busy then cured by a rebuild.
 */

t.test('a person document that missed events (its row put back to an older state, the checkpoint past them): a difference', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  // Given person 2 at 8100.00: after 2024-07, 648.00 in the individual account.
  await seed(ledger, 3, ['2024-07'])
  await caughtUp(ledger)
  const p2 = personId(2)
  const old = ledger.readModels.db.prepare('SELECT doc, position FROM read_models WHERE projection = ? AND key = ?').get(personBalances.name, p2) as { doc: string; position: string }
  // When 2024-08 is folded (1296.00), then the row is put back to its 2024-07 text and position.
  await seed(ledger, 3, ['2024-08'], 'B')
  await caughtUp(ledger)
  editFile(file, (db) => db.prepare('UPDATE read_models SET doc = ?, position = ? WHERE projection = ? AND key = ?').run(old.doc, old.position, personBalances.name, p2))
  t.equal(ledger.readModels.getDocument<{ schemes: { pension: { individualAccount: string } } }>(personBalances.name, p2)?.schemes.pension.individualAccount, '648.00')

  // Then the pass refolds it up to the checkpoint, not its own position, and finds it short.
  const pass = await ledger.selfCheck.runPass()
  t.match(pass.differences, [{ projection: 'person-balances', key: p2, kind: 'differs', position: pass.checkpoint }], 'the document that missed a month is found, and only it')
  t.equal(pass.differences.length, 1)
  t.equal((await ledger.app.inject({ method: 'GET', url: `/v1/persons/${p2}/balances` })).statusCode, 503, 'and not served')
})

t.test('one pool document folded beyond the log head: it is marked, and the other pools are still compared', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  // Given pools 310000 (contributions) and 110000 (a transfer received).
  await seed(ledger, 2, ['2024-07'])
  await post(ledger, '/v1/transfers', { transferId: 'T-1', personId: personId(1), fromRegion: '310000', toRegion: '110000' })
  await post(ledger, '/v1/transfers/T-1/accept')
  await post(ledger, '/v1/transfers/T-1/send')
  const head = await caughtUp(ledger)
  t.ok(ledger.readModels.getDocument(poolBalances.name, '110000'), 'the Beijing pool exists')
  // When 110000's position is set past the head and 310000's balance is edited.
  const beyond = head + 1_000n
  editFile(file, (db) => {
    db.prepare('UPDATE read_models SET position = ? WHERE projection = ? AND key = ?').run(beyond.toString(), poolBalances.name, '110000')
    db.prepare("UPDATE read_models SET doc = json_set(doc, '$.schemes.pension.balance', '99999.00') WHERE projection = ? AND key = ?").run(poolBalances.name, '310000')
  })

  const pass = await ledger.selfCheck.runPass()
  const found = [...pass.differences].sort((a, b) => a.key.localeCompare(b.key))
  t.match(found, [
    { projection: 'pool-balances', key: '110000', kind: 'differs', position: beyond, reason: /beyond the head/ },
    { projection: 'pool-balances', key: '310000', kind: 'differs', position: head },
  ], 'both: the one beyond the head, and the edited one (compared although another pool is ahead)')
  t.equal(found.length, 2)
})

t.test('differences found while the file is busy, then a rebuild cures the document: the stale mark is not written', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await seed(ledger, 2, ['2024-07'])
  await caughtUp(ledger)
  const p1 = personId(1)
  editFile(file, (db) =>
    db.prepare("UPDATE read_models SET doc = json_set(doc, '$.schemes.pension.individualAccount', '1.00') WHERE projection = ? AND key = ?").run(personBalances.name, p1),
  )
  // Given a pass that finds the edit while another connection holds the write lock.
  const blocker = new Database(file)
  t.teardown(() => blocker.close())
  blocker.exec('BEGIN IMMEDIATE')
  let pass
  try {
    pass = await ledger.selfCheck.runPass()
  } finally {
    blocker.exec('ROLLBACK')
  }
  t.match(pass.differences, [{ key: p1, kind: 'differs' }], 'found')
  t.equal(ledger.readModels.markOf(personBalances.name, p1), undefined, 'not marked yet: the file was busy')

  // When a rebuild swaps a cured document in, and the next pass runs.
  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  await rebuildProjection({ store: ledger.store, readModels: rm, projection: personBalances })
  const next = await ledger.selfCheck.runPass()
  // Then the mark of the old snapshot is dropped: the cured document is served.
  t.same(next.differences, [], 'the cured document differs no more')
  t.equal(ledger.readModels.markOf(personBalances.name, p1), undefined, 'and the stale mark is not written')
  t.equal((await ledger.app.inject({ method: 'GET', url: `/v1/persons/${p1}/balances` })).statusCode, 200)
})
