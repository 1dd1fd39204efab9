import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Command, CommanderError } from 'commander'
import { canonicalize } from 'json-canonicalize'
import { auditReplay, compareReadModels, instantNanos, replayLog, type AuditReport } from '../../src/audit/replay.js'
import { TrialBalance, UnknownAccountError, accountClass } from '../../src/audit/trial-balance.js'
import { main } from '../../src/cli/ledger.js'
import { progressBar, registerAuditReplay, summary } from '../../src/cli/audit-replay.js'
import { yuan, formatYuan } from '../../src/domain/money.js'
import { CONTRIBUTION_RECORDED } from '../../src/domain/contribution/events.js'
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.js'
import { Projector } from '../../src/projector/projector.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import { PROJECTIONS, personBalances, type DocumentProjection, type PersonBalancesDoc } from '../../projections/index.js'
import { movableClock } from '../helpers/clock.js'
import { employerId, json, personId, submission } from '../helpers/http.js'
import { createTestLedger } from '../helpers/ledger.js'

/**
 * `ledger audit replay` (issue #6): the log replayed through the projections into temporary read
 * models, the trial balance of its postings, and the comparison with the live read models.
 *
 * Ledgers are built on a temporary SQLite FILE (event store and read models in one file, as the
 * service runs) with the projector running, through HTTP (`app.inject`). Every amount below is
 * worked out by hand from the Shanghai policy 310000/2024-07/v1 (policy/policy-table.json):
 *   pension employer 16% / employee 8% (the employee part to the individual account),
 *   medical 9% / 2% (the employee part to the individual medical account; maternity included),
 *   unemployment 0.5% / 0.5%, work injury class I 0.2% employer only, no separate maternity;
 *   base floor 7384.00, cap 36921.00.
 * A line of wage 8500.00:  pension 1360.00 + 680.00, medical 765.00 + 170.00, unemployment
 *   42.50 + 42.50, work injury 17.00: the employer owes 3077.00; the individual accounts receive
 *   680.00 (pension) and 170.00 (medical); the pools 1360.00, 765.00, 85.00, 17.00.
 * A line of wage 9000.00:  pension 1440.00 + 720.00, medical 810.00 + 180.00, unemployment
 *   45.00 + 45.00, work injury 18.00: employer 3258.00; accounts 720.00 and 180.00; pools 1440.00,
 *   810.00, 90.00, 18.00.
 * A line of wage 10000.00: pension 1600.00 + 800.00, medical 900.00 + 200.00, unemployment
 *   50.00 + 50.00, work injury 20.00: employer 3620.00.
 */

const SH = '310000'
const BJ = '110000'
const WAIT_MS = 5_000

/** A temporary folder, removed when the test ends. */
function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-audit-test-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A whole ledger on a temporary SQLite file, the projector running, the app for `inject`. */
async function fileLedger(t: Test, clockStart = '2025-06-30T02:00:00Z') {
  const file = join(tempDir(t), 'ledger.sqlite')
  const { app, store, readModels, projector, close } = await createTestLedger({ file, clock: movableClock(clockStart).clock })
  t.teardown(close)
  const post = async (url: string, payload?: object, expected = 201) => {
    const res = await app.inject({ method: 'POST', url, ...(payload ? { payload } : {}) })
    t.equal(res.statusCode, expected, `POST ${url}: ${expected}`)
    return json(res)
  }
  /** Waits until the projector has applied the whole log; returns the head. */
  const settle = async () => {
    const head = (await store.headPosition())!
    t.equal(await projector.waitForPosition(head, WAIT_MS), head, `projected up to ${head}`)
    return head
  }
  return { file, store, readModels, projector, app, post, settle, close }
}

type FileLedger = Awaited<ReturnType<typeof fileLedger>>

/** Posts a one-line Shanghai submission for 2024-07. */
const line = (ledger: FileLedger, submissionId: string, person: string, wage: string) =>
  ledger.post('/v1/contribution-submissions', submission({ submissionId, lines: [{ personId: person, wage }] }))

/** Runs `ledger audit replay …` in process on `file`; returns the status, the report (from --out) and
 * what went to standard error. */
async function cli(t: Test, file: string, args: string[], env: Record<string, string> = {}) {
  const out = join(tempDir(t), 'report.json')
  const stderr: string[] = []
  const captured = t.capture(process.stderr, 'write', (chunk: unknown) => {
    stderr.push(String(chunk))
    return true
  })
  let status: number
  try {
    status = await main(['node', 'ledger', 'audit', 'replay', '--out', out, ...args], { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: file, LOG_LEVEL: 'silent', ...env })
  } finally {
    captured.restore()
  }
  let report: AuditReport | undefined
  try {
    report = JSON.parse(readFileSync(out, 'utf8')) as AuditReport
  } catch {
    report = undefined
  }
  return { status, report, stderr: stderr.join('') }
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')

/** Temporary replay folders present now (the replay deletes its own). */
const replayDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith('ledger-replay-')).sort()

