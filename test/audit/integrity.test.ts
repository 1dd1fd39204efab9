/**
 * Tamper evidence and export (issue #6): the hash chain verified over a SQLite file changed behind
 * the store's back (better-sqlite3 UPDATE / DELETE), seals, the NDJSON export verified offline, and
 * `ledger audit verify | seal | export` run in process through `main(argv, env)`.
 *
 * Expected hashes are computed here independently of src/: SHA-256 (node:crypto) of the RFC 8785
 * JSON (json-canonicalize) of { stream, revision (decimal string), type, data, previousHash }, the
 * first previousHash 64 zeros; seal digests: SHA-256 of the RFC 8785 JSON of { previousDigest,
 * position, sealedAt, heads: [[stream, revision, hash], ...] } (or chunks instead of heads).
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { canonicalize } from 'json-canonicalize'
import { openSqliteEventStore } from '../../src/eventstore/sqlite/sqlite-event-store.js'
import type { EventStore, RecordedEvent } from '../../src/eventstore/port.js'
import { verifyExportFile, verifyStore, verifyStream } from '../../src/audit/verify.js'
import { AUDIT_SEALED, AUDIT_SEAL_HEADS, AUDIT_SEALS_STREAM, SealRefusedError, latestSeal, seal, startPeriodicSeal } from '../../src/audit/seal.js'
import { exportToFile, readExportFile } from '../../src/audit/export.js'
import { main } from '../../src/cli/ledger.js'
import { collect } from '../helpers/async.js'

const ZEROS = '0'.repeat(64)
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex')
/** The audit hash of an event, by the definition. */
const hashOf = (stream: string, revision: number, type: string, data: unknown, previousHash: string) =>
  sha256(canonicalize({ stream, revision: String(revision), type, data, previousHash }))
/** A seal's digest, by the definition. */
const digestOf = (d: { previousDigest: string; position: string; sealedAt: string; heads?: unknown; chunks?: unknown }) => sha256(canonicalize(d))
const NO_UNCHAINED = { events: 0, streams: 0, list: [] }

/**
 * The log every test starts from (positions 1-6):
 *   1 person-A r0 Credited {amount "850.00"}    4 person-B r0 Credited {amount "680.00"}
 *   2 person-A r1 Credited {amount "170.00"}    5 person-B r1 Credited {amount "42.50"}
 *   3 person-A r2 Debited  {amount "100.00"}    6 submission-S1 r0 Submitted {lines 2, total "1742.50"}
 * (850.00 + 170.00 + 680.00 + 42.50 = 1742.50; the amounts only have to be what the hashes cover.)
 */
const LOG = [
  { stream: 'person-A', type: 'Credited', data: { amount: '850.00' } },
  { stream: 'person-A', type: 'Credited', data: { amount: '170.00' } },
  { stream: 'person-A', type: 'Debited', data: { amount: '100.00' } },
  { stream: 'person-B', type: 'Credited', data: { amount: '680.00' } },
  { stream: 'person-B', type: 'Credited', data: { amount: '42.50' } },
  { stream: 'submission-S1', type: 'Submitted', data: { lines: 2, total: '1742.50' } },
]

/** The hashes of LOG by hand, per stream and revision. */
function handHashes(): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const e of LOG) {
    const chain = (out[e.stream] ??= [])
    chain.push(hashOf(e.stream, chain.length, e.type, e.data, chain.at(-1) ?? ZEROS))
  }
  return out
}

/** A temporary SQLite file holding LOG; `reopen` gives a store on it (closed at teardown). */
async function fileLog(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-audit-'))
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
  for (const e of LOG) await store.append(e.stream, [{ type: e.type, data: e.data }], 'any')
  /** Runs SQL on the file behind the store's back. */
  const tamper = (sql: string, ...params: unknown[]) => {
    const raw = new Database(db)
    try {
      return raw.prepare(sql).run(...params).changes
    } finally {
      raw.close()
    }
  }
  return { dir, db, store, reopen, tamper }
}

/** Runs `ledger <args>` in process on the SQLite file `db`, capturing stdout and stderr. */
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

