#!/usr/bin/env node
/**
 * The `ledger` command line: operations on the configured store through the same use cases as HTTP.
 *
 *   npm run ledger -- import-history examples/legacy-history.csv
 *   node dist/src/cli/ledger.js import-history <csv> [--actor <name>]
 *
 * `import-history` loads legacy history (issue #4) from a CSV file with the header
 * `personId,importId,asOf,individualAccountBalance,year,region,months,baseTotal`: one row per year
 * and region, the rows of one person consecutive; they make one import, validated like the body of
 * `POST /v1/persons/{personId}/legacy-history` (so every row of a person repeats its importId, asOf
 * and balance). The file is read as a stream and imported in batches of at most
 * {@link maxPersonsPerBatch} persons (one batch in memory at a time); a line of progress follows
 * each batch, then a summary: imported, already imported, refused with the reason. Exit status 0
 * when nothing was refused, 1 otherwise (also when the file cannot be read or parsed), 2 for a bad
 * configuration.
 *
 * The CLI opens the event store only, not the read models: a running service (or the next start)
 * projects the imported events. Two projectors on one read-model file would fold events twice.
 * Person ids are printed masked (first 6 and last 4 characters) with the file's row numbers.
 *
 * The auditors' commands (issue #6) are registered from their modules: `audit replay`
 * (audit-replay.ts), `audit verify | seal | export` (audit-integrity.ts) and `projections rebuild`
 * (projections-rebuild.ts), and `keys create | list` (keys.ts). Issue #9 adds `post <file>`
 * (post.ts), `balances person | pool` (balances.ts) and `status` (status.ts), and `serve`: the HTTP
 * service itself with its projector (src/server.ts; runs until a signal, then exits 0 after a
 * graceful shutdown). Usage errors (an unknown option, a missing argument) exit with 2.
 */
import { invokedDirectly } from './invoked-directly.js'
import { createReadStream } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { Command, CommanderError, InvalidArgumentError } from 'commander'
import { parse } from 'csv-parse'
import { ConfigError, loadConfig, type Config } from '../config.js'
import type { EventMetadata } from '../eventstore/port.js'
import { WrongExpectedRevisionError } from '../eventstore/port.js'
import { openStore, processContext } from './context.js'
import { registerAuditReplay } from './audit-replay.js'
import { registerAuditIntegrity } from './audit-integrity.js'
import { registerProjectionsRebuild } from './projections-rebuild.js'
import { registerKeys } from './keys.js'
import { registerPost } from './post.js'
import { registerBalances } from './balances.js'
import { registerStatus } from './status.js'
import { loadPolicyBook } from '../policy-loader.js'
import { maskCitizenId } from '../domain/ids.js'
import { describeLegacyRefusal } from '../domain/legacy/decide.js'
import { ImportLegacyHandler } from '../usecases/import-legacy.js'
import { LegacyHistoryBody, legacyHistoryCommand } from '../http/legacy.js'
import { ACTOR_PATTERN, CitizenId } from '../http/schemas.js'

/** Exit status of a usage error (unknown option, missing argument, bad value). */
export const EXIT_USAGE = 2
/** Commander "errors" that are not errors: help and version asked for. */
const USAGE_OK_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version'])

/** Most persons imported in one batch (their rows are the only part of the file held in memory). */
export const maxPersonsPerBatch = 500
/** Most refused persons listed one by one in the final summary (the rest are counted). */
export const maxRefusalsListed = 100
/** The CSV header, in this order. */
export const LEGACY_CSV_COLUMNS = ['personId', 'importId', 'asOf', 'individualAccountBalance', 'year', 'region', 'months', 'baseTotal'] as const

type Column = (typeof LEGACY_CSV_COLUMNS)[number]
type Row = Record<Column, string>

/** The consecutive rows of one person. `firstRow`/`lastRow` are line numbers in the file. */
interface PersonRows {
  personId: string
  firstRow: number
  lastRow: number
  rows: { line: number; row: Row }[]
  /** A row that could not be read (wrong field count), which refuses the whole person. */
  rowError?: string
}

