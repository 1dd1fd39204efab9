import { ConfigError, loadConfig, type Config } from '../config.js'
import type { EventStore } from '../eventstore/port.js'
import { openSqliteEventStore } from '../eventstore/sqlite/sqlite-event-store.js'
import { openKurrentDbEventStore } from '../eventstore/kurrentdb/kurrentdb-event-store.js'

/** What every `ledger` command gets: the environment, where to write, and how to set the exit status. */
export interface CliContext {
  env: NodeJS.ProcessEnv
  /** A line to standard output (the command's result or progress). */
  out(line: string): void
  /** A line to standard error (what went wrong, what to do). */
  err(line: string): void
  /** Sets the process's exit status (0 unless a command says otherwise). */
  setStatus(code: number): void
}

/** The default context: process streams and `process.env`. */
export function processContext(env: NodeJS.ProcessEnv, setStatus: (code: number) => void): CliContext {
  return {
    env,
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    setStatus,
  }
}

/** Exit status of a bad configuration. */
export const EXIT_BAD_CONFIG = 2

/** The validated configuration, or undefined after writing the errors and setting status 2. */
export function configOrReport(ctx: CliContext): Config | undefined {
  try {
    return loadConfig(ctx.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      ctx.err(err.message)
      ctx.setStatus(EXIT_BAD_CONFIG)
      return undefined
    }
    throw err
  }
}

/** Opens the configured event store, as bootstrap.ts does (without read models or projector). */
export async function openStore(config: Config): Promise<EventStore> {
  return config.LEDGER_STORE === 'kurrentdb'
    ? openKurrentDbEventStore({ url: config.LEDGER_KURRENTDB_URL!, connectTimeoutMs: config.LEDGER_KURRENTDB_CONNECT_TIMEOUT_MS })
    : openSqliteEventStore({ path: config.LEDGER_SQLITE_PATH })
}
