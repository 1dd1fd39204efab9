/**
 * `ledger post <file> [--url <base> --token <token>] [--format json|csv] [--actor <name>]` (issue #9):
 * posts payroll submissions from a file.
 *
 * - **JSON**: exactly the body of `POST /v1/contribution-submissions`, or an array of such bodies.
 *   Read as the service reads a body (strict I-JSON: no member twice, no prototype names, nesting at
 *   most 32 levels), at most {@link MAX_JSON_FILE_BYTES}.
 * - **CSV**: the header `submissionId,employerId,region,period,personId,wage`, optionally with
 *   `workInjuryClass` (columns in any order); one row per line, rows grouped into submissions by
 *   `submissionId` (in the order each id first appears). The rows of one submission must agree on
 *   employerId, region, period and workInjuryClass (an empty workInjuryClass is the default, 1).
 *   Streamed with csv-parse, rows of at most {@link MAX_CSV_RECORD_CHARS} characters, at most
 *   {@link MAX_CSV_LINES} lines. The format follows the extension (`.json`, `.csv`), else `--format`.
 *
 * Every submission is validated with the HTTP route's own zod schema (SubmissionBody), so a body the
 * API refuses is refused here with the same problem (400, errors[] naming the field; for CSV the
 * file row). Then, with `--url`, it is posted to the service (fetch; a 429, a 503 or a concurrency
 * conflict is retried after its Retry-After, {@link MAX_HTTP_ATTEMPTS} attempts in all); without
 * `--url`, it is recorded straight into the configured store (LEDGER_STORE, LEDGER_SQLITE_PATH or
 * KurrentDB) by the same use case as the route (RecordSubmissionHandler), refusals answered as the
 * route answers them. A running service projects the new events; the CLI writes the log only.
 *
 * Output: a progress bar on standard error when it is a terminal; on standard output a table of the
 * submissions (id, lines, status `recorded` / `already recorded` / `refused: <title>`, employer,
 * individual-account and pool totals, and their sums), then each refusal's problem detail.
 * Exit status: 0 when every submission was recorded or already recorded; 1 when any was refused or
 * the run stopped (service unreachable, store failure); 2 for a usage error (bad flags, a file that
 * cannot be read or is not a payroll file, a bad CSV header, --url without a token, a token refused).
 * Posting a file again is safe: a submission already recorded answers `already recorded`.
 */
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { extname } from 'node:path'
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { parse } from 'csv-parse'
import cliProgress from 'cli-progress'
import type { z } from 'zod'
import { addYuan } from '../domain/money.js'
import type { ContributionTotals } from '../domain/contribution/events.js'
import type { EventMetadata, EventStore } from '../eventstore/port.js'
import { StoreLimitExceededError, WrongExpectedRevisionError } from '../eventstore/port.js'
import { HttpProblem, boundedErrors, lineOf, type FieldError, type ProblemDetails } from '../http/problem.js'
import { parseStrictJson } from '../http/json-body.js'
import { refusal, submissionCommand } from '../http/submissions.js'
import { ACTOR_PATTERN, SubmissionBody } from '../http/schemas.js'
import { loadPolicyBook } from '../policy-loader.js'
import { RecordSubmissionHandler, type RecordSubmissionResult } from '../usecases/record-submission.js'
import { configOrReport, EXIT_BAD_CONFIG, openStore, type CliContext } from './context.js'
import { addServiceOptions, authAdvice, callService, problemOf, serviceTarget, type ServiceOptions, type ServiceTarget } from './service.js'
import { formatTable } from './table.js'
import { redactConnectionString } from '../eventstore/kurrentdb/mapping.js'

/** Largest JSON payroll file read, bytes (it is parsed whole; 16 × the service's default body limit). */
export const MAX_JSON_FILE_BYTES = 64 * 1024 * 1024
/** Longest CSV row (csv-parse's `max_record_size`), characters; a payroll row is about 100. */
export const MAX_CSV_RECORD_CHARS = 4_096
/** Most lines of a CSV file, the header included (the rows are held until the file is read). */
export const MAX_CSV_LINES = 1_000_000
/** Attempts at posting one submission over HTTP when the service answers 429, 503 or a concurrency conflict. */
export const MAX_HTTP_ATTEMPTS = 3
/** Longest wait between two attempts, seconds (a larger Retry-After is cut to this). */
export const MAX_RETRY_WAIT_SECONDS = 30

