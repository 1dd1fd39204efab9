import t from 'tap'
import { openKurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { runEventStoreConformance } from './conformance.js'

/**
 * The store conformance suite against a real KurrentDB server, whenever LEDGER_KURRENTDB_URL names
 * one (e.g. `kurrentdb://127.0.0.1:2113?tls=false` after `docker compose up -d kurrentdb`).
 * Without it every case is reported as SKIPPED with the reason: never counted as passed.
 */
const url = process.env['LEDGER_KURRENTDB_URL']

await runEventStoreConformance(
  t,
  'KurrentDB server',
  () => openKurrentDbEventStore({ url: url!, connectTimeoutMs: 10_000 }),
  url ? {} : { skip: 'LEDGER_KURRENTDB_URL is not set: no KurrentDB server to run against on this machine' },
)
