import { pino } from 'pino'
import { ConfigError, loadConfig } from './config.js'
import { createLedger } from './bootstrap.js'
import { loggerOptions } from './logging.js'
import { PolicyTableError } from './policy-loader.js'
import { CalendarError } from './calendar-loader.js'
import { AuthConfigError } from './auth/authenticator.js'
import { StoreUnavailableError } from './eventstore/port.js'
import { ReadModelMismatchError } from './projector/read-model-store.js'

/** Longest a graceful shutdown may take before the process exits anyway, milliseconds. */
const SHUTDOWN_TIMEOUT_MS = 10_000

/** Process entry: configuration, store, projector, listen, graceful shutdown on SIGINT/SIGTERM. */
async function main(): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  const options = loggerOptions(config.LOG_LEVEL)
  const log = pino(options)
  let ledger
  try {
    ledger = await createLedger(config, {
      logger: options,
      projectorLogger: log.child({ component: 'projector' }),
      storeLogger: log.child({ component: 'eventstore' }),
      interestLogger: log.child({ component: 'interest-run' }),
    })
  } catch (err) {
    if (err instanceof PolicyTableError || err instanceof CalendarError || err instanceof AuthConfigError) {
      log.fatal(err.message)
      process.exit(2)
    }
    if (err instanceof ReadModelMismatchError) {
      log.fatal(err.message)
      process.exit(2)
    }
    if (err instanceof StoreUnavailableError) {
      log.fatal(err.message)
      process.exit(3)
    }
    throw err
  }
  const address = await ledger.app.listen({ port: config.PORT, host: config.HOST })
  log.info({ address, store: config.LEDGER_STORE, sqlitePath: config.LEDGER_SQLITE_PATH }, 'ledger listening')

  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down')
    const timer = setTimeout(() => {
      log.error('shutdown timed out; exiting')
      process.exit(1)
    }, SHUTDOWN_TIMEOUT_MS)
    timer.unref()
    ledger.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.once('SIGINT', () => shutdown('SIGINT'))
  process.once('SIGTERM', () => shutdown('SIGTERM'))
}

main().catch((err) => {
  process.stderr.write(`ledger failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exit(1)
})
