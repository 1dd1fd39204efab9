import { spawn } from 'node:child_process'

/** Longest a `ledger` child process may run in a test before it is killed, milliseconds. */
export const CLI_RUN_TIMEOUT_MS = 60_000

/** What a `ledger` child process printed and how it ended (`code` null when it was killed). */
export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs `src/cli/ledger.ts` with `args` in a child process (through tap's TypeScript loader, from the
 * repository root), with `env` added to this process's environment; killed after
 * CLI_RUN_TIMEOUT_MS.
 */
export function runLedgerCli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, 'src/cli/ledger.ts', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), CLI_RUN_TIMEOUT_MS)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}