t.test('the store chains as defined; verify passes an untouched log', async (t) => {
  const { store } = await fileLog(t)
  const hand = handHashes()
  const events = await collect(store.readAll())
  t.same(
    events.map((e) => e.metadata.hash),
    [hand['person-A']![0], hand['person-A']![1], hand['person-A']![2], hand['person-B']![0], hand['person-B']![1], hand['submission-S1']![0]],
    'every stored hash is the hash by hand',
  )
  t.same(await verifyStore(store), { ok: true, source: 'store', streams: 3, events: 6, lastPosition: '6', problems: 0, unchained: NO_UNCHAINED, seal: null })
  t.same(await verifyStream(store, 'person-A'), { stream: 'person-A', events: 3, head: { revision: '2', hash: hand['person-A']![2] }, ok: true })
  t.equal(await verifyStream(store, 'person-Z'), undefined, 'no events, no seal: nothing to report (HTTP 404)')
})

t.test('a row changed in the SQLite file is found at its stream and revision', async (t) => {
  const { reopen, tamper } = await fileLog(t)
  const hand = handHashes()
  // 170.00 → 1170.00 on person-A revision 1 (position 2).
  t.equal(tamper(`UPDATE events SET data = ? WHERE stream = 'person-A' AND revision = 1`, '{"amount":"1170.00"}'), 1)
  const report = await verifyStore(reopen())
  t.equal(report.ok, false)
  t.same(report.brokenAt, {
    stream: 'person-A',
    revision: '1',
    // What the changed row hashes to, chained to revision 0's stored hash; found: the hash stored.
    expected: hashOf('person-A', 1, 'Credited', { amount: '1170.00' }, hand['person-A']![0]!),
    found: hand['person-A']![1],
    reason: 'hash-mismatch',
    position: '2',
  })
  t.equal(report.problems, 1, 'revision 2 still chains to the stored hash of revision 1: one break')
  const stream = await verifyStream(reopen(), 'person-A')
  t.equal(stream?.ok, false)
  t.same(stream?.brokenAt, { revision: '1', expected: report.brokenAt!.expected, found: hand['person-A']![1], reason: 'hash-mismatch', position: '2' })

  // Even a hash recomputed for the changed row does not help: revision 2 no longer chains.
  tamper(`UPDATE events SET metadata = json_set(metadata, '$.hash', ?) WHERE stream = 'person-A' AND revision = 1`, report.brokenAt!.expected)
  const again = await verifyStore(reopen())
  t.same(again.brokenAt, {
    stream: 'person-A',
    revision: '2',
    expected: hashOf('person-A', 2, 'Debited', { amount: '100.00' }, report.brokenAt!.expected),
    found: hand['person-A']![2],
    reason: 'hash-mismatch',
    position: '3',
  })
})

t.test('a deleted middle event breaks the revision sequence', async (t) => {
  const { reopen, tamper } = await fileLog(t)
  t.equal(tamper(`DELETE FROM events WHERE stream = 'person-A' AND revision = 1`), 1)
  const report = await verifyStore(reopen())
  t.same(report.brokenAt, { stream: 'person-A', revision: '2', expected: '1', found: '2', reason: 'revision-sequence', position: '3' })
  t.same([report.ok, report.events, report.streams, report.problems], [false, 5, 3, 1])
})

