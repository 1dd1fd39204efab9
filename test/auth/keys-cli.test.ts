import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Command } from 'commander'
import { registerKeys } from '../../src/cli/keys.js'
import type { CliContext } from '../../src/cli/context.js'
import { createAuthenticator, loadApiKeyBook } from '../../src/auth/authenticator.js'
import { createTestLedger } from '../helpers/ledger.js'
import { bearer, EMPLOYER, oneLine, sha256Hex } from '../helpers/auth.js'

/**
 * `ledger keys create | list` (issue #7): the keys file gets the hash only (mode 0600, written
 * atomically), the token is printed once and works against a service reading that file.
 */

interface Run {
  status: number
  out: string[]
  err: string[]
}

/** Runs `keys <args>` in process with LEDGER_KEYS_PATH = `file`. */
async function keys(file: string, ...args: string[]): Promise<Run> {
  const run: Run = { status: 0, out: [], err: [] }
  const ctx: CliContext = {
    env: { LEDGER_KEYS_PATH: file },
    out: (line) => run.out.push(line),
    err: (line) => run.err.push(line),
    setStatus: (code) => (run.status = code),
  }
  const program = new Command().exitOverride()
  registerKeys(program.command('keys').exitOverride(), ctx)
  await program.parseAsync(['node', 'ledger', 'keys', ...args])
  return run
}

const keysIn = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { keys: Record<string, unknown>[] }).keys

t.test('keys create: the file holds the hash only, mode 0600; the token printed once works', async (t) => {
  const file = path.join(t.testdir(), 'secrets', 'keys.json')
  const run = await keys(file, 'create', '--role', 'payroll', '--employer', EMPLOYER, '--id', 'payroll-acme', '--note', 'ACME payroll system')
  t.equal(run.status, 0)
  t.equal(run.out.length, 1, 'one line on stdout: the token')
  const token = run.out[0]!
  t.match(token, /^lk_payroll-acme\.[A-Za-z0-9_-]{43}$/)
  t.match(run.err.join('\n'), /shown only this once: it is not stored/)
  t.match(run.err.join('\n'), new RegExp(`key payroll-acme \\(payroll, employers ${EMPLOYER}\\) added to .*keys\\.json`))

  t.equal(statSync(file).mode & 0o777, 0o600, 'mode 0600')
  const secret = token.split('.')[1]!
  const text = readFileSync(file, 'utf8')
  t.notOk(text.includes(secret), 'the secret is not in the file')
  const [entry] = keysIn(file)
  t.match(entry, { id: 'payroll-acme', role: 'payroll', employers: [EMPLOYER], regions: [], note: 'ACME payroll system', sha256: sha256Hex(secret) })
  t.match(entry!.createdAt, /^\d{4}-\d\d-\d\dT/)
  t.same(readdirSync(path.dirname(file)), ['keys.json'], 'no temporary file left')

  const ledger = await createTestLedger({ authenticator: createAuthenticator({ keys: loadApiKeyBook(file) }) })
  t.teardown(ledger.close)
  const res = await ledger.app.inject({ method: 'POST', url: '/v1/contribution-submissions', headers: bearer(token), payload: oneLine('CLI-1') })
  t.equal(res.statusCode, 201, 'the printed token is accepted')
  t.ok((await ledger.allEvents()).every((e) => e.metadata.actor === 'payroll-acme'))

  const second = await keys(file, 'create', '--role', 'region-officer', '--region', '310000', '--region', '320000')
  t.equal(second.status, 0)
  t.match(second.out[0], /^lk_region-officer-[0-9a-f]{8}\.[A-Za-z0-9_-]{43}$/, 'a generated id')
  t.equal(keysIn(file).length, 2, 'appended')
  t.equal(statSync(file).mode & 0o777, 0o600)
})

