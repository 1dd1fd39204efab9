/**
 * Child processes of the benchmark (the replay CLI, the service): started with their output kept
 * (the last few KB, for failure reports), waited for with a limit, stopped with SIGTERM and then
 * SIGKILL. Every child started here is remembered until it exits, so that the run can stop them all
 * when it ends early ({@link killAllChildren}).
 */
import { spawn, type ChildProcess } from 'node:child_process'

/** Output kept per child (standard output and error together), characters. */
export const OUTPUT_TAIL_CHARS = 8_000

/** How a child ended. */
export interface ChildExit {
  /** Exit code, or null when ended by a signal. */
  code: number | null
  signal: NodeJS.Signals | null
}

/** A running child: its process, its recent output, and its end. */
export interface Child {
  readonly process: ChildProcess
  /** The last {@link OUTPUT_TAIL_CHARS} characters of its standard output and error. */
  tail(): string
  /** Resolves when the process has exited (never rejects; a spawn error counts as exit code null). */
  readonly exited: Promise<ChildExit>
  /** Whether it has exited. */
  hasExited(): boolean
}

const running = new Set<ChildProcess>()

/** Variables of the parent's environment never passed on: the service's configuration
 * (src/config.ts), so that only what the benchmark sets configures its children. */
export const DROPPED_ENV = /^(LEDGER_|LOG_LEVEL$|PORT$|HOST$)/

/**
 * Starts `node` with `args`, the parent's environment (less {@link DROPPED_ENV}) plus `env`,
 * standard input closed, output piped (kept as a tail, and never written to the terminal).
 */
export function startNode(args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Child {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !DROPPED_ENV.test(key)))
  const child = spawn(process.execPath, [...args], { cwd, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let tail = ''
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let done = false
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('error', (err) => {
      keep(Buffer.from(`\n[bench] could not start the child: ${err.message}\n`))
      done = true
      running.delete(child)
      resolve({ code: null, signal: null })
    })
    child.once('close', (code, signal) => {
      done = true
      running.delete(child)
      resolve({ code, signal })
    })
  })
  return { process: child, tail: () => tail, exited, hasExited: () => done }
}

/**
 * Waits for `child` to exit, at most `waitMs` milliseconds; past that it is stopped
 * ({@link stopChild}) and `undefined` is returned.
 */
export async function waitForExit(child: Child, waitMs: number, killWaitMs: number): Promise<ChildExit | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)))
  try {
    const result = await Promise.race([child.exited, timedOut])
    if (result === undefined) await stopChild(child, killWaitMs)
    return result
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Stops `child`: SIGTERM, then SIGKILL if it has not exited after `killWaitMs` milliseconds.
 * Resolves when it has exited (or at once when it already had).
 */
export async function stopChild(child: Child, killWaitMs: number): Promise<ChildExit> {
  if (child.hasExited()) return child.exited
  child.process.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const grace = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), killWaitMs)))
  const first = await Promise.race([child.exited, grace])
  clearTimeout(timer)
  if (first !== 'late') return first
  child.process.kill('SIGKILL')
  return child.exited
}

/** Sends SIGKILL to every child still running (for an early end of the run; synchronous). */
export function killAllChildren(): void {
  for (const child of running) child.kill('SIGKILL')
}