/** Columns a CSV file must have, in this order in the message (any order in the file). */
export const PAYROLL_CSV_COLUMNS = ['submissionId', 'employerId', 'region', 'period', 'personId', 'wage'] as const
/** The column a CSV file may add. */
export const PAYROLL_CSV_OPTIONAL_COLUMN = 'workInjuryClass'
/** Fields the rows of one submission must agree on. */
const SUBMISSION_FIELDS = ['employerId', 'region', 'period', PAYROLL_CSV_OPTIONAL_COLUMN] as const

const HEADER_ADVICE = `the header must be ${PAYROLL_CSV_COLUMNS.join(',')} (optionally with ,${PAYROLL_CSV_OPTIONAL_COLUMN})`

/** One submission read from a file: the body as the route would receive it, and where it came from. */
export interface FileSubmission {
  /** Its submissionId as read, for the table (`#3` for the third body of a JSON array without one). */
  label: string
  body: unknown
  lineCount: number
  /** CSV only: the file row of each line (`rows[i]` is line `i`). */
  rows?: number[]
  /** A problem found while reading it (rows that disagree, a row with the wrong field count): it is
   * refused without being sent. */
  problem?: ProblemDetails
}

/** What happened to one submission. */
export type PostOutcome =
  | { label: string; lineCount: number; status: 'recorded' | 'already-recorded'; position: string; totals: ContributionTotals }
  | { label: string; lineCount: number; status: 'refused'; problem: ProblemDetails; rows?: number[] }

/** The file cannot be read as a payroll file (usage error, status 2): the message says what to fix. */
export class PayrollFileError extends Error {
  override readonly name = 'PayrollFileError'
}

/** The service refused the token (401): every further request would be refused too. */
export class TokenRefusedError extends Error {
  override readonly name = 'TokenRefusedError'
}

/** Where submissions go: the service over HTTP, or the configured store. */
export interface PostTarget {
  /** For messages: `http://…` or `sqlite ./data/ledger.sqlite`. */
  readonly description: string
  /** Records one validated submission; `raw` is the body as read (what HTTP sends). */
  post(body: SubmissionBody, raw: unknown): Promise<Omit<Extract<PostOutcome, { status: 'recorded' | 'already-recorded' }>, 'label' | 'lineCount'> | { status: 'refused'; problem: ProblemDetails }>
  close(): Promise<void>
}

type Format = 'json' | 'csv'

interface PostOptions extends ServiceOptions {
  format?: Format
  actor: string
}

/** Registers `post <file>` on the program. */
export function registerPost(program: Command, ctx: CliContext): void {
  const command = program
    .command('post')
    .description('Post payroll submissions from a JSON file (the HTTP body, or an array of bodies) or a CSV file, to the service (--url) or the configured store.')
    .argument('<file>', `a .json or .csv payroll file (CSV: ${PAYROLL_CSV_COLUMNS.join(',')}[,${PAYROLL_CSV_OPTIONAL_COLUMN}])`)
    .addOption(new Option('--format <format>', 'json or csv (default: from the extension)').choices(['json', 'csv']))
    .option('--actor <name>', 'without --url: who posts, recorded in each event (1-64 of A-Z a-z 0-9 . _ @ : -)', actorOption, 'ledger-cli')
  addServiceOptions(command, 'post').action(async (file: string, opts: PostOptions) => {
    ctx.setStatus(await runPost(file, opts, ctx))
  })
}

function actorOption(value: string): string {
  if (!ACTOR_PATTERN.test(value)) throw new InvalidArgumentError('1 to 64 characters from A-Z a-z 0-9 . _ @ : -')
  return value
}

