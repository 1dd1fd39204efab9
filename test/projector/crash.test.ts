import t from 'tap'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import { RecordSubmissionHandler } from '../../src/usecases/record-submission.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import { yuan } from '../../src/domain/money.js'
import type { PersonBalancesDoc, PoolBalancesDoc } from '../../projections/index.js'

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/projector-child.ts')
const CHILD_TIMEOUT_MS = 60_000
const A = '11010519491231002X'
const B = '440524188001010014'

function runChild(file: string, ...args: string[]) {
  return spawnSync(process.execPath, [...process.execArgv, CHILD, file, ...args], { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS })
}

t.test('a projector killed between its read-model write and its checkpoint applies every event exactly once after restart', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  // Three monthly submissions in Shanghai, A at 8500.00 and B at 5000.00 (below the floor 7384.00):
  // 3 × (2 person events + 1 submission event) = 9 events.
  const store = openSqliteEventStore({ path: file })
  const handler = new RecordSubmissionHandler(store, loadPolicyBook())
  for (const period of ['2024-07', '2024-08', '2024-09']) {
    const r = await handler.handle({
      submissionId: `S-${period}`,
      employerId: '91310000MA1FL0000N',
      region: '310000',
      period,
      workInjuryClass: 1,
      lines: [
        { personId: A, wage: yuan('8500.00') },
        { personId: B, wage: yuan('5000.00') },
      ],
    })
    t.equal(r.kind, 'receipt')
  }
  t.equal(await store.headPosition(), 9n)
  await store.close()

  // Batches of 3 events: the first commits, the second is killed inside its transaction.
  const crashed = runChild(file, 'crash', '2')
  t.equal(crashed.signal, 'SIGKILL', `child was killed (stderr: ${crashed.stderr})`)

  const afterCrash = new ReadModelStore(file)
  t.equal(afterCrash.getCheckpoint('main'), 3n, 'the checkpoint is the last committed batch (events 1-3)')
  // Events 1-3 are the July submission: A's line, B's line, the submission marker.
  const aAfterCrash = afterCrash.getDocument<PersonBalancesDoc>('person-balances', A)
  t.same(aAfterCrash?.schemes.pension.periods, { '2024-07': 1 }, 'the killed batch left no trace in the read models')
  afterCrash.close()

  const restarted = runChild(file, 'catch-up')
  t.equal(restarted.status, 0, `restarted projector caught up (stderr: ${restarted.stderr})`)

  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  t.equal(rm.getCheckpoint('main'), 9n)
  const a = rm.getDocument<PersonBalancesDoc>('person-balances', A)!
  const b = rm.getDocument<PersonBalancesDoc>('person-balances', B)!
  // A: pension 8500 × 8% = 680.00 a month, × 3 = 2040.00; employer 1360.00 × 3 = 4080.00;
  //    medical 170.00 × 3 = 510.00.
  t.same(a.schemes.pension, { individualAccount: '2040.00', employerContributed: '4080.00', employeeContributed: '2040.00', periods: { '2024-07': 1, '2024-08': 1, '2024-09': 1 }, regions: { '310000': 3 } })
  t.equal(a.schemes.medical.individualAccount, '510.00')
  // B on the floor 7384.00: pension 590.72 × 3 = 1772.16; medical 147.68 × 3 = 443.04.
  t.equal(b.schemes.pension.individualAccount, '1772.16')
  t.equal(b.schemes.medical.individualAccount, '443.04')
  const pool = rm.getDocument<PoolBalancesDoc>('pool-balances', '310000')!
  // Pool per month: pension 1360.00 + 1181.44 = 2541.44 → × 3 = 7624.32;
  // medical 765.00 + 664.56 = 1429.56 → 4288.68; unemployment (42.50×2) + (36.92×2) = 158.84 → 476.52;
  // work injury class I 17.00 + 14.77 = 31.77 → 95.31.
  t.same(
    Object.fromEntries(Object.entries(pool.schemes).map(([s, v]) => [s, v.balance])),
    { pension: '7624.32', medical: '4288.68', unemployment: '476.52', work_injury: '95.31', maternity: '0.00' },
  )
})
