import t from 'tap'
import net from 'node:net'
import { connectKurrentDB } from '../../src/eventstore/kurrentdb/client.js'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { StoreUnavailableError } from '../../src/eventstore/port.js'
import { within } from '../helpers/async.js'

/**
 * Regression test (found in review, fixed): with the REAL client (no server needed: a closed local port), an append while
 * KurrentDB is unreachable must be the port's StoreUnavailableError (HTTP 503 + Retry-After).
 * appendToStream / multiStreamAppend first ask the server for its features
 * (Client.supports -> capabilities -> ServerFeatures), and that call rejects with the raw gRPC
 * ServiceError (`14 UNAVAILABLE`, a plain Error with code 14), not UnavailableError; toPortError
 * passes it through unchanged, so the HTTP edge answers 500.
 * The same happens at runtime: every reconnect (handleError) clears the cached features, so the first
 * append on the next channel goes through this path again.
 */

const closedPort = () =>
  new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })

t.test('append to an unreachable server (real client) is StoreUnavailableError', async (t) => {
  const store = new KurrentDbEventStore({ client: connectKurrentDB(`kurrentdb://127.0.0.1:${await closedPort()}?tls=false`), atomicAppendMany: true })
  t.teardown(() => store.close())
  const err = await within(store.append('person-x', [{ type: 'T', data: {} }], 'any').catch((e: unknown) => e), 10_000, 'append to fail')
  t.type(err, StoreUnavailableError, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message?.slice(0, 80)}`)
})

t.test('appendMany (multiStreamAppend) to an unreachable server (real client) is StoreUnavailableError', async (t) => {
  const store = new KurrentDbEventStore({ client: connectKurrentDB(`kurrentdb://127.0.0.1:${await closedPort()}?tls=false`), atomicAppendMany: true })
  t.teardown(() => store.close())
  const err = await within(
    store.appendMany([{ stream: 'person-x', events: [{ type: 'T', data: {} }], expectedRevision: 'any' }]).catch((e: unknown) => e),
    10_000,
    'appendMany to fail',
  )
  t.type(err, StoreUnavailableError, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message?.slice(0, 80)}`)
})

t.test('appendMany in fallback mode to an unreachable server (real client) is StoreUnavailableError', async (t) => {
  const store = new KurrentDbEventStore({ client: connectKurrentDB(`kurrentdb://127.0.0.1:${await closedPort()}?tls=false`), atomicAppendMany: false })
  t.teardown(() => store.close())
  const err = await within(
    store.appendMany([{ stream: 'person-x', events: [{ type: 'T', data: {}, idempotencyKey: 'k' }], expectedRevision: 'any' }]).catch((e: unknown) => e),
    10_000,
    'appendMany to fail',
  )
  t.type(err, StoreUnavailableError, `got ${(err as Error)?.constructor?.name}: ${(err as Error)?.message?.slice(0, 80)}`)
})
