/**
 * Tamper evidence, second round (issue #6 review): positions checked against seals, incremental
 * chained seals, `--expect-digest`, digests covering chunk references (and checked per stream), the
 * event loop kept free, positions beyond int64, recordedAt consistency, and events written before
 * the hash chain.
 *
 * Every hash and digest expected here is computed independently of src/: SHA-256 (node:crypto) of
 * RFC 8785 JSON (json-canonicalize). An event: { stream, revision (decimal string), type, data,
 * previousHash } (the first previousHash 64 zeros). A seal: { previousDigest, position, sealedAt,
 * heads: [[stream, revision, hash], ...] } (or `chunks` instead of `heads`), the first
 * previousDigest 64 zeros.
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { canonicalize } from 'json-canonicalize'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import type { EventStore, NewEvent } from '../../src/eventstore/port.js'
import { verifyExportFile, verifyStore, verifyStream } from '../../src/audit/verify.js'
import { AUDIT_SEALS_STREAM, SealRefusedError, seal } from '../../src/audit/seal.js'
import { exportPage, exportToFile } from '../../src/audit/export.js'
import { main } from '../../src/cli/ledger.js'
import { createLedger } from '../../src/bootstrap.js'
import { systemAuthenticator } from '../../src/http/auth.js'
import { loadConfig } from '../../src/config.js'
import { collect } from '../helpers/async.js'

const ZEROS = '0'.repeat(64)
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')
const hashOf = (stream: string, revision: number, type: string, data: unknown, previousHash: string) =>
  sha256(canonicalize({ stream, revision: String(revision), type, data, previousHash }))
const digestOf = (d: { previousDigest: string; position: string; sealedAt: string; heads?: unknown; chunks?: unknown }) => sha256(canonicalize(d))

/** positions 1-6: person-A r0-r2, person-B r0-r1, submission-S1 r0. */
const LOG = [
  { stream: 'person-A', type: 'Credited', data: { amount: '850.00' } },
  { stream: 'person-A', type: 'Credited', data: { amount: '170.00' } },
  { stream: 'person-A', type: 'Debited', data: { amount: '100.00' } },
  { stream: 'person-B', type: 'Credited', data: { amount: '680.00' } },
  { stream: 'person-B', type: 'Credited', data: { amount: '42.50' } },
  { stream: 'submission-S1', type: 'Submitted', data: { lines: 2, total: '1742.50' } },
]

function handHashes(): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const e of LOG) {
    const chain = (out[e.stream] ??= [])
    chain.push(hashOf(e.stream, chain.length, e.type, e.data, chain.at(-1) ?? ZEROS))
  }
  return out
}

/** A temporary SQLite file (LOG written unless `empty`); `reopen` gives a store on it; `sql` runs
 * statements on the file behind the store's back. */
