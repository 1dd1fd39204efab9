import t, { type Test } from 'tap'
import { CLI_RUN_TIMEOUT_MS, runLedgerCli } from '../helpers/cli.js'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import { createLedger, type Ledger } from '../../src/bootstrap.js'
import { systemAuthenticator } from '../../src/http/auth.js'
import { loadConfig } from '../../src/config.js'
import { main } from '../../src/cli/ledger.js'
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import { PROJECTIONS, type DocumentProjection } from '../../projections/index.js'
import { employerId, personId, submission } from '../helpers/http.js'

/**
 * `ledger projections rebuild [name]` (issue #6) end to end: through `main(argv, env)` on temporary
 * files, and as a process of its own while the service on the same file keeps posting and reading.
 */

const WAIT_MS = 10_000
/** Longest a CLI process may take, milliseconds (the TypeScript loader compiles on start). */
const RUN_TIMEOUT_MS = CLI_RUN_TIMEOUT_MS

const envFor = (file: string): NodeJS.ProcessEnv => ({ LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: file, LOG_LEVEL: 'silent' })
const openService = (file: string): Promise<Ledger> => createLedger(loadConfig(envFor(file)), { authenticator: systemAuthenticator })

async function post(ledger: Ledger, url: string, payload?: object): Promise<void> {
  const res = await ledger.app.inject({ method: 'POST', url, ...(payload ? { payload } : {}) })
  if (res.statusCode >= 300) throw new Error(`POST ${url}: ${res.statusCode} ${res.body}`)
}

/** Submissions for `count` persons over three months in Shanghai, a few in Beijing, one transfer. */
async function seed(ledger: Ledger, count: number): Promise<bigint> {
  const persons = Array.from({ length: count }, (_, i) => personId(i))
  for (const period of ['2024-01', '2024-02', '2024-03']) {
    await post(ledger, '/v1/contribution-submissions', submission({ submissionId: `S-${period}`, period, lines: persons.map((p, i) => ({ personId: p, wage: `${7000 + 250 * i}.00` })) }))
    await post(ledger, '/v1/contribution-submissions', submission({ submissionId: `B-${period}`, region: '110000', employerId: employerId('0002'), period, lines: [{ personId: personId(count), wage: '12000.00' }] }))
  }
  await post(ledger, '/v1/transfers', { transferId: 'T-1', personId: persons[0], fromRegion: '310000', toRegion: '110000' })
  await post(ledger, '/v1/transfers/T-1/accept')
  await post(ledger, '/v1/transfers/T-1/send')
  return caughtUp(ledger)
}

async function caughtUp(ledger: Ledger): Promise<bigint> {
  const head = (await ledger.store.headPosition())!
  if ((await ledger.projector.waitForPosition(head, WAIT_MS)) !== head) throw new Error(`projector did not reach ${head}`)
  return head
}

async function allEvents(store: EventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = []
  for await (const e of store.readAll()) out.push(e)
  return out
}

/** Every live document of each projection equals the fold from scratch up to the checkpoint. */
async function expectFolded(t: Test, store: EventStore, file: string, projections: readonly DocumentProjection<unknown>[], what: string): Promise<void> {
  const rm = new ReadModelStore(file)
  try {
    const checkpoint = rm.getCheckpoint('main')!
    const events = (await allEvents(store)).filter((e) => e.position <= checkpoint)
    for (const p of projections) {
      const expected = new Map<string, unknown>()
      for (const e of events) for (const key of p.keysOf(e)) expected.set(key, p.evolve(expected.has(key) ? expected.get(key) : p.initial(key), e, key))
      const rows = rm.db.prepare('SELECT key, doc FROM read_models WHERE projection = ? ORDER BY key').all(p.name) as { key: string; doc: string }[]
      t.ok(expected.size > 0, `${what}: ${p.name} has documents`)
      t.same(
        Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.doc)])),
        Object.fromEntries([...expected].map(([k, d]) => [k, JSON.parse(JSON.stringify(d))])),
        `${what}: every ${p.name} document equals the fold from scratch up to ${checkpoint}`,
      )
    }
  } finally {
    rm.close()
  }
}

