import t from 'tap'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { StartRefusedError } from '../../src/startup-refused.js'
import { LEASE_TTL_MS, ProjectorLease } from '../../src/projector/lease.js'
import { LeaseLostError, ReadModelStore } from '../../src/projector/read-model-store.js'
import { employerId, personId, submission } from '../helpers/http.js'
import { caughtUp, openService, post } from '../helpers/read-side.js'

/**
 * The projector lease in one process (issue #14): a holder on another host is refused while its
 * heartbeat is fresh and taken over once it is older than the TTL; a service whose lease was taken
 * writes nothing more and is not ready (`projector-lease-lost`).
 */

/** Writes a lease row as another host's service would, its heartbeat `ageMs` old. */
function foreignHolder(file: string, ageMs: number): void {
  const db = new Database(file)
  try {
    const at = new Date(Date.now() - ageMs).toISOString()
    db.prepare("INSERT OR REPLACE INTO projector_lease (id, owner, pid, hostname, since, heartbeat) VALUES (1, 'elsewhere:4242:x', 4242, 'another-host', ?, ?)").run(at, at)
  } finally {
    db.close()
  }
}

t.test('a holder on another host: refused while its heartbeat is fresh, taken over once older than the TTL', async (t) => {
  const file = path.join(t.testdir(), 'rm.sqlite')
  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  foreignHolder(file, 1_000)
  const err = await new ProjectorLease(rm, { file }).acquire().catch((e: unknown) => e)
  t.type(err, StartRefusedError)
  t.match((err as Error).message, new RegExp(`read models in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: pid 4242 on another-host, holding the projector lease since .*last heartbeat`))

  foreignHolder(file, LEASE_TTL_MS + 1_000)
  const warnings: string[] = []
  const lease = new ProjectorLease(rm, { file, logger: { warn: (_o, msg) => void warnings.push(msg ?? ''), error: () => {} } })
  await lease.acquire()
  t.teardown(() => lease.release())
  t.equal(lease.holder()?.owner, lease.owner, 'taken over')
  t.match(warnings, [/took over the projector lease: its holder's last heartbeat .* is older than 30000 ms/])
})

t.test('a holder with this very pid on this host (a container restarted after a crash, the service as pid 1 again): taken over at once', async (t) => {
  // Given a lease row left by an earlier run of this slot: same host, same pid, another owner id,
  // heartbeat fresh (a crash 1 s ago)
  const file = path.join(t.testdir(), 'rm.sqlite')
  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  const db = new Database(file)
  const at = new Date(Date.now() - 1_000).toISOString()
  db.prepare('INSERT OR REPLACE INTO projector_lease (id, owner, pid, hostname, since, heartbeat) VALUES (1, ?, ?, ?, ?, ?)').run('earlier-run', process.pid, os.hostname(), at, at)
  db.close()
  // When this run takes the lease
  const warnings: string[] = []
  const lease = new ProjectorLease(rm, { file, logger: { warn: (_o, msg) => void warnings.push(msg ?? ''), error: () => {} } })
  await lease.acquire()
  t.teardown(() => lease.release())
  // Then it holds it (processAlive(pid) is true of itself: without the rule it would be refused for the TTL)
  t.equal(lease.holder()?.owner, lease.owner, 'taken over')
  t.match(warnings, [new RegExp(`took over the projector lease: its holder was an earlier run with this pid \\(${process.pid}\\)`)])
})

t.test('a service whose lease another took: its commits write nothing, /readyz fails with projector-lease-lost', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  t.teardown(() => ledger.close())
  await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'S-1', employerId: employerId('0001'), lines: [{ personId: personId(1), wage: '8000.00' }] }))
  const head = await caughtUp(ledger)
  // Another host's service took the lease (as it would after this one's heartbeat stopped for the TTL).
  foreignHolder(file, 0)
  await post(ledger, '/v1/contribution-submissions', submission({ submissionId: 'S-2', employerId: employerId('0001'), lines: [{ personId: personId(2), wage: '8000.00' }] }))
  const deadline = Date.now() + 10_000
  let ready = await ledger.app.inject({ method: 'GET', url: '/readyz' })
  while (ready.json().reason !== 'projector-lease-lost' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    ready = await ledger.app.inject({ method: 'GET', url: '/readyz' })
  }
  t.equal(ready.statusCode, 503)
  t.equal(ready.json().reason, 'projector-lease-lost')
  t.match(ready.json().detail, /held by pid 4242 on another-host/)
  t.equal(ledger.readModels.getCheckpoint('main'), head, 'nothing committed after the lease was lost')
  t.equal(ledger.readModels.getDocument('person-balances', personId(2)), undefined)
  t.throws(
    () => ledger.readModels.commitBatch('main', new Map(), head + 1n, { expected: head, leaseOwner: 'me' }),
    LeaseLostError,
  )
})