t.test('one line: the trial balance by hand; replay equals live; digests as defined', async (t) => {
  const ledger = await fileLedger(t)
  const A = personId(1)
  await line(ledger, 'S-1', A, '8500.00')
  // The submission is one append: A's line at position 1, the submission marker at 2.
  t.equal(await ledger.settle(), 2n)
  const before = replayDirs()

  const report = await auditReplay({ store: ledger.store, live: ledger.readModels, storeIdentity: 'sqlite' })
  t.same(replayDirs(), before, 'the temporary read models are deleted')
  t.match(report, { position: '2', events: 2, skippedEvents: 0, until: null, untilPosition: null, livePosition: '2' })
  // Employer 1360.00 + 680.00 + 765.00 + 170.00 + 42.50 + 42.50 + 17.00 = 3077.00 debited; credited:
  // accounts 680.00 + 170.00, pools 1360.00 + 765.00 + 85.00 + 17.00; 850.00 + 2227.00 = 3077.00.
  t.same(report.trialBalance, {
    classes: {
      employer: { debits: '3077.00', credits: '0.00', net: '3077.00' },
      'person:medical:individual': { debits: '0.00', credits: '170.00', net: '-170.00' },
      'person:pension:individual': { debits: '0.00', credits: '680.00', net: '-680.00' },
      'pool:310000:medical': { debits: '0.00', credits: '765.00', net: '-765.00' },
      'pool:310000:pension': { debits: '0.00', credits: '1360.00', net: '-1360.00' },
      'pool:310000:unemployment': { debits: '0.00', credits: '85.00', net: '-85.00' },
      'pool:310000:work_injury': { debits: '0.00', credits: '17.00', net: '-17.00' },
    },
    total: { debits: '3077.00', credits: '3077.00', net: '0.00' },
    unbalancedEvents: { count: 0, positions: [] },
    balanced: true,
  })
  t.same(Object.keys(report.pools), [SH])
  t.match(report.pools[SH]!.schemes, {
    pension: { balance: '1360.00', contributions: '1360.00' },
    medical: { balance: '765.00' },
    unemployment: { balance: '85.00' },
    work_injury: { balance: '17.00' },
    maternity: { balance: '0.00' },
  })
  t.equal(report.poolsAgree, true)
  t.same(report.poolMismatches, [])
  // The digests' definition: SHA-256 of the canonical JSON of the array of documents in key order.
  // One person here (its live document), no transfer: the digest of "[]".
  t.equal(report.persons, 1)
  t.equal(report.personsDigest, sha256(canonicalize([ledger.readModels.getDocument('person-balances', A)])))
  t.equal(report.transfers, 0)
  t.equal(report.transfersDigest, sha256('[]'))
  // Compared: one person document and one pool document, equal.
  t.match(report, { compared: true, documentsCompared: 2, differencesCount: 0, differences: [], ok: true })
  t.notOk('reason' in report)
})

/**
 * The mixed ledger (clock 2025-06-30, so the year 2024 is over for the interest run):
 *   1. Shanghai's pension pool opening balance 1000000.00 (imported);
 *   2. R (born 1964-01-01) imports 15 years 2009-2023 in Shanghai, account 13900.00 at 2023-12-31;
 *   3. submission S-MIX, Shanghai 2024-07: A 8500.00, B 9000.00;
 *   4. R retires 2024-01-10 at 60: 13900.00 / 139 = 100.00 a month from the account, 2000.00 pooled;
 *   5. R's pension for 2024-01 and 2024-02: each 2100.00 = 100.00 from the account + 2000.00 pool;
 *   6. the payout for 2024-02 is reversed;
 *   7. B's line is reversed (all of it);
 *   8. A draws a medical reimbursement 2024-08 of 300.00, 100.00 of it from the medical account
 *      (200.00 from Shanghai's medical pool);
 *   9. A transfers the pension from Shanghai to Beijing: the account moves whole (no posting: it
 *      stays A's), the pooled part 12% × 8500.00 = 1020.00 goes from Shanghai's pool to Beijing's;
 *  10. the interest run for 2024 at 2.62%, inclusive months:
 *      A: 680.00 × 0.0262 × 6/12 (July to December)                     = 8.908 → 8.91 (held in Beijing)
 *      B: 720.00 credited and reversed, both for 2024-07                = 0.00
 *      R: opening 13900.00 × 0.0262 = 364.18; 2024-01 −100.00 × 0.0262 × 12/12 = −2.62; 2024-02
 *         −100.00 and +100.00 × 11/12 cancel: 364.18 − 2.62 = 361.56 (held in Shanghai)
 */
async function mixedLedger(t: Test) {
  const ledger = await fileLedger(t)
  const A = personId(11)
  const B = personId(12)
  const R = personId(13, '19640101')
  await ledger.post(`/v1/pools/${SH}/legacy-balance`, { importId: 'POOL-SH', asOf: '2023-12-31', schemes: { pension: '1000000.00' } })
  await ledger.post(`/v1/persons/${R}/legacy-history`, {
    importId: `LEG-${R}`,
    asOf: '2023-12-31',
    individualAccountBalance: '13900.00',
    years: Array.from({ length: 15 }, (_, i) => ({ year: 2009 + i, region: SH, months: 12, baseTotal: '60000.00' })),
  })
  await ledger.post('/v1/contribution-submissions', submission({ submissionId: 'S-MIX', lines: [{ personId: A, wage: '8500.00' }, { personId: B, wage: '9000.00' }] }))
  t.match(await ledger.post(`/v1/persons/${R}/retirement`, { region: SH, retiredOn: '2024-01-10', ageYears: 60, pooledMonthlyAmount: '2000.00' }), { individualAccountMonthly: '100.00' })
  for (const period of ['2024-01', '2024-02']) {
    t.match(await ledger.post('/v1/payouts', { payoutId: `R-${period}`, personId: R, scheme: 'pension', period, kind: 'monthly' }), { amount: '2100.00', fromIndividualAccount: '100.00', fromPool: '2000.00' })
  }
  const revisionOf = async (person: string, type: string, where: (d: any) => boolean = () => true) => {
    for await (const e of ledger.store.readStream(`person-${person}`)) if (e.type === type && where(e.data)) return e.revision.toString()
    throw new Error(`no ${type} on ${person}`)
  }
  await ledger.post('/v1/reversals', { reversalId: 'REV-R-2024-02', eventRef: { stream: `person-${R}`, revision: await revisionOf(R, 'PayoutRecorded', (d) => d.period === '2024-02') }, reason: 'paid twice' })
  await ledger.post('/v1/reversals', { reversalId: 'REV-B', eventRef: { stream: `person-${B}`, revision: await revisionOf(B, CONTRIBUTION_RECORDED) }, reason: 'not our employee' })
  t.match(await ledger.post('/v1/payouts', { payoutId: 'M-A', personId: A, scheme: 'medical', period: '2024-08', kind: 'reimbursement', amount: '300.00', fromIndividualAccount: '100.00' }), { fromPool: '200.00' })
  await ledger.post('/v1/transfers', { transferId: 'T-A', personId: A, fromRegion: SH, toRegion: BJ })
  await ledger.post('/v1/transfers/T-A/accept')
  t.match(await ledger.post('/v1/transfers/T-A/send'), { moved: { individualAccount: '680.00', pooledFund: '1020.00' } })
  await ledger.post('/v1/interest-runs', { year: 2024 }, 202)
  for (let i = 0; ; i++) {
    const run = json(await ledger.app.inject({ method: 'GET', url: '/v1/interest-runs/2024' }))
    if (run.state === 'completed') {
      t.match(run, { interest: '370.47' }, 'interest 8.91 + 0.00 + 361.56 = 370.47')
      break
    }
    if (i > 200) throw new Error('the interest run did not complete')
    await sleep(25)
  }
  await ledger.settle()
  return { ledger, A, B, R }
}

