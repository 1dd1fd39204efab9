/**
 * `ledger balances person <personId>` and `ledger balances pool <region>` (issue #9): a person's
 * balances per scheme, or a region's pools, as `GET /v1/persons/{personId}/balances` and
 * `GET /v1/pools/{region}/balances` answer them.
 *
 * With `--url <base> --token <token>` the service is asked (`--min-position <p>` waits, as the API's
 * `minPosition`, for the projections to reach a write). Without `--url` the documents are read from
 * the read models at LEDGER_SQLITE_PATH (the file the service projects into) and shaped by the same
 * functions as the API's answers; when they lag behind the log, standard error says by how much
 * (a running service, or its next start, projects the rest).
 *
 * Output: a table per scheme (person: individual account, employer and employee contributed,
 * months, regions; pool: balance, contributions, payouts), or with `--json` the API's document.
 * Exit status 0; 1 when there is no such person or pool (404) or the service cannot be reached or
 * answers an error; 2 for a usage error (a malformed person id or region, --url without a token, a
 * token refused, no ledger file at LEDGER_SQLITE_PATH, read models of another store).
 */
import { existsSync } from 'node:fs'
import { InvalidArgumentError, type Command } from 'commander'
import { SCHEMES } from '../domain/schemes.js'
import { maskCitizenId } from '../domain/ids.js'
import { maskPersonIdsInText } from '../logging.js'
import { personBalances, poolBalances, type PersonBalancesDoc, type PoolBalancesDoc } from '../../projections/index.js'
import { personBalancesAnswer } from '../http/persons.js'
import { poolBalancesAnswer } from '../http/pools.js'
import { CitizenId, PositionString, Region } from '../http/schemas.js'
import { ReadModelDocumentUnavailableError, ReadModelStore } from '../projector/read-model-store.js'
import { cureOf } from '../projector/read-model-fault.js'
import { loadPolicyBook } from '../policy-loader.js'
import { configOrReport, EXIT_BAD_CONFIG, openStore, type CliContext } from './context.js'
import { addServiceOptions, authAdvice, callService, problemLine, problemOf, serviceTarget, ServiceUnreachableError, type ServiceOptions } from './service.js'
import { readModelState } from './status.js'
import { formatTable } from './table.js'

/** The live projector's checkpoint row (as in bootstrap.ts). */
export const CHECKPOINT_NAME = 'main'
/** Exit status when nothing was found, the document is not served (marked or damaged), or the service failed. */
const EXIT_NOT_FOUND = 1

interface BalancesOptions extends ServiceOptions {
  json?: boolean
  minPosition?: string
}

/** The person's balances as the API answers them. */
export type PersonBalancesAnswer = ReturnType<typeof personBalancesAnswer>
/** The region's pools as the API answers them. */
export type PoolBalancesAnswer = ReturnType<typeof poolBalancesAnswer>

/** Registers `person <personId>` and `pool <region>` on the `balances` command group. */
export function registerBalances(group: Command, ctx: CliContext): void {
  const common = (command: Command) =>
    addServiceOptions(command, 'read')
      .option('--json', "print the API's JSON document instead of a table")
      .option('--min-position <p>', 'with --url: wait (bounded, as the API does) until the projections reach this log position', positionOption)
  common(
    group
      .command('person')
      .description("A person's balances per scheme: individual account, employer/employee contributed, months, regions.")
      .argument('<personId>', 'the 18-character citizen identity number'),
  ).action(async (personId: string, opts: BalancesOptions) => {
    ctx.setStatus(await runBalances('person', personId, opts, ctx))
  })
  common(
    group
      .command('pool')
      .description("A region's pooled funds per scheme: balance, contributions, payouts.")
      .argument('<region>', 'the 6-digit region code, e.g. 310000'),
  ).action(async (region: string, opts: BalancesOptions) => {
    ctx.setStatus(await runBalances('pool', region, opts, ctx))
  })
}

function positionOption(value: string): string {
  const parsed = PositionString.safeParse(value)
  if (!parsed.success) throw new InvalidArgumentError('a log position: a decimal integer')
  return value
}

