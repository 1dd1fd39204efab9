/**
 * THE OLD-LOG FIXTURE TEST ("events are forever").
 *
 * NEVER EDIT THIS TEST, OR ITS FIXTURE, TO MATCH NEW OUTPUT. A difference here means a change broke
 * a log written by an old version: every log ever written must be read by every later version to
 * the same balances. Change an event's shape only by adding fields with defaults or by upcasting
 * on read.
 *
 * test/fixtures/old-log/ledger.sqlite is a whole ledger file written by commit 33ddf15 (before the
 * read-model file gained document positions, marks and the projector lease): its log of 56 events
 * of all 26 types that version writes, its read models and checkpoint. golden.json beside it holds
 * what that version SERVED for it (recorded once by generate.ts, see the README there), not
 * anything computed here. Each test works on a temporary copy of the file, with the clock the
 * fixture was written at (a transfer's `overdue` depends on today).
 */
import t, { type Test } from 'tap'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { formatYuan, yuan } from '../src/domain/money.js'
import { runLedgerCli } from './helpers/cli.js'
import { employerId, json, submission } from './helpers/http.js'
import { createTestLedger } from './helpers/ledger.js'

const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'old-log')

interface Golden {
  writtenBy: string
  clock: string
  head: string
  eventTypes: string[]
  sealDigest: string
  persons: Record<string, any>
  pools: Record<string, any>
  transfers: Record<string, any>
  transferList: any
}
const golden = JSON.parse(readFileSync(join(FIXTURE_DIR, 'golden.json'), 'utf8')) as Golden
/** The person whose Shanghai line of 2024-10 test (d) posts: C of generate.ts (2024-07 and 2024-08
 * in Shanghai, a transfer to Beijing rejected, so the pension account is still held in Shanghai). */
const C = '310104199001010142'
const SH = '310000'
/** How long the projector may take to fold the whole fixture log, milliseconds. */
const SETTLE_WAIT_MS = 10_000

/** A temporary copy of the fixture file (the folder removed when the test ends). */
function fixtureCopy(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-old-log-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'ledger.sqlite')
  copyFileSync(join(FIXTURE_DIR, 'ledger.sqlite'), file)
  return file
}

/** The file opened as the service opens it (log and read models in it, the projector running),
 * on the fixture's clock; closed when the test ends. */
async function open(t: Test, file: string) {
  const ledger = await createTestLedger({ file, clock: () => new Date(golden.clock) })
  t.teardown(ledger.close)
  /** Waits until the projector has folded the whole log; returns the head. */
  const settle = async () => {
    const head = (await ledger.store.headPosition())!
    t.equal(await ledger.projector.waitForPosition(head, SETTLE_WAIT_MS), head, `projected up to ${head}`)
    return head
  }
  const get = async (url: string) => {
    const res = await ledger.app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, `GET ${url}`)
    return json(res)
  }
  return { ...ledger, settle, get }
}

/** Everything golden.json recorded, as the ledger serves it now. */
async function served(ledger: Awaited<ReturnType<typeof open>>) {
  const out = { persons: {} as Record<string, any>, pools: {} as Record<string, any>, transfers: {} as Record<string, any>, transferList: await ledger.get('/v1/transfers') }
  for (const p of Object.keys(golden.persons)) out.persons[p] = await ledger.get(`/v1/persons/${p}/balances`)
  for (const r of Object.keys(golden.pools)) out.pools[r] = await ledger.get(`/v1/pools/${r}/balances`)
  for (const id of Object.keys(golden.transfers)) out.transfers[id] = await ledger.get(`/v1/transfers/${id}`)
  return out
}

const goldenBalances = () => ({ persons: golden.persons, pools: golden.pools, transfers: golden.transfers, transferList: golden.transferList })

