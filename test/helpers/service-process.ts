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

/** A service process started by {@link startService}. */
export interface ServiceProcess {
  child: ChildProcess
  /** Where it listens (`http://127.0.0.1:<port>`); '' when started with `expectListen: false`. */
  address: string
  /** Every log line so far, in order. */
  log: ServiceLogLine[]
  /** Everything written to standard error so far. */
  stderr(): string
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves with the first log line (already written or to come) `match` accepts; rejects after
   * `ms` milliseconds (default START_TIMEOUT_MS). */
  waitForLine(match: (line: ServiceLogLine) => boolean, ms?: number): Promise<ServiceLogLine>
}

/**
 * Starts `node <execArgv> src/server.ts` with `env` and waits until it logs "ledger listening"
 * (rejects if it exits first or does not listen within START_TIMEOUT_MS). With `expectListen:
 * false` it resolves at once (for a start that must fail: await `exited`). The process is killed in
 * `t`'s teardown if still running.
 */
export async function startService(t: Test, env: NodeJS.ProcessEnv, options: { expectListen?: boolean } = {}): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [...process.execArgv, SERVER], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const log: ServiceLogLine[] = []
  const watchers = new Set<{ match: (line: ServiceLogLine) => boolean; resolve: (line: ServiceLogLine) => void }>()
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: ServiceLogLine
    try {
      line = JSON.parse(text) as ServiceLogLine
    } catch {
      line = { msg: text }
    }
    log.push(line)
    for (const w of watchers)
      if (w.match(line)) {
        watchers.delete(w)
        w.resolve(line)
      }
  })
  const waitForLine = (match: (line: ServiceLogLine) => boolean, ms = START_TIMEOUT_MS) =>
    new Promise<ServiceLogLine>((resolve, reject) => {
      const seen = log.find(match)
      if (seen) return resolve(seen)
      const timer = setTimeout(() => {
        watchers.delete(watcher)
        reject(new Error(`no such log line within ${ms} ms`))
      }, ms)
      const watcher = {
        match,
        resolve: (line: ServiceLogLine) => {
          clearTimeout(timer)
          resolve(line)
        },
      }
      watchers.add(watcher)
    })
  const running = { child, address: '', log, stderr: () => stderr, exited, waitForLine }
  if (options.expectListen === false) return running
  const listening = await Promise.race([
    waitForLine((l) => l.msg === 'ledger listening').catch(() => new Error(`the service did not listen within ${START_TIMEOUT_MS} ms`)),
    exited.then(({ code }) => new Error(`the service exited with ${code} before listening: ${stderr}`)),
  ])
  if (listening instanceof Error) throw listening
  return { ...running, address: listening.address! }
}

/** Waits for the process to exit, at most `ms`; undefined when it did not. */
export async function exitWithin(running: ServiceProcess, ms: number) {
  let timer: NodeJS.Timeout | undefined
  const result = await Promise.race([running.exited, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))])
  clearTimeout(timer)
  return result
}
