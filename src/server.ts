import { pino, type Logger } from 'pino'
import closeWithGrace from 'close-with-grace'
import { ConfigError, loadConfig, type Config } from './config.js'
import { createLedger, type Ledger } from './bootstrap.js'
import { loggerOptions, stdoutLogDestination, wantsPrettyLogs } from './logging.js'
import { PolicyTableError } from './policy-loader.js'
import { CalendarError } from './calendar-loader.js'
import { AuthConfigError } from './auth/authenticator.js'
import { StoreUnavailableError } from './eventstore/port.js'
import { ReadModelMismatchError } from './projector/read-model-store.js'
import { invokedDirectly } from './cli/invoked-directly.js'
import { StartRefusedError } from './startup-refused.js'
import { SHUTDOWN_SIGNALS, watchShutdownSignals, type ShutdownSignal } from './shutdown-signals.js'

/** Exit statuses of the service process. */
export const EXIT = {
  /** A graceful shutdown finished within LEDGER_SHUTDOWN_TIMEOUT_MS. */
  ok: 0,
  /** The shutdown timed out or failed, an uncaught error stopped the service, or it failed to start
   * for a reason not listed below. */
  failed: 1,
  /** Bad configuration, policy table, calendar, keys or JWT key file, read models of another log, a
   * read-model file another service already folds, or a data directory that cannot be written. */
  badConfig: 2,
  /** The event store did not answer at start (KurrentDB within LEDGER_KURRENTDB_CONNECT_TIMEOUT_MS). */
  storeUnavailable: 3,
} as const

/** The service could not start; the cause is already reported (standard error or a fatal log line). */
export class ServeError extends Error {
  override readonly name = 'ServeError'
  constructor(
    message: string,
    /** The exit status the process should end with (see {@link EXIT}). */
    readonly exitCode: number,
  ) {
    super(message)
  }
}

/** What `serve` starts with. */
export interface ServeOptions {
  /** The validated configuration; default: read from `env` with `loadConfig`. */
  config?: Config
  /** The environment the configuration is read from when `config` is absent; default `process.env`. */
  env?: NodeJS.ProcessEnv
}

/** A service started by `serve`: listening, with shutdown on signals installed. */
export interface Service {
  ledger: Ledger
  /** Where it listens, e.g. `http://127.0.0.1:3000`. */
  address: string
  /** The service's logger (JSON lines, or pino-pretty on a terminal outside production). */
  log: Logger
  /** Shuts down as a SIGTERM would, then exits the process (0, or 1 past the bound). */
  shutdown(): void
}

/**
 * Starts the ledger: configuration, logger, store, read models, projector, HTTP listening; then
 * owns the process until it ends. Used by `node dist/src/server.js` and `ledger serve`.
 *
 * Shutdown (close-with-grace): on SIGTERM, SIGINT (and the other terminating signals) the ledger
 * closes gracefully in the order of `Ledger.close` (no new connections, requests in flight answered
 * after their appends commit, the projector's batch and checkpoint committed, the store's queued
 * appends written, the databases closed) and the process exits 0. An uncaught exception or
 * unhandled rejection closes the same way, then exits 1. When the close takes longer than
 * `LEDGER_SHUTDOWN_TIMEOUT_MS` milliseconds, or a second signal arrives, that is logged and the
 * process exits 1 at once (what was acknowledged is on disk already; the projector resumes from its
 * checkpoint at the next start). The first signal repeated within DUPLICATE_SIGNAL_WINDOW_MS is not
 * a second one: a Ctrl-C under `npm start` reaches the service twice (see shutdown-signals.ts).
 *
 * Resolves once listening.
 * @throws ServeError with the exit status (2 bad configuration or files, 3 store unavailable) after
 * reporting the cause: a bad configuration on standard error, anything else as a fatal log line.
 */
