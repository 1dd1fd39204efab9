import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { setTimeout as delay } from 'node:timers/promises'
import { createKey } from '../../src/auth/api-keys.js'
import { appendKey } from '../../src/cli/keys.js'
import { LEASE_DEAD_HOLDER_GRACE_MS, LEASE_TTL_MS } from '../../src/projector/lease.js'
import { runLedgerCli } from '../helpers/cli.js'
import { employerId, personId } from '../helpers/http.js'
import { serviceEnv } from '../helpers/service-process.js'

/**
 * One projector per read-model file (issue #14): services run as child processes on one
 * LEDGER_SQLITE_PATH. Before the lease, a second service started, said ready and folded every event
 * again onto the documents the first had updated (balances doubled).
 */

// Three starts of the service through the TypeScript loader (a few seconds each) and a CLI run.
t.setTimeout(240_000)

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..')
const SERVER = path.join(ROOT, 'src/server.ts')
/** Longest a start may take (the TypeScript loader compiles the sources first), milliseconds. */
const START_TIMEOUT_MS = 60_000
/** Longest the test waits for a balance to be projected, milliseconds. */
const PROJECTED_WAIT_MS = 20_000

const REGION = '310000'
const PERIOD = '2024-07'
/** Two persons: 8000.00 is inside Shanghai's 2024-07 base (7384.00 … 36921.00), 5000.00 below the
 * floor. Pension individual account: 8% of the wage clamped to the base, to the fen:
 * 8000.00 × 8% = 640.00; 7384.00 × 8% = 590.72. */
const PERSONS = [
  { personId: personId(1), wage: '8000.00', individualAccount: '640.00' },
  { personId: personId(2), wage: '5000.00', individualAccount: '590.72' },
]

interface Running {
  child: ChildProcess
  address: string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  log: { msg?: string; level?: number }[]
}

const envFor = (dir: string): NodeJS.ProcessEnv => serviceEnv(dir, { LEDGER_SEAL_INTERVAL_MS: '0' })

/** Spawns the service; resolves when it listens, or when it exits first (`address` then ''). */
async function spawnService(t: Test, env: NodeJS.ProcessEnv): Promise<Running & { output: () => string }> {
  const child = spawn(process.execPath, [...process.execArgv, SERVER], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let text = ''
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()))
  const log: Running['log'] = []
  let onListening: (address: string) => void = () => {}
  const listening = new Promise<string>((resolve) => (onListening = resolve))
  createInterface({ input: child.stdout! }).on('line', (line) => {
    text += `${line}\n`
    try {
      const parsed = JSON.parse(line) as { msg?: string; address?: string }
      log.push(parsed)
      if (parsed.msg === 'ledger listening' && parsed.address) onListening(parsed.address)
    } catch {
      log.push({ msg: line })
    }
  })
  const address = await Promise.race([
    listening,
    exited.then(() => ''),
    delay(START_TIMEOUT_MS).then(() => {
      throw new Error(`the service neither listened nor exited within ${START_TIMEOUT_MS} ms: ${text}`)
    }),
  ])
  return { child, address, exited, log, output: () => text }
}

async function getJson(address: string, token: string, url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${address}${url}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(20_000) })
  return { status: res.status, body: await res.json() }
}

/** The person's pension individual account once projected (polled), or the last answer's status. */
async function pensionAccount(address: string, token: string, id: string): Promise<string> {
  const deadline = Date.now() + PROJECTED_WAIT_MS
  for (;;) {
    const { status, body } = await getJson(address, token, `/v1/persons/${id}/balances`)
    if (status === 200) return body.schemes.pension.individualAccount as string
    if (Date.now() > deadline) return `status ${status}`
    await delay(100)
  }
}

t.test('a second service on the same file refuses to start (exit 2, naming the file and the holder); the first keeps serving; a CLI post beside it is folded once; a SIGKILLed holder is taken over within the grace', async (t) => {
  const dir = t.testdir()
  const env = envFor(dir)
  const { entry, token } = createKey({ id: 'auditor-1', role: 'auditor' })
  appendKey(env['LEDGER_KEYS_PATH']!, entry)

  const first = await spawnService(t, env)
  t.not(first.address, '', 'the first service listens')

  // Given the first service holds the file, when a second starts on it: refused.
  const second = await spawnService(t, env)
  t.equal(second.address, '', 'the second service never listens')
  const { code } = await second.exited
  t.equal(code, 2, 'the second service exits 2')
  const refusal = second.output()
  t.match(refusal, env['LEDGER_SQLITE_PATH']!, 'the message names the file')
  t.match(refusal, `pid ${first.child.pid}`, "and the holder's pid")
  t.match(refusal, /on \S+, holding the projector lease since \d{4}-\d\d-\d\dT.*last heartbeat \d{4}-/, 'its host, since when, its last heartbeat')

  // The first keeps serving.
  t.equal((await getJson(first.address, token, '/healthz')).status, 200)

  // When `ledger post` (no --url: straight into the file) records a submission beside it, the
  // service folds it once.
  const payroll = path.join(dir, 'payroll.json')
  writeFileSync(
    payroll,
    JSON.stringify({ submissionId: 'LEASE-1', employerId: employerId('0001'), region: REGION, period: PERIOD, lines: PERSONS.map(({ personId, wage }) => ({ personId, wage })) }),
  )
  const post = await runLedgerCli(['post', payroll], env)
  t.equal(post.code, 0, `ledger post records the submission beside the service${post.code === 0 ? '' : `: ${post.stderr}`}`)
  for (const p of PERSONS) t.equal(await pensionAccount(first.address, token, p.personId), p.individualAccount, `person ${p.personId}: 8% of the clamped wage, once`)
  const ready = await getJson(first.address, token, '/readyz')
  t.equal(ready.status, 200, `the first service is ready: ${JSON.stringify(ready.body)}`)

  // When the holder is SIGKILLed (no release), a restart takes the lease over once its heartbeat is
  // older than the grace (its pid is gone, and it no longer heartbeats), not after the TTL.
  first.child.kill('SIGKILL')
  await first.exited
  const started = Date.now()
  const restarted = await spawnService(t, env)
  t.not(restarted.address, '', `the restart listens${restarted.address ? '' : `: ${restarted.output()}`}`)
  t.ok(Date.now() - started < LEASE_TTL_MS, `without waiting for the lease to expire (${Date.now() - started} ms; the grace is ${LEASE_DEAD_HOLDER_GRACE_MS} ms)`)
  t.ok(
    restarted.log.some((l) => /took over the projector lease: its holder \(pid \d+ on this host\) is gone/.test(l.msg ?? '')),
    'the takeover is logged',
  )
  for (const p of PERSONS) t.equal(await pensionAccount(restarted.address, token, p.personId), p.individualAccount, `person ${p.personId}: still once after the restart`)
  restarted.child.kill('SIGTERM')
  t.equal((await restarted.exited).code, 0, 'a graceful stop')

  // The graceful stop released the lease: the next start takes it without a takeover.
  const again = await spawnService(t, env)
  t.not(again.address, '', 'a start after a graceful stop listens')
  t.notOk(again.log.some((l) => /took over the projector lease/.test(l.msg ?? '')), 'no takeover: the lease was released')
  again.child.kill('SIGTERM')
  await again.exited
})
