import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Config } from './config.js'
import type { EventStore } from './eventstore/port.js'
import { openSqliteEventStore } from './eventstore/sqlite/sqlite-event-store.js'
import { buildApp } from './app.js'
import { loadPolicyBook } from './policy-loader.js'
import { Projector, type ProjectorLogger } from './projector/projector.js'
import { ReadModelStore } from './projector/read-model-store.js'
import { PROJECTIONS } from '../projections/index.js'

/** A running ledger: store, read models, projector and the HTTP app, and how to close them. */
export interface Ledger {
  app: FastifyInstance
  store: EventStore
  readModels: ReadModelStore
  projector: Projector
  /** Stops the projector, closes the app and the databases. Idempotent. */
  close(): Promise<void>
}

/**
 * Wires the ledger from a validated configuration: opens the store and the read models, starts the
 * projector, builds the app (not listening).
 * @throws PolicyTableError for a bad policy table; Error for a store that is not available here.
 */
export async function createLedger(
  config: Config,
  options: { logger?: FastifyServerOptions['logger']; projectorLogger?: ProjectorLogger } = {},
): Promise<Ledger> {
  const policies = loadPolicyBook(config.LEDGER_POLICY_PATH)
  if (config.LEDGER_STORE !== 'sqlite') {
    throw new Error(`LEDGER_STORE=${config.LEDGER_STORE} is not available in this build yet; use LEDGER_STORE=sqlite`)
  }
  const store = openSqliteEventStore({ path: config.LEDGER_SQLITE_PATH })
  const readModels = new ReadModelStore(config.LEDGER_SQLITE_PATH)
  const projector = new Projector({ store, readModels, projections: PROJECTIONS, ...(options.projectorLogger ? { logger: options.projectorLogger } : {}) })
  projector.start()
  const app = await buildApp({
    store,
    storeKind: config.LEDGER_STORE,
    readModels,
    projector,
    policies,
    readWaitMs: config.LEDGER_READ_WAIT_MS,
    maxBodyBytes: config.LEDGER_MAX_BODY_BYTES,
    logger: options.logger,
  })
  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      await app.close()
      await projector.stop()
      await store.close()
      readModels.close()
    })())
  return { app, store, readModels, projector, close }
}
