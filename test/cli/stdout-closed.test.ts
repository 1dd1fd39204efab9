import t from 'tap'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { createKey } from '../../src/auth/api-keys.js'
import { CLI_RUN_TIMEOUT_MS } from '../helpers/cli.js'

/**
 * `ledger … | head -1` (issue #14): the reader of the CLI's standard output closes after one line;
 * the CLI's next write fails with EPIPE. It must end quietly (no "Unhandled 'error' event", no
 * stack trace), with status 0 (a reader that closed early is not a failure of the command: the
 * Unix convention).
 */

/** Keys listed: one line each, far more than a pipe's buffer (64 KiB) holds, so the CLI is still
 * writing when its reader closes. */
const KEYS = 3_000

t.test('`ledger keys list` into a reader that closes after the first line: exit 0, nothing on standard error', async (t) => {
  // Given a keys file of 3,000 keys (a line each in `keys list`),
  const dir = t.testdir()
  const keysPath = path.join(dir, 'keys.json')
  const keys = Array.from({ length: KEYS }, (_, i) => createKey({ id: `auditor-${i}`, role: 'auditor', note: 'x'.repeat(40) }).entry)
  fs.writeFileSync(keysPath, JSON.stringify({ keys }))
  // when the CLI's standard output is read up to its first line and then closed,
  const child = spawn(process.execPath, [...process.execArgv, 'src/cli/ledger.ts', 'keys', 'list'], {
    env: { ...process.env, LEDGER_KEYS_PATH: keysPath, LEDGER_SQLITE_PATH: path.join(dir, 'ledger.sqlite') },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let first = ''
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  child.stdout.on('data', (d: Buffer) => {
    first += d.toString()
    if (first.includes('\n')) child.stdout.destroy()
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), CLI_RUN_TIMEOUT_MS)
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  clearTimeout(timer)
  // then the first line was the table's head, the CLI ended with status 0 and said nothing on
  // standard error.
  t.match(first, /^ID\s+ROLE AND SCOPE/, 'the first line was read')
  t.equal(code, 0, `exit 0 (stderr: ${stderr.slice(0, 300)})`)
  t.equal(stderr, '', 'no stack trace, nothing on standard error')
})
