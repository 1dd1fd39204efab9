import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { createTestLedger } from '../helpers/ledger.js'
import { movableClock } from '../helpers/clock.js'
import { json, personId, problem, submission, withAppendLatency } from '../helpers/http.js'

/**
 * Retirement, payouts, reversals and the yearly interest run (issue #5), through HTTP. Every amount
 * is worked out by hand in the comments (RULES.md §4-5, POLICY-FACTS.md).
 */

type Ledger = Awaited<ReturnType<typeof createTestLedger>>

const SH = '310000'
const post = (ledger: Ledger, url: string, payload?: object) => ledger.app.inject({ method: 'POST', url, ...(payload ? { payload } : {}) })
const get = (ledger: Ledger, url: string) => ledger.app.inject({ method: 'GET', url })

/** 15 imported years 2009-2023 in Shanghai (180 months), the account `balance` at 2023-12-31. */
async function importFifteenYears(t: Test, ledger: Ledger, person: string, balance: string) {
  const res = await post(ledger, `/v1/persons/${person}/legacy-history`, {
    importId: `LEG-${person}`,
    asOf: '2023-12-31',
    individualAccountBalance: balance,
    years: Array.from({ length: 15 }, (_, i) => ({ year: 2009 + i, region: SH, months: 12, baseTotal: '60000.00' })),
  })
  t.equal(res.statusCode, 201, 'legacy history imported')
}

/** Records one Shanghai line of `wage` for `period`; returns the submission's answer. */
async function contribute(t: Test, ledger: Ledger, person: string, period: string, wage = '8500.00') {
  const res = await post(ledger, '/v1/contribution-submissions', submission({ submissionId: `S-${person}-${period}`, period, lines: [{ personId: person, wage }] }))
  t.equal(res.statusCode, 201, `contribution ${period} recorded`)
  return json(res)
}

/** Revision (decimal string) of the person's first event of `type` matching `where`. */
async function revisionOf(ledger: Ledger, person: string, type: string, where: (data: any) => boolean = () => true): Promise<string> {
  const events = json(await get(ledger, `/v1/persons/${person}/events`)).events as { type: string; revision: string; data: any }[]
  const e = events.find((x) => x.type === type && where(x.data))
  if (!e) throw new Error(`no ${type} on person ${person}`)
  return e.revision
}

async function balances(ledger: Ledger, person: string, position: string) {
  return json(await get(ledger, `/v1/persons/${person}/balances?minPosition=${position}`))
}

async function pool(ledger: Ledger, region: string, position: string) {
  return json(await get(ledger, `/v1/pools/${region}/balances?minPosition=${position}`))
}

