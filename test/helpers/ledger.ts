import { buildApp, type AppDeps } from '../../src/app.js'
import { systemAuthenticator, type Authenticator } from '../../src/http/auth.js'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { loadPensionTables, loadPolicyBook } from '../../src/policy-loader.js'
import { Projector } from '../../src/projector/projector.js'
import { ReadModelStore } from '../../src/projector/read-model-store.js'
import { PROJECTIONS } from '../../projections/index.js'
import type { RecordedEvent } from '../../src/eventstore/port.js'

/**
 * A whole ledger in memory (SQLite ':memory:' event store and read models, the shipped policy
 * table, the projector running) for tests that go through HTTP with `app.inject`.
 */
export async function createTestLedger(
  options: {
    readWaitMs?: number
    maxBodyBytes?: number
    clock?: () => Date
    daysOff?: ReadonlySet<string>
    /** Turns bearer tokens into principals; default `systemAuthenticator` (every token is the system principal). */
    authenticator?: Authenticator
    /** Further app options (rate limit, logger …), applied last. */
    app?: Partial<AppDeps>
    /** A SQLite file for the log and the read models (bound to it, as the service binds them)
     * instead of memory: for tests that open the file again (the auditor's replay, the CLI). */
    file?: string
    /** With `file`: the read models in memory all the same (only the store's connection opens the
     * file, e.g. for a test of another process's write lock). */
    readModelsInMemory?: boolean
  } = {},
) {
  const store = openSqliteEventStore({ path: options.file ?? ':memory:' })
  const readModelsFile = options.readModelsInMemory ? undefined : options.file
  const readModels = new ReadModelStore(readModelsFile ?? ':memory:')
  if (readModelsFile) readModels.bindToStore('sqlite')
  const projector = new Projector({ store, readModels, projections: PROJECTIONS })
  projector.start()
  const app = await buildApp({
    store,
    storeKind: 'sqlite',
    readModels,
    projector,
    policies: loadPolicyBook(),
    pensionTables: loadPensionTables(),
    authenticator: options.authenticator ?? systemAuthenticator,
    readWaitMs: options.readWaitMs ?? 2_000,
    maxBodyBytes: options.maxBodyBytes ?? 4 * 1024 * 1024,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.daysOff ? { daysOff: options.daysOff } : {}),
    ...options.app,
  })
  /** Every event in the log, in order (to prove a refused request wrote nothing). */
  const allEvents = async (): Promise<RecordedEvent[]> => {
    const out: RecordedEvent[] = []
    for await (const e of store.readAll()) out.push(e)
    return out
  }
  let closed = false
  /** Closes the app, the projector, the store and the read models; a second call does nothing. */
  const close = async () => {
    if (closed) return
    closed = true
    await app.close()
    await projector.stop()
    await store.close()
    readModels.close()
  }
  return { app, store, readModels, projector, allEvents, close }
}

/**
 * Valid identifiers for tests. Citizen ids: the GB 11643-1999 standard's own examples and ids whose
 * check character was worked out by hand (test/domain/ids.test.ts shows the arithmetic).
 */
export const IDS = {
  /** GB 11643-1999 sample, check character X. */
  personA: '11010519491231002X',
  /** GB 11643-1999 sample, check character 4. */
  personB: '440524188001010014',
} as const
