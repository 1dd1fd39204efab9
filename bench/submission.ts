/**
 * Benchmark: recording 10,000-line payroll submissions on the embedded store (a file in a temp
 * folder, WAL, synchronous=FULL), and the projector catching up on them. Never run by `npm test`.
 *
 *   npm run bench
 *
 * Prints one line per measurement. Wall-clock times on this machine; compare runs on one machine.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { generatePayrolls } from '../src/cli/generate-payroll.js'
import { yuan } from '../src/domain/money.js'
import type { WorkInjuryClass } from '../src/domain/schemes.js'
import { openSqliteEventStore } from '../src/eventstore/sqlite/sqlite-event-store.js'
import { loadPolicyBook } from '../src/policy-loader.js'
import { Projector } from '../src/projector/projector.js'
import { ReadModelStore } from '../src/projector/read-model-store.js'
import { RecordSubmissionHandler } from '../src/usecases/record-submission.js'
import { PROJECTIONS } from '../projections/index.js'

const LINES = 10_000
const CATCH_UP_WAIT_MS = 120_000

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-bench-'))
const file = path.join(dir, 'ledger.sqlite')
const store = openSqliteEventStore({ path: file })
const handler = new RecordSubmissionHandler(store, loadPolicyBook())
const payrolls = generatePayrolls({ seed: 1, workersPerRegion: LINES }).filter((p) => p.region === '310000')

for (const p of payrolls) {
  const started = performance.now()
  const result = await handler.handle({
    ...p,
    workInjuryClass: p.workInjuryClass as WorkInjuryClass,
    lines: p.lines.map((l) => ({ personId: l.personId, wage: yuan(l.wage) })),
  })
  const ms = performance.now() - started
  if (result.kind !== 'receipt') throw new Error(`refused: ${JSON.stringify(result.decision).slice(0, 200)}`)
  const perSecond = Math.round((p.lines.length / ms) * 1000)
  process.stdout.write(`record ${p.submissionId}: ${p.lines.length} lines in ${ms.toFixed(0)} ms (${perSecond} lines/s), position ${result.receipt.position}\n`)
}

const readModels = new ReadModelStore(file)
const projector = new Projector({ store, readModels, projections: PROJECTIONS })
const head = (await store.headPosition()) ?? 0n
const started = performance.now()
projector.start()
await projector.waitForPosition(head, CATCH_UP_WAIT_MS)
const ms = performance.now() - started
await projector.stop()
process.stdout.write(`projector catch-up: ${head} events in ${ms.toFixed(0)} ms (${Math.round((Number(head) / ms) * 1000)} events/s)\n`)
await store.close()
readModels.close()
fs.rmSync(dir, { recursive: true, force: true })