t.test('retirement fixes the pension; payouts pay it; reversals undo a payout and a contribution line', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const P = personId(501, '19640801') // born 1964-08-01: 60 on 2024-08-15
  await importFifteenYears(t, ledger, P, '100000.00')
  // Shanghai 2024-07, wage 8500.00: pension employee 8% = 680.00 to the account, employer 16% =
  // 1360.00 to the pool.
  await contribute(t, ledger, P, '2024-07')

  const tooYoung = await post(ledger, `/v1/persons/${P}/retirement`, { region: SH, retiredOn: '2024-08-15', ageYears: 39, pooledMonthlyAmount: '3000.00' })
  t.match(problem(t, tooYoung, 422, 'age without a divisor'), { errors: [{ pointer: '/ageYears' }] })
  const elsewhere = await post(ledger, `/v1/persons/${P}/retirement`, { region: '110000', retiredOn: '2024-08-15', ageYears: 60, pooledMonthlyAmount: '3000.00' })
  t.match(problem(t, elsewhere, 422, 'region not holding the account'), { errors: [{ pointer: '/region' }] })

  const notYet = await post(ledger, `/v1/persons/${P}/retirement`, { region: SH, retiredOn: '2099-08-15', ageYears: 60, pooledMonthlyAmount: '3000.00' })
  t.match(problem(t, notYet, 422, 'a retirement date not yet reached'), { errors: [{ pointer: '/retiredOn' }] })
  const body = { region: SH, retiredOn: '2024-08-15', ageYears: 60, pooledMonthlyAmount: '3000' }
  const retired = await post(ledger, `/v1/persons/${P}/retirement`, body)
  t.equal(retired.statusCode, 201)
  // Account 100000.00 + 680.00 = 100680.00; divisor at 60 = 139; 100680.00 / 139 = 724.316… → 724.32.
  // Months 15 × 12 + 1 = 181. Monthly pension 724.32 + 3000.00 = 3724.32.
  t.match(json(retired), {
    status: 'recorded',
    personId: P,
    individualAccountBalance: '100680.00',
    monthsDivisor: 139,
    individualAccountMonthly: '724.32',
    pooledMonthlyAmount: '3000.00',
    monthlyPension: '3724.32',
    monthsContributed: 181,
    ageMonths: 0,
  })
  const again = await post(ledger, `/v1/persons/${P}/retirement`, { ...body, pooledMonthlyAmount: '3000.00' })
  t.equal(again.statusCode, 200, 'the same retirement again (3000 and 3000.00 are the same amount)')
  t.equal(json(again).position, json(retired).position)
  t.match(problem(t, await post(ledger, `/v1/persons/${P}/retirement`, { ...body, ageYears: 61 }), 409, 'retired with other facts'), { differences: ['ageYears'] })

  const early = await post(ledger, '/v1/payouts', { payoutId: 'PAY-P-2024-07', personId: P, scheme: 'pension', period: '2024-07', kind: 'monthly' })
  t.match(problem(t, early, 422, 'pension before the retirement month'), { errors: [{ pointer: '/period' }] })

  const payout = { payoutId: 'PAY-P-2024-08', personId: P, scheme: 'pension', period: '2024-08', kind: 'monthly' }
  const paid = await post(ledger, '/v1/payouts', payout)
  t.equal(paid.statusCode, 201)
  t.match(json(paid), { status: 'recorded', amount: '3724.32', fromIndividualAccount: '724.32', fromPool: '3000.00', poolCoversAccount: '0.00', region: SH })
  const retry = await post(ledger, '/v1/payouts', payout)
  t.equal(retry.statusCode, 200, 'the same payout again')
  t.equal(json(retry).position, json(paid).position)
  t.match(problem(t, await post(ledger, '/v1/payouts', { ...payout, period: '2024-09' }), 409, 'payoutId with another body'), { differences: ['period'] })
  t.match(problem(t, await post(ledger, '/v1/payouts', { ...payout, payoutId: 'PAY-P-2024-08-B' }), 409, 'second pension for a period'), { payoutId: 'PAY-P-2024-08' })
  t.match(problem(t, await post(ledger, '/v1/payouts', { ...payout, payoutId: 'X', amount: '1.00' }), 400, 'pension names no amount'), {})

  let b = await balances(ledger, P, json(paid).position)
  // Account 100680.00 − 724.32 = 99955.68; paid out 3724.32.
  t.match(b.schemes.pension, { individualAccount: '99955.68', paidOut: '3724.32' })
  t.match(b.pensionInPayment, { monthlyPension: '3724.32', individualAccountMonthly: '724.32', paidPeriods: 1, lastPaidPeriod: '2024-08' })
  let p = await pool(ledger, SH, json(paid).position)
  // Pension pool: 1360.00 contributed − 3000.00 paid = −1640.00 (no opening balance imported).
  t.match(p.schemes.pension, { balance: '-1640.00', contributions: '1360.00', payouts: '3000.00' })

  // Reverse the payout.
  const payoutRevision = await revisionOf(ledger, P, 'PayoutRecorded')
  const reversal = { reversalId: 'REV-1', eventRef: { stream: `person-${P}`, revision: payoutRevision }, reason: 'paid to the wrong account' }
  const reversed = await post(ledger, '/v1/reversals', reversal)
  t.equal(reversed.statusCode, 201)
  t.match(json(reversed), { status: 'recorded', reversalId: 'REV-1', personId: P, reversedType: 'PayoutRecorded' })
  t.equal((await post(ledger, '/v1/reversals', reversal)).statusCode, 200, 'the same reversal again')
  t.match(problem(t, await post(ledger, '/v1/reversals', { ...reversal, reversalId: 'REV-2' }), 409, 'a second reversal of the payout'), { reversalId: 'REV-1' })
  t.match(problem(t, await post(ledger, '/v1/reversals', { ...reversal, reason: 'other' }), 409, 'reversalId with another body'), { differences: ['reason'] })
  const reversalRevision = await revisionOf(ledger, P, 'PayoutReversed')
  problem(t, await post(ledger, '/v1/reversals', { reversalId: 'REV-3', eventRef: { stream: `person-${P}`, revision: reversalRevision }, reason: 'undo the undo' }), 422, 'a reversal cannot be reversed')
  problem(t, await post(ledger, '/v1/reversals', { reversalId: 'REV-4', eventRef: { stream: `person-${P}`, revision: '999' }, reason: 'x' }), 422, 'no event at that revision')
  problem(t, await post(ledger, '/v1/reversals', { reversalId: 'REV-5', eventRef: { stream: 'transfer-T-1', revision: '0' }, reason: 'x' }), 422, 'not a person stream')
  const typo = `person-${P.slice(0, 17)}${P.endsWith('0') ? '1' : '0'}`
  t.match(problem(t, await post(ledger, '/v1/reversals', { reversalId: 'REV-6', eventRef: { stream: typo, revision: '0' }, reason: 'x' }), 400, 'a mistyped identity number'), { detail: /check/ })

  b = await balances(ledger, P, json(reversed).position)
  // Back to 100680.00, nothing paid out; the period may be paid again.
  t.match(b.schemes.pension, { individualAccount: '100680.00', paidOut: '0.00' })
  t.match(b.reversed, [{ reversalId: 'REV-1', reversedType: 'PayoutRecorded', period: '2024-08' }])
  p = await pool(ledger, SH, json(reversed).position)
  t.match(p.schemes.pension, { balance: '1360.00', payouts: '0.00' })
  const repaid = await post(ledger, '/v1/payouts', { ...payout, payoutId: 'PAY-P-2024-08-again' })
  t.equal(repaid.statusCode, 201, 'the period freed by the reversal is paid again')

  // The 2024-07 line is counted in the pension in payment: reversing it would change the pension.
  const lineRevision = await revisionOf(ledger, P, 'ContributionRecorded')
  const counted = await post(ledger, '/v1/reversals', { reversalId: 'REV-LINE', eventRef: { stream: `person-${P}`, revision: lineRevision }, reason: 'wrong person' })
  t.match(problem(t, counted, 409, 'a line counted in the retirement'), { detail: /pension in payment/ })
  // No contributions after the month of retirement (2024-08): a September line is refused whole.
  const late = await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'S-after-retirement', period: '2024-09', lines: [{ personId: P, wage: '8500.00' }] }))
  t.match(problem(t, late, 422, 'a contribution after retirement'), { errors: [{ pointer: '/lines/0/personId', message: /retired on 2024-08-15/ }] })
  const future = await post(ledger, '/v1/payouts', { ...payout, payoutId: 'PAY-P-2099-12', period: '2099-12' })
  t.match(problem(t, future, 422, 'a period that has not begun'), { errors: [{ pointer: '/period' }] })
})