/**
 * The mixed ledger's trial balance, by hand (D debits, C credits):
 *   employer: D 3077.00 (A) + 3258.00 (B) = 6335.00; C 3258.00 (B reversed); net 3077.00
 *   person:pension:individual: D 100.00 + 100.00 (R's payouts) + 720.00 (B reversed) = 920.00;
 *     C 13900.00 (R imported) + 680.00 (A) + 720.00 (B) + 100.00 (payout reversed) + 8.91 + 0.00
 *     + 361.56 (interest) = 15770.47; net −14850.47 (R 14161.56 + A 688.91 + B 0.00)
 *   person:medical:individual: D 180.00 (B reversed) + 100.00 (A's reimbursement) = 280.00;
 *     C 170.00 + 180.00 = 350.00; net −70.00
 *   pool:310000:pension: D 2000.00 + 2000.00 (payouts) + 1440.00 (B reversed) + 1020.00 (transfer)
 *     = 6460.00; C 1000000.00 + 1360.00 + 1440.00 + 2000.00 (payout reversed) = 1004800.00;
 *     net −998340.00
 *   pool:310000:medical: D 810.00 + 200.00 = 1010.00; C 765.00 + 810.00 = 1575.00; net −565.00
 *   pool:310000:unemployment: D 90.00; C 85.00 + 90.00 = 175.00; net −85.00
 *   pool:310000:work_injury: D 18.00; C 17.00 + 18.00 = 35.00; net −17.00
 *   pool:110000:pension: C 1020.00; net −1020.00
 *   payee: D 2100.00 (reversed payout); C 2100.00 + 2100.00 + 300.00 = 4500.00; net −2400.00
 *   interest:110000: D 8.91; interest:310000: D 0.00 + 361.56 = 361.56
 *   opening: D 1000000.00 + 13900.00 = 1013900.00
 *   total: D 6335.00 + 920.00 + 280.00 + 6460.00 + 1010.00 + 90.00 + 18.00 + 2100.00 + 8.91
 *     + 361.56 + 1013900.00 = 1031483.47; C 3258.00 + 15770.47 + 350.00 + 1004800.00 + 1575.00
 *     + 175.00 + 35.00 + 1020.00 + 4500.00 = 1031483.47; net 0.00
 */
const MIXED_TRIAL_BALANCE = {
  classes: {
    employer: { debits: '6335.00', credits: '3258.00', net: '3077.00' },
    'interest:110000': { debits: '8.91', credits: '0.00', net: '8.91' },
    'interest:310000': { debits: '361.56', credits: '0.00', net: '361.56' },
    opening: { debits: '1013900.00', credits: '0.00', net: '1013900.00' },
    payee: { debits: '2100.00', credits: '4500.00', net: '-2400.00' },
    'person:medical:individual': { debits: '280.00', credits: '350.00', net: '-70.00' },
    'person:pension:individual': { debits: '920.00', credits: '15770.47', net: '-14850.47' },
    'pool:110000:pension': { debits: '0.00', credits: '1020.00', net: '-1020.00' },
    'pool:310000:medical': { debits: '1010.00', credits: '1575.00', net: '-565.00' },
    'pool:310000:pension': { debits: '6460.00', credits: '1004800.00', net: '-998340.00' },
    'pool:310000:unemployment': { debits: '90.00', credits: '175.00', net: '-85.00' },
    'pool:310000:work_injury': { debits: '18.00', credits: '35.00', net: '-17.00' },
  },
  total: { debits: '1031483.47', credits: '1031483.47', net: '0.00' },
  unbalancedEvents: { count: 0, positions: [] },
  balanced: true,
}

