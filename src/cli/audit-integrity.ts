/**
 * `ledger audit verify | seal | export` (issue #6): the hash chain, seals and the NDJSON export,
 * on the configured store (`LEDGER_*` variables), or offline on an export file.
 *
 *   ledger audit verify [--expect-digest hex] [--strict]   the whole log and every seal
 *   ledger audit verify --file export.ndjson [...]         an export, offline (no store, no service)
 *   ledger audit seal [--actor name]          seals the heads changed since the latest seal
 *   ledger audit export --out f.ndjson [--from-position p]
 *
 * `verify` prints a one-line summary, then the JSON report (src/audit/verify.ts), on stdout; exit
 * status 0 when everything verifies, 1 when something is broken. `--expect-digest` gives a seal
 * digest kept OUTSIDE the ledger (the latest `seal` printed, or the periodic seal logged): without
 * it, removing the seals stream with the tail of the log goes unnoticed. `--strict` fails events
 * written before the hash chain (unchained). `seal` prints what it wrote (or why nothing), then its
 * JSON; 1 when the log after the previous seal is broken. Every command: 2 when it could not run
 * (bad configuration, no such store file, store unavailable, another seal written meanwhile, an
 * unreadable file), with the reason on stderr.
 */
import { existsSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { InvalidArgumentError, type Command } from 'commander'
import type { Config } from '../config.js'
import type { EventStore } from '../eventstore/port.js'
import { WrongExpectedRevisionError } from '../eventstore/port.js'
import { summaryLine, verifyExportFile, verifyStore } from '../audit/verify.js'
import { DEFAULT_MAX_APPEND_BYTES, SealRefusedError, seal } from '../audit/seal.js'
import { exportToFile } from '../audit/export.js'
import { ACTOR_PATTERN } from '../http/schemas.js'
import { configOrReport, openStore, type CliContext } from './context.js'

/** Exit status when the log (or file) does not verify. */
export const EXIT_BROKEN = 1
/** Exit status when a command could not run. */
export const EXIT_CANNOT_RUN = 2

/** Registers ledger audit verify | seal | export (issue #6): the hash chain, seals, NDJSON export. */
export function registerAuditIntegrity(group: Command, ctx: CliContext): void {
  group
    .command('verify')
    .description('Verify the hash chain of every stream and every seal (exit 0 ok, 1 broken); --file verifies an export offline.')
    .option('--file <export.ndjson>', 'verify this export file instead of the store')
    .option('--expect-digest <hex>', 'a seal digest kept outside the ledger: broken unless a seal of the chain has it', digestOption)
    .option('--strict', 'events without hash (written before the hash chain) are problems')
    .action(async (opts: { file?: string; expectDigest?: string; strict?: boolean }) => {
      await guarded(ctx, 'verify', async () => {
        const options = { ...(opts.expectDigest !== undefined ? { expectDigest: opts.expectDigest } : {}), ...(opts.strict ? { strict: true } : {}) }
        let report
        if (opts.file !== undefined) report = await verifyExportFile(opts.file, options)
        else {
          const found = await withStore(ctx, (store, config) => verifyStore(store, { ...options, recordedAtOrder: config.LEDGER_STORE === 'sqlite' }))
          if (!found) return
          report = found.value
        }
        ctx.out(summaryLine(report))
        ctx.out(JSON.stringify(report))
        ctx.setStatus(report.ok ? 0 : EXIT_BROKEN)
      })
    })

  group
    .command('seal')
    .description('Seal the heads of the streams changed since the latest seal (an AuditSealed event on audit-seals, chained to it).')
    .option('--actor <name>', 'who seals, recorded in the event (1-64 of A-Z a-z 0-9 . _ @ : -)', actorOption, 'ledger-cli')
    .action(async (opts: { actor: string }) => {
      await guarded(ctx, 'seal', async () => {
        const done = await withStore(ctx, (store, config) =>
          seal(store, {
            metadata: { actor: opts.actor, correlationId: randomUUID() },
            // SQLite has no append limit: one atomic append, however many heads.
            maxAppendBytes: config.LEDGER_STORE === 'sqlite' ? Number.POSITIVE_INFINITY : DEFAULT_MAX_APPEND_BYTES,
          }),
        )
        if (!done) return
        const outcome = done.value
        if (outcome.sealed) {
          const d = outcome.data
          ctx.out(`sealed: revision ${outcome.revision} of audit-seals, position ${d.position}, ${outcome.heads} heads changed, digest ${d.digest} (keep it outside the ledger: ledger audit verify --expect-digest)`)
          ctx.out(
            JSON.stringify({
              sealed: true,
              revision: outcome.revision.toString(),
              sealedAt: d.sealedAt,
              position: d.position,
              heads: outcome.heads,
              previousDigest: d.previousDigest,
              digest: d.digest,
              events: outcome.events,
              appends: outcome.appends,
            }),
          )
        } else {
          const since = outcome.previous ? ` since the seal at revision ${outcome.previous.revision} (position ${outcome.previous.data.position})` : ''
          ctx.out(outcome.reason === 'empty' ? 'not sealed: the log has no events' : `not sealed: nothing new${since}`)
          ctx.out(JSON.stringify({ sealed: false, reason: outcome.reason }))
        }
      })
    })

  group
    .command('export')
    .description('Write every event from a position on to an NDJSON file, in log order (streamed).')
    .requiredOption('--out <file.ndjson>', 'the file to write (replaced; written as <file>.partial until complete)')
    .option('--from-position <p>', 'first log position (inclusive), a decimal string', positionOption)
    .action(async (opts: { out: string; fromPosition?: bigint }) => {
      await guarded(ctx, 'export', async () => {
        const done = await withStore(ctx, (store) => exportToFile(store, opts.out, opts.fromPosition !== undefined ? { fromPosition: opts.fromPosition } : {}))
        if (!done) return
        const s = done.value
        ctx.out(s.events === 0 ? `exported 0 events to ${s.file}` : `exported ${s.events} events, positions ${s.firstPosition} to ${s.lastPosition}, to ${s.file}`)
      })
    })
}

/** Runs `fn` on the configured store, closing it after. Undefined when the configuration is bad or
 * the SQLite file does not exist (reported, status set): opening would create an empty log. */
async function withStore<T>(ctx: CliContext, fn: (store: EventStore, config: Config) => Promise<T>): Promise<{ value: T } | undefined> {
  const config = configOrReport(ctx)
  if (!config) return undefined
  if (config.LEDGER_STORE === 'sqlite' && config.LEDGER_SQLITE_PATH !== ':memory:' && !existsSync(config.LEDGER_SQLITE_PATH)) {
    ctx.err(`no event store at ${config.LEDGER_SQLITE_PATH} (LEDGER_SQLITE_PATH)`)
    ctx.setStatus(EXIT_CANNOT_RUN)
    return undefined
  }
  const store = await openStore(config)
  try {
    return { value: await fn(store, config) }
  } finally {
    await store.close()
  }
}

/** Runs a command, reporting what stopped it on stderr with the exit status it calls for. */
async function guarded(ctx: CliContext, name: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch (err) {
    if (err instanceof SealRefusedError) {
      ctx.err(`audit ${name}: ${err.message}; run ledger audit verify`)
      ctx.setStatus(EXIT_BROKEN)
      return
    }
    const detail = err instanceof WrongExpectedRevisionError ? 'another seal was written meanwhile; run it again' : err instanceof Error ? err.message : String(err)
    ctx.err(`audit ${name}: ${detail}`)
    ctx.setStatus(EXIT_CANNOT_RUN)
  }
}

function actorOption(value: string): string {
  if (!ACTOR_PATTERN.test(value)) throw new InvalidArgumentError('1 to 64 characters from A-Z a-z 0-9 . _ @ : -')
  return value
}

function positionOption(value: string): bigint {
  if (!/^\d{1,39}$/.test(value)) throw new InvalidArgumentError('a log position: a decimal string of at most 39 digits')
  return BigInt(value)
}

function digestOption(value: string): string {
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new InvalidArgumentError('a seal digest: 64 hexadecimal digits')
  return value.toLowerCase()
}