t.test('other schemes pay from the pool of the latest region; medical may draw on the account', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const Q = personId(502)
  await contribute(t, ledger, Q, '2024-07') // medical 8500.00 × 2% = 170.00 to the medical account
  problem(t, await post(ledger, '/v1/payouts', { payoutId: 'U-0', personId: personId(503), scheme: 'unemployment', period: '2024-08', kind: 'benefit', amount: '1800.00' }), 422, 'no unemployment contributions')
  const u = await post(ledger, '/v1/payouts', { payoutId: 'U-1', personId: Q, scheme: 'unemployment', period: '2024-08', kind: 'benefit', amount: '1800.00' })
  t.equal(u.statusCode, 201)
  t.match(json(u), { amount: '1800.00', fromPool: '1800.00', fromIndividualAccount: '0.00', region: SH })
  t.match(problem(t, await post(ledger, '/v1/payouts', { payoutId: 'M-1', personId: Q, scheme: 'medical', period: '2024-08', kind: 'reimbursement', amount: '500.00', fromIndividualAccount: '170.01' }), 422, 'more than the medical account'), {
    errors: [{ pointer: '/fromIndividualAccount' }],
  })
  const m = await post(ledger, '/v1/payouts', { payoutId: 'M-2', personId: Q, scheme: 'medical', period: '2024-08', kind: 'reimbursement', amount: '500', fromIndividualAccount: '120.5' })
  t.equal(m.statusCode, 201)
  // 500.00 = 120.50 from the medical account + 379.50 from the medical pool.
  t.match(json(m), { amount: '500.00', fromIndividualAccount: '120.50', fromPool: '379.50' })
  problem(t, await post(ledger, '/v1/payouts', { payoutId: 'U-2', personId: Q, scheme: 'unemployment', period: '2024-08', kind: 'benefit', amount: '10.00', fromIndividualAccount: '1.00' }), 400, 'only medical draws on an account')
  const b = await balances(ledger, Q, json(m).position)
  // Medical account 170.00 − 120.50 = 49.50.
  t.match(b.schemes.medical, { individualAccount: '49.50', paidOut: '500.00' })
  t.match(b.schemes.unemployment, { paidOut: '1800.00' })
  const p = await pool(ledger, SH, json(m).position)
  // Unemployment pool: employer 0.5% + employee 0.5% of 8500.00 = 42.50 + 42.50 = 85.00; − 1800.00 = −1715.00.
  // Medical pool: employer 9% of 8500.00 = 765.00; − 379.50 = 385.50.
  t.match(p.schemes.unemployment, { balance: '-1715.00', payouts: '1800.00' })
  t.match(p.schemes.medical, { balance: '385.50', payouts: '379.50' })

  // The line of 2024-07 credited 170.00 to the medical account, which now holds 49.50: it cannot be
  // reversed until the medical payout is.
  const lineRevision = await revisionOf(ledger, Q, 'ContributionRecorded')
  const line = { reversalId: 'REV-LINE', eventRef: { stream: `person-${Q}`, revision: lineRevision }, reason: 'posted for the wrong person' }
  t.match(problem(t, await post(ledger, '/v1/reversals', line), 409, 'the medical part was paid out since'), { detail: /medical individual account holds 49.50/ })
  const medicalRevision = await revisionOf(ledger, Q, 'PayoutRecorded', (d) => d.payoutId === 'M-2')
  t.equal((await post(ledger, '/v1/reversals', { reversalId: 'REV-M-2', eventRef: { stream: `person-${Q}`, revision: medicalRevision }, reason: 'paid twice' })).statusCode, 201)
  const lineReversed = await post(ledger, '/v1/reversals', { ...line, eventRef: { ...line.eventRef, revision: `00${lineRevision}` } })
  t.equal(lineReversed.statusCode, 201, 'now the line is reversed (revision written with leading zeros)')
  t.equal((await post(ledger, '/v1/reversals', line)).statusCode, 200, 'the same reversal, the revision written plainly')
  const after = await balances(ledger, Q, json(lineReversed).position)
  // Everything the line credited is gone: pension 680.00 → 0.00, medical 170.00 → 0.00 (the medical
  // payout reversed first), months 0; the unemployment benefit stays paid.
  t.match(after.schemes.pension, { individualAccount: '0.00', employeeContributed: '0.00', employerContributed: '0.00', months: 0 })
  t.match(after.schemes.medical, { individualAccount: '0.00', paidOut: '0.00', months: 0 })
  t.match(after.schemes.unemployment, { paidOut: '1800.00', months: 0 })
  t.match(after.reversed, [{ reversalId: 'REV-M-2', reversedType: 'PayoutRecorded' }, { reversalId: 'REV-LINE', reversedType: 'ContributionRecorded', period: '2024-07' }])
  const pools = await pool(ledger, SH, json(lineReversed).position)
  // Pension pool 1360.00 − 1360.00 = 0.00; medical 765.00 − 765.00 (line) = 0.00, payouts 0.00;
  // unemployment 85.00 − 85.00 − 1800.00 = −1800.00.
  t.match(pools.schemes.pension, { balance: '0.00', contributions: '0.00' })
  t.match(pools.schemes.medical, { balance: '0.00', contributions: '0.00', payouts: '0.00' })
  t.match(pools.schemes.unemployment, { balance: '-1800.00', contributions: '0.00', payouts: '1800.00' })
  // The month is no longer credited: a corrected line for 2024-07 is accepted.
  const corrected = await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'S-corrected', period: '2024-07', lines: [{ personId: Q, wage: '9000.00' }] }))
  t.equal(corrected.statusCode, 201, 'a corrected line for the reversed month')
})

