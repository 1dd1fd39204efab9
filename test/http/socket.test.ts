import t from 'tap'
import type { AddressInfo } from 'node:net'
import { createTestLedger } from '../helpers/ledger.js'
import { personId, submission } from '../helpers/http.js'

/** One test over a real listening socket (issue #2 §8): Node's fetch against `app.listen`. */
t.test('POST a submission and read balances over a real socket', { timeout: 30_000 }, async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const { app } = ledger
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const base = `http://127.0.0.1:${port}`
  const signal = AbortSignal.timeout(10_000)

  const person = personId(950)
  const body = submission({ submissionId: 'SOCK-2024-07-0001', workInjuryClass: 1, lines: [{ personId: person, wage: '8500.00' }] })
  // Wage 8500.00 in Shanghai 2024-07 (floor 7384.00, cap 36921.00), class I:
  //   pension 8500 × 16% = 1360.00 / × 8% = 680.00; medical × 9% = 765.00 / × 2% = 170.00;
  //   unemployment × 0.5% = 42.50 / 42.50; work injury × 0.2% = 17.00
  //   employer 1360 + 765 + 42.50 + 17 = 2184.50; employee 680 + 170 + 42.50 = 892.50
  //   individual account 680 + 170 = 850.00; pool 2184.50 + 42.50 = 2227.00
  const totals = { employer: '2184.50', employee: '892.50', individualAccount: '850.00', pool: '2227.00' }
  const postIt = () =>
    fetch(`${base}/v1/contribution-submissions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    })

  const created = await postIt()
  t.equal(created.status, 201)
  t.match(created.headers.get('content-type') ?? '', /^application\/json/)
  const receipt = (await created.json()) as { position: string; status: string; lineCount: number; totals: unknown }
  t.match(receipt, { submissionId: 'SOCK-2024-07-0001', status: 'recorded', lineCount: 1, position: /^\d+$/ })
  t.same(receipt.totals, totals)

  const retried = await postIt()
  t.equal(retried.status, 200, 'a retry over the wire')
  t.match(await retried.json(), { status: 'already-recorded', position: receipt.position, totals })

  const balances = await fetch(`${base}/v1/persons/${person}/balances?minPosition=${receipt.position}`, { signal })
  t.equal(balances.status, 200)
  t.match(balances.headers.get('content-type') ?? '', /^application\/json/)
  const b = (await balances.json()) as { personId: string; position: string; schemes: Record<string, unknown> }
  t.equal(b.personId, person)
  t.ok(BigInt(b.position) >= BigInt(receipt.position), 'read its own write')
  t.same(b.schemes, {
    pension: { individualAccount: '680.00', employerContributed: '1360.00', employeeContributed: '680.00', months: 1, regions: ['310000'], paidOut: '0.00', interestCredited: '0.00', interestByYear: {} },
    medical: { individualAccount: '170.00', employerContributed: '765.00', employeeContributed: '170.00', months: 1, regions: ['310000'], paidOut: '0.00' },
    unemployment: { individualAccount: '0.00', employerContributed: '42.50', employeeContributed: '42.50', months: 1, regions: ['310000'], paidOut: '0.00' },
    work_injury: { individualAccount: '0.00', employerContributed: '17.00', employeeContributed: '0.00', months: 1, regions: ['310000'], paidOut: '0.00' },
    maternity: { individualAccount: '0.00', employerContributed: '0.00', employeeContributed: '0.00', months: 0, regions: [], paidOut: '0.00' },
  })

  const pool = await fetch(`${base}/v1/pools/310000/balances?minPosition=${receipt.position}`, { signal })
  t.equal(pool.status, 200)
  t.match(await pool.json(), {
    region: '310000',
    schemes: {
      pension: { balance: '1360.00' },
      medical: { balance: '765.00' },
      unemployment: { balance: '85.00' },
      work_injury: { balance: '17.00' },
      maternity: { balance: '0.00' },
    },
  })

  // A problem over the wire: the content type of RFC 9457.
  const bad = await fetch(`${base}/v1/contribution-submissions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, submissionId: 'SOCK-2', lines: [{ personId: person, wage: '1e5' }] }),
    signal,
  })
  t.equal(bad.status, 400)
  t.match(bad.headers.get('content-type') ?? '', /^application\/problem\+json/)
  t.match(await bad.json(), { status: 400, errors: [{ pointer: '/lines/0/wage', line: 0 }] })

  const health = await fetch(`${base}/healthz`, { signal })
  t.equal(health.status, 200)
  t.match(await health.json(), { status: 'ok' })
})
