import t from 'tap'
import path from 'node:path'
import { rebuildProjection } from '../../src/projector/rebuild.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import { personBalances, transfers } from '../../projections/index.js'
import { employerId, personId, submission } from '../helpers/http.js'
import { captureLogger, caughtUp, openService, post, seed, damage } from '../helpers/read-side.js'

/**
 * A damaged document fails its own reads and never stalls the others (issue #14). Before, a
 * document whose text was not JSON stopped the projector for everyone (every batch touching it
 * failed and was retried forever).
 */

t.test('a person document edited to invalid JSON: marked damaged, 503 on its reads, the others fold on, a rebuild cures it', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const log = captureLogger()
  const ledger = await openService(file, {}, log)
  t.teardown(() => ledger.close())
  // Persons 1..3 at 8000.00, 8100.00, 8200.00 (Shanghai 2024-07 base 7384.00 … 36921.00): 8% to
  // the pension individual account a month, 640.00, 648.00, 656.00.
  await seed(ledger, 3, ['2024-07', '2024-08'])
  await caughtUp(ledger)
  const [p1, p2, p3] = [personId(1), personId(2), personId(3)]
  damage(file, personBalances.name, p1, '{"personId": "broken')

  // When a third month is posted for all three, the projector goes on past the damaged document.
  await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'S-A-2024-09', employerId: employerId('0001'), period: '2024-09', lines: [8000, 8100, 8200].map((w, i) => ({ personId: personId(i + 1), wage: `${w}.00` })) }))
  const head = await caughtUp(ledger)
  t.equal(ledger.readModels.getCheckpoint('main'), head, 'the checkpoint advanced')
  const balance = async (id: string) => ledger.app.inject({ method: 'GET', url: `/v1/persons/${id}/balances` })
  const b2 = await balance(p2)
  t.equal(b2.statusCode, 200)
  t.equal(b2.json().schemes.pension.individualAccount, '1944.00', 'person 2 folded on: 3 × 648.00')
  t.equal((await balance(p3)).json().schemes.pension.individualAccount, '1968.00', 'person 3: 3 × 656.00')

  const b1 = await balance(p1)
  t.equal(b1.statusCode, 503, 'the damaged document is not served')
  t.match(b1.headers['content-type'], /application\/problem\+json/)
  t.match(b1.json(), { reason: 'read-model-damaged', projection: 'person-balances', key: p1, cure: 'ledger projections rebuild person-balances' })
  t.match(b1.json().detail, /ledger projections rebuild person-balances/)
  const mark = ledger.readModels.markOf(personBalances.name, p1)
  t.match(mark, { kind: 'damaged', reason: /not JSON/ }, 'recorded as damaged')
  t.ok(mark!.position !== null && mark!.position > 0n, 'with the position at which it was found')
  t.ok(log.lines.some((l) => l.level === 'error' && /read-model document damaged/.test(l.msg)), 'logged as an error')
  const ready = await ledger.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.json().reason, 'read-model-damaged')
  t.notMatch(ready.json().detail, p1, 'the public probe masks the person id')

  // A rebuild (its own connection, as the CLI's) rewrites it and clears the mark.
  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  await rebuildProjection({ store: ledger.store, readModels: rm, projection: personBalances })
  const cured = await balance(p1)
  t.equal(cured.statusCode, 200, 'served again after the rebuild')
  t.equal(cured.json().schemes.pension.individualAccount, '1920.00', 'person 1 rebuilt from the log: 3 × 640.00')
  t.equal(ledger.readModels.markOf(personBalances.name, p1), undefined, 'the mark is cleared')
  t.not((await ledger.app.inject({ method: 'GET', url: '/readyz' })).json().reason, 'read-model-damaged', 'readiness no longer reports it')

  // The projector folds into it again.
  await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'S-A-2024-10', employerId: employerId('0001'), period: '2024-10', lines: [{ personId: p1, wage: '8000.00' }] }))
  await caughtUp(ledger)
  t.equal((await balance(p1)).json().schemes.pension.individualAccount, '2560.00', '4 × 640.00')
})

t.test('a damaged transfer document: the list that would show it answers 503 naming it', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await seed(ledger, 1, ['2024-07'])
  await post(ledger, '/v1/transfers', { transferId: 'T-1', personId: personId(1), fromRegion: '310000', toRegion: '110000' })
  await caughtUp(ledger)
  t.equal((await ledger.app.inject({ method: 'GET', url: '/v1/transfers' })).statusCode, 200)
  damage(file, transfers.name, 'T-1', 'not json')
  const res = await ledger.app.inject({ method: 'GET', url: '/v1/transfers' })
  t.equal(res.statusCode, 503)
  t.match(res.json(), { reason: 'read-model-damaged', projection: 'transfers', key: 'T-1', cure: 'ledger projections rebuild transfers' })
})