/** What happened to one person of the file. */
export type PersonOutcome =
  | { status: 'imported' | 'already-imported'; personId: string; rows: string; position: bigint }
  | { status: 'refused'; personId: string; rows: string; reason: string }

/** Counts of a run, and the refusals listed (at most {@link maxRefusalsListed}). */
export interface ImportSummary {
  persons: number
  rows: number
  batches: number
  imported: number
  alreadyImported: number
  refused: number
  refusals: { personId: string; rows: string; reason: string }[]
}

/** A summary with nothing counted yet. */
export const emptySummary = (): ImportSummary => ({ persons: 0, rows: 0, batches: 0, imported: 0, alreadyImported: 0, refused: 0, refusals: [] })

/**
 * Imports the legacy history of a CSV file through `handler`, in batches of `batchSize` persons,
 * writing a progress line to `out` after each batch and counting into `summary`. Rejects when the
 * file cannot be read or is not the expected CSV; `summary` then counts the batches completed (they
 * stay imported: running the file again is safe, every import being idempotent by person and
 * importId).
 */
export async function importHistoryFile(
  file: string,
  handler: ImportLegacyHandler,
  metadata: EventMetadata,
  out: (line: string) => void,
  summary: ImportSummary = emptySummary(),
  batchSize = maxPersonsPerBatch,
): Promise<ImportSummary> {
  const parser = createReadStream(file).pipe(
    parse({ bom: true, trim: true, skip_empty_lines: true, relax_column_count: true, info: true }),
  )
  let batch: PersonRows[] = []
  let current: PersonRows | undefined
  let header = true

  const runBatch = async () => {
    if (batch.length === 0) return
    const persons = batch
    batch = []
    summary.batches++
    // Every import of the batch settles before a failure (e.g. the store unavailable) stops the run,
    // so none is still writing when the store closes.
    const settled = await Promise.allSettled(persons.map((p) => importPerson(p, handler, metadata)))
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) throw failed.reason
    const outcomes = settled.map((r) => (r as PromiseFulfilledResult<PersonOutcome>).value)
    const counts = { imported: 0, 'already-imported': 0, refused: 0 }
    for (const o of outcomes) {
      counts[o.status]++
      if (o.status === 'refused' && summary.refusals.length < maxRefusalsListed) summary.refusals.push({ personId: o.personId, rows: o.rows, reason: o.reason })
    }
    summary.imported += counts.imported
    summary.alreadyImported += counts['already-imported']
    summary.refused += counts.refused
    summary.persons += persons.length
    out(
      `batch ${summary.batches}: ${persons.length} person(s), ${rowRange(persons[0]!.firstRow, persons.at(-1)!.lastRow)}: ` +
        `${counts.imported} imported, ${counts['already-imported']} already imported, ${counts.refused} refused`,
    )
  }

  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    if (header) {
      header = false
      if (record.join(',') !== LEGACY_CSV_COLUMNS.join(','))
        throw new CsvFileError(`line ${info.lines}: the header must be ${LEGACY_CSV_COLUMNS.join(',')}`)
      continue
    }
    summary.rows++
    const personId = record[0] ?? ''
    if (!current || current.personId !== personId) {
      if (current) batch.push(current)
      if (batch.length >= batchSize) await runBatch()
      current = { personId, firstRow: info.lines, lastRow: info.lines, rows: [] }
    }
    current.lastRow = info.lines
    if (record.length !== LEGACY_CSV_COLUMNS.length) {
      current.rowError ??= `row ${info.lines} has ${record.length} fields, expected ${LEGACY_CSV_COLUMNS.length}`
      continue
    }
    current.rows.push({ line: info.lines, row: Object.fromEntries(LEGACY_CSV_COLUMNS.map((c, i) => [c, record[i]!])) as Row })
  }
  if (header) throw new CsvFileError(`the file is empty; the header must be ${LEGACY_CSV_COLUMNS.join(',')}`)
  if (current) batch.push(current)
  await runBatch()
  return summary
}

