import t from 'tap'
import { PolicyBook, PolicyTableSchema } from '../../src/domain/policy.js'
import { loadPolicyBook, PolicyTableError } from '../../src/policy-loader.js'

const book = loadPolicyBook()

t.test('policy windows: a period matches the row whose window holds its first day', async (t) => {
  t.equal(book.find('310000', '2024-06')?.id, '310000/2023-07/v1', 'June 2024 is the end of the 2023 year')
  t.equal(book.find('310000', '2024-07')?.id, '310000/2024-07/v1', 'July 2024 starts the 2024 year')
  t.equal(book.find('310000', '2025-06')?.id, '310000/2024-07/v1')
  t.equal(book.find('510000', '2024-12')?.id, '510000/2024-01/v1', 'Sichuan runs calendar years')
  t.equal(book.find('510000', '2025-01')?.id, '510000/2025-01/v1')
  t.equal(book.find('310000', '2022-01'), undefined, 'no row before the table starts')
  t.equal(book.find('999999', '2024-07'), undefined, 'unknown region')
  t.equal(book.find('310000', '2024-13'), undefined, 'not a period')
})

t.test('the shipped table has Beijing and Shanghai with the issue #2 rates', async (t) => {
  for (const id of ['110000/2023-07/v1', '110000/2024-07/v1', '310000/2023-07/v1', '310000/2024-07/v1']) {
    const row = book.table.policies.find((p) => p.id === id)
    t.ok(row, id)
    t.equal(row?.rates.pension?.employerPercent, '16')
    t.equal(row?.rates.pension?.employeePercent, '8')
    t.equal(row?.rates.unemployment?.employerPercent, '0.5')
    t.equal(row?.rates.medical?.employeePercent, '2')
    t.same(row?.rates.work_injury?.employerPercentByClass, ['0.2', '0.4', '0.7', '0.9', '1.1', '1.3', '1.6', '1.9'])
    t.equal(row?.rates.maternity, undefined, 'maternity is included in medical')
    t.equal(row?.rates.medical?.employerPercent, id.startsWith('110000') ? '9.8' : '9')
  }
  t.ok(book.table.policies.every((p) => p.base.confidence.length > 0 && p.base.source.length > 0), 'every row says its source and confidence')
})

t.test('a table with overlapping windows or a floor above the cap is refused', async (t) => {
  const row = structuredClone(book.table.policies[0]!)
  const overlap = { tableVersion: 'x', policies: [row, { ...structuredClone(row), id: 'other' }] }
  const r1 = PolicyTableSchema.safeParse(overlap)
  t.equal(r1.success, false)
  t.match(JSON.stringify(r1.error?.issues), /overlap/)
  const bad = { ...structuredClone(row), base: { ...row.base, floor: '99999.00' } }
  t.equal(PolicyTableSchema.safeParse({ tableVersion: 'x', policies: [bad] }).success, false)
})

t.test('loading a bad file names the file and the field', async (t) => {
  const dir = t.testdir({ 'bad.json': JSON.stringify({ tableVersion: 'x', policies: [{ id: 'a' }] }), 'notjson.json': '{' })
  t.throws(() => loadPolicyBook(`${dir}/bad.json`), PolicyTableError)
  t.throws(() => loadPolicyBook(`${dir}/bad.json`), /bad\.json is invalid:\n.*policies\.0\.region/)
  t.throws(() => loadPolicyBook(`${dir}/notjson.json`), /notjson\.json/)
  t.throws(() => loadPolicyBook(`${dir}/missing.json`), /missing\.json/)
})

t.test('an operator table replaces the shipped one', async (t) => {
  const table = PolicyTableSchema.parse({
    tableVersion: 'ops-1',
    policies: [{ ...structuredClone(book.table.policies[0]!), id: 'custom' }],
  })
  t.equal(new PolicyBook(table).find('110000', '2023-07')?.id, 'custom')
})