t.test('a deleted last event and a deleted whole stream are found against a seal taken before', async (t) => {
  const { store, reopen, tamper, db } = await fileLog(t)
  const hand = handHashes()
  const sealed = await seal(store, { clock: () => new Date('2024-08-01T00:00:00Z') })
  t.ok(sealed.sealed)
  if (!sealed.sealed) return
  const heads = [
    ['person-A', '2', hand['person-A']![2]!],
    ['person-B', '1', hand['person-B']![1]!],
    ['submission-S1', '0', hand['submission-S1']![0]!],
  ]
  // The digest by hand: the first seal chains to 64 zeros.
  const body = { previousDigest: ZEROS, position: '6', sealedAt: '2024-08-01T00:00:00.000Z', heads }
  t.same(sealed.data, { ...body, digest: digestOf(body) })
  t.equal(sealed.revision, 0n)
  t.same((await verifyStore(store)).seal, { revision: '0', position: '6', sealedAt: '2024-08-01T00:00:00.000Z', digest: sealed.data.digest, seals: 1, heads: 3, matched: 3 })

  // Without the seal, these deletions would leave valid chains.
  tamper(`DELETE FROM events WHERE stream = 'person-B' AND revision = 1`)
  tamper(`DELETE FROM events WHERE stream = 'submission-S1'`)
  const report = await verifyStore(reopen())
  t.equal(report.ok, false)
  t.equal(report.problems, 2)
  t.same(report.brokenAt, { stream: 'person-B', revision: '1', expected: hand['person-B']![1], found: '', reason: 'sealed-event-missing', seal: '0' })
  t.equal(report.seal?.matched, 1)
  const sealInfo = { sealedAt: '2024-08-01T00:00:00.000Z', position: '6', latestDigest: sealed.data.digest }

  t.same(await verifyStream(reopen(), 'person-B'), {
    stream: 'person-B',
    events: 1,
    head: { revision: '0', hash: hand['person-B']![0] },
    ok: false,
    brokenAt: { revision: '1', expected: hand['person-B']![1], found: '', reason: 'sealed-event-missing', seal: '0' },
    seal: { ...sealInfo, revision: '1', hash: hand['person-B']![1], matches: false },
  })
  t.same(await verifyStream(reopen(), 'submission-S1'), {
    stream: 'submission-S1',
    events: 0,
    head: null,
    ok: false,
    brokenAt: { revision: '0', expected: hand['submission-S1']![0], found: '', reason: 'sealed-stream-missing', seal: '0' },
    seal: { ...sealInfo, revision: '0', hash: hand['submission-S1']![0], matches: false },
  })

  // The CLI: exit 1, a one-line summary, then the JSON report.
  const run = await ledger(['audit', 'verify'], db)
  t.equal(run.status, 1)
  t.equal(run.stdout.length, 2)
  t.equal(
    run.stdout[0],
    `BROKEN: person-B revision 1: sealed-event-missing (expected ${hand['person-B']![1]}, found -); 2 problem(s), 5 events in 3 streams; ` +
      `seal 0 (position 6, 2024-08-01T00:00:00.000Z): 1 of 3 sealed heads found in 1 seal(s); latest digest ${sealed.data.digest}: keep it outside the ledger and give it to --expect-digest`,
  )
  t.same(JSON.parse(run.stdout[1]!), report)
})

