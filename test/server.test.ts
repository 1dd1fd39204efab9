import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The process entry, started as `npm start` would (through tap's TypeScript loader here). */
const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/server.ts')
const START_TIMEOUT_MS = 60_000

t.test('a bad configuration stops the process with exit 2 and one line per bad key', async (t) => {
  const r = spawnSync(process.execPath, [...process.execArgv, SERVER], {
    env: { ...process.env, PORT: 'abc', LEDGER_STORE: 'nope' },
    encoding: 'utf8',
    timeout: START_TIMEOUT_MS,
  })
  t.equal(r.status, 2)
  t.match(r.stderr, /invalid configuration:\n {2}PORT: .*\n {2}LEDGER_STORE: /)
})

t.test('a bad policy table stops the process with exit 2, naming the file', async (t) => {
  const dir = t.testdir({ 'table.json': '{"tableVersion":"x","policies":[]}' })
  const r = spawnSync(process.execPath, [...process.execArgv, SERVER], {
    env: { ...process.env, PORT: '0', LEDGER_SQLITE_PATH: path.join(dir, 'l.sqlite'), LEDGER_POLICY_PATH: path.join(dir, 'table.json') },
    encoding: 'utf8',
    timeout: START_TIMEOUT_MS,
  })
  t.equal(r.status, 2)
  t.match(r.stdout + r.stderr, /table\.json is invalid/)
})

t.test('the service starts on the embedded store, answers, and stops gracefully on SIGTERM', async (t) => {
  const dir = t.testdir()
  const child = spawn(process.execPath, [...process.execArgv, SERVER], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LEDGER_SQLITE_PATH: path.join(dir, 'data', 'ledger.sqlite') },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS)
  t.teardown(() => {
    clearTimeout(timer)
    child.kill('SIGKILL')
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let address: string | undefined
  for await (const line of createInterface({ input: child.stdout! })) {
    const entry = JSON.parse(line) as { msg?: string; address?: string }
    if (entry.msg === 'ledger listening') {
      address = entry.address
      break
    }
  }
  t.match(address, /^http:\/\/127\.0\.0\.1:\d+$/)
  const res = await fetch(`${address}/healthz`)
  t.equal(res.status, 200)
  t.match(await res.json(), { status: 'ok', store: 'sqlite', headPosition: '0' })
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'exit 0 after a graceful shutdown')
})

t.test('KurrentDB not reachable: one clear line and exit 3 within the connect timeout', async (t) => {
  // A local port with nothing listening: take a free one, then close it.
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
  const started = Date.now()
  const r = spawnSync(process.execPath, [...process.execArgv, SERVER], {
    env: {
      ...process.env,
      PORT: '0',
      LEDGER_STORE: 'kurrentdb',
      LEDGER_KURRENTDB_URL: `kurrentdb://admin:secret@127.0.0.1:${port}?tls=false`,
      LEDGER_KURRENTDB_CONNECT_TIMEOUT_MS: '3000',
      LEDGER_SQLITE_PATH: path.join(t.testdir(), 'l.sqlite'),
    },
    encoding: 'utf8',
    timeout: START_TIMEOUT_MS,
  })
  t.equal(r.status, 3, 'exit 3')
  const lines = r.stdout.trim().split('\n').filter((l) => l.includes('"level":60'))
  t.equal(lines.length, 1, 'one fatal line')
  const entry = JSON.parse(lines[0]!) as { msg: string }
  t.match(entry.msg, `cannot reach KurrentDB at kurrentdb://admin:***@127.0.0.1:${port}?tls=false`)
  t.match(entry.msg, /docker compose up -d kurrentdb/)
  t.notMatch(r.stdout + r.stderr, /secret/, 'the password is not logged')
  // ts-node start-up takes a few seconds; the connect timeout bounds the rest.
  t.ok(Date.now() - started < START_TIMEOUT_MS, 'it did not hang')
})
