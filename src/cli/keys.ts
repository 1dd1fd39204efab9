/**
 * `ledger keys create | list` (issue #7): the API keys of the keys file LEDGER_KEYS_PATH.
 *
 *   ledger keys create --role <payroll|region-officer|auditor|admin> [--employer <uscc>]...
 *                      [--region <code>]... [--id <id>] [--note <text>]
 *   ledger keys list
 *
 * `create` makes a key (32 random bytes), appends its id, role, scope, creation time and the
 * SHA-256 of its secret to the file (created with mode 0600 when missing, its folder too; written
 * to a temporary file beside it and renamed over it, so the running service, which reloads the file
 * when it changes, never reads half a file) and prints the token `lk_{id}.{secret}` on standard
 * output, alone, so that `TOKEN=$(ledger keys create …)` keeps it; standard error says that it is
 * shown this once and not stored. `list` prints each key's id, role, scope, creation time and note,
 * never a hash. Exit status 2 for a bad option, an id already in the file, a bad configuration or an
 * invalid keys file; 1 when the file cannot be written.
 */
import fs from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Command } from 'commander'
import { createKey, KEY_ID_PATTERN, KeyEntrySchema, KeysFileSchema, type KeyEntry, type KeysFile } from '../auth/api-keys.js'
import { AuthConfigError } from '../auth/authenticator.js'
import { ROLES, type Role } from '../auth/principal.js'
import { readJsonFile } from '../json-file.js'
import { configOrReport, EXIT_BAD_CONFIG, type CliContext } from './context.js'

/** Exit status of a file that cannot be written. */
const EXIT_FAILED = 1

/** Options of `keys create`, as commander gives them. */
export interface CreateKeyOptions {
  role: string
  employer: string[]
  region: string[]
  id?: string
  note?: string
}

/** The id already names a key of the file. */
export class KeyIdTakenError extends Error {
  override readonly name = 'KeyIdTakenError'
}

const collect = (value: string, previous: string[]): string[] => [...previous, value]

/** Registers `create` and `list` on the `keys` command group. */
export function registerKeys(group: Command, ctx: CliContext): void {
  group
    .command('create')
    .description('Create an API key: its id, role, scope and SHA-256 go to LEDGER_KEYS_PATH; the token is printed once.')
    .requiredOption('--role <role>', ROLES.join(' | '))
    .option('--employer <uscc>', 'an employer a payroll key may post for (repeat for more)', collect, [])
    .option('--region <code>', 'a region a region-officer key acts for (repeat for more)', collect, [])
    .option('--id <id>', 'the key id, recorded as the actor of its writes (default: the role and 8 random hex digits)')
    .option('--note <text>', 'what the key is for (at most 200 characters)')
    .action((opts: CreateKeyOptions) => ctx.setStatus(runCreate(opts, ctx)))
  group
    .command('list')
    .description('List the keys of LEDGER_KEYS_PATH: id, role, scope, creation time, note (never a hash).')
    .action(() => ctx.setStatus(runList(ctx)))
}

/** What is wrong with the options, one message each (empty when nothing). */
export function checkCreateOptions(opts: CreateKeyOptions): string[] {
  if (!(ROLES as readonly string[]).includes(opts.role)) return [`--role must be one of ${ROLES.join(', ')}, not ${JSON.stringify(opts.role)}`]
  const problems: string[] = []
  if (opts.employer.length > 0 && opts.role !== 'payroll') problems.push('--employer is for payroll keys only')
  if (opts.region.length > 0 && opts.role !== 'region-officer') problems.push('--region is for region-officer keys only')
  if (opts.id !== undefined && !KEY_ID_PATTERN.test(opts.id)) problems.push(`--id must be 3-40 characters of a-z 0-9 _ -, starting with a letter or digit, not ${JSON.stringify(opts.id)}`)
  const parsed = KeyEntrySchema.safeParse({
    id: opts.id ?? 'placeholder',
    sha256: '0'.repeat(64),
    role: opts.role,
    employers: opts.employer,
    regions: opts.region,
    ...(opts.note !== undefined ? { note: opts.note } : {}),
  })
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const [field, index] = issue.path
      if (field === 'id') continue // said above
      const option = field === 'employers' ? '--employer' : field === 'regions' ? '--region' : `--${String(field)}`
      const value = typeof index === 'number' ? ` ${JSON.stringify(field === 'employers' ? opts.employer[index] : opts.region[index])}` : ''
      problems.push(`${option}${value}: ${issue.message}`)
    }
  }
  return problems
}