t.test('the fixture is what 33ddf15 wrote: the old read-model file format, the whole log', async (t) => {
  t.equal(golden.writtenBy, '33ddf15')
  t.equal(golden.eventTypes.length, 26)
  t.equal(Object.keys(golden.persons).length, 7)
  t.same(Object.keys(golden.pools).sort(), ['110000', '310000'])
  t.same(Object.keys(golden.transfers).sort(), ['T-A', 'T-C', 'T-D'])
  const db = new Database(fixtureCopy(t), { readonly: true })
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name)
    t.notOk(tables.includes('read_model_marks'), 'no read_model_marks table yet')
    t.notOk(tables.includes('projector_lease'), 'no projector_lease table yet')
    const columns = (db.prepare('PRAGMA table_info(read_models)').all() as { name: string }[]).map((c) => c.name)
    t.notOk(columns.includes('position'), 'read_models without the position column')
    t.equal((db.prepare("SELECT position FROM checkpoints WHERE name = 'main'").get() as { position: string }).position, golden.head, 'its checkpoint at the head')
    t.equal((db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n, Number(golden.head), 'events 1..head')
  } finally {
    db.close()
  }
})

t.test('(a) opened as the service opens it: the old read models are migrated and serve exactly the golden balances', async (t) => {
  const ledger = await open(t, fixtureCopy(t))
  t.equal(await ledger.settle(), BigInt(golden.head), 'nothing to fold: the checkpoint is at the head')
  t.strictSame(await served(ledger), goldenBalances())
  // Migrated: each old document is given the checkpoint it was folded up to.
  t.equal(ledger.readModels.loadDocument('person-balances', C)?.position, BigInt(golden.head))
  t.equal(ledger.readModels.loadDocument('pool-balances', SH)?.position, BigInt(golden.head))
})

t.test('(b) the log folded from scratch by the current code gives the same balances', async (t) => {
  t.test('read-model rows deleted: the service folds the whole log again', async (t) => {
    const file = fixtureCopy(t)
    const db = new Database(file)
    db.exec('DELETE FROM read_models; DELETE FROM checkpoints;')
    t.equal((db.prepare('SELECT COUNT(*) AS n FROM read_models').get() as { n: number }).n, 0)
    db.close()
    const ledger = await open(t, file)
    t.equal(await ledger.settle(), BigInt(golden.head))
    t.strictSame(await served(ledger), goldenBalances())
  })

  t.test('`ledger audit replay`: fresh read models equal the old ones, the trial balance balances', async (t) => {
    const file = fixtureCopy(t)
    const report = join(dirname(file), 'report.json')
    const run = await runLedgerCli(['audit', 'replay', '--out', report], { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: file, LOG_LEVEL: 'silent' })
    t.equal(run.code, 0, `exit 0 (stderr: ${run.stderr})`)
    // 7 persons + 2 pools + 3 transfers compared.
    t.match(JSON.parse(readFileSync(report, 'utf8')), {
      position: golden.head,
      livePosition: golden.head,
      compared: true,
      documentsCompared: 12,
      differencesCount: 0,
      poolsAgree: true,
      personsAgree: true,
      trialBalance: { balanced: true },
      ok: true,
    })
  })
})

t.test('(c) `ledger audit verify --strict`: the hash chain and the seal written by 33ddf15 verify', async (t) => {
  const file = fixtureCopy(t)
  const run = await runLedgerCli(['audit', 'verify', '--strict', '--expect-digest', golden.sealDigest], { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: file, LOG_LEVEL: 'silent' })
  t.equal(run.code, 0, `exit 0 (stdout: ${run.stdout}, stderr: ${run.stderr})`)
  const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!)
  t.match(report, { ok: true, events: Number(golden.head), lastPosition: golden.head, problems: 0, unchained: { events: 0 }, expectedDigest: { digest: golden.sealDigest, found: true } })
})