t.test('an account that runs out: the pool pays the individual-account part too', async (t) => {
  // The payouts run to 2035-09: the ledger's today must be at least that month.
  const ledger = await createTestLedger({ clock: movableClock('2036-01-01T00:00:00Z').clock })
  t.teardown(ledger.close)
  const R = personId(504, '19640101')
  await importFifteenYears(t, ledger, R, '1500.00')
  const retired = await post(ledger, `/v1/persons/${R}/retirement`, { region: SH, retiredOn: '2024-01-10', ageYears: 60, pooledMonthlyAmount: '2000.00' })
  // 1500.00 / 139 = 10.791… → 10.79 a month from the account.
  t.match(json(retired), { individualAccountMonthly: '10.79', monthlyPension: '2010.79' })
  // 139 months × 10.79 = 1499.81; the 140th month finds 1500.00 − 1499.81 = 0.19 in the account.
  let last: any
  for (let i = 0; i < 141; i++) {
    const year = 2024 + Math.floor(i / 12)
    const period = `${year}-${String((i % 12) + 1).padStart(2, '0')}`
    const res = await post(ledger, '/v1/payouts', { payoutId: `R-${period}`, personId: R, scheme: 'pension', period, kind: 'monthly' })
    t.equal(res.statusCode, 201, `payout ${period}`)
    last = json(res)
    if (i === 138) t.match(last, { fromIndividualAccount: '10.79', fromPool: '2000.00' }, '139th month still from the account')
    // 140th: 0.19 from the account, the pool pays 2000.00 + 10.79 − 0.19 = 2010.60.
    if (i === 139) t.match(last, { period: '2035-08', fromIndividualAccount: '0.19', fromPool: '2010.60', poolCoversAccount: '10.60', amount: '2010.79' })
  }
  // 141st: nothing left, the pool pays all 2010.79.
  t.match(last, { fromIndividualAccount: '0.00', fromPool: '2010.79', poolCoversAccount: '10.79', amount: '2010.79' })
  const b = await balances(ledger, R, last.position)
  t.match(b.schemes.pension, { individualAccount: '0.00' })
  t.match(b.pensionInPayment, { accountExhausted: true, paidPeriods: 141 })
})

