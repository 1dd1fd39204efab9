import t from 'tap'
import path from 'node:path'
import { personBalances, poolBalances, transfers } from '../../projections/index.js'
import { employerId, personId, submission } from '../helpers/http.js'
import { captureLogger, caughtUp, openService, post, seed, damage } from '../helpers/read-side.js'

/**
 * A document that is JSON but not of its projection's shape (`{}`, `[]`) is damaged (issue #14
 * review). Before, the projector's fold threw on it and stalled for everyone, and its reads were 500.
 */

t.test('a person document `{}`: GET answers 503 read-model-damaged; the projector marks it, counts it, and folds the others on', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const log = captureLogger()
  const ledger = await openService(file, {}, log)
  t.teardown(() => ledger.close())
  // Persons 1, 2 at 8000.00, 8100.00: 640.00 and 648.00 a month to the pension individual account.
  await seed(ledger, 2, ['2024-07'])
  await caughtUp(ledger)
  const [p1, p2] = [personId(1), personId(2)]
  damage(file, personBalances.name, p1, '{}')
  const balance = (id: string) => ledger.app.inject({ method: 'GET', url: `/v1/persons/${id}/balances` })

  const read = await balance(p1)
  t.equal(read.statusCode, 503, 'not a 500')
  t.match(read.json(), { reason: 'read-model-damaged', projection: 'person-balances', key: p1, cure: 'ledger projections rebuild person-balances' })

  // When a second month is posted for both.
  await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'S-B-2024-08', employerId: employerId('0001'), period: '2024-08', lines: [{ personId: p1, wage: '8000.00' }, { personId: p2, wage: '8100.00' }] }))
  const head = await caughtUp(ledger)
  t.equal(ledger.readModels.getCheckpoint('main'), head, 'the projector went past it')
  t.equal(ledger.projector.caughtUp, true, 'and is live')
  t.equal((await balance(p2)).json().schemes.pension.individualAccount, '1296.00', 'person 2 folded on: 2 × 648.00')
  t.match(ledger.readModels.markOf(personBalances.name, p1), { kind: 'damaged', reason: /cannot be folded/ }, 'person 1 marked damaged')
  t.same(ledger.readModels.getDocument(personBalances.name, p1), {})
  t.ok(log.lines.some((l) => l.level === 'error' && /read-model document damaged/.test(l.msg)), 'logged')
  const metrics = (await ledger.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /ledger_read_model_differences_total\{projection="person-balances"\} 1\b/, 'counted once')
  t.equal((await balance(p1)).json().reason, 'read-model-damaged')

  // A third month: still counted once (the mark is there already).
  await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'S-B-2024-09', employerId: employerId('0001'), period: '2024-09', lines: [{ personId: p1, wage: '8000.00' }] }))
  await caughtUp(ledger)
  t.match((await ledger.app.inject({ method: 'GET', url: '/metrics' })).body, /ledger_read_model_differences_total\{projection="person-balances"\} 1\b/, 'not counted again')
})

t.test('a pool document `[]`: GET answers 503 read-model-damaged, and the projector folds on', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await seed(ledger, 2, ['2024-07'])
  await caughtUp(ledger)
  damage(file, poolBalances.name, '310000', '[]')
  const read = await ledger.app.inject({ method: 'GET', url: '/v1/pools/310000/balances' })
  t.equal(read.statusCode, 503, 'not a 500')
  t.match(read.json(), { reason: 'read-model-damaged', projection: 'pool-balances', key: '310000' })
  await seed(ledger, 2, ['2024-08'], 'B')
  const head = await caughtUp(ledger)
  t.equal(ledger.readModels.getCheckpoint('main'), head, 'the projector went past it')
  t.match(ledger.readModels.markOf(poolBalances.name, '310000'), { kind: 'damaged' })
})

t.test('transfers list: a marked transfer the filter leaves out does not refuse the page; a `{}` transfer answers 503, not 500', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await seed(ledger, 2, ['2024-07'])
  const [p1, p2] = [personId(1), personId(2)]
  await post(ledger, '/v1/transfers', { transferId: 'T-1', personId: p1, fromRegion: '310000', toRegion: '110000' })
  await post(ledger, '/v1/transfers', { transferId: 'T-2', personId: p2, fromRegion: '310000', toRegion: '110000' })
  await caughtUp(ledger)
  ledger.readModels.markDocuments([{ projection: transfers.name, key: 'T-1', kind: 'differs', reason: 'edited by hand', position: 1n }])
  const list = (query: string) => ledger.app.inject({ method: 'GET', url: `/v1/transfers${query}` })

  const p2s = await list(`?personId=${p2}`)
  t.equal(p2s.statusCode, 200, "person 2's page does not show T-1: served")
  t.same(p2s.json().transfers.map((x: { transferId: string }) => x.transferId), ['T-2'])
  const all = await list('')
  t.equal(all.statusCode, 503, 'the page that would show T-1: 503')
  t.match(all.json(), { reason: 'read-model-differs', key: 'T-1' })

  damage(file, transfers.name, 'T-2', '{}')
  const shaped = await list(`?personId=${p2}`)
  t.equal(shaped.statusCode, 503, 'a transfer document `{}`: 503, not a 500')
  t.match(shaped.json(), { reason: 'read-model-damaged', projection: 'transfers', key: 'T-2' })
})
