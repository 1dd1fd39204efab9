import type { Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/**
 * The service in a child process (as `npm start` runs it, through tap's TypeScript loader on the
 * sources), its JSON log lines collected: for tests of what only a real process shows (files
 * deleted under it, exit statuses, signals). Same approach as test/shutdown.test.ts.
 */

export const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
/** `src/server.ts`, the service's entry point. */
export const SERVER = path.join(ROOT, 'src/server.ts')
/** Longest a start may take (the TypeScript loader compiles the sources first), milliseconds. */
export const START_TIMEOUT_MS = 60_000

/**
 * The service's environment for a test: this process's, JSON logs (`NODE_ENV=production`) at info,
 * a free port on loopback, the SQLite file and the keys file in `dir`, no rate limit; `overrides`
 * last (e.g. `LEDGER_SHUTDOWN_TIMEOUT_MS`).
 */
export const serviceEnv = (dir: string, overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  NODE_ENV: 'production',
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: 'info',
  LEDGER_SQLITE_PATH: path.join(dir, 'ledger.sqlite'),
  LEDGER_KEYS_PATH: path.join(dir, 'keys.json'),
  LEDGER_RATE_LIMIT_PER_MINUTE: '0',
  ...overrides,
})

/** A JSON log line of the service (the fields the tests read). */
export interface ServiceLogLine {
  level?: number
  msg?: string
  component?: string
  address?: string
  reason?: string
  path?: string
  [key: string]: unknown
}

/** A service process started by {@link startService}; `L` the shape of its log lines a test reads. */
export interface ServiceProcess<L extends object = ServiceLogLine> {
  child: ChildProcess
  /** Where it listens (`http://127.0.0.1:<port>`); '' when started with `expectListen: false`. */
  address: string
  /** Every log line so far, in order. */
  log: L[]
  /** Everything written to standard error so far. */
  stderr(): string
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves with the first log line (already written or to come) `match` accepts; rejects after
   * `ms` milliseconds (default START_TIMEOUT_MS). */
  waitForLine(match: (line: L) => boolean, ms?: number): Promise<L>
}

/**
 * Starts `node <execArgv> src/server.ts` (or `args`, e.g. `[CLI, 'serve']`) with `env` and waits
 * until it logs "ledger listening" (rejects if it exits first or does not listen within
 * START_TIMEOUT_MS). With `expectListen: false` it resolves at once (for a start that must fail:
 * await `exited`). The process is killed in `t`'s teardown if still running.
 */
export async function startService<L extends object = ServiceLogLine>(
  t: Test,
  env: NodeJS.ProcessEnv,
  options: { expectListen?: boolean; args?: string[] } = {},
): Promise<ServiceProcess<L>> {
  const child = spawn(process.execPath, [...process.execArgv, ...(options.args ?? [SERVER])], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const log: L[] = []
  const watchers = new Set<{ match: (line: L) => boolean; resolve: (line: L) => void }>()
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: L
    try {
      line = JSON.parse(text) as L
    } catch {
      line = { msg: text } as L
    }
    log.push(line)
    for (const w of watchers)
      if (w.match(line)) {
        watchers.delete(w)
        w.resolve(line)
      }
  })
  const waitForLine = (match: (line: L) => boolean, ms = START_TIMEOUT_MS) =>
    new Promise<L>((resolve, reject) => {
      const seen = log.find(match)
      if (seen) return resolve(seen)
      const timer = setTimeout(() => {
        watchers.delete(watcher)
        reject(new Error(`no such log line within ${ms} ms`))
      }, ms)
      const watcher = {
        match,
        resolve: (line: L) => {
          clearTimeout(timer)
          resolve(line)
        },
      }
      watchers.add(watcher)
    })
  const running = { child, address: '', log, stderr: () => stderr, exited, waitForLine }
  if (options.expectListen === false) return running
  const listening = await Promise.race([
    waitForLine((l) => (l as ServiceLogLine).msg === 'ledger listening').catch(() => new Error(`the service did not listen within ${START_TIMEOUT_MS} ms`)),
    exited.then(({ code }) => new Error(`the service exited with ${code} before listening: ${stderr}`)),
  ])
  if (listening instanceof Error) throw listening
  return { ...running, address: (listening as ServiceLogLine).address! }
}

/** Waits for the process to exit, at most `ms`; undefined when it did not. */
export async function exitWithin(running: Pick<ServiceProcess<object>, 'exited'>, ms: number) {
  let timer: NodeJS.Timeout | undefined
  const result = await Promise.race([running.exited, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))])
  clearTimeout(timer)
  return result
}