/** `post`: flags, file, target, the submissions one after the other, the table; the exit status. */
export async function runPost(file: string, opts: PostOptions, ctx: CliContext, stderr: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): Promise<number> {
  const service = serviceTarget(opts, ctx, 'post', true)
  if (service === null) return EXIT_BAD_CONFIG
  const format = opts.format ?? formatOf(file)
  if (format === undefined) {
    ctx.err(`post: cannot tell the format of ${file} from its extension: name it .json or .csv, or add --format json|csv`)
    return EXIT_BAD_CONFIG
  }
  let submissions: FileSubmission[]
  try {
    submissions = format === 'json' ? await readJsonPayroll(file) : await readCsvPayroll(file)
  } catch (err) {
    if (err instanceof PayrollFileError) {
      ctx.err(`post: ${file}: ${err.message}`)
      return EXIT_BAD_CONFIG
    }
    throw err
  }
  let target: PostTarget
  if (service) target = httpTarget(service)
  else {
    const config = configOrReport(ctx)
    if (!config) return EXIT_BAD_CONFIG
    const store = await openStore(config)
    const where = config.LEDGER_STORE === 'kurrentdb' ? `kurrentdb ${redactConnectionString(config.LEDGER_KURRENTDB_URL!)}` : `sqlite ${config.LEDGER_SQLITE_PATH}`
    target = storeTarget(store, new RecordSubmissionHandler(store, loadPolicyBook(config.LEDGER_POLICY_PATH)), where, { actor: opts.actor, correlationId: randomUUID() })
  }
  const totalLines = submissions.reduce((n, s) => n + s.lineCount, 0)
  ctx.err(`post ${file}: ${submissions.length} submission(s), ${totalLines} line(s), to ${target.description}`)
  const bar = progressBar(stderr, totalLines)
  const outcomes: PostOutcome[] = []
  let stopped: string | undefined
  let status = 0
  try {
    for (const s of submissions) {
      outcomes.push(await postOne(s, target))
      bar?.increment(s.lineCount)
    }
  } catch (err) {
    stopped = err instanceof Error ? err.message : String(err)
    status = err instanceof TokenRefusedError ? EXIT_BAD_CONFIG : 1
  } finally {
    bar?.stop()
    await target.close()
  }
  for (const line of outcomeTable(outcomes)) ctx.out(line)
  for (const line of refusalDetails(outcomes)) ctx.out(line)
  const count = (st: PostOutcome['status']) => outcomes.filter((o) => o.status === st).length
  if (stopped !== undefined) {
    ctx.err(`post: stopped after ${outcomes.length} of ${submissions.length} submission(s): ${stopped}`)
    ctx.err('post: the submissions above stay as listed; posting the file again is safe (recorded ones answer "already recorded")')
    return status
  }
  ctx.err(`post: ${count('recorded')} recorded, ${count('already-recorded')} already recorded, ${count('refused')} refused`)
  return count('refused') > 0 ? 1 : 0
}

/** `json` or `csv` from the file's extension, or `undefined`. */
function formatOf(file: string): Format | undefined {
  const ext = extname(file).toLowerCase()
  return ext === '.json' ? 'json' : ext === '.csv' ? 'csv' : undefined
}

/** Validates one submission, then hands it to the target. */
async function postOne(s: FileSubmission, target: PostTarget): Promise<PostOutcome> {
  const refused = (problem: ProblemDetails): PostOutcome => ({ label: s.label, lineCount: s.lineCount, status: 'refused', problem, ...(s.rows ? { rows: s.rows } : {}) })
  if (s.problem) return refused(s.problem)
  const parsed = SubmissionBody.safeParse(s.body)
  if (!parsed.success) return refused(validationProblem(parsed.error))
  const result = await target.post(parsed.data, s.body)
  return result.status === 'refused' ? refused(result.problem) : { label: s.label, lineCount: s.lineCount, ...result }
}

/**
 * The problem the route answers for a body its schema refuses (src/http/errors.ts): 400
 * `validation`, one error per issue with its JSON Pointer and, for a line, its index; an unknown
 * field named by its own pointer.
 */
export function validationProblem(error: z.ZodError): ProblemDetails {
  const errors: FieldError[] = error.issues.flatMap((issue) => {
    const at = issue.path.map((p) => String(p).replaceAll('~', '~0').replaceAll('/', '~1')).join('/')
    const base = at === '' ? '' : `/${at}`
    const unknown = issue.code === 'unrecognized_keys' ? issue.keys : undefined
    const pointers = unknown ? unknown.map((k) => `${base}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`) : [base || '/']
    return pointers.map((pointer, i) => {
      const line = lineOf(pointer)
      return { pointer, ...(line !== undefined ? { line } : {}), message: unknown ? `unknown field ${JSON.stringify(unknown[i])}` : issue.message }
    })
  })
  return new HttpProblem(400, 'validation', 'Malformed request', 'the request body does not match the contract; see errors[]', boundedErrors(errors)).toProblem()
}

// ---------------------------------------------------------------------------------------------
// Reading the file

/**
 * The submissions of a JSON payroll file: one body, or an array of bodies.
 * @throws PayrollFileError when the file cannot be read, is too large, is not strict JSON, or is
 *   neither an object nor a non-empty array.
 */
