import t from 'tap'
import path from 'node:path'
import { existsSync, writeFileSync } from 'node:fs'
import { generateKeyPairSync } from 'node:crypto'
import { createLedger } from '../src/bootstrap.js'
import { loadConfig } from '../src/config.js'
import { ReadModelMismatchError, ReadModelStore } from '../src/projector/read-model-store.js'
import { createKey } from '../src/auth/api-keys.js'
import { AuthConfigError } from '../src/auth/authenticator.js'
import { appendKey } from '../src/cli/keys.js'

/** The configuration of a ledger on `file`, its keys file beside it (created by `withKey`). */
const configFor = (file: string, env: Record<string, string> = {}) =>
  loadConfig({ LEDGER_SQLITE_PATH: file, LEDGER_KEYS_PATH: path.join(path.dirname(file), 'keys.json'), LOG_LEVEL: 'silent', ...env })

/** Creates an auditor key in the keys file beside `file`, as `ledger keys create` does; its token. */
function withKey(file: string): string {
  const { entry, token } = createKey({ id: 'auditor-1', role: 'auditor' })
  appendKey(path.join(path.dirname(file), 'keys.json'), entry)
  return token
}

/** A pino logger option writing into `lines`. */
function capture(lines: { level: number; msg: string }[]) {
  return { level: 'info', stream: { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) } }
}

t.test('read models built from another event store are refused, with what to do', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const foreign = new ReadModelStore(file)
  foreign.bindToStore('kurrentdb')
  foreign.close()
  const err = await createLedger(configFor(file)).catch((e: unknown) => e)
  t.type(err, ReadModelMismatchError)
  t.match((err as Error).message, /built from the kurrentdb event store, not sqlite; point LEDGER_SQLITE_PATH at another file, or delete .*ledger\.sqlite to rebuild/)
})

t.test('a checkpoint beyond the log head (the log was replaced) is refused', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const rm = new ReadModelStore(file)
  rm.bindToStore('sqlite')
  rm.commitBatch('main', new Map(), 99n)
  rm.close()
  const err = await createLedger(configFor(file)).catch((e: unknown) => e)
  t.type(err, ReadModelMismatchError)
  t.match((err as Error).message, /checkpoint \(99\) is beyond the log's head \(empty log\)/)
})

t.test('the same store again opens, and binds on first use', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  withKey(file)
  const first = await createLedger(configFor(file))
  await first.close()
  const second = await createLedger(configFor(file))
  t.teardown(() => second.close())
  t.equal((await second.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  // The store answers (readiness): its head, whether or not the projector is live yet.
  t.match((await second.app.inject({ method: 'GET', url: '/readyz' })).json(), { store: 'sqlite', headPosition: '0' })
})

t.test('the keys file authenticates /v1; /healthz stays open; no warning when keys exist', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const token = withKey(file)
  const lines: { level: number; msg: string }[] = []
  const ledger = await createLedger(configFor(file), { logger: capture(lines) })
  t.teardown(() => ledger.close())
  const get = (headers: Record<string, string> = {}) => ledger.app.inject({ method: 'GET', url: '/v1/pools/310000/balances', headers })
  t.equal((await get({ authorization: `Bearer ${token}` })).statusCode, 200, 'with the key')
  const refused = await get()
  t.equal(refused.statusCode, 401, 'without a token')
  t.equal(refused.headers['www-authenticate'], 'Bearer realm="ledger"')
  t.equal((await get({ authorization: `Bearer ${token}x` })).statusCode, 401, 'a wrong token')
  t.equal((await ledger.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  t.notOk(lines.some((l) => l.level === 40), 'no warning')
})

t.test('no keys file and no JWT key: the service starts and warns once how to create the first key', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const lines: { level: number; msg: string }[] = []
  const ledger = await createLedger(configFor(file), { logger: capture(lines) })
  t.teardown(() => ledger.close())
  const warnings = lines.filter((l) => l.level === 40)
  t.equal(warnings.length, 1, 'one warning')
  t.match(warnings[0]!.msg, /no API keys file at .*keys\.json and no JWT key configured/)
  t.match(warnings[0]!.msg, /npm run ledger -- keys create --role admin/)
  // The image has no TypeScript compiler (`npm run ledger` builds first): the compiled CLI there.
  t.match(warnings[0]!.msg, /docker compose exec ledger node dist\/src\/cli\/ledger\.js keys create --role admin/)
  t.equal((await ledger.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200)
  t.equal((await ledger.app.inject({ method: 'GET', url: '/v1/pools/310000/balances' })).statusCode, 401)

  // The first key, created while the service runs, is seen without a restart (at most a second later).
  const token = withKey(file)
  await new Promise((resolve) => setTimeout(resolve, 1_100))
  const res = await ledger.app.inject({ method: 'GET', url: '/v1/pools/310000/balances', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200, 'the new key works')
})

t.test('an invalid keys file or JWT key stops the start, naming the file and the field, before the store opens', async (t) => {
  const dir = t.testdir({
    'keys.json': JSON.stringify({ keys: [{ id: 'payroll-1', sha256: 'a'.repeat(64), role: 'payroll' }] }),
    'jwks.json': JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'nope' }] }),
  })
  const file = path.join(dir, 'ledger.sqlite')
  let err = await createLedger(configFor(file)).catch((e: unknown) => e)
  t.type(err, AuthConfigError)
  t.match((err as Error).message, /keys file .*keys\.json is invalid:\n {2}keys\.0\.employers: a payroll key needs at least one employer/)
  t.notOk(existsSync(file), 'the store was not opened')

  writeFileSync(path.join(dir, 'keys.json'), JSON.stringify({ keys: [] }))
  err = await createLedger(configFor(file, { LEDGER_JWT_JWKS_PATH: path.join(dir, 'jwks.json') })).catch((e: unknown) => e)
  t.type(err, AuthConfigError)
  t.match((err as Error).message, /JWKS file .*jwks\.json is invalid:\n {2}keys\.0\.kid: /)
  t.notOk(existsSync(file))
})

t.test('a JWT key configured and no keys file: no warning', async (t) => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const dir = t.testdir({ 'issuer.pem': publicKey.export({ type: 'spki', format: 'pem' }).toString() })
  const lines: { level: number; msg: string }[] = []
  const ledger = await createLedger(configFor(path.join(dir, 'ledger.sqlite'), { LEDGER_JWT_PUBLIC_KEY_PATH: path.join(dir, 'issuer.pem') }), { logger: capture(lines) })
  t.teardown(() => ledger.close())
  t.notOk(lines.some((l) => l.level === 40))
  t.equal((await ledger.app.inject({ method: 'GET', url: '/v1/pools/310000/balances', headers: { authorization: 'Bearer a.b.c' } })).statusCode, 401)
})