async function fileLog(t: Test, options: { empty?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-audit-review-'))
  const db = join(dir, 'ledger.sqlite')
  const stores: EventStore[] = []
  t.teardown(async () => {
    for (const s of stores) await s.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const reopen = () => {
    const s = openSqliteEventStore({ path: db, pageSize: 2 })
    stores.push(s)
    return s
  }
  const store = reopen()
  if (!options.empty) for (const e of LOG) await store.append(e.stream, [{ type: e.type, data: e.data }], 'any')
  const sql = <R = unknown>(text: string, ...params: unknown[]): { changes: number; rows: R[] } => {
    const raw = new Database(db)
    try {
      const stmt = raw.prepare(text)
      return stmt.reader ? { changes: 0, rows: stmt.all(...params) as R[] } : { changes: stmt.run(...params).changes, rows: [] }
    } finally {
      raw.close()
    }
  }
  /** Inserts an event row as an adapter would, with `hash` (or none) in its metadata. */
  const insert = (position: number, stream: string, revision: number, type: string, data: unknown, hash: string | undefined, recordedAt: string) =>
    sql(
      'INSERT INTO events (position, id, stream, revision, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      position,
      `00000000-0000-7000-8000-${String(position).padStart(12, '0')}`,
      stream,
      revision,
      type,
      canonicalize(data),
      JSON.stringify(hash === undefined ? { recordedAt } : { recordedAt, hash }),
      recordedAt,
    )
  /** Replaces the data of the seals stream's event at `revision` and re-chains the seals stream from
   * there, as someone who can write the file would (the stream's own chain then verifies). */
  const rewriteSeals = (changes: Map<number, unknown | null>) => {
    for (const [revision, data] of changes) {
      if (data === null) sql('DELETE FROM events WHERE stream = ? AND revision = ?', AUDIT_SEALS_STREAM, revision)
      else sql('UPDATE events SET data = ? WHERE stream = ? AND revision = ?', canonicalize(data), AUDIT_SEALS_STREAM, revision)
    }
    const rows = sql<{ position: number; type: string; data: string; metadata: string }>('SELECT position, type, data, metadata FROM events WHERE stream = ? ORDER BY position', AUDIT_SEALS_STREAM).rows
    let previous = ZEROS
    rows.forEach((r, revision) => {
      previous = hashOf(AUDIT_SEALS_STREAM, revision, r.type, JSON.parse(r.data), previous)
      const metadata = { ...JSON.parse(r.metadata), hash: previous }
      // Negative first: (stream, revision) is unique.
      sql('UPDATE events SET revision = ?, metadata = ? WHERE position = ?', -1 - revision, JSON.stringify(metadata), r.position)
    })
    sql('UPDATE events SET revision = -1 - revision WHERE stream = ? AND revision < 0', AUDIT_SEALS_STREAM)
  }
  return { dir, db, store, reopen, sql, insert, rewriteSeals }
}

/** Runs `ledger <args>` in process on the SQLite file `db`. */
async function ledger(args: string[], db: string) {
  const stdout: string[] = []
  const stderr: string[] = []
  const out = process.stdout.write
  const err = process.stderr.write
  process.stdout.write = ((chunk: string | Uint8Array) => stdout.push(String(chunk)) > 0) as typeof process.stdout.write
  process.stderr.write = ((chunk: string | Uint8Array) => stderr.push(String(chunk)) > 0) as typeof process.stderr.write
  let status: number
  try {
    status = await main(['node', 'ledger', ...args], { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: db })
  } finally {
    process.stdout.write = out
    process.stderr.write = err
  }
  return { status, stdout: stdout.join('').split('\n').filter(Boolean), stderr: stderr.join('') }
}

t.test('1. events inserted at or below a seal position are found, in the store and in an export', async (t) => {
  /** LOG at positions 10, 20, ... 60 (gaps to insert into), sealed at 60 (the seal at 61). */
  const spread = async (t: Test) => {
    const log = await fileLog(t)
    await log.store.close()
    log.sql('UPDATE events SET position = -position')
    log.sql('UPDATE events SET position = -position * 10')
    const store = log.reopen()
    const sealed = await seal(store, { clock: () => new Date('2024-08-01T00:00:00Z') })
    t.ok(sealed.sealed)
    t.equal((await verifyStore(store)).ok, true, 'untouched: ok')
    /** The recordedAt of the event at `position` (an inserted event takes its predecessor's). */
    const recordedAt = (position: number) => log.sql<{ recorded_at: string }>('SELECT recorded_at FROM events WHERE position = ?', position).rows[0]!.recorded_at
    return { ...log, recordedAt }
  }
  const hand = handHashes()

  t.test('a new stream inserted below the seal', async (t) => {
    const log = await spread(t)
    log.insert(15, 'person-X', 0, 'Credited', { amount: '9.99' }, hashOf('person-X', 0, 'Credited', { amount: '9.99' }, ZEROS), log.recordedAt(10))
    const report = await verifyStore(log.reopen())
    t.same([report.ok, report.problems], [false, 1], 'its chain is valid: only the seal finds it')
    t.same(report.brokenAt, { stream: 'person-X', revision: '0', expected: '', found: '0', reason: 'unsealed-stream', position: '15', seal: '0' })
    t.same((await verifyStream(log.reopen(), 'person-X'))?.brokenAt, { revision: '0', expected: '', found: '0', reason: 'unsealed-stream', position: '15', seal: '0' })
    const file = join(log.dir, 'x.ndjson')
    await exportToFile(log.reopen(), file)
    t.same((await verifyExportFile(file)).brokenAt, { ...report.brokenAt, line: 2 }, 'the export finds it too')
  })

  t.test('an extra revision of a sealed stream inserted below the seal', async (t) => {
    const log = await spread(t)
    const b2 = hashOf('person-B', 2, 'Credited', { amount: '1.00' }, hand['person-B']![1]!)
    log.insert(55, 'person-B', 2, 'Credited', { amount: '1.00' }, b2, log.recordedAt(50))
    const report = await verifyStore(log.reopen())
    t.same([report.ok, report.problems], [false, 1])
    t.same(report.brokenAt, { stream: 'person-B', revision: '2', expected: '1', found: '2', reason: 'sealed-revision-exceeded', position: '55', seal: '0' })
    const stream = await verifyStream(log.reopen(), 'person-B')
    t.same(stream?.brokenAt, { revision: '2', expected: '1', found: '2', reason: 'sealed-revision-exceeded', position: '55', seal: '0' })
    const file = join(log.dir, 'b.ndjson')
    await exportToFile(log.reopen(), file)
    t.same((await verifyExportFile(file)).brokenAt, { ...report.brokenAt, line: 6 })
  })

  t.test('a sealed head moved above the seal position is not reached by it', async (t) => {
    const log = await spread(t)
    log.sql(`UPDATE events SET position = 1000 WHERE stream = 'submission-S1'`)
    const report = await verifyStore(log.reopen())
    t.equal(report.ok, false)
    t.same(report.brokenAt, { stream: 'submission-S1', revision: '0', expected: hand['submission-S1']![0], found: '', reason: 'sealed-stream-missing', seal: '0' })
  })
})

t.test('2. seals are incremental and chained; a seal removed or altered in the middle breaks the chain', async (t) => {
  const setup = async (t: Test) => {
    const log = await fileLog(t)
    const hand = handHashes()
    const at = (iso: string) => ({ clock: () => new Date(iso) })
    const s1 = await seal(log.store, at('2024-08-01T00:00:00Z'))
    await log.store.append('person-A', [{ type: 'Credited', data: { amount: '1.00' } }], 2n)
    const s2 = await seal(log.store, at('2024-08-01T01:00:00Z'))
    await log.store.append('person-C', [{ type: 'Credited', data: { amount: '2.00' } }], 'no_stream')
    const s3 = await seal(log.store, at('2024-08-01T02:00:00Z'))
    if (!s1.sealed || !s2.sealed || !s3.sealed) throw new Error('not sealed')
    return { ...log, hand, s1, s2, s3 }
  }

  t.test('the format: only the heads changed since the previous seal, and its digest', async (t) => {
    const { store, hand, s1, s2, s3 } = await setup(t)
    const a3 = hashOf('person-A', 3, 'Credited', { amount: '1.00' }, hand['person-A']![2]!)
    const c0 = hashOf('person-C', 0, 'Credited', { amount: '2.00' }, ZEROS)
    const b1 = { previousDigest: ZEROS, position: '6', sealedAt: '2024-08-01T00:00:00.000Z', heads: [['person-A', '2', hand['person-A']![2]], ['person-B', '1', hand['person-B']![1]], ['submission-S1', '0', hand['submission-S1']![0]]] }
    t.same(s1.data, { ...b1, digest: digestOf(b1) })
    // Position 7 is the first seal, 8 person-A revision 3.
    const b2 = { previousDigest: digestOf(b1), position: '8', sealedAt: '2024-08-01T01:00:00.000Z', heads: [['person-A', '3', a3]] }
    t.same(s2.data, { ...b2, digest: digestOf(b2) })
    const b3 = { previousDigest: digestOf(b2), position: '10', sealedAt: '2024-08-01T02:00:00.000Z', heads: [['person-C', '0', c0]] }
    t.same(s3.data, { ...b3, digest: digestOf(b3) })
    t.same([s1.heads, s2.heads, s3.heads], [3, 1, 1])
    const report = await verifyStore(store)
    t.same(report.seal, { revision: '2', position: '10', sealedAt: '2024-08-01T02:00:00.000Z', digest: digestOf(b3), seals: 3, heads: 5, matched: 5 })
    t.equal(report.ok, true)
    // The head of person-B comes from the first seal, found walking back from the latest.
    t.same((await verifyStream(store, 'person-B'))?.seal, { sealedAt: '2024-08-01T00:00:00.000Z', position: '6', revision: '1', hash: hand['person-B']![1], matches: true, latestDigest: digestOf(b3) })
  })

  t.test('the middle seal removed (and the seals stream re-chained)', async (t) => {
    const { reopen, rewriteSeals, s1, s3 } = await setup(t)
    rewriteSeals(new Map([[1, null]]))
    const report = await verifyStore(reopen())
    t.same(report.brokenAt, { stream: AUDIT_SEALS_STREAM, revision: '1', expected: s3.data.previousDigest, found: s1.data.digest, reason: 'seal-chain-broken', position: '11' })
    t.equal(report.problems, 1, 'the seals stream itself chains')
    const stream = await verifyStream(reopen(), 'person-B')
    t.same(stream?.brokenAt, { stream: AUDIT_SEALS_STREAM, revision: '1', expected: s3.data.previousDigest, found: s1.data.digest, reason: 'seal-chain-broken', position: '11' }, 'per stream too, walking back')
  })

  t.test('the middle seal altered: its digest, or, recomputed, the next seal', async (t) => {
    const { reopen, rewriteSeals, s2, s3 } = await setup(t)
    const altered = { ...s2.data, sealedAt: '2024-07-01T01:00:00.000Z' }
    rewriteSeals(new Map([[1, altered]]))
    const mismatch = await verifyStore(reopen())
    const { digest: _, ...body } = altered
    t.same(mismatch.brokenAt, { stream: AUDIT_SEALS_STREAM, revision: '1', expected: digestOf(body), found: s2.data.digest, reason: 'seal-digest-mismatch', position: '9' })

    rewriteSeals(new Map([[1, { ...altered, digest: digestOf(body) }]]))
    const chained = await verifyStore(reopen())
    t.same(chained.brokenAt, { stream: AUDIT_SEALS_STREAM, revision: '2', expected: s3.data.previousDigest, found: digestOf(body), reason: 'seal-chain-broken', position: '11' })
  })
})

t.test('3. --expect-digest: a removed seals stream is found; no seal is said loudly', async (t) => {
  const { db, store, reopen, sql, dir } = await fileLog(t)
  const sealed = await seal(store, { clock: () => new Date('2024-08-01T00:00:00Z') })
  if (!sealed.sealed) return t.fail('not sealed')
  const digest = sealed.data.digest
  await store.append('person-A', [{ type: 'Credited', data: { amount: '1.00' } }], 2n)
  const later = await seal(store)
  t.ok(later.sealed)

  const ok = await ledger(['audit', 'verify', '--expect-digest', digest.toUpperCase()], db)
  t.equal(ok.status, 0, 'an older digest: found, and the seals after it chain to it')
  t.match(ok.stdout[0], /; expected digest found: seal 0 \(position 6\)$/)
  t.same(JSON.parse(ok.stdout[1]!).expectedDigest, { digest, found: true, revision: '0', position: '6' })
  const file = join(dir, 'all.ndjson')
  await exportToFile(store, file)
  t.same((await verifyExportFile(file, { expectDigest: digest })).expectedDigest, { digest, found: true, revision: '0', position: '6' })

  // The seals stream and a sealed stream removed: without the digest nothing shows.
  sql('DELETE FROM events WHERE stream IN (?, ?)', AUDIT_SEALS_STREAM, 'submission-S1')
  const plain = await verifyStore(reopen())
  t.same([plain.ok, plain.seal], [true, null])
  const run = await ledger(['audit', 'verify'], db)
  t.equal(run.status, 0)
  t.equal(run.stdout[0], 'ok: 6 events in 2 streams verified; WARNING no seal: removed streams or last events cannot be detected')

  const expect = await ledger(['audit', 'verify', '--expect-digest', digest], db)
  t.equal(expect.status, 1)
  t.equal(
    expect.stdout[0],
    `BROKEN: audit-seals: expected-digest-missing (expected ${digest}, found -); 1 problem(s), 6 events in 2 streams; WARNING no seal: removed streams or last events cannot be detected; expected digest ${digest} NOT FOUND`,
  )
  t.same(JSON.parse(expect.stdout[1]!).expectedDigest, { digest, found: false })
  await t.rejects(ledger(['audit', 'verify', '--expect-digest', 'abc'], db), { code: 'commander.invalidArgument' }, 'not a digest: a usage error')
})

t.test('4. the digest covers chunk references and inline heads, checked per stream (HTTP)', async (t) => {
  t.test('a chunk range narrowed to hide a deleted stream', async (t) => {
    const { store, reopen, sql, rewriteSeals, db } = await fileLog(t)
    const sealed = await seal(store, { chunkHeads: 1, maxAppendBytes: Number.POSITIVE_INFINITY, clock: () => new Date('2024-08-01T00:00:00Z') })
    if (!sealed.sealed) return t.fail('not sealed')
    t.equal(sealed.revision, 3n, 'three chunks and the seal')
    const chunks = sealed.data.chunks!
    t.equal(chunks[1]!.first, 'person-B')
    // person-B deleted; its chunk reference made to name another range: a lookup finds no chunk.
    sql(`DELETE FROM events WHERE stream = 'person-B'`)
    const tampered = { ...sealed.data, chunks: chunks.map((c, i) => (i === 1 ? { ...c, first: 'person-Bz', last: 'person-Bz' } : c)) }
    rewriteSeals(new Map([[3, tampered]]))
    const { digest: _, ...body } = tampered
    const expected = { revision: '3', expected: digestOf(body), found: sealed.data.digest, reason: 'seal-digest-mismatch' }
    const report = await verifyStream(reopen(), 'person-B')
    t.same(report, { stream: 'person-B', events: 0, head: null, ok: false, brokenAt: { stream: AUDIT_SEALS_STREAM, ...expected, position: '10' } })

    const service = await createLedger(loadConfig({ LEDGER_SQLITE_PATH: db, LOG_LEVEL: 'silent', LEDGER_SEAL_INTERVAL_MS: '0' }), { authenticator: systemAuthenticator })
    t.teardown(service.close)
    const res = await service.app.inject({ method: 'GET', url: '/v1/audit/streams/person-B/verify' })
    t.equal(res.statusCode, 200, 'not a 404: the seal cannot be trusted')
    t.same(res.json(), report)
  })

  t.test('an inline head rewritten after its last event was deleted', async (t) => {
    const { store, reopen, sql, rewriteSeals } = await fileLog(t)
    const hand = handHashes()
    const sealed = await seal(store, { clock: () => new Date('2024-08-01T00:00:00Z') })
    if (!sealed.sealed) return t.fail('not sealed')
    sql(`DELETE FROM events WHERE stream = 'person-B' AND revision = 1`)
    const heads = sealed.data.heads!.map((h) => (h[0] === 'person-B' ? ['person-B', '0', hand['person-B']![0]!] : h))
    rewriteSeals(new Map([[0, { ...sealed.data, heads }]]))
    const report = await verifyStream(reopen(), 'person-B')
    const { digest: _, ...body } = { ...sealed.data, heads }
    t.same(report?.brokenAt, { stream: AUDIT_SEALS_STREAM, revision: '0', expected: digestOf(body), found: sealed.data.digest, reason: 'seal-digest-mismatch', position: '7' })
    t.equal(report?.ok, false)
  })
})

t.test('5. long verifications, seals and exports let timers run', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  t.teardown(() => store.close())
  const N = 30_000
  for (let i = 0; i < N; i += 1_000) {
    const batch: NewEvent[] = Array.from({ length: 1_000 }, (_, j) => ({ type: 'Credited', data: { amount: `${i + j}.00` } }))
    await store.append('person-big', batch, 'any')
  }
  /** Whether a 10 ms timer set when `work` starts fires before it ends. */
  const timerFires = async (work: () => Promise<unknown>) => {
    let fired = false
    const timer = setTimeout(() => (fired = true), 10)
    const started = Date.now()
    await work()
    clearTimeout(timer)
    return { fired, longer: Date.now() - started > 20 }
  }
  t.same(await timerFires(() => verifyStream(store, 'person-big')), { fired: true, longer: true }, 'verifyStream')
  t.same(await timerFires(() => verifyStore(store)), { fired: true, longer: true }, 'verifyStore')
  t.same(await timerFires(() => seal(store)), { fired: true, longer: true }, 'seal')
  t.same(await timerFires(() => exportPage(store, undefined, 10_000)), { fired: true, longer: true }, 'an export page')
  const dir = mkdtempSync(join(tmpdir(), 'ledger-audit-yield-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  t.same((await timerFires(() => exportToFile(store, join(dir, 'big.ndjson')))).fired, true, 'an export file')
})

t.test('6. a position beyond int64 reads nothing (store, HTTP, CLI)', async (t) => {
  const { store, db, dir } = await fileLog(t)
  for (const p of [2n ** 63n - 1n, 2n ** 63n, 2n ** 128n - 1n]) t.same(await collect(store.readAll({ fromPosition: p })), [], `fromPosition ${p}`)
  t.equal((await collect(store.readAll({ fromPosition: 6n }))).length, 1, 'still inclusive')
  await store.close()

  const service = await createLedger(loadConfig({ LEDGER_SQLITE_PATH: db, LOG_LEVEL: 'silent', LEDGER_SEAL_INTERVAL_MS: '0' }), { authenticator: systemAuthenticator })
  t.teardown(service.close)
  for (const p of ['9223372036854775808', '340282366920938463463374607431768211455']) {
    const res = await service.app.inject({ method: 'GET', url: `/v1/audit/events?fromPosition=${p}` })
    t.same([res.statusCode, res.body, res.headers['x-next-position']], [200, '', undefined], p)
  }
  const file = join(dir, 'none.ndjson')
  const run = await ledger(['audit', 'export', '--out', file, '--from-position', '99999999999999999999'], db)
  t.same(run, { status: 0, stdout: [`exported 0 events to ${file}`], stderr: '' })
  t.equal(readFileSync(file, 'utf8'), '')
})

t.test('7. recordedAt: metadata consistent, never decreasing on the embedded store; hashes unchanged', async (t) => {
  t.test('metadata.recordedAt changed or removed', async (t) => {
    const { reopen, sql } = await fileLog(t)
    const recordedAt = sql<{ recorded_at: string }>('SELECT recorded_at FROM events WHERE position = 2').rows[0]!.recorded_at
    sql(`UPDATE events SET metadata = json_set(metadata, '$.recordedAt', '2020-01-01T00:00:00.000Z') WHERE position = 2`)
    sql(`UPDATE events SET metadata = json_remove(metadata, '$.recordedAt') WHERE position = 5`)
    const report = await verifyStore(reopen())
    t.same(report.brokenAt, { stream: 'person-A', revision: '1', expected: recordedAt, found: '2020-01-01T00:00:00.000Z', reason: 'recorded-at-inconsistent', position: '2' })
    t.equal(report.problems, 2, 'the chain itself still verifies: recordedAt is not hashed')
    const b = await verifyStream(reopen(), 'person-B')
    t.equal(b?.brokenAt?.reason, 'recorded-at-inconsistent')
    t.equal(b?.brokenAt?.found, '')
  })

  t.test('recordedAt going back in position order', async (t) => {
    const { reopen, sql, dir } = await fileLog(t)
    const previous = sql<{ recorded_at: string }>('SELECT recorded_at FROM events WHERE position = 2').rows[0]!.recorded_at
    const past = '2000-01-01T00:00:00.000Z'
    sql(`UPDATE events SET recorded_at = ?, metadata = json_set(metadata, '$.recordedAt', ?) WHERE position = 3`, past, past)
    const report = await verifyStore(reopen())
    t.same(report.brokenAt, { stream: 'person-A', revision: '2', expected: previous, found: past, reason: 'recorded-at-out-of-order', position: '3' })
    t.equal(report.problems, 1)
    t.same((await verifyStream(reopen(), 'person-A'))?.brokenAt, { revision: '2', expected: previous, found: past, reason: 'recorded-at-out-of-order', position: '3' })
    // A file may come from KurrentDB (clocks of several writers): not checked unless asked.
    const file = join(dir, 'x.ndjson')
    await exportToFile(reopen(), file)
    t.equal((await verifyExportFile(file)).ok, true)
    t.equal((await verifyExportFile(file, { recordedAtOrder: true })).brokenAt?.reason, 'recorded-at-out-of-order')
  })
})

t.test('8. events written before the hash chain are unchained, not broken; they can be sealed', async (t) => {
  const { store, reopen, insert, sql, db } = await fileLog(t, { empty: true })
  const at = '2024-01-01T00:00:00.000Z'
  insert(1, 'person-OLD', 0, 'Credited', { amount: '1.00' }, undefined, at)
  insert(2, 'person-OLD', 1, 'Credited', { amount: '2.00' }, undefined, at)
  insert(3, 'person-OLD2', 0, 'Credited', { amount: '3.00' }, undefined, at)
  // The store chains a stream's first hashed event from 64 zeros (its tail has no hash).
  await store.append('person-OLD', [{ type: 'Credited', data: { amount: '4.00' } }], 1n)
  await store.append('person-NEW', [{ type: 'Credited', data: { amount: '5.00' } }], 'no_stream')
  const old2 = hashOf('person-OLD', 2, 'Credited', { amount: '4.00' }, ZEROS)
  const new0 = hashOf('person-NEW', 0, 'Credited', { amount: '5.00' }, ZEROS)
  t.equal((await collect(store.readStream('person-OLD', { fromRevision: 2n })))[0]?.metadata.hash, old2)

  const unchained = {
    events: 3,
    streams: 2,
    list: [
      { stream: 'person-OLD', firstRevision: '0', events: 2 },
      { stream: 'person-OLD2', firstRevision: '0', events: 1 },
    ],
  }
  const report = await verifyStore(store)
  t.same({ ok: report.ok, problems: report.problems, unchained: report.unchained }, { ok: true, problems: 0, unchained })
  const strict = await verifyStore(store, { strict: true })
  t.same([strict.ok, strict.problems], [false, 2])
  t.same(strict.brokenAt, { stream: 'person-OLD', revision: '0', expected: 'a hash', found: '', reason: 'unchained', position: '1' })
  t.same(await verifyStream(store, 'person-OLD'), { stream: 'person-OLD', events: 3, head: { revision: '2', hash: old2 }, ok: true, unchained: { events: 2, firstRevision: '0' } })

  // Sealed: a head with no hash yet is sealed with 64 zeros (its revision still counts).
  const sealed = await seal(store, { clock: () => new Date('2024-08-01T00:00:00Z') })
  if (!sealed.sealed) return t.fail('not sealed')
  const body = { previousDigest: ZEROS, position: '5', sealedAt: '2024-08-01T00:00:00.000Z', heads: [['person-NEW', '0', new0], ['person-OLD', '2', old2], ['person-OLD2', '0', ZEROS]] }
  t.same(sealed.data, { ...body, digest: digestOf(body) })
  const run = await ledger(['audit', 'verify'], db)
  t.equal(run.status, 0)
  t.match(run.stdout[0], /^ok: 6 events in 4 streams verified; 3 unchained event\(s\) in 2 stream\(s\) \(written before the hash chain, not verified; --strict fails them\); seal 0 /)
  t.equal((await ledger(['audit', 'verify', '--strict'], db)).status, 1)

  // A hash removed after hashed events is a broken link, not an unchained event; seal refuses it.
  await store.append('person-NEW', [{ type: 'Credited', data: { amount: '6.00' } }], 0n)
  sql(`UPDATE events SET metadata = json_remove(metadata, '$.hash') WHERE stream = 'person-NEW' AND revision = 1`)
  const stripped = await verifyStore(reopen())
  t.same(stripped.brokenAt, { stream: 'person-NEW', revision: '1', expected: hashOf('person-NEW', 1, 'Credited', { amount: '6.00' }, new0), found: '', reason: 'hash-missing', position: '7' })
  const refused = await seal(reopen()).catch((e: unknown) => e)
  t.type(refused, SealRefusedError)
  t.equal((refused as SealRefusedError).broken.reason, 'hash-missing')

  // The sealed revision still protects an unchained stream's end.
  sql(`DELETE FROM events WHERE stream = 'person-OLD2'`)
  t.equal((await verifyStore(reopen())).brokenAt?.reason, 'sealed-stream-missing')
})
