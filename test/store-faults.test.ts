import t, { type Test } from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createKey } from '../src/auth/api-keys.js'
import { appendKey } from '../src/cli/keys.js'
import { employerId, personId } from './helpers/http.js'
import { ROOT, exitWithin, serviceEnv as baseServiceEnv, startService } from './helpers/service-process.js'

/**
 * The embedded store's faults with the service in a child process (issue #14): the data file
 * deleted under load (later submissions 503 `store-file-replaced`, /readyz says so, and after a
 * restart every submission answered 201 is there), and a read-only data directory at start (exit 2
 * naming the path and "read-only"; a real read-only tmpfs, since root ignores permission bits;
 * skipped where mounting is not permitted).
 */

// Three starts of the service (a few seconds each through the TypeScript loader) and a load.
t.setTimeout(300_000)

/** How long the test waits for the process to exit after a signal, milliseconds. */
const EXIT_WAIT_MS = 20_000
/** Longest one request may take before the test gives up on it, milliseconds. */
const REQUEST_TIMEOUT_MS = 30_000
/** Longest the test waits for the store's error line after the deletion, milliseconds. */
const FAULT_LINE_WAIT_MS = 15_000

const SUBMISSIONS = 30
const LINES_PER_SUBMISSION = 5
const CONCURRENCY = 4
/** Acknowledged submissions before the data file is deleted. */
const ACKS_BEFORE_DELETE = 8

const EMPLOYER = employerId('0001')
/** Shanghai 2024-07 (policy/policy-table.json, row 310000/2024-07/v1): base floor and cap in fen. */
const BASE_FLOOR_FEN = 738_400n
const BASE_CAP_FEN = 3_692_100n
/** The employee's pension rate, percent: all of it to the individual account. */
const PENSION_EMPLOYEE_PERCENT = 8n
const WAGES = ['5000.00', '8000.00', '12345.67', '50000.00']

const lineOf = (i: number, j: number) => ({ personId: personId(i * LINES_PER_SUBMISSION + j), wage: WAGES[(i + j) % WAGES.length]! })
const submissionId = (i: number) => `FAULT-${String(i).padStart(3, '0')}`
const bodyOf = (i: number) =>
  JSON.stringify({
    submissionId: submissionId(i),
    employerId: EMPLOYER,
    region: '310000',
    period: '2024-07',
    lines: Array.from({ length: LINES_PER_SUBMISSION }, (_, j) => lineOf(i, j)),
  })

/** A person's pension individual-account credit for `wage`: 8% of the wage clamped to the base
 * floor and cap, rounded half up to the fen (e.g. 5000.00 → floor 7384.00 → 590.72). */
function pensionIndividual(wage: string): string {
  const w = BigInt(wage.replace('.', ''))
  const base = w < BASE_FLOOR_FEN ? BASE_FLOOR_FEN : w > BASE_CAP_FEN ? BASE_CAP_FEN : w
  const f = (base * PENSION_EMPLOYEE_PERCENT + 50n) / 100n
  return `${f / 100n}.${String(f % 100n).padStart(2, '0')}`
}

/** A data directory with a payroll key (for the employer) and an auditor key; their tokens. */
function dataDir(t: Test, dir = t.testdir()) {
  const payroll = createKey({ id: 'payroll-1', role: 'payroll', employers: [EMPLOYER] })
  const auditor = createKey({ id: 'auditor-1', role: 'auditor' })
  appendKey(path.join(dir, 'keys.json'), payroll.entry)
  appendKey(path.join(dir, 'keys.json'), auditor.entry)
  return { dir, tokens: { payroll: payroll.token, auditor: auditor.token } }
}

const serviceEnv = (dir: string, keysDir = dir): NodeJS.ProcessEnv =>
  baseServiceEnv(dir, { LEDGER_KEYS_PATH: path.join(keysDir, 'keys.json'), LEDGER_SHUTDOWN_TIMEOUT_MS: '10000' })

type Answer = { status: number; body: any }