t.test('keys create refuses bad options and an existing id with status 2, writing nothing', async (t) => {
  const file = path.join(t.testdir(), 'keys.json')
  t.equal((await keys(file, 'create', '--role', 'admin', '--id', 'admin')).status, 0)
  const before = readFileSync(file, 'utf8')
  const cases: [string, string[], RegExp][] = [
    ['unknown role', ['--role', 'root'], /--role must be one of payroll, region-officer, auditor, admin/],
    ['payroll without employer', ['--role', 'payroll'], /--employer: a payroll key needs at least one employer/],
    ['bad employer', ['--role', 'payroll', '--employer', '123'], /--employer "123": a unified social credit code/],
    ['region officer without region', ['--role', 'region-officer'], /--region: a region-officer key needs at least one region/],
    ['bad region', ['--role', 'region-officer', '--region', '31'], /--region "31": a GB\/T 2260 code/],
    ['employer on an auditor key', ['--role', 'auditor', '--employer', EMPLOYER], /--employer is for payroll keys only/],
    ['region on a payroll key', ['--role', 'payroll', '--employer', EMPLOYER, '--region', '310000'], /--region is for region-officer keys only/],
    ['bad id', ['--role', 'admin', '--id', 'Admin One'], /--id must be 3-40 characters/],
    ['long note', ['--role', 'admin', '--note', 'x'.repeat(201)], /--note: /],
    ['existing id', ['--role', 'auditor', '--id', 'admin'], /key id admin is already in .*keys\.json; choose another --id/],
  ]
  for (const [what, args, message] of cases) {
    const run = await keys(file, 'create', ...args)
    t.equal(run.status, 2, `${what}: status 2`)
    t.same(run.out, [], `${what}: no token`)
    t.match(run.err.join('\n'), message, what)
  }
  t.equal(readFileSync(file, 'utf8'), before, 'the file is unchanged')

  writeFileSync(file, JSON.stringify({ keys: [{ id: 'x-1', sha256: 'short', role: 'admin' }] }))
  const invalid = await keys(file, 'create', '--role', 'admin')
  t.equal(invalid.status, 2, 'an invalid keys file')
  t.match(invalid.err.join('\n'), /keys file .*keys\.json is invalid:\n {2}keys\.0\.sha256: /)
})

t.test('keys list: ids, roles, scopes, creation time and note, never a hash', async (t) => {
  const file = path.join(t.testdir(), 'keys.json')
  const empty = await keys(file, 'list')
  t.equal(empty.status, 0)
  t.same(empty.out, [])
  t.match(empty.err.join('\n'), /no keys in .*keys create --role admin/)

  await keys(file, 'create', '--role', 'admin', '--id', 'admin', '--note', 'first key')
  await keys(file, 'create', '--role', 'payroll', '--id', 'payroll-acme', '--employer', EMPLOYER)
  const regions = ['110000', '120000', '130000', '140000', '150000']
  await keys(file, 'create', '--role', 'region-officer', '--id', 'north', ...regions.flatMap((r) => ['--region', r]))
  const run = await keys(file, 'list')
  t.equal(run.status, 0)
  t.equal(run.out.length, 4, 'a header and a line per key')
  t.match(run.out[0], /^ID +ROLE AND SCOPE +CREATED +NOTE$/)
  t.match(run.out[1], /^admin +admin +\d{4}-\d\d-\d\dT\S+ +first key$/)
  t.match(run.out[2], new RegExp(`^payroll-acme +payroll, employers ${EMPLOYER} +\\d{4}-`))
  t.match(run.out[3], /^north +region-officer, regions 110000,120000,130000 and 2 more +\d{4}-/)
  const hashes = keysIn(file).map((k) => k.sha256 as string)
  t.ok(hashes.every((h) => !run.out.join('\n').includes(h)), 'no hash printed')
})

/** Runs the real CLI (`src/cli/ledger.ts`) as a child process. */
function cli(t: Test, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, 'src/cli/ledger.ts', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    t.teardown(() => clearTimeout(timer))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

t.test('the ledger command: the token alone on stdout, usage errors exit 2', async (t) => {
  const file = path.join(t.testdir(), 'keys.json')
  const ok = await cli(t, ['keys', 'create', '--role', 'auditor', '--id', 'auditor-1'], { LEDGER_KEYS_PATH: file })
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /^lk_auditor-1\.[A-Za-z0-9_-]{43}\n$/, 'TOKEN=$(ledger keys create …) gets the token only')
  t.match(ok.stderr, /not stored/)
  const missing = await cli(t, ['keys', 'create'], { LEDGER_KEYS_PATH: file })
  t.equal(missing.code, 2, 'no --role')
  t.match(missing.stderr, /--role/)
  t.equal(keysIn(file).length, 1)
})