/** `balances person|pool`: the exit status. */
export async function runBalances(kind: 'person' | 'pool', key: string, opts: BalancesOptions, ctx: CliContext): Promise<number> {
  const command = `balances ${kind}`
  const valid = kind === 'person' ? CitizenId.safeParse(key) : Region.safeParse(key)
  if (!valid.success) {
    ctx.err(`${command}: ${kind === 'person' ? 'personId' : 'region'} ${JSON.stringify(key)}: ${valid.error.issues[0]?.message ?? 'invalid'}`)
    return EXIT_BAD_CONFIG
  }
  const service = serviceTarget(opts, ctx, command, true)
  if (service === null) return EXIT_BAD_CONFIG
  if (!service && opts.minPosition !== undefined) {
    ctx.err(`${command}: --min-position is for --url (the service waits for its projector); without --url the read models are read as they are`)
    return EXIT_BAD_CONFIG
  }
  let answer: PersonBalancesAnswer | PoolBalancesAnswer
  if (service) {
    const path = kind === 'person' ? `/v1/persons/${key}/balances` : `/v1/pools/${key}/balances`
    try {
      const res = await callService(service, 'GET', path + (opts.minPosition !== undefined ? `?minPosition=${opts.minPosition}` : ''))
      if (res.status !== 200) {
        const problem = problemOf(res)
        ctx.err(`${command}: ${problemLine(problem)}`)
        if (res.status === 401 || res.status === 403) {
          ctx.err(`${command}: ${authAdvice(res.status)}`)
          return res.status === 401 ? EXIT_BAD_CONFIG : EXIT_NOT_FOUND
        }
        return EXIT_NOT_FOUND
      }
      answer = res.json as PersonBalancesAnswer | PoolBalancesAnswer
    } catch (err) {
      if (err instanceof ServiceUnreachableError) {
        ctx.err(`${command}: ${err.message}`)
        return EXIT_NOT_FOUND
      }
      throw err
    }
  } else {
    const config = configOrReport(ctx)
    if (!config) return EXIT_BAD_CONFIG
    const file = config.LEDGER_SQLITE_PATH
    if (file === ':memory:' || !existsSync(file)) {
      ctx.err(`${command}: no read models at ${file} (LEDGER_SQLITE_PATH): point it at the service's file, or add --url and --token to ask the service`)
      return EXIT_BAD_CONFIG
    }
    const readModels = new ReadModelStore(file)
    try {
      const state = readModelState(readModels)
      if (state.boundTo !== undefined && state.boundTo !== config.LEDGER_STORE) {
        ctx.err(`${command}: the read models at ${file} were built from the ${state.boundTo} event store, not ${config.LEDGER_STORE} (LEDGER_STORE); point LEDGER_SQLITE_PATH at this store's file`)
        return EXIT_BAD_CONFIG
      }
      const position = (state.checkpoint ?? 0n).toString()
      // What HTTP serves: a marked, unreadable or wrong-shaped document is refused with its cure.
      const refuse = (projection: string, why: string) => {
        ctx.err(`${command}: ${maskPersonIdsInText(why)}; it is not shown until an operator runs \`${cureOf(projection)}\``)
        return EXIT_NOT_FOUND
      }
      const served = <Doc>(projection: string): { doc: Doc | undefined } | { refused: string } => {
        try {
          return { doc: readModels.readDocument<Doc>(projection, key) }
        } catch (err) {
          if (err instanceof ReadModelDocumentUnavailableError) return { refused: err.message }
          throw err
        }
      }
      const build = <Doc, A>(projection: string, doc: Doc, answerOf: (d: Doc) => A): { answer: A } | { refused: string } => {
        try {
          return { answer: answerOf(doc) }
        } catch (err) {
          return { refused: `the document ${projection}/${key} is damaged: it is not a ${projection} document (${(err as Error).message})` }
        }
      }
      if (kind === 'person') {
        const read = served<PersonBalancesDoc>(personBalances.name)
        if ('refused' in read) return refuse(personBalances.name, read.refused)
        const doc = read.doc
        if (!doc) {
          ctx.err(`${command}: the read models at ${file} have no events for person ${maskCitizenId(key)} (projected up to position ${position})`)
          await warnIfBehind(ctx, command, config, state.checkpoint)
          return EXIT_NOT_FOUND
        }
        const built = build(personBalances.name, doc, (d) => personBalancesAnswer(d, position))
        if ('refused' in built) return refuse(personBalances.name, built.refused)
        answer = built.answer
      } else {
        const read = served<PoolBalancesDoc>(poolBalances.name)
        if ('refused' in read) return refuse(poolBalances.name, read.refused)
        const doc = read.doc
        if (!doc && !loadPolicyBook(config.LEDGER_POLICY_PATH).regions().includes(key)) {
          ctx.err(`${command}: region ${key} has no policy and no events (projected up to position ${position})`)
          return EXIT_NOT_FOUND
        }
        const built = build(poolBalances.name, doc ?? poolBalances.initial(key), (d) => poolBalancesAnswer(d, position))
        if ('refused' in built) return refuse(poolBalances.name, built.refused)
        answer = built.answer
      }
    } finally {
      readModels.close()
    }
    await warnIfBehind(ctx, command, config, BigInt(answer.position))
  }
  const lines = opts.json ? [JSON.stringify(answer, null, 2)] : kind === 'person' ? personTable(answer as PersonBalancesAnswer) : poolTable(answer as PoolBalancesAnswer)
  for (const line of lines) ctx.out(line)
  return 0
}