/** The keys file's content, or an empty one when the file does not exist.
 * @throws AuthConfigError for an invalid file. */
export function readKeysFile(file: string): KeysFile | undefined {
  if (!fs.existsSync(file)) return undefined
  return readJsonFile(file, KeysFileSchema, 'keys file', (m) => new AuthConfigError(m))
}

/**
 * Adds `entry` to the keys file: the whole file is written to a temporary file in the same folder
 * (mode 0600, or the mode the file had), synced and renamed over it.
 * @throws KeyIdTakenError when the id is in the file; AuthConfigError for an invalid file.
 */
export function appendKey(file: string, entry: KeyEntry): void {
  const existing = readKeysFile(file)
  if (existing?.keys.some((k) => k.id === entry.id)) throw new KeyIdTakenError(`key id ${entry.id} is already in ${file}; choose another --id`)
  const mode = existing ? fs.statSync(file).mode & 0o777 : 0o600
  const dir = path.dirname(file)
  fs.mkdirSync(dir, { recursive: true })
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const fd = fs.openSync(tmp, 'wx', 0o600)
    try {
      fs.fchmodSync(fd, mode)
      fs.writeFileSync(fd, JSON.stringify({ keys: [...(existing?.keys ?? []), entry] }, null, 2) + '\n')
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(tmp, file)
  } catch (err) {
    fs.rmSync(tmp, { force: true })
    throw err
  }
}

/** `keys create`: the exit status. */
function runCreate(opts: CreateKeyOptions, ctx: CliContext): number {
  const problems = checkCreateOptions(opts)
  if (problems.length > 0) {
    for (const p of problems) ctx.err(`keys create: ${p}`)
    return EXIT_BAD_CONFIG
  }
  const config = configOrReport(ctx)
  if (!config) return EXIT_BAD_CONFIG
  const file = config.LEDGER_KEYS_PATH
  const role = opts.role as Role
  const { entry, token } = createKey({
    id: opts.id ?? `${role}-${randomBytes(4).toString('hex')}`,
    role,
    employers: opts.employer,
    regions: opts.region,
    ...(opts.note !== undefined ? { note: opts.note } : {}),
  })
  try {
    appendKey(file, entry)
  } catch (err) {
    if (err instanceof KeyIdTakenError || err instanceof AuthConfigError) {
      ctx.err(`keys create: ${err.message}`)
      return EXIT_BAD_CONFIG
    }
    ctx.err(`keys create: cannot write ${file}: ${err instanceof Error ? err.message : String(err)}`)
    return EXIT_FAILED
  }
  ctx.out(token)
  ctx.err(`key ${entry.id} (${describeScope(entry)}) added to ${file}.`)
  ctx.err('The token above is shown only this once: it is not stored (the file keeps its SHA-256). Send it as "Authorization: Bearer <token>".')
  return 0
}

/** `role`, with its employers or regions. */
function describeScope(k: KeyEntry): string {
  const list = (name: string, items: string[]) => (items.length <= 3 ? `${name} ${items.join(',')}` : `${name} ${items.slice(0, 3).join(',')} and ${items.length - 3} more`)
  if (k.employers.length > 0) return `${k.role}, ${list('employers', k.employers)}`
  if (k.regions.length > 0) return `${k.role}, ${list('regions', k.regions)}`
  return k.role
}

/** `keys list`: the exit status. */
function runList(ctx: CliContext): number {
  const config = configOrReport(ctx)
  if (!config) return EXIT_BAD_CONFIG
  const file = config.LEDGER_KEYS_PATH
  let content: KeysFile | undefined
  try {
    content = readKeysFile(file)
  } catch (err) {
    ctx.err(`keys list: ${(err as Error).message}`)
    return EXIT_BAD_CONFIG
  }
  if (!content || content.keys.length === 0) {
    ctx.err(`no keys in ${file}; create the first with: ledger keys create --role admin --id admin`)
    return 0
  }
  const rows = [['ID', 'ROLE AND SCOPE', 'CREATED', 'NOTE'], ...content.keys.map((k) => [k.id, describeScope(k), k.createdAt ?? '-', k.note ?? ''])]
  const width = (i: number) => Math.max(...rows.map((r) => r[i]!.length))
  for (const r of rows) ctx.out([r[0]!.padEnd(width(0)), r[1]!.padEnd(width(1)), r[2]!.padEnd(width(2)), r[3]!].join('  ').trimEnd())
  return 0
}