t.test('a mixed ledger: replay equals live; the trial balance by hand; pools agree', async (t) => {
  const { ledger } = await mixedLedger(t)
  const head = (await ledger.store.headPosition())!
  let count = 0
  for await (const _ of ledger.store.readAll()) count++

  const report = await auditReplay({ store: ledger.store, live: ledger.readModels, storeIdentity: 'sqlite' })
  t.match(report, { position: head.toString(), events: count, livePosition: head.toString(), compared: true, differencesCount: 0, poolsAgree: true, ok: true })
  t.same(report.trialBalance, MIXED_TRIAL_BALANCE)
  // Pools: Shanghai pension 1000000.00 + 1360.00 + 1440.00 − 1440.00 − 2000.00 − 2000.00 + 2000.00
  // − 1020.00 = 998340.00, contributions 1360.00 (B's 1440.00 reversed), payouts 2000.00, interest
  // credited to accounts Shanghai holds 361.56 (+ B's 0.00; not in the balance); Beijing 1020.00 in.
  t.match(report.pools[SH]!.schemes, {
    pension: { balance: '998340.00', contributions: '1360.00', openingBalance: '1000000.00', transfersOut: '1020.00', payouts: '2000.00', interestCredited: '361.56' },
    medical: { balance: '565.00', payouts: '200.00' },
    unemployment: { balance: '85.00' },
    work_injury: { balance: '17.00' },
  })
  t.match(report.pools[BJ]!.schemes.pension, { balance: '1020.00', transfersIn: '1020.00', interestCredited: '8.91' })
  t.equal(report.persons, 3, 'A, B, R')
  // The individual accounts, summed over the replayed person documents, against the postings
  // (credit-normal, −net of person:{scheme}:individual, MIXED_TRIAL_BALANCE):
  //   pension: R 13900.00 − 100.00 − 100.00 + 100.00 (payout reversed) + 361.56 = 14161.56; A 680.00
  //     + 8.91 = 688.91 (moved to Beijing whole, still A's); B 720.00 − 720.00 = 0.00; sum 14850.47
  //   medical: A 170.00 − 100.00 = 70.00; B 180.00 − 180.00 = 0.00; R 0.00; sum 70.00
  //   unemployment, work injury, maternity: no individual account, 0.00 on both sides
  t.same(report.individualAccounts, {
    maternity: { documents: '0.00', fromPostings: '0.00' },
    medical: { documents: '70.00', fromPostings: '70.00' },
    pension: { documents: '14850.47', fromPostings: '14850.47' },
    unemployment: { documents: '0.00', fromPostings: '0.00' },
    work_injury: { documents: '0.00', fromPostings: '0.00' },
  })
  t.equal(report.personsAgree, true)
  t.same(report.personMismatches, [])
  t.equal(report.transfers, 1, 'T-A')
  // Documents compared: 3 persons + 2 pools + 1 transfer.
  t.equal(report.documentsCompared, 6)

  // Folding in batches of 1 or 3 events gives the same read models as batches of 1,000.
  for (const batchEvents of [1, 3]) {
    const batches: number[] = []
    const replay = await replayLog({ store: ledger.store, batchEvents, onProgress: (p) => batches.push(p.events) })
    try {
      t.equal(batches.length, Math.ceil(count / batchEvents), `${batchEvents}: one progress call per batch`)
      t.equal(replay.readModels.getCheckpoint('replay'), head)
      const diff = await compareReadModels(replay.readModels, ledger.readModels, PROJECTIONS, { pageSize: 2 })
      t.same(diff, { documents: 6, differencesCount: 0, differences: [] }, `batches of ${batchEvents}: no difference (pages of 2)`)
    } finally {
      replay.close()
    }
  }
})

t.test('the CLI end to end: equal, then documents changed in the read-model file are differences (exit 1)', async (t) => {
  const { ledger, A, R } = await mixedLedger(t)
  const head = (await ledger.store.headPosition())!.toString()
  await ledger.close()

  const clean = await cli(t, ledger.file, [])
  t.equal(clean.status, 0, `exit 0 (stderr: ${clean.stderr})`)
  t.match(clean.report, { position: head, livePosition: head, compared: true, differencesCount: 0, poolsAgree: true, ok: true })
  t.same(clean.report!.trialBalance, MIXED_TRIAL_BALANCE)
  t.match(clean.stderr, /^audit replay: OK: position \d+, \d+ events; trial balance balanced \(0\.00\); pools agree; persons agree; 0 difference\(s\) from the live read models at \d+\n$/)

  // Tamper with the live read models: Shanghai's pension balance, A's document removed, a person
  // document that no event made.
  const ghost = personId(99)
  const db = new ReadModelStore(ledger.file)
  const pool = db.getDocument<any>('pool-balances', SH)
  pool.schemes.pension.balance = '998339.00'
  db.db.prepare('UPDATE read_models SET doc = ? WHERE projection = ? AND key = ?').run(JSON.stringify(pool), 'pool-balances', SH)
  db.db.prepare('DELETE FROM read_models WHERE projection = ? AND key = ?').run('person-balances', A)
  db.db.prepare('INSERT INTO read_models (projection, key, doc) VALUES (?, ?, ?)').run('person-balances', ghost, JSON.stringify({ personId: ghost }))
  db.close()

  const tampered = await cli(t, ledger.file, [])
  t.equal(tampered.status, 1, 'exit 1')
  const r = tampered.report!
  t.match(r, { compared: true, differencesCount: 3, ok: false, poolsAgree: true, trialBalance: { balanced: true } }, 'the replay itself is sound')
  // Listed in projection order (person-balances, then pool-balances), each in key order.
  const byKey = Object.fromEntries(r.differences.map((d) => [`${d.projection}/${d.key}`, d]))
  t.match(byKey[`person-balances/${A}`], { replayed: { personId: A }, live: null }, 'a document missing from the live side')
  t.match(byKey[`person-balances/${ghost}`], { replayed: null, live: { personId: ghost } }, 'a live document no event made')
  t.match(byKey[`pool-balances/${SH}`], { replayed: { schemes: { pension: { balance: '998340.00' } } }, live: { schemes: { pension: { balance: '998339.00' } } } })
  t.same(r.differences.map((d) => [d.projection, d.key]), [['person-balances', A], ['person-balances', ghost], ['pool-balances', SH]]) // …011 before …099
  t.notOk(byKey[`person-balances/${R}`], 'R is unchanged')
  t.match(tampered.stderr, /^audit replay: FAILED: .*; 3 difference\(s\) from the live read models at \d+\n$/)
})

