import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { createKey } from '../src/auth/api-keys.js'
import { appendKey } from '../src/cli/keys.js'

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

t.test('an invalid keys file stops the process with exit 2, naming the file and the field', async (t) => {
  const dir = t.testdir({ 'keys.json': JSON.stringify({ keys: [{ id: 'admin', sha256: 'not-a-hash', role: 'admin' }] }) })
  const r = spawnSync(process.execPath, [...process.execArgv, SERVER], {
    env: { ...process.env, PORT: '0', LEDGER_SQLITE_PATH: path.join(dir, 'l.sqlite'), LEDGER_KEYS_PATH: path.join(dir, 'keys.json') },
    encoding: 'utf8',
    timeout: START_TIMEOUT_MS,
  })
  t.equal(r.status, 2)
  t.match(r.stdout + r.stderr, /keys file .*keys\.json is invalid:\\n {2}keys\.0\.sha256: /)
})

t.test('the service starts on the embedded store, answers, and stops gracefully on SIGTERM', async (t) => {
  const dir = t.testdir()
  // The first key, as `ledger keys create --role auditor --id auditor-1` makes it.
  const { entry, token } = createKey({ id: 'auditor-1', role: 'auditor' })
  appendKey(path.join(dir, 'data', 'keys.json'), entry)
  const child = spawn(process.execPath, [...process.execArgv, SERVER], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      LEDGER_SQLITE_PATH: path.join(dir, 'data', 'ledger.sqlite'),
      LEDGER_KEYS_PATH: path.join(dir, 'data', 'keys.json'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), START_TIMEOUT_MS)
  t.teardown(() => {
    clearTimeout(timer)
    child.kill('SIGKILL')
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  let address: string | undefined
  const warnings: string[] = []
  for await (const line of createInterface({ input: child.stdout! })) {
    const entry = JSON.parse(line) as { msg?: string; address?: string; level?: number }
    if (entry.level === 40) warnings.push(entry.msg ?? '')
    if (entry.msg === 'ledger listening') {
      address = entry.address
      break
    }
  }
  t.match(address, /^http:\/\/127\.0\.0\.1:\d+$/)
  const res = await fetch(`${address}/healthz`)
  t.equal(res.status, 200)
  t.match(await res.json(), { status: 'ok', store: 'sqlite' })
  // The store answers: its head is on /readyz (200 once the projector is live, else 503 with the figures).
  const ready = await fetch(`${address}/readyz`)
  t.match(await ready.json(), { store: 'sqlite', headPosition: '0', projectionPosition: '0' })
  t.same(warnings, [], 'no warning: a key exists')
  const pool = `${address}/v1/pools/310000/balances`
  const refused = await fetch(pool)
  t.equal(refused.status, 401, '/v1 without a token')
  t.equal(refused.headers.get('www-authenticate'), 'Bearer realm="ledger"')
  t.match(refused.headers.get('content-type'), /^application\/problem\+json/)
  t.equal((await fetch(pool, { headers: { authorization: `Bearer ${token}` } })).status, 200, '/v1 with the key')
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
      LEDGER_KEYS_PATH: path.join(t.testdir(), 'keys.json'),
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