async function post(address: string, token: string, i: number): Promise<Answer> {
  const res = await fetch(`${address}/v1/contribution-submissions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: bodyOf(i),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  return { status: res.status, body: await res.json() }
}

async function get(address: string, token: string | undefined, url: string): Promise<Answer> {
  const res = await fetch(`${address}${url}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  return { status: res.status, body: await res.json() }
}

t.test('the data file deleted under load: later submissions 503 store-file-replaced, nothing acknowledged lost across a restart', async (t) => {
  const { dir, tokens } = dataDir(t)
  const env = serviceEnv(dir)
  const file = env.LEDGER_SQLITE_PATH!
  const first = await startService(t, env)

  // The load: CONCURRENCY workers; once ACKS_BEFORE_DELETE are acknowledged the file is deleted
  // while the others go on being sent.
  const answers = new Map<number, Answer>()
  let next = 0
  let acks = 0
  let deletedAt: number | undefined
  const sentAfterDelete = new Set<number>()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < SUBMISSIONS) {
        const i = next++
        if (deletedAt !== undefined) sentAfterDelete.add(i)
        const answer = await post(first.address, tokens.payroll, i)
        answers.set(i, answer)
        if (answer.status === 201 && ++acks === ACKS_BEFORE_DELETE) {
          fs.unlinkSync(file)
          deletedAt = i
        }
      }
    }),
  )
  t.ok(deletedAt !== undefined, 'the file was deleted mid-load')
  const others = [...answers.values()].filter((a) => a.status !== 201 && !(a.status === 503 && a.body.reason === 'store-file-replaced'))
  t.same(others, [], 'every answer is 201 or 503 store-file-replaced')
  const late = [...sentAfterDelete].map((i) => answers.get(i)!)
  t.ok(late.length > 0, `${late.length} submissions sent after the deletion`)
  t.same(
    late.map((a) => [a.status, a.body.reason]),
    late.map(() => [503, 'store-file-replaced']),
    'each submission sent after the deletion: 503 store-file-replaced',
  )
  t.match(late[0]!.body.detail, file, 'the problem names the file')
  // Once the fault is known, a further submission is refused as well.
  const after = await post(first.address, tokens.payroll, SUBMISSIONS)
  t.same([after.status, after.body.reason], [503, 'store-file-replaced'], 'and any later one')

  const ready = await get(first.address, undefined, '/readyz')
  t.equal(ready.status, 503, '/readyz 503')
  t.equal(ready.body.reason, 'store-file-replaced', '/readyz names the reason')

  const line = await first.waitForLine((l) => l.component === 'eventstore' && l.reason === 'store-file-replaced', FAULT_LINE_WAIT_MS)
  t.equal(line.level, 50, 'an error line')
  t.match(line.msg, file, 'naming the file')
  t.match(line.msg, /restart the service/, 'saying what to do')
  t.equal(first.log.filter((l) => l.component === 'eventstore' && l.reason === 'store-file-replaced').length, 1, 'once')

  first.child.kill('SIGTERM')
  t.same(await exitWithin(first, EXIT_WAIT_MS), { code: 0, signal: null }, 'a graceful stop')

  // Started again on the path: every submission answered 201 is there, with its receipt's position,
  // and its persons' pension accounts hold its credit.
  const second = await startService(t, env)
  const acked = [...answers].filter(([, a]) => a.status === 201)
  t.ok(acked.length >= ACKS_BEFORE_DELETE, `${acked.length} submissions acknowledged`)
  const missing: string[] = []
  let head = 0n
  for (const [i, a] of acked) {
    const found = await get(second.address, tokens.payroll, `/v1/contribution-submissions/${submissionId(i)}`)
    if (found.status !== 200 || found.body.position !== a.body.position) missing.push(`${submissionId(i)}: ${found.status} ${JSON.stringify(found.body)}`)
    if (BigInt(a.body.position as string) > head) head = BigInt(a.body.position as string)
  }
  t.same(missing, [], 'every acknowledged submission is in the log after the restart')
  const wrong: string[] = []
  for (const [i] of acked)
    for (let j = 0; j < LINES_PER_SUBMISSION; j += 1) {
      const { personId: person, wage } = lineOf(i, j)
      const balance = await get(second.address, tokens.auditor, `/v1/persons/${person}/balances?minPosition=${head}`)
      if (balance.status !== 200 || balance.body.schemes?.pension?.individualAccount !== pensionIndividual(wage))
        wrong.push(`${person}: ${balance.status} ${JSON.stringify(balance.body.schemes?.pension ?? balance.body)} expected ${pensionIndividual(wage)}`)
    }
  t.same(wrong, [], "each acknowledged submission's persons hold exactly its pension credit")
  const refused = await get(second.address, tokens.payroll, `/v1/contribution-submissions/${submissionId(SUBMISSIONS)}`)
  t.equal(refused.status, 404, 'the submission refused after the fault is not there')
  second.child.kill('SIGTERM')
  t.same(await exitWithin(second, EXIT_WAIT_MS), { code: 0, signal: null }, 'the restarted service stops gracefully')
})

/** Why this machine cannot mount a tmpfs (not root, no CAP_SYS_ADMIN, a container without it), or
 * false when it can: tried once with a throwaway mount. */