/** On standard error: how far the read models lag behind the log, when they do. */
async function warnIfBehind(ctx: CliContext, command: string, config: Parameters<typeof openStore>[0], checkpoint: bigint | null): Promise<void> {
  const store = await openStore(config)
  try {
    const head = await store.headPosition()
    if (head !== null && (checkpoint ?? 0n) < head)
      ctx.err(
        `${command}: the read models are projected up to position ${checkpoint ?? 0n}, the log's head is ${head}: ` +
          'later events are not shown until the service (npm start, or ledger serve) projects them',
      )
  } finally {
    await store.close()
  }
}

/** A person's balances as a table, one row per scheme, under a line naming the person and position. */
export function personTable(a: PersonBalancesAnswer): string[] {
  const rows = SCHEMES.map((s) => {
    const b = a.schemes[s]!
    return [s, b.individualAccount, b.employerContributed, b.employeeContributed, String(b.months), b.regions.join(',') || '-']
  })
  const lines = [
    `person ${a.personId} at position ${a.position}`,
    ...formatTable(
      [
        { heading: 'SCHEME' },
        { heading: 'INDIVIDUAL ACCOUNT', align: 'right' },
        { heading: 'EMPLOYER CONTRIBUTED', align: 'right' },
        { heading: 'EMPLOYEE CONTRIBUTED', align: 'right' },
        { heading: 'MONTHS', align: 'right' },
        { heading: 'REGIONS' },
      ],
      rows,
    ),
  ]
  const pension = a.schemes['pension'] as { openingBalance?: string; interestCredited?: string; paidOut?: string } | undefined
  if (pension?.openingBalance !== undefined) lines.push(`pension opening balance (imported history): ${pension.openingBalance}`)
  if (pension?.interestCredited !== undefined && pension.interestCredited !== '0.00') lines.push(`pension interest credited: ${pension.interestCredited}`)
  return lines
}

/** A region's pools as a table, one row per scheme. */
export function poolTable(a: PoolBalancesAnswer): string[] {
  const rows = SCHEMES.map((s) => {
    const b = a.schemes[s]!
    return [s, b.balance, b.contributions, b.payouts]
  })
  return [
    `pools of region ${a.region} at position ${a.position}`,
    ...formatTable(
      [{ heading: 'SCHEME' }, { heading: 'BALANCE', align: 'right' }, { heading: 'CONTRIBUTIONS', align: 'right' }, { heading: 'PAYOUTS', align: 'right' }],
      rows,
    ),
  ]
}
