import t from 'tap'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import Database from 'better-sqlite3'
import { StartRefusedError } from '../../src/startup-refused.js'
import { LEASE_DEAD_HOLDER_GRACE_MS, LEASE_HEARTBEAT_MS, LEASE_TTL_MS, ProjectorLease } from '../../src/projector/lease.js'
import { LeaseLostError, ReadModelStore } from '../../src/projector/read-model-store.js'
import { employerId, personId, submission } from '../helpers/http.js'
import { caughtUp, openService, post } from '../helpers/read-side.js'

/**
 * The projector lease in one process (issue #14): a holder on another host is refused while its
 * heartbeat is fresh and taken over once it is older than the TTL; a holder on this host whose pid
 * looks dead (gone, or this very pid) is taken over once its heartbeat is older than the grace, and
 * refused when it heartbeats (another pid namespace); a service whose lease was taken
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

/** Writes a lease row as a holder on THIS host with `pid` would, its heartbeat `ageMs` old. */
function localHolder(file: string, owner: string, pid: number, ageMs: number): void {
  const db = new Database(file)
  try {
    const at = new Date(Date.now() - ageMs).toISOString()
    db.prepare('INSERT OR REPLACE INTO projector_lease (id, owner, pid, hostname, since, heartbeat) VALUES (1, ?, ?, ?, ?, ?)').run(owner, pid, os.hostname(), at, at)
  } finally {
    db.close()
  }
}

/** A pid that was a process of this host and is gone now. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
  await new Promise((resolve) => child.once('exit', resolve))
  return child.pid!
}

t.test('the grace for a holder whose pid looks dead: 2 heartbeats and a second', async (t) => {
  t.equal(LEASE_DEAD_HOLDER_GRACE_MS, 2 * LEASE_HEARTBEAT_MS + 1_000)
  t.equal(LEASE_DEAD_HOLDER_GRACE_MS, 11_000)
})

t.test('a holder with this very pid on this host (a container restarted after a crash, the service as pid 1 again): taken over once its heartbeat is older than the grace, the start waiting for it', async (t) => {
  // Given a lease row left by an earlier run of this slot: same host, same pid, another owner id,
  // its last heartbeat 1.5 s short of the grace (a crash a while ago)
  const file = path.join(t.testdir(), 'rm.sqlite')
  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  localHolder(file, 'earlier-run', process.pid, LEASE_DEAD_HOLDER_GRACE_MS - 1_500)
  // When this run takes the lease
  const warnings: string[] = []
  const lease = new ProjectorLease(rm, { file, logger: { warn: (_o, msg) => void warnings.push(msg ?? ''), error: () => {} } })
  const started = Date.now()
  await lease.acquire()
  t.teardown(() => lease.release())
  // Then it waited (about 1.5 s) instead of refusing, and holds it
  t.ok(Date.now() - started >= 1_000, `it waited for the grace (${Date.now() - started} ms)`)
  t.equal(lease.holder()?.owner, lease.owner, 'taken over')
  t.match(warnings, [new RegExp(`took over the projector lease: its holder was an earlier run with this pid \\(${process.pid}\\).*older than ${LEASE_DEAD_HOLDER_GRACE_MS} ms`)])
})

t.test('a holder whose pid looks dead but that heartbeats (another pid namespace, same hostname): refused, not taken over', async (t) => {
  const file = path.join(t.testdir(), 'rm.sqlite')
  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  for (const [what, pid] of [['a pid gone from here', await deadPid()], ['this very pid', process.pid]] as const) {
    // Given a holder whose heartbeat is 1 s old and that renews it 600 ms later (it is alive)
    localHolder(file, `other-namespace-${pid}`, pid, 1_000)
    const beat = setTimeout(() => localHolder(file, `other-namespace-${pid}`, pid, 0), 600)
    // When a service starts on the file
    const err = await new ProjectorLease(rm, { file }).acquire().catch((e: unknown) => e)
    clearTimeout(beat)
    // Then it is refused once the holder is seen heartbeating, and the holder keeps the lease
    t.type(err, StartRefusedError, `${what}: refused`)
    t.match((err as Error).message, /yet it heartbeats: a service in another pid namespace/)
    t.equal(new ProjectorLease(rm, { file }).holder()?.owner, `other-namespace-${pid}`, `${what}: the holder keeps the lease`)
  }
})

t.test('a holder whose pid is gone and whose heartbeat is older than the grace: taken over at once', async (t) => {
  const file = path.join(t.testdir(), 'rm.sqlite')
  const rm = new ReadModelStore(file)
  t.teardown(() => rm.close())
  const pid = await deadPid()
  localHolder(file, 'crashed', pid, LEASE_DEAD_HOLDER_GRACE_MS + 1_000)
  const warnings: string[] = []
  const lease = new ProjectorLease(rm, { file, logger: { warn: (_o, msg) => void warnings.push(msg ?? ''), error: () => {} } })
  await lease.acquire()
  t.teardown(() => lease.release())
  t.equal(lease.holder()?.owner, lease.owner, 'taken over')
  t.match(warnings, [new RegExp(`its holder \\(pid ${pid} on this host\\) is gone, and its last heartbeat`)])
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