t.test('seals are incremental, chunked when large, skipped when nothing changed, refused over a broken link', async (t) => {
  const { store, reopen, tamper } = await fileLog(t)
  const empty = openSqliteEventStore({ path: ':memory:' })
  t.same(await seal(empty), { sealed: false, reason: 'empty' })
  await empty.close()

  // Chunks of 2 heads: 3 streams → 2 AuditSealHeads (revisions 0, 1) then AuditSealed (revision 2),
  // in one append (on SQLite no byte budget is needed).
  const first = await seal(store, { chunkHeads: 2, maxAppendBytes: Number.POSITIVE_INFINITY })
  t.ok(first.sealed)
  if (!first.sealed) return
  t.same([first.revision, first.events, first.appends, first.read], [2n, 3, 1, 6])
  const h0 = handHashes()
  const chunk0 = [['person-A', '2', h0['person-A']![2]], ['person-B', '1', h0['person-B']![1]]]
  const chunk1 = [['submission-S1', '0', h0['submission-S1']![0]]]
  const refs0 = [
    { revision: '0', first: 'person-A', last: 'person-B', heads: 2, digest: sha256(canonicalize(chunk0)) },
    { revision: '1', first: 'submission-S1', last: 'submission-S1', heads: 1, digest: sha256(canonicalize(chunk1)) },
  ]
  t.same(first.data.chunks, refs0)
  t.equal(first.data.heads, undefined)
  t.equal(first.data.digest, digestOf({ previousDigest: ZEROS, position: '6', sealedAt: first.data.sealedAt, chunks: refs0 }), 'the digest covers the chunk references')
  const sealEvents = await collect(store.readStream(AUDIT_SEALS_STREAM))
  t.same(sealEvents.map((e) => e.type), [AUDIT_SEAL_HEADS, AUDIT_SEAL_HEADS, AUDIT_SEALED])
  t.same(sealEvents.slice(0, 2).map((e) => e.data), [{ heads: chunk0 }, { heads: chunk1 }])
  t.same(await seal(store), { sealed: false, reason: 'unchanged', previous: await latestSeal(store) }, 'only seals since: nothing to seal')

  // Two more events; the next seal reads only what follows the first seal's position (6): the
  // three seal events (7-9) and the two new ones (10, 11).
  await store.append('person-A', [{ type: 'Credited', data: { amount: '1.00' } }], 2n)
  await store.append('person-C', [{ type: 'Credited', data: { amount: '2.00' } }], 'no_stream')
  const hand = handHashes()
  const a3 = hashOf('person-A', 3, 'Credited', { amount: '1.00' }, hand['person-A']![2]!)
  const c0 = hashOf('person-C', 0, 'Credited', { amount: '2.00' }, ZEROS)
  // Only the two changed heads, one a chunk; a byte budget that holds one chunk per append: the
  // chunks and the seal in 3 appends.
  const second = await seal(store, { chunkHeads: 1, maxAppendBytes: 1_000 })
  t.ok(second.sealed)
  if (!second.sealed) return
  t.same([second.revision, second.heads, second.events, second.appends, second.read], [5n, 2, 3, 3, 5])
  const refs1 = [
    { revision: '3', first: 'person-A', last: 'person-A', heads: 1, digest: sha256(canonicalize([['person-A', '3', a3]])) },
    { revision: '4', first: 'person-C', last: 'person-C', heads: 1, digest: sha256(canonicalize([['person-C', '0', c0]])) },
  ]
  t.same(second.data, {
    sealedAt: second.data.sealedAt,
    position: '11',
    previousDigest: first.data.digest,
    digest: digestOf({ previousDigest: first.data.digest, position: '11', sealedAt: second.data.sealedAt, chunks: refs1 }),
    chunks: refs1,
  })
  const verified = await verifyStore(store)
  t.same([verified.ok, verified.seal?.revision, verified.seal?.seals, verified.seal?.heads, verified.seal?.matched], [true, '5', 2, 5, 5])
  t.same(
    (await verifyStream(store, 'person-C'))?.seal,
    { sealedAt: second.data.sealedAt, position: '11', revision: '0', hash: c0, matches: true, latestDigest: second.data.digest },
    'head found in its chunk',
  )
  t.same(
    (await verifyStream(store, 'person-B'))?.seal,
    { sealedAt: first.data.sealedAt, position: '6', revision: '1', hash: hand['person-B']![1], matches: true, latestDigest: second.data.digest },
    'an unchanged head: found in the first seal, chained from the latest',
  )

  // A chunk removed from the seals stream: the seal cannot be used, and says so.
  tamper(`DELETE FROM events WHERE stream = ? AND revision = 4`, AUDIT_SEALS_STREAM)
  const broken = await verifyStore(reopen())
  // Chunks at positions 12 (revision 3) and 13 (revision 4), the seal at 14 (revision 5).
  t.same(broken.brokenAt, { stream: AUDIT_SEALS_STREAM, revision: '5', expected: '4', found: '5', reason: 'revision-sequence', position: '14' })
  t.equal(broken.problems, 2, 'the chain of the seals stream, and the seal naming a missing chunk')
  t.same(broken.seal, { revision: '2', position: '6', sealedAt: first.data.sealedAt, digest: first.data.digest, seals: 1, heads: 3, matched: 3 }, 'the last usable seal')
  await t.rejects(seal(reopen()), { name: 'SealUnreadableError', reason: 'seal-chunk-missing' }, 'no seal is built on an unreadable one')
})