export async function serve(options: ServeOptions = {}): Promise<Service> {
  let config: Config
  try {
    config = options.config ?? loadConfig(options.env ?? process.env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      throw new ServeError(err.message, EXIT.badConfig)
    }
    throw err
  }
  const pretty = wantsPrettyLogs()
  // JSON lines on standard output, dropped quietly once it is gone (EPIPE): one destination for the
  // service's logger and Fastify's (logging.ts, stdoutLogDestination). Pretty lines (a terminal)
  // go through pino-pretty's transport instead.
  const destination = pretty ? undefined : stdoutLogDestination()
  const logOptions = { ...loggerOptions(config.LOG_LEVEL, { pretty }), ...(destination ? { stream: destination } : {}) }
  const log = destination ? pino(loggerOptions(config.LOG_LEVEL), destination) : pino(logOptions)
  let ledger: Ledger
  try {
    ledger = await createLedger(config, {
      logger: logOptions,
      projectorLogger: log.child({ component: 'projector' }),
      storeLogger: log.child({ component: 'eventstore' }),
      interestLogger: log.child({ component: 'interest-run' }),
    })
  } catch (err) {
    const exitCode =
      // ConfigError here: a KurrentDB connection string the client cannot take (kurrentdb-event-store.ts).
      err instanceof ConfigError || err instanceof PolicyTableError || err instanceof CalendarError || err instanceof AuthConfigError || err instanceof ReadModelMismatchError || err instanceof StartRefusedError
        ? EXIT.badConfig
        : err instanceof StoreUnavailableError
          ? EXIT.storeUnavailable
          : undefined
    if (exitCode === undefined) throw err
    log.fatal((err as Error).message)
    throw new ServeError((err as Error).message, exitCode)
  }
  const shutdownTimeoutMs = config.LEDGER_SHUTDOWN_TIMEOUT_MS
  /** The signal that began the shutdown, for its log line. */
  let firstSignal: ShutdownSignal | undefined
  // Installed before listening: a signal during start-up closes what is open. The signals are the
  // watcher's below (one Ctrl-C under `npm start` arrives twice); errors and the end of the event
  // loop stay close-with-grace's.
  const grace = closeWithGrace(
    {
      skip: [...SHUTDOWN_SIGNALS],
      delay: shutdownTimeoutMs,
      logger: {
        error: (what: unknown) => (what instanceof Error ? log.error({ err: what }, 'shutdown failed; exiting with status 1') : log.error(String(what))),
      },
      onTimeout: (delayMs: number) =>
        log.error({ shutdownTimeoutMs: delayMs }, 'shutdown did not finish within LEDGER_SHUTDOWN_TIMEOUT_MS; exiting with status 1'),
      onSecondError: (err: unknown) => log.error({ err }, 'another uncaught error during shutdown; exiting with status 1'),
    },
    async ({ signal, err, manual }) => {
      signals.shuttingDown()
      if (err) log.fatal({ err }, 'uncaught error; shutting down, then exiting with status 1')
      else log.info({ signal: firstSignal ?? signal ?? (manual ? 'shutdown()' : 'event loop empty'), shutdownTimeoutMs }, 'shutting down')
      await ledger.close()
      log.info('shut down')
    },
  )
  const signals = watchShutdownSignals({
    first: (signal) => {
      firstSignal = signal
      void grace.close()
    },
    duplicate: (signal, afterMs) =>
      log.debug({ signal, afterMs }, 'the same signal again within DUPLICATE_SIGNAL_WINDOW_MS: the same request (a terminal and npm both send Ctrl-C); ignored'),
    second: (signal) => {
      log.error({ signal }, 'second signal during shutdown; exiting with status 1')
      process.exit(EXIT.failed)
    },
  })
  let address: string
  try {
    address = await ledger.app.listen({ port: config.PORT, host: config.HOST })
  } catch (err) {
    // The port is taken or the host unknown: close what was opened, then report.
    grace.uninstall()
    signals.uninstall()
    await ledger.close().catch(() => undefined)
    log.fatal({ err }, `cannot listen on ${config.HOST}:${config.PORT}`)
    throw new ServeError(`cannot listen on ${config.HOST}:${config.PORT}`, EXIT.failed)
  }
  log.info({ address, store: config.LEDGER_STORE, sqlitePath: config.LEDGER_SQLITE_PATH, shutdownTimeoutMs }, 'ledger listening')
  return { ledger, address, log, shutdown: () => grace.close() }
}

/**
 * Runs the service as the process: `serve`, and on a failed start exits with the status the failure
 * names (1 for an unexpected one, its stack on standard error). Resolves once listening; the
 * process then runs until a signal and ends through the shutdown `serve` installed.
 */
export async function runService(options: ServeOptions = {}): Promise<void> {
  try {
    await serve(options)
  } catch (err) {
    if (err instanceof ServeError) process.exit(err.exitCode)
    process.stderr.write(`ledger failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(EXIT.failed)
  }
}

if (invokedDirectly(import.meta.url)) void runService()