t.test('--until-position cuts the replay; compared only at the live checkpoint', async (t) => {
  const ledger = await fileLedger(t)
  const [A, B, C] = [personId(21), personId(22), personId(23)]
  // Three one-line submissions: positions 1 (A's line), 2 (marker), 3 (B), 4, 5 (C), 6.
  await line(ledger, 'S-A', A, '8500.00')
  await line(ledger, 'S-B', B, '9000.00')
  await line(ledger, 'S-C', C, '10000.00')
  t.equal(await ledger.settle(), 6n)
  await ledger.close()

  const four = await cli(t, ledger.file, ['--until-position', '4'])
  t.equal(four.status, 0, 'a cut before the checkpoint is not a failure')
  // A and B: employer 3077.00 + 3258.00 = 6335.00; pension accounts 680.00 + 720.00 = 1400.00,
  // medical 170.00 + 180.00 = 350.00; pools pension 1360.00 + 1440.00 = 2800.00, medical 765.00 +
  // 810.00 = 1575.00, unemployment 85.00 + 90.00 = 175.00, work injury 17.00 + 18.00 = 35.00.
  t.match(four.report, {
    position: '4',
    events: 4,
    untilPosition: '4',
    until: null,
    livePosition: '6',
    persons: 2,
    compared: false,
    reason: 'the replay stopped at position 4, the live read models are at 6',
    differencesCount: 0,
    ok: true,
  })
  t.same(four.report!.trialBalance.classes, {
    employer: { debits: '6335.00', credits: '0.00', net: '6335.00' },
    'person:medical:individual': { debits: '0.00', credits: '350.00', net: '-350.00' },
    'person:pension:individual': { debits: '0.00', credits: '1400.00', net: '-1400.00' },
    'pool:310000:medical': { debits: '0.00', credits: '1575.00', net: '-1575.00' },
    'pool:310000:pension': { debits: '0.00', credits: '2800.00', net: '-2800.00' },
    'pool:310000:unemployment': { debits: '0.00', credits: '175.00', net: '-175.00' },
    'pool:310000:work_injury': { debits: '0.00', credits: '35.00', net: '-35.00' },
  })
  t.same(four.report!.trialBalance.total, { debits: '6335.00', credits: '6335.00', net: '0.00' })
  t.match(four.stderr, /not compared: the replay stopped at position 4, the live read models are at 6/)

  // Position 3 is B's line without its marker: still two persons, three events.
  t.match((await cli(t, ledger.file, ['--until-position', '3'])).report, { position: '3', events: 3, persons: 2 })
  // At the checkpoint, and beyond the log's end (the replay stops at 6): compared.
  for (const p of ['6', '1000']) {
    const at = await cli(t, ledger.file, ['--until-position', p])
    t.equal(at.status, 0)
    t.match(at.report, { position: '6', events: 6, persons: 3, compared: true, differencesCount: 0, ok: true }, `--until-position ${p}`)
  }
  // Before the first event: nothing folded; the digests of empty projections.
  t.match((await cli(t, ledger.file, ['--until-position', '0'])).report, { position: null, events: 0, persons: 0, personsDigest: sha256('[]'), pools: {}, trialBalance: { total: { net: '0.00' }, balanced: true } })
})

t.test('--until <instant> stops before the first event recorded after it', async (t) => {
  const ledger = await fileLedger(t)
  await line(ledger, 'S-1', personId(31), '8500.00')
  await line(ledger, 'S-2', personId(32), '9000.00')
  // recordedAt has milliseconds: wait past the last one, take the instant, wait again.
  await sleep(20)
  const cut = new Date()
  await sleep(20)
  await line(ledger, 'S-3', personId(33), '10000.00')
  await ledger.settle()
  await ledger.close()

  // Two submissions before the cut: 4 events; employer 3077.00 + 3258.00 = 6335.00.
  const z = await cli(t, ledger.file, ['--until', cut.toISOString()])
  t.equal(z.status, 0)
  t.match(z.report, { until: cut.toISOString(), untilPosition: null, position: '4', events: 4, persons: 2, compared: false, trialBalance: { total: { debits: '6335.00', net: '0.00' } } })
  // The same instant in Shanghai time, with a fraction of nanoseconds.
  const local = new Date(cut.getTime() + 8 * 3_600_000).toISOString().replace('Z', '000000+08:00')
  t.match((await cli(t, ledger.file, ['--until', local])).report, { until: local, position: '4', events: 4 })
  // An instant before the log: nothing.
  t.match((await cli(t, ledger.file, ['--until', '2000-01-01T00:00:00Z'])).report, { position: null, events: 0 })
})

t.test('instants: exact to the nanosecond, offsets, malformed ones refused', async (t) => {
  // 2024-07-01T00:00:00Z is 1719792000 s after the epoch (19905 days × 86400).
  t.equal(instantNanos('2024-07-01T00:00:00Z'), 1_719_792_000_000_000_000n)
  t.equal(instantNanos('2024-07-01T08:00:00+08:00'), 1_719_792_000_000_000_000n)
  t.equal(instantNanos('2024-06-30T19:30:00-04:30'), 1_719_792_000_000_000_000n)
  t.equal(instantNanos('2024-07-01T00:00:00.000000001Z') - instantNanos('2024-07-01T00:00:00Z'), 1n)
  t.equal(instantNanos('2024-07-01T00:00:00.5Z') - instantNanos('2024-07-01T00:00:00Z'), 500_000_000n)
  // Years 0000-0099 (HTTP's asOf accepts them): 0001-01-01T00:00:00Z is 62135596800 s before the
  // epoch (719162 days); 0000-03-01 is 306 days (Mar-Dec of the leap year 0) earlier, 62162035200 s.
  t.equal(instantNanos('0001-01-01T00:00:00Z'), -62_135_596_800_000_000_000n)
  t.equal(instantNanos('0000-03-01T00:00:00Z'), -62_162_035_200_000_000_000n)
  t.equal(instantNanos('0000-02-29T00:00:00Z'), -62_162_035_200_000_000_000n - 86_400_000_000_000n, 'year 0 is a leap year')
  t.equal(instantNanos('0099-12-31T23:59:59Z') + 1_000_000_000n, instantNanos('0100-01-01T00:00:00Z'))
  // More than 9 fraction digits: accepted, the nanoseconds kept.
  t.equal(instantNanos('2024-07-01T00:00:00.0000000019Z') - instantNanos('2024-07-01T00:00:00Z'), 1n)
  for (const bad of [
    '2024-07-01', '2024-07-01T00:00:00', '2024-02-30T00:00:00Z', '2024-07-01T24:00:00Z', '2024-07-01T00:00:00+24:00', '2024-07-01 00:00:00Z', 'now',
    '2024-07-01T00:00Z', '0001-02-29T00:00:00Z', '2024-07-01T00:00:00.Z', '2024-07-01T00:00:00z',
  ]) {
    t.throws(() => instantNanos(bad), { name: 'InstantFormatError' }, bad)
  }
})