t.test('a person with an open transfer or too few months cannot retire', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const S = personId(505, '19640101')
  await contribute(t, ledger, S, '2024-07')
  const few = await post(ledger, `/v1/persons/${S}/retirement`, { region: SH, retiredOn: '2024-08-01', ageYears: 60, pooledMonthlyAmount: '100.00' })
  t.match(problem(t, few, 422, '1 month of 180'), { errors: [{ pointer: '/personId' }] })
  const T = personId(506, '19640101')
  await importFifteenYears(t, ledger, T, '5000.00')
  t.equal((await post(ledger, '/v1/transfers', { transferId: 'T-506', personId: T, fromRegion: SH, toRegion: '110000' })).statusCode, 201)
  const before = (await ledger.allEvents()).length
  const open = await post(ledger, `/v1/persons/${T}/retirement`, { region: SH, retiredOn: '2024-08-01', ageYears: 60, pooledMonthlyAmount: '100.00' })
  t.match(problem(t, open, 422, 'open transfer'), { errors: [{ pointer: '/personId', message: /T-506/ }] })
  problem(t, await post(ledger, '/v1/payouts', { payoutId: 'T-P', personId: T, scheme: 'pension', period: '2024-08', kind: 'monthly' }), 422, 'no pension in payment')
  t.equal((await ledger.allEvents()).length, before, 'the refusals wrote nothing')
  // Once retired, a person does not transfer (the open transfer cancelled first).
  t.equal((await post(ledger, '/v1/transfers/T-506/cancel')).statusCode, 201)
  t.equal((await post(ledger, `/v1/persons/${T}/retirement`, { region: SH, retiredOn: '2024-08-01', ageYears: 60, pooledMonthlyAmount: '100.00' })).statusCode, 201)
  const again = await post(ledger, '/v1/transfers', { transferId: 'T-506-B', personId: T, fromRegion: SH, toRegion: '110000' })
  t.match(problem(t, again, 422, 'a retired person registers a transfer'), { detail: /retired/ })
})