/** Runs `main` with `args` after `ledger`, capturing what it writes. */
async function runMain(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; out: string[]; err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const stdout = process.stdout.write
  const stderr = process.stderr.write
  process.stdout.write = ((chunk: string) => out.push(...String(chunk).split('\n').filter(Boolean)) > -1) as typeof process.stdout.write
  process.stderr.write = ((chunk: string) => err.push(...String(chunk).split('\n').filter(Boolean)) > -1) as typeof process.stderr.write
  try {
    const status = await main(['node', 'ledger', ...args], env)
    return { status, out, err }
  } finally {
    process.stdout.write = stdout
    process.stderr.write = stderr
  }
}

/** A service seeded on a new file, stopped, with one person's balances and the Shanghai pool corrupted. */
async function corruptedFile(t: Test): Promise<{ file: string; head: bigint }> {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  let head: bigint
  try {
    head = await seed(ledger, 8)
  } finally {
    await ledger.close()
  }
  const rm = new ReadModelStore(file)
  rm.db.prepare("UPDATE read_models SET doc = '{\"schemes\":{}}' WHERE projection = 'person-balances' AND key = ?").run(personId(3))
  rm.db.prepare("UPDATE read_models SET doc = '{\"broken\":1}' WHERE projection = 'pool-balances' AND key = '310000'").run()
  rm.close()
  return { file, head }
}

const corrupted = (file: string, projection: string, key: string): boolean => {
  const rm = new ReadModelStore(file)
  try {
    const doc = rm.getDocument<Record<string, unknown>>(projection, key)!
    return 'broken' in doc || JSON.stringify(doc.schemes) === '{}'
  } finally {
    rm.close()
  }
}

t.test('rebuild one projection: its corrupted document repaired, the others untouched, exit 0', async (t) => {
  const { file, head } = await corruptedFile(t)
  const run = await runMain(['projections', 'rebuild', 'person-balances'], envFor(file))
  t.equal(run.status, 0, `exit 0 (${run.err.join(' | ')})`)
  t.same(run.err, [])
  t.equal(run.out[0], `projections rebuild person-balances from sqlite ${file} into ${file}`)
  t.match(run.out[1], new RegExp(`^person-balances: rebuilt 9 document\\(s\\) up to position ${head}, 1 replaced; ${head} event\\(s\\) folded, \\d+ ms \\(swap \\d+ ms\\)$`))
  t.equal(run.out.length, 2)
  t.notOk(corrupted(file, 'person-balances', personId(3)), 'repaired')
  t.ok(corrupted(file, 'pool-balances', '310000'), 'another projection is not touched')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await expectFolded(t, ledger.store, file, PROJECTIONS.filter((p) => p.name !== 'pool-balances'), 'after rebuilding person-balances')
})

t.test('rebuild without a name: every projection, a summary each, progress per 100,000 events', async (t) => {
  const { file } = await corruptedFile(t)
  const run = await runMain(['projections', 'rebuild'], envFor(file))
  t.equal(run.status, 0, `exit 0 (${run.err.join(' | ')})`)
  t.match(run.out[0], /^projections rebuild person-balances, pool-balances, transfers from sqlite /)
  t.match(run.out.slice(1), [/^person-balances: rebuilt 9 document\(s\) up to position \d+, 1 replaced;/, /^pool-balances: rebuilt 2 document\(s\) up to position \d+, 1 replaced;/, /^transfers: rebuilt 1 document\(s\) up to position \d+, 0 replaced;/])
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await expectFolded(t, ledger.store, file, PROJECTIONS, 'after rebuilding all')
})

t.test('an unknown name exits 2 listing the names; nothing is changed', async (t) => {
  const { file } = await corruptedFile(t)
  const run = await runMain(['projections', 'rebuild', 'person-balance'], envFor(file))
  t.equal(run.status, 2)
  t.same(run.err, ['projections rebuild: unknown projection "person-balance"; the projections are person-balances, pool-balances, transfers'])
  t.same(run.out, [])
  t.ok(corrupted(file, 'person-balances', personId(3)))
})