export async function readJsonPayroll(file: string): Promise<FileSubmission[]> {
  const size = await fileSize(file)
  if (size > MAX_JSON_FILE_BYTES) throw new PayrollFileError(`${size} bytes, more than ${MAX_JSON_FILE_BYTES} (MAX_JSON_FILE_BYTES): split it into smaller files`)
  let value: unknown
  try {
    value = parseStrictJson(await readFile(file, 'utf8'))
  } catch (err) {
    if (!(err instanceof HttpProblem)) throw err
    const errors = (err.extensions['errors'] as FieldError[] | undefined) ?? []
    const where = errors[0] ? ` at ${errors[0].pointer}` : ''
    throw new PayrollFileError(`not JSON the service accepts${where}: ${err.detail}; fix the file`)
  }
  const bodies = Array.isArray(value) ? value : [value]
  if (bodies.length === 0) throw new PayrollFileError('an empty array: the file must hold a submission body or an array of them')
  if (bodies.some((b) => b === null || typeof b !== 'object' || Array.isArray(b)))
    throw new PayrollFileError('the file must hold a submission body (a JSON object) or an array of them')
  return bodies.map((body, i) => {
    const b = body as { submissionId?: unknown; lines?: unknown }
    return {
      label: typeof b.submissionId === 'string' && b.submissionId !== '' ? b.submissionId : `#${i + 1}`,
      body,
      lineCount: Array.isArray(b.lines) ? b.lines.length : 0,
    }
  })
}

async function fileSize(file: string): Promise<number> {
  try {
    const s = await stat(file)
    if (!s.isFile()) throw new PayrollFileError('not a file; give the path of a .json or .csv payroll file')
    return s.size
  } catch (err) {
    if (err instanceof PayrollFileError) throw err
    throw new PayrollFileError(`cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); check the path`)
  }
}

/** A CSV submission while its rows are read. */
interface CsvGroup {
  submissionId: string
  fields: Record<(typeof SUBMISSION_FIELDS)[number], string>
  firstRow: number
  rows: number[]
  lines: { personId: string; wage: string }[]
  problem?: string
}

/**
 * The submissions of a CSV payroll file (see the module's comment for the format).
 * @throws PayrollFileError when the file cannot be read, its header is not the expected one, a row
 *   is longer than MAX_CSV_RECORD_CHARS or badly quoted, or it has more than MAX_CSV_LINES lines.
 */
export async function readCsvPayroll(file: string): Promise<FileSubmission[]> {
  await fileSize(file)
  const input = createReadStream(file)
  const parser = parse({ bom: true, trim: true, skip_empty_lines: true, relax_column_count: true, info: true, max_record_size: MAX_CSV_RECORD_CHARS })
  input.on('error', (err) => parser.destroy(err))
  input.pipe(parser)
  const groups = new Map<string, CsvGroup>()
  let columns: Map<string, number> | undefined
  let width = 0
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (info.lines > MAX_CSV_LINES) throw new PayrollFileError(`more than ${MAX_CSV_LINES} lines (MAX_CSV_LINES): split it into smaller files`)
      if (!columns) {
        columns = headerColumns(record, info.lines)
        width = record.length
        continue
      }
      const cell = (name: string) => {
        const i = columns!.get(name)
        return i === undefined ? '' : (record[i] ?? '')
      }
      const submissionId = cell('submissionId')
      const fields = { employerId: cell('employerId'), region: cell('region'), period: cell('period'), workInjuryClass: cell(PAYROLL_CSV_OPTIONAL_COLUMN) }
      let group = groups.get(submissionId)
      if (!group) {
        group = { submissionId, fields, firstRow: info.lines, rows: [], lines: [] }
        groups.set(submissionId, group)
      }
      group.rows.push(info.lines)
      group.lines.push({ personId: cell('personId'), wage: cell('wage') })
      if (group.problem !== undefined) continue
      if (record.length !== width) {
        group.problem = `row ${info.lines} has ${record.length} fields, expected ${width} (as the header); fix the row`
        continue
      }
      const differing = SUBMISSION_FIELDS.find((f) => fields[f] !== group!.fields[f])
      if (differing)
        group.problem =
          `${differing} differs between row ${group.firstRow} (${JSON.stringify(group.fields[differing])}) and row ${info.lines} (${JSON.stringify(fields[differing])}); ` +
          `the rows of one submission must agree on ${SUBMISSION_FIELDS.join(', ')}`
    }
  } catch (err) {
    if (err instanceof PayrollFileError) throw err
    const e = err as NodeJS.ErrnoException
    throw new PayrollFileError(`${e.code === 'ENOENT' || e.code === 'EACCES' ? `cannot be read (${e.code})` : `not a CSV file that can be read: ${e.message}`}; fix the file`)
  } finally {
    input.destroy()
  }
  if (!columns) throw new PayrollFileError(`the file is empty; ${HEADER_ADVICE}`)
  if (groups.size === 0) throw new PayrollFileError('no rows after the header: nothing to post')
  return [...groups.values()].map((g) => {
    const body = {
      submissionId: g.submissionId,
      employerId: g.fields.employerId,
      region: g.fields.region,
      period: g.fields.period,
      ...(g.fields.workInjuryClass !== '' ? { workInjuryClass: integer(g.fields.workInjuryClass) } : {}),
      lines: g.lines,
    }
    const rowsText = g.rows.length === 1 ? `row ${g.rows[0]}` : `rows ${g.rows[0]}-${g.rows.at(-1)}`
    return {
      label: g.submissionId === '' ? `(no submissionId, ${rowsText})` : g.submissionId,
      body,
      lineCount: g.lines.length,
      rows: g.rows,
      ...(g.problem !== undefined
        ? { problem: new HttpProblem(400, 'malformed-file', 'Malformed payroll file', g.problem).toProblem() }
        : {}),
    }
  })
}