t.test('a seal refuses to vouch for an event changed since the previous seal', async (t) => {
  const { store, reopen, tamper } = await fileLog(t)
  t.ok((await seal(store)).sealed)
  await store.append('person-B', [{ type: 'Credited', data: { amount: '3.00' } }], 1n)
  tamper(`UPDATE events SET data = '{"amount":"30.00"}' WHERE stream = 'person-B' AND revision = 2`)
  const hand = handHashes()
  const err = await seal(reopen()).catch((e: unknown) => e)
  t.type(err, SealRefusedError)
  t.same((err as SealRefusedError).broken, {
    stream: 'person-B',
    position: '8',
    revision: '2',
    expected: hashOf('person-B', 2, 'Credited', { amount: '30.00' }, hand['person-B']![1]!),
    found: hashOf('person-B', 2, 'Credited', { amount: '3.00' }, hand['person-B']![1]!),
    reason: 'hash-mismatch',
  })
  t.equal((await collect(reopen().readStream(AUDIT_SEALS_STREAM))).length, 1, 'nothing written')
})

t.test('export, then verify --file; an edited line is found', async (t) => {
  const { store, dir, db } = await fileLog(t)
  await seal(store, { clock: () => new Date('2024-08-01T00:00:00Z') })
  await store.append('person-A', [{ type: 'Credited', data: { amount: '5.00' } }], 2n)
  const file = join(dir, 'export.ndjson')

  const exported = await ledger(['audit', 'export', '--out', file], db)
  t.same(exported, { status: 0, stdout: [`exported 8 events, positions 1 to 8, to ${file}`], stderr: '' })
  const lines = readFileSync(file, 'utf8').split('\n')
  t.equal(lines.pop(), '', 'every line ends in \\n')
  t.equal(lines.length, 8)
  const hand = handHashes()
  t.same(JSON.parse(lines[0]!), {
    position: '1',
    stream: 'person-A',
    revision: '0',
    id: JSON.parse(lines[0]!).id,
    type: 'Credited',
    recordedAt: JSON.parse(lines[0]!).recordedAt,
    data: { amount: '850.00' },
    metadata: { recordedAt: JSON.parse(lines[0]!).recordedAt, hash: hand['person-A']![0] },
  })
  const events = await collect(store.readAll())
  const parsed: RecordedEvent[] = []
  for await (const item of readExportFile(file)) if ('event' in item) parsed.push(item.event)
  t.same(parsed, events, 'the file reads back as the log')

  const ok = await ledger(['audit', 'verify', '--file', file], db)
  t.equal(ok.status, 0)
  const digest = (await latestSeal(store))!.data.digest
  t.equal(
    ok.stdout[0],
    `ok: 8 lines in 4 streams verified; seal 0 (position 6, 2024-08-01T00:00:00.000Z): 3 of 3 sealed heads found in 1 seal(s); latest digest ${digest}: keep it outside the ledger and give it to --expect-digest`,
  )
  t.same(JSON.parse(ok.stdout[1]!), {
    ok: true,
    source: 'file',
    streams: 4,
    events: 8,
    lastPosition: '8',
    problems: 0,
    unchained: NO_UNCHAINED,
    seal: { revision: '0', position: '6', sealedAt: '2024-08-01T00:00:00.000Z', digest, seals: 1, heads: 3, matched: 3 },
  })

  // person-B revision 0 (line 4): 680.00 → 6800.00.
  const edited = join(dir, 'edited.ndjson')
  writeFileSync(edited, lines.map((l, i) => (i === 3 ? l.replace('"680.00"', '"6800.00"') : l)).join('\n') + '\n')
  const report = await verifyExportFile(edited)
  t.same(report.brokenAt, {
    stream: 'person-B',
    revision: '0',
    expected: hashOf('person-B', 0, 'Credited', { amount: '6800.00' }, ZEROS),
    found: hand['person-B']![0],
    reason: 'hash-mismatch',
    position: '4',
    line: 4,
  })
  const run = await ledger(['audit', 'verify', '--file', edited], db)
  t.equal(run.status, 1)
  t.match(run.stdout[0], /^BROKEN: line 4: person-B revision 0: hash-mismatch /)

  // The last line of person-B (line 5) removed: only the seal shows it; a line that is no event.
  writeFileSync(edited, lines.map((l, i) => (i === 4 ? '{"not":"an event"}' : l)).join('\n') + '\n')
  const cut = await verifyExportFile(edited)
  t.same(cut.brokenAt, { stream: '', revision: '', expected: 'an exported event', found: 'position is not a decimal string', reason: 'malformed-line', line: 5 })
  t.equal(cut.problems, 2, 'the malformed line and the sealed head of person-B not found')

  // A partial export (from a position) and a file that does not exist.
  const tail = join(dir, 'tail.ndjson')
  t.same((await exportToFile(store, tail, { fromPosition: 7n })).events, 2)
  t.equal((await ledger(['audit', 'export', '--out', tail, '--from-position', '7'], db)).stdout[0], `exported 2 events, positions 7 to 8, to ${tail}`)
  const missing = await ledger(['audit', 'verify', '--file', join(dir, 'nope.ndjson')], db)
  t.equal(missing.status, 2)
  t.match(missing.stderr, /^audit verify: ENOENT/)
})

