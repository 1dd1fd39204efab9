import t, { type Test } from 'tap'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import { createKey } from '../src/auth/api-keys.js'
import { appendKey } from '../src/cli/keys.js'
import { employerId, personId } from './helpers/http.js'
import { exitWithin, serviceEnv as baseServiceEnv, startService, type ServiceProcess } from './helpers/service-process.js'

/**
 * Shutdown under load (issue #9). The service runs as a child process on a SQLite file (started as
 * `npm start` and `ledger serve` would, through tap's TypeScript loader); payroll submissions are
 * fired concurrently; the process is stopped mid-load (SIGTERM: graceful; SIGKILL: a crash); then it
 * is started again on the same file, and every submission answered 201 must be in the log and in
 * the balances, and every other one either wholly there or not there at all.
 */

// Five starts of the service (a few seconds each through the TypeScript loader) and two loads: more
// than the default per-file timeout of .taprc.
t.setTimeout(300_000)

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const SERVER = path.join(ROOT, 'src/server.ts')
const CLI = path.join(ROOT, 'src/cli/ledger.ts')
/** The service's shutdown bound for these tests (LEDGER_SHUTDOWN_TIMEOUT_MS), milliseconds. */
const SHUTDOWN_TIMEOUT_MS = 10_000
/** How long the test waits for the process to exit after the signal, milliseconds: the bound plus
 * a margin for the process's own exit; past it the test fails (and kills the process). */
const EXIT_WAIT_MS = SHUTDOWN_TIMEOUT_MS + 5_000
/** Longest one request may take before the test gives up on it, milliseconds. */
const REQUEST_TIMEOUT_MS = 30_000

const SUBMISSIONS = 40
const LINES_PER_SUBMISSION = 20
/** Submissions in flight at once. */
const CONCURRENCY = 6
/** Acknowledged submissions before the process is stopped. */
const ACKS_BEFORE_SIGNAL = 10

const EMPLOYER = employerId('0001')
const REGION = '310000'
const PERIOD = '2024-07'
/** Shanghai's contribution base for 2024-07 (policy/policy-table.json, row 310000/2024-07/v1), fen. */
const BASE_FLOOR_FEN = 738_400n
const BASE_CAP_FEN = 3_692_100n
/** The employee's pension rate, percent: all of it goes to the individual account. */
const PENSION_EMPLOYEE_PERCENT = 8n
/** Wages used, one below the floor, two inside, one above the cap. */
const WAGES = ['5000.00', '8000.00', '12345.67', '50000.00']

/** The wage of line `j` of submission `i`, and its person (each person in one submission only). */
const lineOf = (i: number, j: number) => ({ personId: personId(i * LINES_PER_SUBMISSION + j), wage: WAGES[(i + j) % WAGES.length]! })
const submissionId = (i: number) => `SHUT-${String(i).padStart(3, '0')}`
const bodyOf = (i: number) =>
  JSON.stringify({
    submissionId: submissionId(i),
    employerId: EMPLOYER,
    region: REGION,
    period: PERIOD,
    lines: Array.from({ length: LINES_PER_SUBMISSION }, (_, j) => lineOf(i, j)),
  })

/** Yuan text to fen, and back. */
const fen = (yuan: string) => BigInt(yuan.replace('.', ''))
const yuanOf = (f: bigint) => `${f / 100n}.${String(f % 100n).padStart(2, '0')}`

/** A person's pension individual-account credit for `wage`, computed from the policy rule: 8% of the
 * wage clamped to the period's base floor and cap, rounded half up to the fen. */
function pensionIndividual(wage: string): string {
  const w = fen(wage)
  const base = w < BASE_FLOOR_FEN ? BASE_FLOOR_FEN : w > BASE_CAP_FEN ? BASE_CAP_FEN : w
  return yuanOf((base * PENSION_EMPLOYEE_PERCENT + 50n) / 100n)
}

interface LogLine {
  level?: number
  msg?: string
  reqId?: string
  address?: string
  signal?: string
  shutdownTimeoutMs?: number
  req?: { url?: string }
  res?: { statusCode?: number }
}

type Running = ServiceProcess<LogLine>

