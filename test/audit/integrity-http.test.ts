/**
 * The audit routes (issue #6): `GET /v1/audit/streams/{stream}/verify` and `GET /v1/audit/events`
 * (NDJSON pages), in memory through a posted submission and on a SQLite file changed behind the
 * store's back; the periodic seal started by bootstrap and its configuration.
 *
 * Hashes are computed here by the definition (SHA-256 of the RFC 8785 JSON of { stream, revision,
 * type, data, previousHash }), with node:crypto and json-canonicalize.
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { canonicalize } from 'json-canonicalize'
import { createLedger } from '../../src/bootstrap.js'
import { systemAuthenticator } from '../../src/http/auth.js'
import { ConfigError, loadConfig } from '../../src/config.js'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import { AUDIT_SEALS_STREAM, latestSeal, seal } from '../../src/audit/seal.js'
import { exportLine } from '../../src/audit/export.js'
import { createTestLedger } from '../helpers/ledger.js'
import { json, personId, problem, submission } from '../helpers/http.js'
import { collect } from '../helpers/async.js'

const ZEROS = '0'.repeat(64)
const hashOf = (stream: string, revision: number, type: string, data: unknown, previousHash: string) =>
  createHash('sha256').update(canonicalize({ stream, revision: String(revision), type, data, previousHash }), 'utf8').digest('hex')

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-audit-http-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

t.test('verify a stream: its chain, then the seal; names validated; 404 for an unknown stream', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  const p1 = personId(1)
  const posted = await ledger.app.inject({
    method: 'POST',
    url: '/v1/contribution-submissions',
    payload: submission({ submissionId: 'AUDIT-1', lines: [{ personId: p1, wage: '8500.00' }, { personId: personId(2), wage: '9000.00' }] }),
  })
  t.equal(posted.statusCode, 201)
  const stream = `person-${p1}`
  const [recorded] = await collect(ledger.store.readStream(stream))
  const hash = hashOf(stream, 0, recorded!.type, recorded!.data, ZEROS)
  const get = (name: string) => ledger.app.inject({ method: 'GET', url: `/v1/audit/streams/${name}/verify` })

  const first = await get(stream)
  t.equal(first.statusCode, 200)
  t.same(json(first), { stream, events: 1, head: { revision: '0', hash }, ok: true })

  const sealed = await seal(ledger.store, { clock: () => new Date('2024-08-01T08:00:00Z') })
  t.ok(sealed.sealed)
  if (!sealed.sealed) return
  t.same(json(await get(stream)), {
    stream,
    events: 1,
    head: { revision: '0', hash },
    ok: true,
    seal: { sealedAt: '2024-08-01T08:00:00.000Z', position: sealed.data.position, revision: '0', hash, matches: true, latestDigest: sealed.data.digest },
  })
  const seals = json(await get(AUDIT_SEALS_STREAM))
  t.same([seals.ok, seals.events, seals.seal], [true, 1, undefined], 'the seals stream verifies like any other, and is not sealed itself')

  problem(t, await get('person-unknown'), 404, 'no events and no seal')
  problem(t, await get('x'.repeat(200)), 404, '200 characters: a valid name')
  problem(t, await get('x'.repeat(201)), 400, '201 characters')
  problem(t, await get('a%2Fb'), 400, 'a slash')
  problem(t, await get('a%20b'), 400, 'a blank')
  problem(t, await get('person-%C3%A9'), 400, 'a letter outside A-Z a-z')
})

t.test('GET /v1/audit/events: NDJSON pages in log order with x-next-position and Link', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  for (const [i, id] of ['E-1', 'E-2'].entries()) {
    const res = await ledger.app.inject({
      method: 'POST',
      url: '/v1/contribution-submissions',
      payload: submission({ submissionId: id, lines: [{ personId: personId(10 + i), wage: '8500.00' }] }),
    })
    t.equal(res.statusCode, 201)
  }
  // Two submissions of one line: a person event and a marker each, positions 1-4.
  const events = await ledger.allEvents()
  t.equal(events.length, 4)
  const get = (query: string) => ledger.app.inject({ method: 'GET', url: `/v1/audit/events${query}` })

  const all = await get('')
  t.equal(all.statusCode, 200)
  t.equal(all.headers['content-type'], 'application/x-ndjson; charset=utf-8')
  t.equal(all.body, events.map(exportLine).join(''))
  t.notOk('x-next-position' in all.headers, 'the end of the log: no next position')
  const line = JSON.parse(all.body.split('\n')[0]!)
  t.same(Object.keys(line), ['position', 'stream', 'revision', 'id', 'type', 'recordedAt', 'data', 'metadata'])
  t.same([line.position, line.revision, line.metadata.hash], ['1', '0', hashOf(line.stream, 0, line.type, line.data, ZEROS)])

  const page1 = await get('?limit=3')
  t.equal(page1.body, events.slice(0, 3).map(exportLine).join(''))
  t.equal(page1.headers['x-next-position'], '4')
  t.equal(page1.headers['link'], '</v1/audit/events?fromPosition=4&limit=3>; rel="next"')
  const page2 = await get('?fromPosition=4&limit=3')
  t.equal(page2.body, exportLine(events[3]!))
  t.notOk('link' in page2.headers)
  const beyond = await get('?fromPosition=5')
  t.same([beyond.statusCode, beyond.body], [200, ''], 'nothing after the head: an empty page')

  for (const q of ['?limit=0', '?limit=10001', '?limit=1e3', '?fromPosition=-1', '?fromPosition=x', '?from=1']) problem(t, await get(q), 400, q)
  t.equal((await get('?limit=10000')).statusCode, 200)
})

t.test('on a SQLite file: a changed row and a deleted stream, found through HTTP', async (t) => {
  const db = join(tempDir(t), 'ledger.sqlite')
  const store = openSqliteEventStore({ path: db })
  await store.append('person-A', [{ type: 'Credited', data: { amount: '850.00' } }, { type: 'Credited', data: { amount: '170.00' } }], 'no_stream')
  await store.append('submission-S1', [{ type: 'Submitted', data: { total: '1020.00' } }], 'no_stream')
  const sealed = await seal(store, { clock: () => new Date('2024-08-01T08:00:00Z') })
  await store.close()
  if (!sealed.sealed) return t.fail('not sealed')
  const sealInfo = { sealedAt: '2024-08-01T08:00:00.000Z', position: '3', latestDigest: sealed.data.digest }
  const raw = new Database(db)
  raw.prepare(`UPDATE events SET data = '{"amount":"1700.00"}' WHERE stream = 'person-A' AND revision = 1`).run()
  raw.prepare(`DELETE FROM events WHERE stream = 'submission-S1'`).run()
  raw.close()

  const ledger = await createLedger(loadConfig({ LEDGER_SQLITE_PATH: db, LOG_LEVEL: 'silent', LEDGER_SEAL_INTERVAL_MS: '0' }), { authenticator: systemAuthenticator })
  t.teardown(ledger.close)
  const a0 = hashOf('person-A', 0, 'Credited', { amount: '850.00' }, ZEROS)
  const a1 = hashOf('person-A', 1, 'Credited', { amount: '170.00' }, a0)
  const s0 = hashOf('submission-S1', 0, 'Submitted', { total: '1020.00' }, ZEROS)
  const a = await ledger.app.inject({ method: 'GET', url: '/v1/audit/streams/person-A/verify' })
  t.same(json(a), {
    stream: 'person-A',
    events: 2,
    head: { revision: '1', hash: a1 },
    ok: false,
    brokenAt: { revision: '1', expected: hashOf('person-A', 1, 'Credited', { amount: '1700.00' }, a0), found: a1, reason: 'hash-mismatch', position: '2' },
    seal: { ...sealInfo, revision: '1', hash: a1, matches: true },
  })
  const s = await ledger.app.inject({ method: 'GET', url: '/v1/audit/streams/submission-S1/verify' })
  t.equal(s.statusCode, 200, 'a stream the seal knows but the log lacks')
  t.same(json(s), {
    stream: 'submission-S1',
    events: 0,
    head: null,
    ok: false,
    brokenAt: { revision: '0', expected: s0, found: '', reason: 'sealed-stream-missing', seal: '0' },
    seal: { ...sealInfo, revision: '0', hash: s0, matches: false },
  })
})

t.test('bootstrap starts the periodic seal (LEDGER_SEAL_INTERVAL_MS) and stops it on close', async (t) => {
  t.equal(loadConfig({}).LEDGER_SEAL_INTERVAL_MS, undefined, 'unset: the hourly default applies in bootstrap')
  t.equal(loadConfig({ LEDGER_SEAL_INTERVAL_MS: '0' }).LEDGER_SEAL_INTERVAL_MS, 0)
  for (const bad of ['500', '-1', '1.5', 'hourly', String(8 * 24 * 3_600_000)]) t.throws(() => loadConfig({ LEDGER_SEAL_INTERVAL_MS: bad }), ConfigError, bad)

  const db = join(tempDir(t), 'ledger.sqlite')
  const ledger = await createLedger(loadConfig({ LEDGER_SQLITE_PATH: db, LOG_LEVEL: 'silent', LEDGER_SEAL_INTERVAL_MS: '1000' }), { authenticator: systemAuthenticator })
  await ledger.store.append('person-A', [{ type: 'Credited', data: { amount: '1.00' } }], 'no_stream')
  const deadline = Date.now() + 10_000
  while (!(await latestSeal(ledger.store)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  const found = await latestSeal(ledger.store)
  t.same(found?.data.heads?.map((h) => h[0]), ['person-A'], 'sealed within an interval or two')
  t.equal((await collect(ledger.store.readStream(AUDIT_SEALS_STREAM)))[0]?.metadata.correlationId, 'periodic-seal')
  await ledger.close()
})