t.test('ledger audit seal and verify on the store; a missing store file is not created', async (t) => {
  const { dir, db } = await fileLog(t)
  const sealed = await ledger(['audit', 'seal', '--actor', 'auditor-1'], db)
  t.equal(sealed.status, 0)
  t.match(sealed.stdout[0], /^sealed: revision 0 of audit-seals, position 6, 3 heads changed, digest [0-9a-f]{64} \(keep it outside the ledger: ledger audit verify --expect-digest\)$/)
  t.match(JSON.parse(sealed.stdout[1]!), { sealed: true, revision: '0', position: '6', heads: 3, previousDigest: ZEROS, events: 1, appends: 1 })
  t.same((await ledger(['audit', 'seal'], db)).stdout, ['not sealed: nothing new since the seal at revision 0 (position 6)', '{"sealed":false,"reason":"unchanged"}'])

  const ok = await ledger(['audit', 'verify'], db)
  t.equal(ok.status, 0)
  const { sealedAt, digest } = JSON.parse(sealed.stdout[1]!)
  t.equal(ok.stdout[0], `ok: 7 events in 4 streams verified; seal 0 (position 6, ${sealedAt}): 3 of 3 sealed heads found in 1 seal(s); latest digest ${digest}: keep it outside the ledger and give it to --expect-digest`)
  const reader = openSqliteEventStore({ path: db })
  const sealEvent = (await collect(reader.readStream(AUDIT_SEALS_STREAM)))[0]!
  await reader.close()
  t.equal(sealEvent.metadata.actor, 'auditor-1')

  const nowhere = join(dir, 'none', 'ledger.sqlite')
  const run = await ledger(['audit', 'verify'], nowhere)
  t.same([run.status, run.stderr], [2, `no event store at ${nowhere} (LEDGER_SQLITE_PATH)\n`])
})

t.test('the periodic seal seals, logs its failures, and stops', async (t) => {
  const store = openSqliteEventStore({ path: ':memory:' })
  await store.append('person-A', [{ type: 'Credited', data: { amount: '1.00' } }], 'no_stream')
  const logged: { level: string; msg: string }[] = []
  const logger = {
    info: (_: object, msg: string) => logged.push({ level: 'info', msg }),
    warn: (_: object, msg: string) => logged.push({ level: 'warn', msg }),
    error: (_: object, msg: string) => logged.push({ level: 'error', msg }),
  }
  const periodic = startPeriodicSeal(store, { intervalMs: 20, logger })
  const deadline = Date.now() + 5_000
  while (!(await latestSeal(store)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  t.ok(await latestSeal(store), 'sealed after an interval')
  await store.close()
  while (!logged.some((l) => l.level === 'error') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
  await periodic.stop()
  t.same(logged.slice(0, 1), [{ level: 'info', msg: 'audit seal written' }])
  t.ok(logged.some((l) => l.level === 'error' && l.msg === 'audit seal failed'), 'a failure is logged, not thrown')
  t.throws(() => startPeriodicSeal(store, { intervalMs: 0 }), RangeError)
})