/**
 * (d) One more line through the current code, folded onto the migrated old documents: C, Shanghai,
 * 2024-10, wage 40000.00, work-injury class I, under 310000/2024-07/v1 (policy/policy-table.json):
 * the wage is above the cap, so the base is the cap 36921.00.
 *   pension      employer 16% = 5907.36, employee 8% = 2953.68 (to the individual account)
 *   medical      employer 9% = 3322.89, employee 2% = 738.42 (to the individual medical account)
 *   unemployment employer and employee 0.5% = 184.605, half-up to the fen 184.61 each
 *   work injury  class I 0.2% = 73.842 → 73.84, employer only
 *   maternity    no separate maternity in Shanghai: nothing, no month
 * The pools receive everything but the individual accounts: pension 5907.36, medical 3322.89,
 * unemployment 369.22, work injury 73.84.
 */
t.test('(d) a new contribution folds onto the old read models by exactly its line amounts', async (t) => {
  const ledger = await open(t, fixtureCopy(t))
  await ledger.settle()
  const res = await ledger.app.inject({
    method: 'POST',
    url: '/v1/contribution-submissions',
    payload: submission({ submissionId: 'S-AFTER-33ddf15', employerId: employerId('0003'), period: '2024-10', lines: [{ personId: C, wage: '40000.00' }] }),
  })
  t.equal(res.statusCode, 201, res.body)
  // The line and the submission marker.
  const head = await ledger.settle()
  t.equal(head, BigInt(golden.head) + 2n)

  const plus = (amount: string, delta: string) => formatYuan(yuan(amount).plus(yuan(delta)))
  const before = golden.persons[C]
  const moved = (scheme: string, d: { employer: string; employee: string; individualAccount: string; months: number }) => ({
    ...before.schemes[scheme],
    employerContributed: plus(before.schemes[scheme].employerContributed, d.employer),
    employeeContributed: plus(before.schemes[scheme].employeeContributed, d.employee),
    individualAccount: plus(before.schemes[scheme].individualAccount, d.individualAccount),
    months: before.schemes[scheme].months + d.months,
  })
  t.strictSame(await ledger.get(`/v1/persons/${C}/balances`), {
    ...before,
    position: head.toString(),
    schemes: {
      pension: moved('pension', { employer: '5907.36', employee: '2953.68', individualAccount: '2953.68', months: 1 }),
      medical: moved('medical', { employer: '3322.89', employee: '738.42', individualAccount: '738.42', months: 1 }),
      unemployment: moved('unemployment', { employer: '184.61', employee: '184.61', individualAccount: '0.00', months: 1 }),
      work_injury: moved('work_injury', { employer: '73.84', employee: '0.00', individualAccount: '0.00', months: 1 }),
      maternity: before.schemes.maternity,
    },
    pensionAccount: { ...before.pensionAccount, monthsByRegion: { ...before.pensionAccount.monthsByRegion, [SH]: before.pensionAccount.monthsByRegion[SH] + 1 } },
  })

  const pool = golden.pools[SH]
  const into = (scheme: string, amount: string) => ({
    ...pool.schemes[scheme],
    balance: plus(pool.schemes[scheme].balance, amount),
    contributions: plus(pool.schemes[scheme].contributions, amount),
  })
  t.strictSame(await ledger.get(`/v1/pools/${SH}/balances`), {
    ...pool,
    position: head.toString(),
    schemes: {
      pension: into('pension', '5907.36'),
      medical: into('medical', '3322.89'),
      unemployment: into('unemployment', '369.22'),
      work_injury: into('work_injury', '73.84'),
      maternity: pool.schemes.maternity,
    },
  })

  // Nobody else moved.
  const now = await served(ledger)
  for (const [p, doc] of Object.entries(golden.persons)) if (p !== C) t.strictSame(now.persons[p], { ...doc, position: head.toString() }, `person ${p} unchanged`)
  t.strictSame(now.pools['110000'], { ...golden.pools['110000'], position: head.toString() }, 'Beijing unchanged')
})
