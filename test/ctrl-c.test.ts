import t, { type Test } from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { createKey } from '../src/auth/api-keys.js'
import { appendKey } from '../src/cli/keys.js'
import { employerId, personId } from './helpers/http.js'

/**
 * Ctrl-C on `npm start` in a real terminal (issue #14). The terminal sends SIGINT to the whole
 * foreground process group (npm and the service), and npm forwards the SIGINT it got to the
 * service too: two SIGINTs for one Ctrl-C. The service must take them as one request: shut down
 * gracefully, answer the request in flight, exit 0; not "second signal during shutdown", exit 1.
 *
 * The terminal is tmux's (a private tmux server, an interactive bash in it, so the command runs as
 * a foreground job with the terminal's process group); the command is the real `npm start`
 * (`--ignore-scripts`: the build is done here, once, when dist/ is missing or older than the
 * sources). The service's JSON log goes to a file (read by the test); the shell prints the exit
 * status to the terminal (read with capture-pane).
 */

t.setTimeout(240_000)

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIST_SERVER = path.join(ROOT, 'dist/src/server.js')
/** Longest the build may take, milliseconds. */
const BUILD_TIMEOUT_MS = 180_000
/** Longest `npm start` may take to listen, milliseconds. */
const START_TIMEOUT_MS = 60_000
/** The service's shutdown bound here (LEDGER_SHUTDOWN_TIMEOUT_MS), milliseconds. */
const SHUTDOWN_TIMEOUT_MS = 10_000
/** How long the test waits for the exit status after Ctrl-C: the bound plus a margin. */
const EXIT_WAIT_MS = SHUTDOWN_TIMEOUT_MS + 10_000
/** Polling period of the log file and the pane, milliseconds. */
const POLL_MS = 100
const EMPLOYER = employerId('0001')

const which = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0

/** The newest modification time among the compiled sources (src/, projections/), milliseconds. */
function newestSource(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p))
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs)
  }
  return newest
}

/** Builds dist/ (`tsc -p tsconfig.json`, as `npm run build`) when missing or older than the sources. */
function ensureBuilt(t: Test) {
  const sources = Math.max(newestSource(path.join(ROOT, 'src')), newestSource(path.join(ROOT, 'projections')))
  if (existsSync(DIST_SERVER) && statSync(DIST_SERVER).mtimeMs >= sources) return
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8', timeout: BUILD_TIMEOUT_MS })
  // tsc emits even with type errors; the service then runs what was emitted (the typecheck is its own step).
  if (r.status !== 0) t.comment(`tsc -p tsconfig.json exited ${r.status}: ${(r.stdout + r.stderr).slice(0, 2000)}`)
}

/** Polls `probe` until it returns a value, at most `ms`; throws `what` then. */
async function until<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await sleep(POLL_MS)
  }
}

interface LogLine {
  msg?: string
  address?: string
  signal?: string
  req?: { url?: string }
}

/** The JSON lines of the service's log so far (npm's banner lines are kept as `{msg}`). */
function readLog(file: string): LogLine[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine
      } catch {
        return { msg: l }
      }
    })
}

/** A submission whose headers and half its body go now, the rest on `finish()`; `answer` resolves
 * with the status. */
function slowSubmission(address: string, token: string, submissionId: string) {
  const body = Buffer.from(
    JSON.stringify({ submissionId, employerId: EMPLOYER, region: '310000', period: '2024-07', lines: [{ personId: personId(1), wage: '8500.00' }] }),
  )
  const req = http.request(new URL(`${address}/v1/contribution-submissions?probe=slow`), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(body.length) },
    agent: false,
  })
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.once('response', (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      res.once('error', reject)
    })
    req.once('error', reject)
  })
  answer.catch(() => undefined)
  const half = Math.floor(body.length / 2)
  req.write(body.subarray(0, half))
  return { answer, finish: () => req.end(body.subarray(half)) }
}

/** Most times the scenario is run to see npm's forwarded SIGINT arrive apart from the terminal's:
 * when both reach the service before it handles the first, the kernel delivers one SIGINT (a signal
 * already pending is not queued twice), about one run in four here. */
const MAX_ATTEMPTS = 5

/** Why the test cannot run here, or false. */
const skip = !which('tmux') ? 'tmux is not installed: no terminal to press Ctrl-C in' : !which('npm') ? 'npm is not on the PATH' : false