t.test('a bad configuration exits 2', async (t) => {
  const run = await runMain(['projections', 'rebuild'], { LEDGER_STORE: 'postgres', LEDGER_SQLITE_PATH: path.join(t.testdir(), 'x.sqlite') })
  t.equal(run.status, 2)
  t.match(run.err.join('\n'), /invalid configuration:\n {2}LEDGER_STORE:/)
})

t.test('read models of another event store exit 2', async (t) => {
  const { file } = await corruptedFile(t)
  const rm = new ReadModelStore(file)
  rm.db.prepare("UPDATE read_model_meta SET value = 'kurrentdb' WHERE key = 'store'").run()
  rm.close()
  const run = await runMain(['projections', 'rebuild', 'transfers'], envFor(file))
  t.equal(run.status, 2)
  t.match(run.err[0], /the read models in this file were built from the kurrentdb event store, not sqlite; LEDGER_SQLITE_PATH must name the service's read models/)
})

t.test('a rebuild that fails exits 1 and leaves the documents as they were', async (t) => {
  const { file, head } = await corruptedFile(t)
  const rm = new ReadModelStore(file)
  rm.db.prepare("UPDATE checkpoints SET position = ? WHERE name = 'main'").run(String(head + 50n))
  rm.close()
  const run = await runMain(['projections', 'rebuild', 'person-balances'], envFor(file))
  t.equal(run.status, 1)
  t.match(run.err[0], /^projections rebuild: person-balances: the live checkpoint main \(\d+\) is not a position of the log/)
  t.equal(run.out.at(-1), 'person-balances: not rebuilt; its documents are as they were')
  t.ok(corrupted(file, 'person-balances', personId(3)))
})

t.test('the CLI in its own process while the service on the same file keeps posting and answering', { timeout: 3 * RUN_TIMEOUT_MS }, async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await seed(ledger, 40)
  const rm = new ReadModelStore(file)
  rm.db.prepare("UPDATE read_models SET doc = '{\"schemes\":{}}' WHERE projection = 'person-balances' AND key = ?").run(personId(3))
  rm.close()

  let stop = false
  let posted = 0
  let reads = 0
  const writer = (async () => {
    for (let i = 0; !stop && i < 100 * 12; i++) {
      const month = 6 + Math.floor(i / 100)
      const period = `${2023 + Math.floor(month / 12)}-${String((month % 12) + 1).padStart(2, '0')}`
      await post(ledger, '/v1/contribution-submissions', submission({ submissionId: `LIVE-${i}`, period, lines: [{ personId: personId(100 + (i % 100)), wage: '10000.00' }] }))
      posted++
      await delay(5)
    }
  })()
  const reader = (async () => {
    while (!stop) {
      if ((await ledger.app.inject({ method: 'GET', url: `/v1/persons/${personId(1)}/balances` })).statusCode === 200) reads++
      await delay(5)
    }
  })()
  let run: { code: number | null; stdout: string; stderr: string }
  try {
    run = await runLedgerCli(['projections', 'rebuild'], envFor(file))
  } finally {
    stop = true
    await Promise.all([writer, reader])
  }
  t.equal(run.code, 0, `exit 0 (stderr: ${run.stderr})`)
  const lines = run.stdout.trim().split('\n')
  t.comment(lines.join('\n'))
  t.match(lines.slice(1), [/^person-balances: rebuilt \d+ document\(s\) up to position \d+, \d+ replaced;/, /^pool-balances: rebuilt 2 document/, /^transfers: rebuilt 1 document/], 'a header, then a summary per projection')
  t.ok(posted > 0 && reads > 0, `the service kept posting and answering (${posted} posts, ${reads} reads)`)
  await caughtUp(ledger)
  await expectFolded(t, ledger.store, file, PROJECTIONS, 'after a rebuild from another process')
})