/** Polls the run for `year` until its state is `completed` (bounded). */
async function completed(ledger: Ledger, year: number) {
  for (let i = 0; i < 200; i++) {
    const res = await get(ledger, `/v1/interest-runs/${year}`)
    if (res.statusCode === 200 && json(res).state === 'completed') return json(res)
    await sleep(25)
  }
  throw new Error(`interest run ${year} did not complete within 5 s`)
}

t.test('the yearly interest run: contributions in March and November, a payout in December; a rerun adds nothing', async (t) => {
  const time = movableClock('2025-06-30T02:00:00Z')
  const ledger = await createTestLedger({ clock: time.clock })
  t.teardown(ledger.close)
  const Q = personId(510, '19640101')
  const P = personId(511, '19640101')
  await importFifteenYears(t, ledger, Q, '10000.00')
  await importFifteenYears(t, ledger, P, '100000.00')
  await contribute(t, ledger, Q, '2024-03') // 680.00 to the account (Shanghai 2023-07 window, 8% of 8500.00)
  await contribute(t, ledger, Q, '2024-11') // 680.00
  const retired = await post(ledger, `/v1/persons/${Q}/retirement`, { region: SH, retiredOn: '2024-11-30', ageYears: 60, pooledMonthlyAmount: '2500.00' })
  // 10000.00 + 680.00 + 680.00 = 11360.00; / 139 = 81.726… → 81.73.
  t.match(json(retired), { individualAccountMonthly: '81.73' })
  t.equal((await post(ledger, '/v1/payouts', { payoutId: 'Q-2024-12', personId: Q, scheme: 'pension', period: '2024-12', kind: 'monthly' })).statusCode, 201)

  problem(t, await post(ledger, '/v1/interest-runs', { year: 2025 }), 422, 'the year 2025 is not over on 2025-06-30')
  problem(t, await post(ledger, '/v1/interest-runs', { year: 2014 }), 422, 'no shipped rate for 2014 and none given')
  t.equal((await get(ledger, '/v1/interest-runs/2024')).statusCode, 404)

  t.match(problem(t, await post(ledger, '/v1/interest-runs', { year: 2024, rate: '0.0262' }), 422, 'a fraction given as the rate'), { errors: [{ pointer: '/rate' }], detail: /not a fraction/ })
  t.match(problem(t, await post(ledger, '/v1/interest-runs', { year: 2024, rate: '3.00' }), 422, 'a rate other than the published one'), { detail: /2\.62%/ })
  const started = await post(ledger, '/v1/interest-runs', { year: 2024 })
  t.equal(started.statusCode, 202)
  t.equal(started.headers['location'], '/v1/interest-runs/2024')
  t.match(json(started), { year: 2024, ratePercent: '2.62', rateSource: 'table', monthCounting: 'inclusive' })
  const run = await completed(ledger, 2024)
  // Q, rate 2.62% (2024), inclusive months:
  //   opening 10000.00 × 0.0262                    = 262.00
  //   March   680.00 × 0.0262 × 10/12              =  14.846666…
  //   November 680.00 × 0.0262 × 2/12              =   2.969333…
  //   December payout −81.73 × 0.0262 × 1/12       =  −0.178443…
  //   total 279.637556… → 279.64
  // P: 100000.00 × 0.0262 = 2620.00 (no movement in 2024).
  // Run: 2 credited, 2620.00 + 279.64 = 2899.64.
  t.match(run, { state: 'completed', credited: 2, interest: '2899.64', passes: [{ pass: 1, completed: true, examined: 2, credited: 2 }] })
  const events = json(await get(ledger, `/v1/persons/${Q}/events`)).events as { type: string; data: any; position: string }[]
  const credit = events.find((e) => e.type === 'InterestCredited')!
  t.match(credit.data, { year: 2024, ratePercent: '2.62', openingBalance: '10000.00', credits: '1360.00', debits: '81.73', amount: '279.64', region: SH })
  const bq = await balances(ledger, Q, credit.position)
  // 11360.00 − 81.73 + 279.64 = 11557.91
  t.match(bq.schemes.pension, { individualAccount: '11557.91', interestCredited: '279.64', interestByYear: { '2024': '279.64' } })

  const rerun = await post(ledger, '/v1/interest-runs', { year: 2024, rate: '2.62' })
  t.equal(rerun.statusCode, 202)
  const after = await completed(ledger, 2024)
  t.match(after, { credited: 2, interest: '2899.64', passes: [{ pass: 1 }, { pass: 2, completed: true, credited: 0, alreadyCredited: 2 }] }, 'the rerun credited nothing')
  const credits = (json(await get(ledger, `/v1/persons/${Q}/events`)).events as { type: string }[]).filter((e) => e.type === 'InterestCredited')
  t.equal(credits.length, 1, 'one InterestCredited per person and year')
  problem(t, await post(ledger, '/v1/interest-runs', { year: 2024, rate: '3.00' }), 409, 'another rate for a credited year')
  problem(t, await post(ledger, '/v1/interest-runs', { year: 2023 }), 409, 'an earlier year after a later one')
  problem(t, await post(ledger, '/v1/interest-runs', { year: 2024, rate: '0.0262' }), 409, 'a fraction is not the recorded percent')
})