t.test('Ctrl-C on `npm start` in a terminal: the request in flight answered, "shut down", exit 0', { skip }, async (t) => {
  ensureBuilt(t)
  t.ok(existsSync(DIST_SERVER), 'dist/src/server.js is built')

  const root = t.testdir()
  // A private tmux server (its own socket), killed at the end; an interactive bash without rc files.
  const socket = `ledger-ctrl-c-${process.pid}`
  const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' })
  tmux('new-session', '-d', '-s', 'ctrlc', '-x', '200', '-y', '50', 'env', '-i', `PATH=${process.env['PATH']}`, `HOME=${process.env['HOME'] ?? root}`, 'TERM=xterm', 'bash', '--norc', '--noprofile', '-i')
  t.teardown(() => {
    try {
      tmux('kill-server')
    } catch {
      // already gone
    }
  })

  let twice = 0
  for (let attempt = 1; attempt <= MAX_ATTEMPTS && twice === 0; attempt++) {
    const dir = path.join(root, `attempt-${attempt}`)
    const payroll = createKey({ id: 'payroll-1', role: 'payroll', employers: [EMPLOYER] })
    appendKey(path.join(dir, 'keys.json'), payroll.entry)
    const logFile = path.join(dir, 'service.log')
    const env = [
      'NODE_ENV=production',
      'LOG_LEVEL=debug',
      'PORT=0',
      'HOST=127.0.0.1',
      `LEDGER_SQLITE_PATH=${path.join(dir, 'ledger.sqlite')}`,
      `LEDGER_KEYS_PATH=${path.join(dir, 'keys.json')}`,
      'LEDGER_RATE_LIMIT_PER_MINUTE=0',
      `LEDGER_SHUTDOWN_TIMEOUT_MS=${SHUTDOWN_TIMEOUT_MS}`,
    ].join(' ')
    // Given `npm start` running as the terminal's foreground job,
    tmux('send-keys', '-t', 'ctrlc', `cd '${ROOT}' && env ${env} npm start --ignore-scripts > '${logFile}' 2>&1; echo "EXIT${attempt}=$?"`, 'Enter')
    const listening = await until('the service listening', START_TIMEOUT_MS, () => readLog(logFile).find((l) => l.msg === 'ledger listening'))

    // and a submission in flight (headers and half its body in),
    const slow = slowSubmission(listening.address!, payroll.token, `CTRL-C-${attempt}`)
    await until('the slow request received', START_TIMEOUT_MS, () => readLog(logFile).find((l) => l.msg === 'incoming request' && l.req?.url?.includes('probe=slow') === true))

    // when Ctrl-C is pressed in the terminal,
    tmux('send-keys', '-t', 'ctrlc', 'C-c')
    await until('"shutting down" logged', EXIT_WAIT_MS, () => readLog(logFile).find((l) => l.msg === 'shutting down'))
    slow.finish()

    // then the shell reports exit 0 within the bound,
    const marker = new RegExp(`EXIT${attempt}=(\\d+)`)
    const status = await until('the exit status in the terminal', EXIT_WAIT_MS, () => marker.exec(tmux('capture-pane', '-p', '-t', 'ctrlc', '-S', '-100'))?.[1])
    const log = readLog(logFile)
    t.equal(status, '0', `attempt ${attempt}: exit 0 (log: ${log.map((l) => l.msg).join(' | ').slice(-1500)})`)
    // the request in flight was answered and recorded,
    const answer = await slow.answer
    t.equal(answer.status, 201, `attempt ${attempt}: the request in flight is answered 201: ${answer.body}`)
    // the log says it shut down, on SIGINT, and not "second signal".
    t.ok(log.some((l) => l.msg === 'shut down'), `attempt ${attempt}: "shut down" logged`)
    t.notOk(log.some((l) => /second signal/.test(l.msg ?? '')), `attempt ${attempt}: no "second signal during shutdown"`)
    t.match(log.find((l) => l.msg === 'shutting down'), { signal: 'SIGINT' })
    const repeated = log.some((l) => /same signal again/.test(l.msg ?? '') && l.signal === 'SIGINT')
    t.comment(`attempt ${attempt}: ${repeated ? "npm's SIGINT arrived apart and was taken as the same request" : 'one SIGINT delivered (the two coalesced)'}`)
    if (repeated) twice++
  }
  // The case of the issue did happen: a second SIGINT reached the service, and changed nothing.
  t.ok(twice > 0, `in one of ${MAX_ATTEMPTS} attempts the service received the repeated SIGINT (npm's) and ignored it`)
})