/** The service's environment: a free port, the data directory's SQLite file and keys file. */
const serviceEnv = (dir: string): NodeJS.ProcessEnv => baseServiceEnv(dir, { LEDGER_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) })

/** Starts the service (`node src/server.ts` or `node src/cli/ledger.ts serve`) and waits until it listens. */
const start = (t: Test, args: string[], env: NodeJS.ProcessEnv): Promise<Running> => startService<LogLine>(t, env, { args })

/** What became of one submission sent. */
type Outcome = { status: number; body?: { position?: string; totals?: unknown } } | { error: string }

/**
 * Sends the submissions, `CONCURRENCY` at a time; once `ACKS_BEFORE_SIGNAL` are acknowledged,
 * calls `stop` (once) while the others go on being sent. Resolves when each has an outcome.
 */
async function load(address: string, token: string, stop: () => void): Promise<Map<number, Outcome>> {
  const outcomes = new Map<number, Outcome>()
  let next = 0
  let acks = 0
  let stopped = false
  const worker = async () => {
    while (next < SUBMISSIONS) {
      const i = next++
      try {
        const res = await fetch(`${address}/v1/contribution-submissions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: bodyOf(i),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        })
        const text = await res.text()
        let body: { position?: string; totals?: unknown } | undefined
        try {
          body = JSON.parse(text) as typeof body
        } catch {
          body = undefined
        }
        outcomes.set(i, { status: res.status, ...(body ? { body } : {}) })
        if (res.status === 201 && ++acks >= ACKS_BEFORE_SIGNAL && !stopped) {
          stopped = true
          stop()
        }
      } catch (err) {
        // The service closing or gone: a refused or reset connection.
        outcomes.set(i, { error: err instanceof Error ? `${err.message} ${String((err as { cause?: unknown }).cause ?? '')}` : String(err) })
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return outcomes
}

const acknowledged = (outcomes: Map<number, Outcome>) =>
  new Map([...outcomes].flatMap(([i, o]): [number, { position: string; totals: unknown }][] => ('status' in o && o.status === 201 ? [[i, o.body as { position: string; totals: unknown }]] : [])))

/** GET with a token; the status and the parsed body. */
async function get(address: string, token: string, url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${address}${url}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  return { status: res.status, body: await res.json() }
}

/** Runs `fn` over `items`, `concurrency` at a time. */
async function eachLimited<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!)
    }),
  )
}

/**
 * After a restart, over the first `count` submissions: every acknowledged submission is in the log with its receipt's totals, every
 * other one is there or not; each present submission's persons have exactly its pension credit in
 * their individual accounts (read once the projections have reached it), each absent one's persons
 * have nothing.
 */
async function checkLedger(
  t: Test,
  address: string,
  tokens: { payroll: string; auditor: string },
  acked: Map<number, { position: string; totals: unknown }>,
  count: number,
) {
  const present = new Map<number, string>()
  const missingAcked: string[] = []
  const incomplete: string[] = []
  for (let i = 0; i < count; i++) {
    const { status, body } = await get(address, tokens.payroll, `/v1/contribution-submissions/${submissionId(i)}`)
    const receipt = acked.get(i)
    if (receipt) {
      if (status !== 200) missingAcked.push(`${submissionId(i)}: ${status}`)
      else if (body.lineCount !== LINES_PER_SUBMISSION || !isDeepStrictEqual(body.totals, receipt.totals) || body.position !== receipt.position)
        incomplete.push(`${submissionId(i)}: ${JSON.stringify(body)} answered ${JSON.stringify(receipt)}`)
    } else if (status !== 404 && (status !== 200 || body.lineCount !== LINES_PER_SUBMISSION)) incomplete.push(`${submissionId(i)}: ${status} ${JSON.stringify(body)}`)
    if (status === 200) present.set(i, body.position as string)
  }
  t.same(missingAcked, [], `each of the ${acked.size} acknowledged submissions is in the log`)
  t.same(incomplete, [], 'each submission found has its receipt (acknowledged) or all its lines (not acknowledged)')
  t.comment(`${acked.size} acknowledged, ${present.size - acked.size} present without an answer, ${count - present.size} absent`)

  // Read the balances once the projections have reached the last present submission.
  const head = [...present.values()].reduce((max, p) => (BigInt(p) > max ? BigInt(p) : max), 0n)
  let wrong = 0
  let behind = 0
  const details: string[] = []
  const persons = Array.from({ length: count * LINES_PER_SUBMISSION }, (_, n) => ({ i: Math.floor(n / LINES_PER_SUBMISSION), j: n % LINES_PER_SUBMISSION }))
  await eachLimited(persons, 8, async ({ i, j }) => {
    const line = lineOf(i, j)
    const { status, body } = await get(address, tokens.auditor, `/v1/persons/${line.personId}/balances?minPosition=${head}`)
    if (present.has(i)) {
      if (status !== 200) {
        wrong++
        details.push(`${submissionId(i)} line ${j}: ${status}`)
        return
      }
      if (BigInt(body.position as string) < head) behind++
      const expected = pensionIndividual(line.wage)
      if (body.schemes.pension.individualAccount !== expected || body.schemes.pension.months !== 1) {
        wrong++
        details.push(`${submissionId(i)} line ${j}: ${body.schemes.pension.individualAccount}, expected ${expected}`)
      }
    } else if (status !== 404) {
      wrong++
      details.push(`${submissionId(i)} line ${j} absent but person answered ${status}`)
    }
  })
  t.equal(behind, 0, 'the projections reached the last submission within the read wait')
  t.equal(wrong, 0, `each person's pension individual account is exactly its submission's credit: ${details.slice(0, 5).join('; ')}`)
}

/** A data directory with a payroll key (for the employer) and an auditor key; their tokens. */
function dataDir(t: Test) {
  const dir = t.testdir()
  const payroll = createKey({ id: 'payroll-1', role: 'payroll', employers: [EMPLOYER] })
  const auditor = createKey({ id: 'auditor-1', role: 'auditor' })
  appendKey(path.join(dir, 'keys.json'), payroll.entry)
  appendKey(path.join(dir, 'keys.json'), auditor.entry)
  return { dir, tokens: { payroll: payroll.token, auditor: auditor.token } }
}

/**
 * A submission whose body arrives in two parts: the headers and half the body now, the rest when
 * `finish` is called. Resolves `answer` with the status and body.
 */
function slowSubmission(address: string, token: string, i: number) {
  const body = Buffer.from(bodyOf(i))
  const url = new URL(`${address}/v1/contribution-submissions?probe=slow`)
  const req = http.request(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(body.length) },
    agent: false,
  })
  const answer = new Promise<{ status: number; body: { position?: string; totals?: unknown } }>((resolve, reject) => {
    req.once('response', (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk.toString()))
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { position?: string } }))
      res.once('error', reject)
    })
    req.once('error', reject)
  })
  const half = Math.floor(body.length / 2)
  req.write(body.subarray(0, half))
  return { answer, finish: () => req.end(body.subarray(half)) }
}

t.test('SIGTERM mid-load: requests in flight answered, exit 0 within the bound, every acknowledged submission kept', async (t) => {
  const { dir, tokens } = dataDir(t)
  const env = serviceEnv(dir)
  const first = await start(t, [SERVER], env)

  // One request surely in flight when the signal arrives: its headers and half its body are in,
  // the rest is sent only after the service has begun shutting down.
  const SLOW = SUBMISSIONS // an extra submission, after the load's
  let slow: ReturnType<typeof slowSubmission> | undefined
  let signalled: Promise<void> | undefined
  const outcomes = await load(first.address, tokens.payroll, () => {
    signalled = (async () => {
      slow = slowSubmission(first.address, tokens.payroll, SLOW)
      await first.waitForLine((l) => l.msg === 'incoming request' && l.req?.url?.includes('probe=slow') === true)
      first.child.kill('SIGTERM')
      await first.waitForLine((l) => l.msg === 'shutting down')
      slow.finish()
    })()
  })
  await signalled
  const exit = await exitWithin(first, EXIT_WAIT_MS)
  t.same(exit, { code: 0, signal: null }, 'exit 0 after the graceful shutdown, within the bound')
  const slowAnswer = await slow!.answer
  t.equal(slowAnswer.status, 201, 'the request in flight at the signal is answered 201')

  // What the first process logged: every request it received was answered, 201 or 503 (arrived
  // while closing), and the shutdown finished.
  const incoming = new Set(first.log.filter((l) => l.msg === 'incoming request').map((l) => l.reqId))
  const completed = first.log.filter((l) => l.msg === 'request completed')
  t.same(new Set(completed.map((l) => l.reqId)), incoming, 'each request received has its "request completed" line')
  t.same([...new Set(completed.map((l) => l.res?.statusCode))].filter((s) => s !== 201 && s !== 503), [], 'answered 201, or 503 once closing')
  t.ok(first.log.some((l) => l.msg === 'shut down'), 'the shutdown finished')
  const signalAt = first.log.findIndex((l) => l.msg === 'shutting down')
  const answeredAfter = first.log.slice(signalAt).filter((l) => l.msg === 'request completed' && l.res?.statusCode === 201).length
  t.ok(answeredAfter >= 1, `requests answered 201 after the signal (${answeredAfter})`)

  const errors = [...outcomes.values()].filter((o) => 'status' in o && o.status !== 201 && o.status !== 503)
  t.same(errors, [], 'no answer other than 201 or 503 during the load')
  const acked = acknowledged(outcomes)
  acked.set(SLOW, slowAnswer.body as { position: string; totals: unknown })
  t.ok(acked.size > ACKS_BEFORE_SIGNAL, `${acked.size} submissions acknowledged`)

  // Started again on the same file (as `ledger serve` this time).
  const second = await start(t, [CLI, 'serve'], env)
  await checkLedger(t, second.address, tokens, acked, SUBMISSIONS + 1)
  second.child.kill('SIGINT')
  t.same(await exitWithin(second, EXIT_WAIT_MS), { code: 0, signal: null }, 'SIGINT: exit 0 too')
})

t.test('SIGKILL mid-load: after a restart every acknowledged submission is there, nothing half-written', async (t) => {
  const { dir, tokens } = dataDir(t)
  const env = serviceEnv(dir)
  const first = await start(t, [CLI, 'serve'], env)
  const outcomes = await load(first.address, tokens.payroll, () => first.child.kill('SIGKILL'))
  const exit = await exitWithin(first, EXIT_WAIT_MS)
  t.same(exit, { code: null, signal: 'SIGKILL' }, 'killed')
  const errors = [...outcomes.values()].filter((o) => 'status' in o && o.status !== 201)
  t.same(errors, [], 'no answer other than 201 before the kill')
  const acked = acknowledged(outcomes)
  t.ok(acked.size >= ACKS_BEFORE_SIGNAL, `${acked.size} submissions acknowledged`)

  const second = await start(t, [SERVER], env)
  await checkLedger(t, second.address, tokens, acked, SUBMISSIONS)
  second.child.kill('SIGTERM')
  t.same(await exitWithin(second, EXIT_WAIT_MS), { code: 0, signal: null }, 'the restarted service stops gracefully')
})

t.test('past LEDGER_SHUTDOWN_TIMEOUT_MS: logged, exit 1', async (t) => {
  const { dir, tokens } = dataDir(t)
  const boundMs = 1_000
  const running = await start(t, [SERVER], { ...serviceEnv(dir), LEDGER_SHUTDOWN_TIMEOUT_MS: String(boundMs) })
  // A request whose body never ends holds the close (until the 30 s request timeout).
  const stuck = slowSubmission(running.address, tokens.payroll, 0)
  stuck.answer.catch(() => undefined)
  await running.waitForLine((l) => l.msg === 'incoming request' && l.req?.url?.includes('probe=slow') === true)
  running.child.kill('SIGTERM')
  t.same(await exitWithin(running, boundMs + EXIT_WAIT_MS), { code: 1, signal: null }, 'exit 1')
  const timedOut = running.log.find((l) => l.msg === 'shutdown did not finish within LEDGER_SHUTDOWN_TIMEOUT_MS; exiting with status 1')
  t.match(timedOut, { level: 50, shutdownTimeoutMs: boundMs }, 'the error line names the bound')
  t.notOk(running.log.some((l) => l.msg === 'shut down'), 'the shutdown did not finish')
})
