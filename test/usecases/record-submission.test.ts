import t from 'tap'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { yuan } from '../../src/domain/money.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import { RecordSubmissionHandler } from '../../src/usecases/record-submission.js'
import { KeyedLock } from '../../src/usecases/keyed-lock.js'
import { withAppendLatency } from '../helpers/http.js'

const A = '11010519491231002X'
const EMPLOYER = '91310000MA1FL0000N'
const PERIODS = ['2024-07', '2024-08', '2024-09', '2024-10', '2024-11', '2024-12']

t.test('two handlers on one store (as two processes would) race, retry and record every month once', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  t.teardown(() => store.close())
  const stats = withAppendLatency(store, 10)
  const policies = loadPolicyBook()
  const processes = [new RecordSubmissionHandler(store, policies), new RecordSubmissionHandler(store, policies)]
  const results = await Promise.all(
    PERIODS.map((period, i) =>
      processes[i % 2]!.handle({
        submissionId: `P-${period}`,
        employerId: EMPLOYER,
        region: '310000',
        period,
        workInjuryClass: 1,
        lines: [{ personId: A, wage: yuan('8500.00') }],
      }),
    ),
  )
  t.same(results.map((r) => r.kind === 'receipt' && r.receipt.status), Array(6).fill('recorded'))
  t.ok(stats.conflicts > 0, `the two handlers raced (${stats.conflicts} lost appends were decided again)`)
  const periods: string[] = []
  for await (const e of store.readStream(`person-${A}`)) periods.push((e.data as { period: string }).period)
  t.same(periods.sort(), PERIODS, 'one event per month, none twice')
})

t.test('KeyedLock runs holders of a shared key one at a time, others at once', async (t) => {
  const lock = new KeyedLock()
  const log: string[] = []
  const step = (name: string, ms: number) => async () => {
    log.push(`${name}:start`)
    await new Promise((r) => setTimeout(r, ms))
    log.push(`${name}:end`)
  }
  await Promise.all([lock.run(['a', 'b'], step('1', 20)), lock.run(['b'], step('2', 1)), lock.run(['c'], step('3', 1))])
  t.same(log.slice(0, 2), ['1:start', '3:start'], 'c does not wait for a or b')
  t.ok(log.indexOf('2:start') > log.indexOf('1:end'), 'b waits for the holder of a and b')
  t.equal(lock.size, 0, 'every key released')
  await t.rejects(lock.run(['a'], async () => Promise.reject(new Error('boom'))), /boom/)
  t.equal(await lock.run(['a'], async () => 42), 42, 'a failing holder releases its keys')
})