t.test('concurrent payouts: one pension per period, one payout per payoutId', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  withAppendLatency(ledger.store, 5)
  const V = personId(520, '19640101')
  await importFifteenYears(t, ledger, V, '13900.00')
  // 13900.00 / 139 = 100.00 a month from the account.
  t.match(json(await post(ledger, `/v1/persons/${V}/retirement`, { region: SH, retiredOn: '2024-01-01', ageYears: 60, pooledMonthlyAmount: '1000.00' })), { individualAccountMonthly: '100.00' })
  const others = await Promise.all(
    [1, 2, 3, 4, 5].map((n) => post(ledger, '/v1/payouts', { payoutId: `V-2024-01-${n}`, personId: V, scheme: 'pension', period: '2024-01', kind: 'monthly' })),
  )
  t.same(others.map((r) => r.statusCode).sort(), [201, 409, 409, 409, 409], 'five payout ids for one period: one paid')
  const same = await Promise.all([1, 2, 3, 4, 5].map(() => post(ledger, '/v1/payouts', { payoutId: 'V-2024-02', personId: V, scheme: 'pension', period: '2024-02', kind: 'monthly' })))
  t.same(same.map((r) => r.statusCode).sort(), [200, 200, 200, 200, 201], 'one payout id five times: paid once')
  const payouts = (await ledger.allEvents()).filter((e) => e.type === 'PayoutRecorded')
  t.equal(payouts.length, 2, 'two PayoutRecorded in the log')
  const b = await balances(ledger, V, json(same[0]!).position)
  // 13900.00 − 2 × 100.00 = 13700.00
  t.match(b.schemes.pension, { individualAccount: '13700.00', paidOut: '2200.00' })
})