t.test('--until takes what HTTP asOf takes: years 0000-0099, more than 9 fraction digits; not minutes only', async (t) => {
  const ledger = await fileLedger(t)
  await line(ledger, 'S-1', personId(35), '8500.00')
  await ledger.settle()
  await ledger.close()
  t.match((await cli(t, ledger.file, ['--until', '0050-06-15T12:00:00+08:00'])).report, { until: '0050-06-15T12:00:00+08:00', position: null, events: 0, ok: true })
  const far = await cli(t, ledger.file, ['--until', '2099-01-01T00:00:00.1234567891234Z'])
  t.equal(far.status, 0)
  t.match(far.report, { position: '2', events: 2, compared: true, ok: true })
  const quiet = t.capture(process.stderr, 'write', () => true)
  try {
    const env = { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: ledger.file, LOG_LEVEL: 'silent' }
    await t.rejects(main(['node', 'ledger', 'audit', 'replay', '--until', '2024-07-01T00:00Z'], env), CommanderError, 'minutes only: HTTP refuses it too')
  } finally {
    quiet.restore()
  }
})

/**
 * person-balances with a bug: every contribution line of `person` adds 0.01 too much to the pension
 * individual account. The bug is in the projection, so the live read models (folded by the same
 * code) show it exactly as the replay does: only the postings can tell.
 */
function overCreditingPersonBalances(person: string): DocumentProjection<PersonBalancesDoc> {
  return {
    ...personBalances,
    evolve(doc, event, key) {
      const next = personBalances.evolve(doc, event, key)
      if (key !== person || event.type !== CONTRIBUTION_RECORDED) return next
      const pension = next.schemes.pension
      return { ...next, schemes: { ...next.schemes, pension: { ...pension, individualAccount: formatYuan(yuan(pension.individualAccount).plus(yuan('0.01'))) } } }
    },
  }
}

t.test('individual accounts against postings: a projection bug shared by live and replay is found', async (t) => {
  const { ledger, A } = await mixedLedger(t)
  const head = (await ledger.store.headPosition())!
  const projections = PROJECTIONS.map((p) => (p.name === personBalances.name ? (overCreditingPersonBalances(A) as DocumentProjection<unknown>) : p))
  // Live read models folded by the same buggy code, in a file of their own.
  const live = new ReadModelStore(join(tempDir(t), 'buggy-live.sqlite'))
  t.teardown(() => live.close())
  const projector = new Projector({ store: ledger.store, readModels: live, projections })
  projector.start()
  t.equal(await projector.waitForPosition(head, WAIT_MS), head)
  await projector.stop()

  const report = await auditReplay({ store: ledger.store, live, projections })
  // Live and replay agree (the same bug on both sides), the trial balance and the pools are sound.
  t.match(report, { compared: true, differencesCount: 0, poolsAgree: true, trialBalance: { balanced: true } })
  // A has one contribution line (S-MIX): pension 14850.47 + 0.01 = 14850.48 in the documents.
  t.equal(report.personsAgree, false)
  t.same(report.personMismatches, [{ scheme: 'pension', documents: '14850.48', fromPostings: '14850.47' }])
  t.same(report.individualAccounts.medical, { documents: '70.00', fromPostings: '70.00' })
  t.equal(report.ok, false, 'so the audit fails (exit 1)')
  t.match(summary(report), /^audit replay: FAILED: .*; pools agree; individual accounts of pension disagree with their postings; 0 difference\(s\)/)
})

