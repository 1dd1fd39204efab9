import t from 'tap'
import path from 'node:path'
import Database from 'better-sqlite3'
import { rebuildProjection } from '../../src/projector/rebuild.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import { personBalances } from '../../projections/index.js'
import { SELF_CHECK_SAMPLE_DOCUMENTS } from '../../src/projector/self-check.js'
import { employerId, personId, submission } from '../helpers/http.js'
import { caughtUp, openService, post, seed } from '../helpers/read-side.js'

/**
 * A person document deleted from the read-model file (issue #14 review). Before, GET answered a
 * false 404, and the person's next event was folded onto an initial document: a balance from zero.
 */

t.test('a deleted person document: 503 read-model-damaged, not 404; the next event is not folded from zero; a rebuild cures it', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  // Persons 1, 2 at 8000.00, 8100.00: 640.00 and 648.00 a month to the pension individual account.
  await seed(ledger, 2, ['2024-07'])
  await caughtUp(ledger)
  const [p1, p2, p3] = [personId(1), personId(2), personId(3)]
  const db = new Database(file)
  db.prepare('DELETE FROM read_models WHERE projection = ? AND key = ?').run(personBalances.name, p1)
  db.close()
  const balance = (id: string) => ledger.app.inject({ method: 'GET', url: `/v1/persons/${id}/balances` })

  const read = await balance(p1)
  t.equal(read.statusCode, 503, 'not a false 404')
  t.match(read.json(), { reason: 'read-model-damaged', projection: 'person-balances', key: p1, cure: 'ledger projections rebuild person-balances' })
  t.match(read.json().detail, /missing/)
  t.equal((await balance(personId(9))).statusCode, 404, 'a person without events is still 404')

  // When 2024-08 is posted for persons 1 and 2, and a new person 3 (8200.00: 656.00) is posted.
  await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'S-B-2024-08', employerId: employerId('0001'), period: '2024-08', lines: [{ personId: p1, wage: '8000.00' }, { personId: p2, wage: '8100.00' }, { personId: p3, wage: '8200.00' }] }))
  const head = await caughtUp(ledger)
  t.equal(ledger.readModels.getCheckpoint('main'), head, 'the projector went on')
  t.equal(ledger.readModels.getDocument(personBalances.name, p1), undefined, 'person 1 not folded onto an initial document (it would read 640.00)')
  t.match(ledger.readModels.markOf(personBalances.name, p1), { kind: 'damaged', reason: /missing/ }, 'but marked damaged (missing)')
  t.equal((await balance(p1)).json().reason, 'read-model-damaged')
  t.equal((await balance(p2)).json().schemes.pension.individualAccount, '1296.00', 'person 2 folded on: 2 × 648.00')
  t.equal((await balance(p3)).json().schemes.pension.individualAccount, '656.00', 'a new person is made, not marked')
  t.equal(ledger.readModels.markOf(personBalances.name, p3), undefined)
  t.match((await ledger.app.inject({ method: 'GET', url: '/metrics' })).body, /ledger_read_model_differences_total\{projection="person-balances"\} 1\b/, 'counted')

  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  await rebuildProjection({ store: ledger.store, readModels: rm, projection: personBalances })
  const cured = await balance(p1)
  t.equal(cured.statusCode, 200, 'served after the rebuild')
  t.equal(cured.json().schemes.pension.individualAccount, '1280.00', '2 × 640.00')
})

t.test('one self-check pass covers more documents: 30 persons and the pool in one pass (it was 20 persons a pass)', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await seed(ledger, 30, ['2024-07'])
  await caughtUp(ledger)
  t.ok(SELF_CHECK_SAMPLE_DOCUMENTS >= 30, `the sample is ${SELF_CHECK_SAMPLE_DOCUMENTS} documents`)
  const pass = await ledger.selfCheck.runPass()
  t.equal(pass.checked, 31, '30 person documents and the Shanghai pool document')
  t.same(pass.differences, [])
})