function cannotMount(): string | false {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-mount-probe-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=65536', 'tmpfs', dir], { stdio: 'pipe' })
    execFileSync('umount', [dir], { stdio: 'pipe' })
    return false
  } catch (error) {
    return `cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
const mountSkip = cannotMount()

/** Mounts a tmpfs of `sizeBytes` at a new directory under `t`'s test directory; unmounted in the
 * teardown. */
function mountTmpfs(t: Test, sizeBytes: number): string {
  // Outside t.testdir(): tap removes that before the teardowns run, and a mount point is busy.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-tmpfs-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', dir], { stdio: 'pipe' })
  t.teardown(() => {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

t.test('a read-only data directory at start: exit 2 naming the path and the cause', { skip: mountSkip }, async (t) => {
  const dir = mountTmpfs(t, 8 * 1024 * 1024)
  const keys = dataDir(t)
  const leftover = path.join(dir, 'left', 'ledger.sqlite')
  fs.mkdirSync(path.dirname(leftover))
  fs.mkdirSync(path.join(dir, 'empty'))
  // A log left by a process that was killed: the file, its -wal and -shm (SQLite opens such a file
  // in a read-only directory without complaint, and then every write fails).
  const killed = spawnSync(process.execPath, [
    '-e',
    `const D = require(${JSON.stringify(path.join(ROOT, 'node_modules/better-sqlite3'))});
     const d = new D(${JSON.stringify(leftover)}); d.pragma('journal_mode = WAL');
     d.exec('CREATE TABLE kept (n INTEGER)'); d.exec('INSERT INTO kept VALUES (1)');
     process.kill(process.pid, 'SIGKILL')`,
  ])
  t.equal(killed.signal, 'SIGKILL', 'the writer was killed')
  t.ok(fs.existsSync(`${leftover}-wal`), 'leaving its -wal')
  execFileSync('mount', ['-o', 'remount,ro', dir], { stdio: 'pipe' })

  for (const [what, dataDirectory] of [
    ['a file with a leftover -wal', path.dirname(leftover)],
    ['an empty directory', path.join(dir, 'empty')],
    ['a directory still to create', path.join(dir, 'missing', 'deeper')],
  ] as const) {
    const running = await startService(t, serviceEnv(dataDirectory, keys.dir), { expectListen: false })
    t.same(await exitWithin(running, 60_000), { code: 2, signal: null }, `${what}: exit 2`)
    const fatal = running.log.find((l) => l.level === 60)
    t.ok(fatal, `${what}: a fatal line`)
    t.match(fatal?.msg, path.join(dataDirectory, 'ledger.sqlite'), `${what}: naming the path`)
    t.match(fatal?.msg, /read-only/, `${what}: and the cause`)
    t.notOk(running.log.some((l) => l.msg === 'ledger listening'), `${what}: never listening`)
  }
})

t.test('a full disk (a 1 MiB tmpfs): 503 disk-full naming the path, /readyz disk-full, written again once there is room', { skip: mountSkip }, async (t) => {
  const dir = mountTmpfs(t, 1024 * 1024)
  const { tokens, dir: keysDir } = dataDir(t)
  const env = serviceEnv(dir, keysDir)
  const file = env.LEDGER_SQLITE_PATH!
  const running = await startService(t, env)

  // Submissions until the disk is full (each of LINES_PER_SUBMISSION lines; the 1 MiB is gone after
  // a few dozen), at most FILL_ATTEMPTS.
  const FILL_ATTEMPTS = 400
  let refused: { i: number; answer: Answer } | undefined
  const acked: number[] = []
  for (let i = 0; i < FILL_ATTEMPTS && !refused; i += 1) {
    const answer = await post(running.address, tokens.payroll, i)
    if (answer.status === 201) acked.push(i)
    else refused = { i, answer }
  }
  t.ok(refused, `a submission was refused after ${acked.length} were written`)
  t.equal(refused?.answer.status, 503)
  t.equal(refused?.answer.body.reason, 'disk-full')
  t.match(refused?.answer.body.detail, file, 'naming the path')
  const ready = await get(running.address, undefined, '/readyz')
  t.same([ready.status, ready.body.reason], [503, 'disk-full'], '/readyz says disk-full')
  const absent = await get(running.address, tokens.payroll, `/v1/contribution-submissions/${submissionId(refused!.i)}`)
  t.equal(absent.status, 404, 'the refused submission is not in the log')

  // Room again (the tmpfs grown): the same submission is written, and the fault is gone.
  execFileSync('mount', ['-o', 'remount,size=16m', dir], { stdio: 'pipe' })
  const again = await post(running.address, tokens.payroll, refused!.i)
  t.equal(again.status, 201, 'written once there is room')
  const readyAgain = await get(running.address, undefined, '/readyz')
  t.not(readyAgain.body.reason, 'disk-full', '/readyz no longer says disk-full')
  running.child.kill('SIGTERM')
  t.same(await exitWithin(running, EXIT_WAIT_MS), { code: 0, signal: null }, 'a graceful stop')
})