/** Column name → index, from the header row. @throws PayrollFileError naming what is wrong. */
function headerColumns(header: string[], line: number): Map<string, number> {
  const allowed = new Set<string>([...PAYROLL_CSV_COLUMNS, PAYROLL_CSV_OPTIONAL_COLUMN])
  const problems: string[] = []
  const columns = new Map<string, number>()
  header.forEach((name, i) => {
    if (!allowed.has(name)) problems.push(`unknown column ${JSON.stringify(name)}`)
    else if (columns.has(name)) problems.push(`column ${name} twice`)
    else columns.set(name, i)
  })
  const missing = PAYROLL_CSV_COLUMNS.filter((c) => !columns.has(c))
  if (missing.length > 0) problems.push(`missing ${missing.join(', ')}`)
  if (problems.length > 0) throw new PayrollFileError(`line ${line}: ${HEADER_ADVICE}; found ${header.join(',')} (${problems.join('; ')})`)
  return columns
}

/** A CSV cell as a whole number when it is one, else the text (the schema then names the field). */
const integer = (text: string): number | string => (/^\d{1,9}$/.test(text) ? Number(text) : text)

// ---------------------------------------------------------------------------------------------
// Targets


/** Records into `store` through `handler`; refusals as the route answers them. Closes the store. */
export function storeTarget(store: EventStore, handler: RecordSubmissionHandler, description: string, metadata: EventMetadata): PostTarget {
  return {
    description,
    async post(body) {
      let result: RecordSubmissionResult
      try {
        result = await handler.handle(submissionCommand(body), metadata)
      } catch (err) {
        if (err instanceof WrongExpectedRevisionError)
          return {
            status: 'refused',
            problem: new HttpProblem(409, 'concurrency-conflict', 'Concurrent change', 'another writer changed the same persons at the same time; post the file again').toProblem(),
          }
        if (err instanceof StoreLimitExceededError)
          return { status: 'refused', problem: new HttpProblem(413, 'store-limit-exceeded', 'Too large for the event store', `${err.message}; split the submission`).toProblem() }
        throw err
      }
      if (result.kind === 'refused') return { status: 'refused', problem: refusalProblem(result.decision, handler) }
      const r = result.receipt
      return { status: r.status, position: r.position.toString(), totals: r.totals }
    },
    close: () => store.close(),
  }
}

/**
 * The problem the route answers for a refusing decision (`refusal` of src/http/submissions.ts):
 * 409 for another content or a month already credited, 422 for no policy or a rule broken.
 */
export function refusalProblem(decision: Extract<RecordSubmissionResult, { kind: 'refused' }>['decision'], handler: RecordSubmissionHandler): ProblemDetails {
  return refusal(decision, handler).toProblem()
}

