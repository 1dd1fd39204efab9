import t from 'tap'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { StoreUnavailableError, type EventStore } from '../../src/eventstore/port.js'
import { InterestRunner, type PersonDirectory } from '../../src/usecases/interest-run.js'
import { loadPensionTables } from '../../src/policy-loader.js'
import { LEGACY_HISTORY_IMPORTED, type LegacyHistoryImportedData } from '../../src/domain/legacy/events.js'
import { INTEREST_CREDITED, INTEREST_RUNS_STREAM } from '../../src/domain/interest/events.js'
import { collect } from '../helpers/async.js'
import { personId } from '../helpers/http.js'

/**
 * The interest run's batches and its resumption after a crash (issue #5): five persons, batches of
 * two, the third batch's append fails as a crash would; a new runner resumes after the last
 * committed batch and every person is credited exactly once.
 */

const PERSONS = [1, 2, 3, 4, 5].map((n) => personId(600 + n))

/** Each person: an account of 1000.00 × n imported as of 2023-12-31 (opening balance of 2024). */
async function seed(store: EventStore) {
  for (const [i, id] of PERSONS.entries()) {
    const data: LegacyHistoryImportedData = {
      importId: `L-${i}`,
      personId: id,
      asOf: '2023-12-31',
      individualAccountBalance: `${(i + 1) * 1000}.00`,
      years: [{ year: 2023, region: '310000', months: 12, baseTotal: '90000.00' }],
    }
    await store.append(`person-${id}`, [{ type: LEGACY_HISTORY_IMPORTED, data }], 'no_stream')
  }
}

/** The persons in id order, as the person-balances read model lists them. */
const directory: PersonDirectory = {
  personsAfter: (after, limit) => [...PERSONS].sort().filter((p) => after === undefined || p > after).slice(0, limit),
  catchUp: async () => true,
}

t.test('a run interrupted after its second batch resumes and credits everyone once', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  t.teardown(() => store.close())
  await seed(store)
  const tables = loadPensionTables()

  // The third batch's append fails (the process "crashes" there).
  let batchAppends = 0
  const appendMany = store.appendMany.bind(store)
  store.appendMany = async (appends) => {
    if (appends.some((a) => a.stream === INTEREST_RUNS_STREAM) && ++batchAppends === 3) throw new StoreUnavailableError('simulated crash', 1)
    return appendMany(appends)
  }
  const first = new InterestRunner(store, tables, directory, { batchPersons: 2 })
  const started = await first.start({ year: 2024, currentYear: 2025 })
  t.equal(started.kind, 'started')
  await first.idle()
  const interrupted = await first.get(2024)
  t.match(interrupted, { state: 'interrupted', passes: [{ pass: 1, completed: false, batches: 2, examined: 4, credited: 4 }] }, 'two batches of two committed')

  store.appendMany = appendMany
  const second = new InterestRunner(store, tables, directory, { batchPersons: 2 })
  t.equal(await second.resumeUnfinished(), 2024, 'the unfinished run is found at start')
  await second.idle()
  // Rate 2.62% on balances 1000, 2000, 3000, 4000, 5000 held all year: 26.20, 52.40, 78.60,
  // 104.80, 131.00; total 15000.00 × 0.0262 = 393.00.
  t.match(await second.get(2024), { state: 'completed', credited: 5, interest: '393.00', passes: [{ pass: 1, completed: true, batches: 3, examined: 5, credited: 5 }] })

  const credits = (await collect(store.readAll())).filter((e) => e.type === INTEREST_CREDITED)
  t.equal(credits.length, 5, 'one InterestCredited per person')
  t.same(
    credits.map((e) => (e.data as { amount: string }).amount).sort(),
    ['104.80', '131.00', '26.20', '52.40', '78.60'],
  )
  t.same(new Set(credits.map((e) => e.stream)).size, 5, 'five different persons')
})

t.test('one pass at a time, years in order', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  t.teardown(() => store.close())
  await seed(store)
  const runner = new InterestRunner(store, loadPensionTables(), directory, { batchPersons: 2 })
  t.equal((await runner.start({ year: 2024, currentYear: 2026 })).kind, 'started')
  const same = await runner.start({ year: 2024, currentYear: 2026 })
  t.match(same, { kind: 'running' }, 'starting the running year again joins it')
  t.match(await runner.start({ year: 2025, ratePercent: '1.50', currentYear: 2026 }), { kind: 'refused', decision: { outcome: 'conflict' } }, 'another year while 2024 runs')
  await runner.idle()
  t.match(await runner.start({ year: 2025, ratePercent: '1.50', currentYear: 2026 }), { kind: 'started' })
  await runner.idle()
  // 2025 at 1.50% (the table's rate is marked weak: the request confirms it): opening 2024's balance plus its interest, e.g. 1000.00 + 26.20 = 1026.20;
  // × 0.015 = 15.393 → 15.39.
  const credits = (await collect(store.readStream(`person-${PERSONS[0]}`))).filter((e) => e.type === INTEREST_CREDITED)
  t.match(
    credits.map((e) => e.data),
    [
      { year: 2024, amount: '26.20', openingBalance: '1000.00' },
      { year: 2025, amount: '15.39', openingBalance: '1026.20', ratePercent: '1.50' },
    ],
  )
  t.match(await runner.start({ year: 2024, currentYear: 2026 }), { kind: 'refused', decision: { outcome: 'conflict' } }, '2024 after 2025')
})

t.test('a pass whose read model has not caught up does not run its batches; starting it again does', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  t.teardown(() => store.close())
  await seed(store)
  let caughtUp = false
  const lagging: PersonDirectory = { ...directory, catchUp: async () => caughtUp }
  const runner = new InterestRunner(store, loadPensionTables(), lagging, { batchPersons: 2 })
  t.equal((await runner.start({ year: 2024, currentYear: 2025 })).kind, 'started')
  await runner.idle()
  t.match(await runner.get(2024), { state: 'interrupted', passes: [{ pass: 1, batches: 0, examined: 0 }] }, 'no person examined over a lagging read model')
  caughtUp = true
  t.equal((await runner.start({ year: 2024, currentYear: 2025 })).kind, 'resumed')
  await runner.idle()
  t.match(await runner.get(2024), { state: 'completed', credited: 5, interest: '393.00' })
})

t.test('a pass started while the previous one is still finishing runs after it', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  t.teardown(() => store.close())
  await seed(store)
  // The append that completes 2024's pass is held back 100 ms, as a slow commit would be.
  const appendMany = store.appendMany.bind(store)
  let release!: () => void
  const held = new Promise<void>((resolve) => (release = resolve))
  store.appendMany = async (appends) => {
    if (appends.some((a) => a.events.some((e) => e.type === 'InterestRunCompleted'))) {
      const result = await appendMany(appends)
      await held
      return result
    }
    return appendMany(appends)
  }
  const runner = new InterestRunner(store, loadPensionTables(), directory, { batchPersons: 10 })
  t.equal((await runner.start({ year: 2024, currentYear: 2026 })).kind, 'started')
  // 2024's pass is in the log as completed, but its runner has not returned yet.
  for (let i = 0; i < 100 && (await runner.get(2024))?.state !== 'completed'; i++) await new Promise((r) => setTimeout(r, 5))
  t.equal((await runner.start({ year: 2025, ratePercent: '1.50', currentYear: 2026 })).kind, 'started')
  release()
  await runner.idle()
  await runner.idle()
  t.match(await runner.get(2025), { state: 'completed', credited: 5 }, '2025 ran after 2024 finished')
})