/** The file is not the expected CSV (header, quoting). */
export class CsvFileError extends Error {
  override readonly name = 'CsvFileError'
}

/** Validates one person's rows as an import body and imports it. */
async function importPerson(p: PersonRows, handler: ImportLegacyHandler, metadata: EventMetadata): Promise<PersonOutcome> {
  const rows = rowRange(p.firstRow, p.lastRow)
  const masked = maskCitizenId(p.personId)
  const refused = (reason: string): PersonOutcome => ({ status: 'refused', personId: masked, rows, reason })
  if (p.rowError) return refused(p.rowError)
  const id = CitizenId.safeParse(p.personId)
  if (!id.success) return refused(`personId: ${id.error.issues[0]?.message ?? 'invalid'}`)
  const first = p.rows[0]!
  for (const field of ['importId', 'asOf', 'individualAccountBalance'] as const) {
    const other = p.rows.find((r) => r.row[field] !== first.row[field])
    if (other) return refused(`${field} differs between row ${first.line} and row ${other.line}; a person's rows make one import`)
  }
  const body = LegacyHistoryBody.safeParse({
    importId: first.row.importId,
    asOf: first.row.asOf,
    individualAccountBalance: first.row.individualAccountBalance,
    years: p.rows.map(({ row }) => ({ year: integer(row.year), region: row.region, months: integer(row.months), baseTotal: row.baseTotal })),
  })
  if (!body.success) {
    const issue = body.error.issues[0]!
    const [top, index, field] = issue.path
    const where = top === 'years' && typeof index === 'number' ? `row ${p.rows[index]?.line ?? '?'}${field !== undefined ? `, ${String(field)}` : ''}` : String(top ?? '')
    return refused(`${where}: ${issue.message}`)
  }
  try {
    const result = await handler.importHistory(legacyHistoryCommand(p.personId, body.data), metadata)
    if (result.kind === 'refused') return refused(describeLegacyRefusal(result.decision))
    return { status: result.receipt.status, personId: masked, rows, position: result.receipt.position }
  } catch (err) {
    if (err instanceof WrongExpectedRevisionError) return refused('the person changed concurrently too often; run the file again')
    throw err
  }
}

/** `row 7` or `rows 7-9`: line numbers of the file (the header is line 1). */
const rowRange = (first: number, last: number): string => (first === last ? `row ${first}` : `rows ${first}-${last}`)

/** A CSV cell as a whole number when it is one, else the text (the schema then names the field). */
const integer = (text: string): number | string => (/^\d{1,9}$/.test(text) ? Number(text) : text)

/** The final summary, as printed. */
export function summaryLines(s: ImportSummary): string[] {
  const lines = [
    `done: ${s.persons} person(s), ${s.rows} row(s), ${s.batches} batch(es)`,
    `  imported: ${s.imported}`,
    `  already imported: ${s.alreadyImported}`,
    `  refused: ${s.refused}`,
  ]
  for (const r of s.refusals) lines.push(`    ${r.personId} (${r.rows}): ${r.reason}`)
  if (s.refused > s.refusals.length) lines.push(`    … and ${s.refused - s.refusals.length} more`)
  return lines
}

/**
 * Runs the CLI with `argv` (as `process.argv`) and resolves with the exit status. Commander's usage
 * errors (and `--help`) throw its `CommanderError` after it has printed its message.
 */