/** Posts to `POST /v1/contribution-submissions` of the service. */
export function httpTarget(service: ServiceTarget): PostTarget {
  return {
    description: service.url,
    async post(_body, raw) {
      for (let attempt = 1; ; attempt++) {
        const answer = await callService(service, 'POST', '/v1/contribution-submissions', JSON.stringify(raw))
        if (answer.status === 200 || answer.status === 201) {
          const r = answer.json as { status: 'recorded' | 'already-recorded'; position: string; totals: ContributionTotals }
          return { status: r.status, position: r.position, totals: r.totals }
        }
        const problem = problemOf(answer)
        if (answer.status === 401) throw new TokenRefusedError(`${problem.detail || problem.title}; ${authAdvice(401)}`)
        const retryable = answer.status === 429 || answer.status === 503 || (answer.status === 409 && problem.type.endsWith('/concurrency-conflict'))
        if (!retryable || attempt >= MAX_HTTP_ATTEMPTS) return { status: 'refused', problem }
        await sleep(retryWaitSeconds(answer.headers.get('retry-after')) * 1000)
      }
    },
    close: async () => {},
  }
}

/** Seconds to wait for a Retry-After header (delta-seconds only), 1 when absent, at most MAX_RETRY_WAIT_SECONDS. */
function retryWaitSeconds(header: string | null): number {
  const seconds = header !== null && /^\d{1,6}$/.test(header) ? Number(header) : 1
  return Math.min(seconds, MAX_RETRY_WAIT_SECONDS)
}

// ---------------------------------------------------------------------------------------------
// Output

/** A progress bar of lines posted on `stream` when it is a terminal, else `undefined`. */
function progressBar(stream: NodeJS.WritableStream & { isTTY?: boolean }, totalLines: number): cliProgress.SingleBar | undefined {
  if (!stream.isTTY) return undefined
  const bar = new cliProgress.SingleBar(
    { stream, format: 'post [{bar}] {percentage}% | {value}/{total} lines', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  )
  bar.start(totalLines, 0)
  return bar
}

/** The summary table: one row per submission, then the sums of what was recorded (or already was). */
export function outcomeTable(outcomes: readonly PostOutcome[]): string[] {
  const rows = outcomes.map((o) =>
    o.status === 'refused'
      ? [o.label, String(o.lineCount), `refused: ${o.problem.title}`, '-', '-', '-']
      : [o.label, String(o.lineCount), o.status === 'recorded' ? 'recorded' : 'already recorded', o.totals.employer, o.totals.individualAccount, o.totals.pool],
  )
  const counted = outcomes.filter((o): o is Extract<PostOutcome, { totals: ContributionTotals }> => o.status !== 'refused')
  const total = (pick: (t: ContributionTotals) => string) => counted.reduce((sum, o) => addYuan(sum, pick(o.totals)), '0.00')
  rows.push([
    'total',
    String(counted.reduce((n, o) => n + o.lineCount, 0)),
    `${counted.length} of ${outcomes.length} recorded`,
    total((t) => t.employer),
    total((t) => t.individualAccount),
    total((t) => t.pool),
  ])
  return formatTable(
    [
      { heading: 'SUBMISSION' },
      { heading: 'LINES', align: 'right' },
      { heading: 'STATUS' },
      { heading: 'EMPLOYER', align: 'right' },
      { heading: 'INDIVIDUAL ACCOUNT', align: 'right' },
      { heading: 'POOL', align: 'right' },
    ],
    rows,
  )
}

/** Each refusal's problem: its status, title and detail, then its field errors (CSV: with the file row). */
export function refusalDetails(outcomes: readonly PostOutcome[]): string[] {
  const out: string[] = []
  for (const o of outcomes) {
    if (o.status !== 'refused') continue
    const p = o.problem
    out.push(`${o.label}: refused (${p.status} ${p.title}): ${p.detail}`)
    for (const e of (p.errors as FieldError[] | undefined) ?? []) out.push(`  ${where(e, o.rows)}: ${e.message}`)
    const omitted = p['errorsOmitted']
    if (typeof omitted === 'number') out.push(`  … and ${omitted} more`)
  }
  return out
}

/** A field error's place: `row 7, wage` for a CSV line, else its pointer (and line index). */
function where(e: FieldError, rows: number[] | undefined): string {
  const line = e.line ?? lineOf(e.pointer)
  if (rows && line !== undefined && rows[line] !== undefined) {
    const field = /^\/lines\/\d+\/(.+)$/.exec(e.pointer)?.[1]
    return `row ${rows[line]}${field !== undefined ? `, ${field}` : ''}`
  }
  if (rows) return `${e.pointer.replace(/^\//, '') || 'body'} (rows ${rows[0]}-${rows.at(-1)})`
  return line !== undefined ? `${e.pointer} (line ${line})` : e.pointer
}
