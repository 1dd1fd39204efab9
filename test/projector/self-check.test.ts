import t from 'tap'
import path from 'node:path'
import { rebuildProjection } from '../../src/projector/rebuild.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import { poolBalances, personBalances } from '../../projections/index.js'
import { loadConfig } from '../../src/config.js'
import { DEFAULT_READ_MODEL_CHECK_INTERVAL_MS } from '../../src/projector/self-check.js'
import { maskCitizenId } from '../../src/domain/ids.js'
import { employerId, personId, submission } from '../helpers/http.js'
import { captureLogger, caughtUp, openService, post, seed, editFile } from '../helpers/read-side.js'

/**
 * Read models that check themselves (issue #14): a background pass refolds a sample of person (and
 * transfer) documents from their streams and every pool document from the whole log, and compares.
 * Before, an edited document was served and built upon, and a deleted pool document read as zeros;
 * only `audit replay` noticed.
 */

t.test('the check interval: 60 s by default, 0 turns it off', async (t) => {
  t.equal(DEFAULT_READ_MODEL_CHECK_INTERVAL_MS, 60_000)
  t.equal(loadConfig({}).LEDGER_READ_MODEL_CHECK_INTERVAL_MS, 60_000)
  t.equal(loadConfig({ LEDGER_READ_MODEL_CHECK_INTERVAL_MS: '0' }).LEDGER_READ_MODEL_CHECK_INTERVAL_MS, 0)
})

t.test("a person document's balance edited in the file: found on the next pass, logged, counted, 503, not ready; a rebuild cures it", async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const log = captureLogger()
  const ledger = await openService(file, {}, log)
  t.teardown(() => ledger.close())
  // Persons 1..3 at 8000.00, 8100.00, 8200.00 for two months: person 2 has 2 × 648.00 = 1296.00.
  await seed(ledger, 3, ['2024-07', '2024-08'])
  await caughtUp(ledger)
  t.same((await ledger.selfCheck.runPass()).differences, [], 'nothing differs before the edit')
  const p2 = personId(2)
  const balance = () => ledger.app.inject({ method: 'GET', url: `/v1/persons/${p2}/balances` })
  t.equal((await balance()).json().schemes.pension.individualAccount, '1296.00')

  editFile(file, (db) =>
    db
      .prepare("UPDATE read_models SET doc = json_set(doc, '$.schemes.pension.individualAccount', '9296.00') WHERE projection = ? AND key = ?")
      .run(personBalances.name, p2),
  )
  const pass = await ledger.selfCheck.runPass()
  t.match(pass.differences, [{ projection: 'person-balances', key: p2, kind: 'differs' }], 'the edited document is found, and only it')

  const line = log.lines.find((l) => l.level === 'error' && /read model differs/.test(l.msg))
  t.ok(line, 'an error is logged')
  t.match(line?.obj, { projection: 'person-balances', key: maskCitizenId(p2), position: String(pass.checkpoint) }, 'naming projection, masked key and position')
  t.match(line?.obj, { stored: { schemes: { pension: { individualAccount: '9296.00' } } }, expected: { schemes: { pension: { individualAccount: '1296.00' } } } }, 'and both values')
  t.notMatch(line?.msg, p2, 'the message masks the person id')
  const metrics = (await ledger.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /ledger_read_model_differences_total\{projection="person-balances"\} 1\b/, 'counted')

  const read = await balance()
  t.equal(read.statusCode, 503, 'its reads answer 503')
  t.match(read.json(), { reason: 'read-model-differs', projection: 'person-balances', key: p2, cure: 'ledger projections rebuild person-balances' })
  const ready = await ledger.app.inject({ method: 'GET', url: '/readyz' })
  t.equal(ready.statusCode, 503)
  t.equal(ready.json().reason, 'read-model-differs')
  t.same((await ledger.selfCheck.runPass()).differences, [], 'a marked document is not reported again')
  t.equal((await ledger.app.inject({ method: 'GET', url: '/readyz' })).json().reason, 'read-model-differs', 'sticky until a rebuild')

  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  await rebuildProjection({ store: ledger.store, readModels: rm, projection: personBalances })
  const cured = await balance()
  t.equal(cured.statusCode, 200, 'served again after the rebuild')
  t.equal(cured.json().schemes.pension.individualAccount, '1296.00', 'with the balance of the log')
  t.not((await ledger.app.inject({ method: 'GET', url: '/readyz' })).json().reason, 'read-model-differs')
  t.same((await ledger.selfCheck.runPass()).differences, [], 'and the next pass finds nothing')
})

t.test('a pool document deleted from the file: found (no longer read as zeros), 503; a rebuild cures it', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await seed(ledger, 2, ['2024-07'])
  await caughtUp(ledger)
  const pool = () => ledger.app.inject({ method: 'GET', url: '/v1/pools/310000/balances' })
  const before = (await pool()).json()
  t.not(before.schemes.pension.balance, '0.00')
  editFile(file, (db) => db.prepare('DELETE FROM read_models WHERE projection = ? AND key = ?').run(poolBalances.name, '310000'))

  const pass = await ledger.selfCheck.runPass()
  t.match(pass.differences, [{ projection: 'pool-balances', key: '310000', kind: 'differs' }])
  const read = await pool()
  t.equal(read.statusCode, 503, 'not zeros: 503')
  t.match(read.json(), { reason: 'read-model-differs', projection: 'pool-balances', key: '310000' })

  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  await rebuildProjection({ store: ledger.store, readModels: rm, projection: poolBalances })
  const cured = await pool()
  t.equal(cured.statusCode, 200)
  t.same(cured.json().schemes, before.schemes, 'the pool as it was')
})

t.test('an untouched ledger, with events posted while passes run: no difference', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await seed(ledger, 25, ['2024-07', '2024-08', '2024-09'])
  await post(ledger, '/v1/transfers', { transferId: 'T-1', personId: personId(1), fromRegion: '310000', toRegion: '110000' })
  await post(ledger, '/v1/transfers/T-1/accept')
  await post(ledger, '/v1/transfers/T-1/send')
  await caughtUp(ledger)

  let posting = true
  const differences: unknown[] = []
  let passes = 0
  let passesWhilePosting = 0
  let checked = 0
  const passing = (async () => {
    while (posting || passes < 3) {
      const during = posting
      const pass = await ledger.selfCheck.runPass()
      differences.push(...pass.differences)
      checked += pass.checked
      passes++
      if (during && posting) passesWhilePosting++
    }
  })()
  for (const [i, period] of ['2024-10', '2024-11', '2024-12', '2025-01', '2025-02', '2025-03', '2025-04', '2025-05', '2025-06', '2025-07', '2025-08', '2025-09'].entries()) {
    await post(
      ledger,
      '/v1/contribution-submissions',
      submission({ submissionId: `S-LIVE-${i}`, employerId: employerId('0001'), period, lines: Array.from({ length: 25 }, (_, j) => ({ personId: personId(j + 1), wage: `${9000 + j}.00` })) }),
    )
  }
  posting = false
  await passing
  await caughtUp(ledger)
  const last = await ledger.selfCheck.runPass()
  t.ok(passesWhilePosting >= 1, `${passesWhilePosting} passes ran wholly while posting (${passes} in all)`)
  t.ok(checked > 0, `${checked} documents compared`)
  t.same(differences, [], 'no difference while events were posted')
  t.same(last.differences, [], 'nor after')
  t.equal(ledger.readModels.firstMark(), undefined, 'nothing marked')
})