export async function main(argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let status = 0
  const ctx = processContext(env, (code) => (status = code))
  const program = new Command().exitOverride().name('ledger').description('Operations on the contribution ledger (configured by LEDGER_* variables).')
  program
    .command('import-history')
    .description(`Import persons' legacy history from a CSV file (header ${LEGACY_CSV_COLUMNS.join(',')}).`)
    .argument('<csv>', 'the CSV file')
    .option('--actor <name>', 'who imports, recorded in each event (1-64 of A-Z a-z 0-9 . _ @ : -)', actorOption, 'ledger-cli')
    .action(async (file: string, opts: { actor: string }) => {
      status = await runImportHistory(file, opts.actor, env)
    })
  const audit = program.command('audit').description('Auditors: replay the log, verify its hash chain and seals, export it.').exitOverride()
  registerAuditReplay(audit, ctx)
  registerAuditIntegrity(audit, ctx)
  const projections = program.command('projections').description('The read models the service answers from.').exitOverride()
  registerProjectionsRebuild(projections, ctx)
  registerKeys(program.command('keys').description('API keys of LEDGER_KEYS_PATH (issue #7): create one, list them.').exitOverride(), ctx)
  // Issue #9: payroll files, balances and status, on the configured store or a running service (--url).
  registerPost(program, ctx)
  registerBalances(program.command('balances').description("Balances of a person or a region's pools (read models, or the service with --url).").exitOverride(), ctx)
  registerStatus(program, ctx)
  // Issue #9: the service itself, as `node dist/src/server.js` (loaded only for this command).
  program
    .command('serve')
    .description(
      'Run the HTTP service (configured by PORT, HOST and LEDGER_* variables) until SIGTERM or SIGINT, then shut down gracefully: ' +
        'exit 0, or 1 past LEDGER_SHUTDOWN_TIMEOUT_MS; 2 bad configuration, 3 store unavailable at start.',
    )
    .action(async () => {
      const { runService } = await import('../server.js')
      await runService({ env })
    })
  await program.parseAsync(argv as string[])
  return status
}

function actorOption(value: string): string {
  if (!ACTOR_PATTERN.test(value)) throw new InvalidArgumentError('1 to 64 characters from A-Z a-z 0-9 . _ @ : -')
  return value
}

/** `import-history`: configuration, store, the file, the summary; the exit status. */
async function runImportHistory(file: string, actor: string, env: NodeJS.ProcessEnv): Promise<number> {
  const write = (line: string) => process.stdout.write(line + '\n')
  let config: Config
  try {
    config = loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      return 2
    }
    throw err
  }
  const policies = loadPolicyBook(config.LEDGER_POLICY_PATH)
  const store = await openStore(config)
  const runId = randomUUID()
  const where = config.LEDGER_STORE === 'kurrentdb' ? 'kurrentdb' : `sqlite ${config.LEDGER_SQLITE_PATH}`
  write(`import-history ${file} into ${where}, batches of ${maxPersonsPerBatch} persons, correlationId ${runId}`)
  const handler = new ImportLegacyHandler(store, policies)
  const summary = emptySummary()
  try {
    await importHistoryFile(file, handler, { actor, correlationId: runId }, write, summary)
    for (const line of summaryLines(summary)) write(line)
    return summary.refused === 0 ? 0 : 1
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err)
    process.stderr.write(`import-history: ${file}: ${detail}\n`)
    write(`stopped: ${detail}`)
    for (const line of summaryLines(summary)) write(line)
    write('the persons counted above stay imported; running the file again is safe')
    return 1
  } finally {
    await store.close()
  }
}


/**
 * `ledger … | head -1`: once the reader of standard output is gone (a write fails with EPIPE), the
 * process ends at once and quietly (no unhandled 'error' event and its stack trace), with the status
 * the command has already set, else 0 (a reader that closed early is not a failure of the command:
 * the Unix convention). Any other error of standard output stays an error.
 */
function endQuietlyWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0)
  })
}

if (invokedDirectly(import.meta.url)) {
  endQuietlyWhenStdoutCloses()
  main().then(
    (status) => {
      process.exitCode = status
    },
    (err: unknown) => {
      if (err instanceof CommanderError) {
        // Commander has already printed the message or the help. A usage error is status 2, as a
        // bad configuration: 1 means "the command ran and found something" (refused rows, a broken
        // chain, differences).
        process.exitCode = USAGE_OK_CODES.has(err.code) ? 0 : EXIT_USAGE
        return
      }
      process.stderr.write(`ledger: ${err instanceof Error ? err.message : String(err)}\n`)
      // A setting found bad only when used (e.g. LEDGER_KURRENTDB_URL when the store is opened) is a
      // bad configuration too.
      process.exitCode = err instanceof ConfigError ? EXIT_USAGE : 1
    },
  )
}