t.test('--out: a folder that cannot take the report is found before the replay starts (exit 2)', async (t) => {
  const ledger = await fileLedger(t)
  await line(ledger, 'S-1', personId(36), '8500.00')
  await ledger.settle()
  await ledger.close()
  const dir = tempDir(t)
  const aFile = join(dir, 'a-file')
  writeFileSync(aFile, 'x')
  const env = (file = ledger.file) => ({ LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: file, LOG_LEVEL: 'silent' })
  const run = async (args: string[], file?: string) => {
    const stderr: string[] = []
    const captured = t.capture(process.stderr, 'write', (chunk: unknown) => {
      stderr.push(String(chunk))
      return true
    })
    try {
      return { status: await main(['node', 'ledger', 'audit', 'replay', ...args], env(file)), stderr: stderr.join('') }
    } finally {
      captured.restore()
    }
  }
  for (const [out, message] of [
    [join(dir, 'missing', 'report.json'), /^audit replay: --out: the folder .*missing cannot be read \(ENOENT\)\n$/],
    [join(aFile, 'report.json'), /^audit replay: --out: .*a-file is not a folder\n$/],
    [dir, /^audit replay: --out: .* is a folder\n$/],
  ] as const) {
    const r = await run(['--out', out])
    t.equal(r.status, 2, `--out ${out}: exit 2`)
    t.match(r.stderr, message, 'one line saying why, and no replay summary')
  }
  t.same(readdirSync(dir), ['a-file'], 'nothing written')
  // Before the replay starts: with a ledger path that cannot be opened (a folder), a good --out gets
  // as far as opening the store (exit 1); a bad one never does (exit 2).
  const notADatabase = join(dir, 'folder.sqlite')
  mkdirSync(notADatabase)
  t.equal((await run(['--out', join(dir, 'report.json')], notADatabase)).status, 1, 'a good --out: the store is opened, and fails')
  t.equal((await run(['--out', join(dir, 'missing', 'report.json')], notADatabase)).status, 2, 'a bad --out: refused before that')
  rmSync(notADatabase, { recursive: true })
  // And a good one works.
  const good = await run(['--out', join(dir, 'report.json')])
  t.equal(good.status, 0)
  t.match(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')), { position: '2', ok: true })
})

t.test('--tmp-dir: where the temporary copy of the read models goes', async (t) => {
  const ledger = await fileLedger(t)
  await line(ledger, 'S-1', personId(37), '8500.00')
  await ledger.settle()
  const dir = tempDir(t)
  const seen: string[][] = []
  const before = replayDirs()
  const replay = await replayLog({ store: ledger.store, tmpDir: dir, onProgress: () => seen.push(readdirSync(dir)) })
  try {
    t.equal(seen.length, 1)
    t.match(seen[0], [/^ledger-replay-/], 'during the replay: one folder under --tmp-dir')
    t.equal(seen[0]!.length, 1)
    t.same(replayDirs(), before, 'none under os.tmpdir()')
    t.same(readdirSync(join(dir, seen[0]![0]!)).filter((f) => f === 'read-models.sqlite'), ['read-models.sqlite'])
  } finally {
    replay.close()
  }
  t.same(readdirSync(dir), [], 'deleted by close()')
  await ledger.close()

  const ok = await cli(t, ledger.file, ['--tmp-dir', dir])
  t.equal(ok.status, 0)
  t.match(ok.report, { position: '2', ok: true })
  t.same(readdirSync(dir), [], 'and by the command')
  const missing = await cli(t, ledger.file, ['--tmp-dir', join(dir, 'missing')])
  t.equal(missing.status, 2, 'a --tmp-dir that does not exist: exit 2, before the replay')
  t.match(missing.stderr, /^audit replay: --tmp-dir: the folder .*missing cannot be read \(ENOENT\)\n$/)
  t.equal(missing.report, undefined)

  // --help says what the folder holds, and the default.
  const group = new Command('audit')
  registerAuditReplay(group, { env: {}, out: () => {}, err: () => {}, setStatus: () => {} })
  const help = group.commands.find((c) => c.name() === 'replay')!.helpInformation().replace(/\s+/g, ' ')
  t.match(help, /--tmp-dir <dir> .*COPY OF THE READ MODELS.*\(default: "[^"]+"\)/)
})

t.test('the trial balance: classes, and an unbalanced event found', async (t) => {
  t.equal(accountClass('employer:91310000MA1FL00010'), 'employer')
  t.equal(accountClass('person:310104199001010011:medical:individual'), 'person:medical:individual')
  t.equal(accountClass('pool:310000:pension'), 'pool:310000:pension')
  t.equal(accountClass('payee:310104199001010011'), 'payee')
  t.equal(accountClass('interest:110000:pension'), 'interest:110000')
  t.equal(accountClass('opening'), 'opening')
  for (const bad of ['employer', 'person:x:pension', 'pool:310000', 'cash:1']) t.throws(() => accountClass(bad), UnknownAccountError, bad)

  // A line whose pool part is short by 0.01: employer 10.00 + employee 0.00 debited, 9.99 credited.
  const tb = new TrialBalance()
  const schemes = [{ scheme: 'work_injury', base: '5000.00', employerRate: '0.002', employeeRate: '0', employer: '10.00', employee: '0.00', individualAccount: '0.00', pool: '9.99' }]
  tb.add({ type: CONTRIBUTION_RECORDED, data: { personId: personId(41), employerId: employerId(), region: SH, schemes }, position: 7n })
  tb.add({ type: 'ContributionSubmissionRecorded', data: {}, position: 8n })
  t.same(tb.report(), {
    classes: {
      employer: { debits: '10.00', credits: '0.00', net: '10.00' },
      'pool:310000:work_injury': { debits: '0.00', credits: '9.99', net: '-9.99' },
    },
    total: { debits: '10.00', credits: '9.99', net: '0.01' },
    unbalancedEvents: { count: 1, positions: ['7'] },
    balanced: false,
  })
})

t.test('an unbalanced event in the log: exit 1, the pools still agree with their postings', async (t) => {
  const ledger = await fileLedger(t)
  const P = personId(51)
  await line(ledger, 'S-1', P, '8500.00')
  // Written to the log directly (the use case never would): 10.00 owed, 9.99 to the pool.
  const data = {
    submissionId: 'S-BAD', lineIndex: 0, personId: personId(52), employerId: employerId(), region: SH, period: '2024-07', wage: '5000.00', workInjuryClass: 1,
    policyId: '310000/2024-07/v1', policyTableVersion: 'test',
    schemes: [{ scheme: 'work_injury', base: '5000.00', employerRate: '0.002', employeeRate: '0', employer: '10.00', employee: '0.00', individualAccount: '0.00', pool: '9.99' }],
  }
  await ledger.store.append(`person-${personId(52)}`, [{ type: CONTRIBUTION_RECORDED, data }], 'no_stream')
  t.equal(await ledger.settle(), 3n)
  await ledger.close()
  const run = await cli(t, ledger.file, [])
  t.equal(run.status, 1)
  // Work injury pool 17.00 + 9.99 = 26.99, on both sides; employer 3077.00 + 10.00 = 3087.00 against
  // 3077.00 + 9.99 = 3086.99 credited.
  t.match(run.report, {
    compared: true,
    differencesCount: 0,
    poolsAgree: true,
    ok: false,
    trialBalance: { total: { debits: '3087.00', credits: '3086.99', net: '0.01' }, unbalancedEvents: { count: 1, positions: ['3'] }, balanced: false },
    pools: { [SH]: { schemes: { work_injury: { balance: '26.99' } } } },
  })
  t.match(run.stderr, /trial balance NOT balanced \(net 0\.01, 1 unbalanced events\)/)
})

t.test('the report on standard output; configuration and usage errors', async (t) => {
  const ledger = await fileLedger(t)
  await line(ledger, 'S-1', personId(61), '8500.00')
  await ledger.settle()
  await ledger.close()
  const env = { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: ledger.file, LOG_LEVEL: 'silent' }

  // Without --out the report is the only thing on standard output (one write of the JSON).
  const written: string[] = []
  const originalWrite = process.stdout.write.bind(process.stdout) as (...args: unknown[]) => boolean
  const stdout = t.capture(process.stdout, 'write', (chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string' && chunk.startsWith('{')) {
      written.push(chunk)
      return true
    }
    return originalWrite(chunk, ...rest) // TAP output of the runner passes through
  })
  const stderr = t.capture(process.stderr, 'write', () => true)
  let status: number
  try {
    status = await main(['node', 'ledger', 'audit', 'replay'], env)
  } finally {
    stdout.restore()
    stderr.restore()
  }
  t.equal(status, 0)
  t.equal(written.length, 1)
  t.match(JSON.parse(written[0]!), { position: '2', events: 2, compared: true, ok: true })

  const bad = await cli(t, ledger.file, [], { LEDGER_STORE: 'mongodb' })
  t.equal(bad.status, 2, 'a bad configuration: exit 2')
  t.match(bad.stderr, /LEDGER_STORE/)
  t.equal(bad.report, undefined, 'no report')
  const missing = join(tempDir(t), 'nothing-here.sqlite')
  const none = await cli(t, missing, [])
  t.equal(none.status, 2, 'no ledger file: exit 2')
  t.match(none.stderr, /no ledger at .*nothing-here\.sqlite/)
  t.same(readdirSync(join(missing, '..')), [], 'and no file created')

  // Read models folded from another store are not compared: exit 1, though the replay is sound.
  const other = new ReadModelStore(ledger.file)
  other.db.prepare("UPDATE read_model_meta SET value = 'kurrentdb' WHERE key = 'store'").run()
  other.close()
  const foreign = await cli(t, ledger.file, [])
  t.equal(foreign.status, 1)
  t.match(foreign.report, { position: '2', livePosition: '2', compared: false, reason: 'the live read models were folded from the kurrentdb event store, not sqlite', ok: false, trialBalance: { balanced: true } })

  const quiet = t.capture(process.stderr, 'write', () => true)
  try {
    await t.rejects(main(['node', 'ledger', 'audit', 'replay', '--until', '2024-07-01'], env), CommanderError, 'an instant without time and offset')
    await t.rejects(main(['node', 'ledger', 'audit', 'replay', '--until-position', '-1'], env), CommanderError, 'a negative position')
    await t.rejects(main(['node', 'ledger', 'audit', 'replay', '--until', '2024-07-01T00:00:00Z', '--until-position', '4'], env), CommanderError, 'both cuts')
  } finally {
    quiet.restore()
  }
})

t.test('the progress bar: only on a terminal', async (t) => {
  const pipe = Object.assign(new PassThrough(), { isTTY: false })
  t.equal(progressBar(pipe), undefined, 'nothing on a pipe or a file')
  const terminal = Object.assign(new PassThrough(), { isTTY: true, columns: 100 })
  let drawn = ''
  terminal.on('data', (d: Buffer) => (drawn += d.toString()))
  const bar = progressBar(terminal)!
  t.ok(bar)
  // Position 250 of 1000: 25%.
  bar.update({ position: 250n, events: 240, target: 1000n })
  await sleep(150) // the bar redraws at most every 100 ms
  bar.update({ position: 500n, events: 480, target: 1000n })
  bar.stop()
  t.match(drawn, /replay \[.*\] 25% \| position 250 \| 240 events/)
})

t.test('a service projecting during the audit: the live side is read at the checkpoint the replay stops at', async (t) => {
  const ledger = await fileLedger(t)
  await line(ledger, 'S-1', personId(71), '8500.00')
  t.equal(await ledger.settle(), 2n)
  // A store that, once the replay has read its first event, lets the service record and project
  // another submission (positions 3 and 4) before the replay goes on.
  const store = {
    headPosition: () => ledger.store.headPosition(),
    async *readAll(): AsyncGenerator<RecordedEvent> {
      let first = true
      for await (const e of ledger.store.readAll()) {
        yield e
        if (first) {
          first = false
          await line(ledger, 'S-2', personId(72), '9000.00')
          t.equal(await ledger.settle(), 4n, 'the service moved on to 4 meanwhile')
        }
      }
    },
  } as unknown as EventStore
  const live = new ReadModelStore(ledger.file)
  t.teardown(() => live.close())
  const report = await auditReplay({ store, live, storeIdentity: 'sqlite', batchEvents: 1 })
  // The checkpoint was 2 when the audit began: the replay stops there, and the live documents are
  // read as they were then (one person), not with the person the service has added since.
  t.match(report, { position: '2', events: 2, livePosition: '2', persons: 1, compared: true, documentsCompared: 2, differencesCount: 0, ok: true })
  t.equal(live.getCheckpoint('main'), 4n, 'after the audit the live file is at 4')
})
