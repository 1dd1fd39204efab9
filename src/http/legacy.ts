import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { yuan } from '../domain/money.js'
import { SCHEMES, type Scheme } from '../domain/schemes.js'
import {
  FIRST_LEGACY_YEAR,
  IMPORT_ID_PATTERN,
  MAX_LEGACY_AMOUNT_YUAN,
  MAX_LEGACY_YEARS,
  MAX_POOL_OPENING_BALANCE_YUAN,
  MONTHS_PER_YEAR,
  checkLegacyHistory,
  describeLegacyRefusal,
  isIsoDate,
  type ImportLegacyHistory,
  type ImportPoolLegacyBalance,
} from '../domain/legacy/decide.js'
import type { ImportLegacyHandler, ImportLegacyHistoryResult, ImportPoolLegacyBalanceResult } from '../usecases/import-legacy.js'
import { HttpProblem, boundedErrors } from './problem.js'
import { metadataOf } from './request-metadata.js'
import { CitizenId, Region } from './schemas.js'
import { postLegacyHistory, postPoolLegacyBalance } from './access.js'
import type { RouteDocs } from './openapi.js'

/**
 * Routes of legacy history (issue #4): `POST /v1/persons/{personId}/legacy-history` and
 * `POST /v1/pools/{region}/legacy-balance`. The zod schemas below are the contract of both the HTTP
 * bodies and the rows of `ledger import-history` (src/cli/ledger.ts).
 */

/** Latest year the contract accepts (the end of the YYYY-MM period range). */
const LAST_YEAR = 2099

/** A non-negative amount in yuan with at most two places and at most `digits` integer digits, no
 * sign, no exponent, no leading zeros. */
const amount = (digits: number, max: string) =>
  z
    .string()
    .regex(
      new RegExp(`^(0|[1-9]\\d{0,${digits - 1}})(\\.\\d{1,2})?$`),
      `a decimal string in yuan, from 0 to ${max}, with at most two places, e.g. "12345.67"`,
    )

/** An individual account balance or a year's base total: 0 … MAX_LEGACY_AMOUNT_YUAN. */
export const LegacyAmount = amount(8, MAX_LEGACY_AMOUNT_YUAN)
/** A pool's opening balance in one scheme: 0 … MAX_POOL_OPENING_BALANCE_YUAN. */
export const PoolOpeningAmount = amount(15, MAX_POOL_OPENING_BALANCE_YUAN)
export const ImportId = z.string().regex(IMPORT_ID_PATTERN, '1 to 64 characters from A-Z a-z 0-9 . _ -')
export const IsoDate = z.string().refine(isIsoDate, 'a calendar date YYYY-MM-DD')

/** One year of a person's legacy record. */
export const LegacyYearBody = z.strictObject({
  year: z.number().int().min(FIRST_LEGACY_YEAR).max(LAST_YEAR),
  region: Region,
  months: z.number().int().min(1).max(MONTHS_PER_YEAR),
  baseTotal: LegacyAmount,
})

/** Body of `POST /v1/persons/{personId}/legacy-history`. The rules across fields (years up to the
 * year of asOf, no (year, region) twice, at most 12 months a year) are checked here too: 400. */
export const LegacyHistoryBody = z
  .strictObject({
    importId: ImportId,
    asOf: IsoDate,
    individualAccountBalance: LegacyAmount,
    years: z.array(LegacyYearBody).min(1, 'at least one year').max(MAX_LEGACY_YEARS, `at most ${MAX_LEGACY_YEARS} years`),
  })
  .superRefine((body, ctx) => {
    // asOf and the entry count have their own messages above; the rest are the domain's rules.
    for (const v of checkLegacyHistory(body)) {
      if (v.path.length > 1) ctx.addIssue({ code: 'custom', path: v.path, message: v.message })
    }
  })
export type LegacyHistoryBody = z.infer<typeof LegacyHistoryBody>

/** Body of `POST /v1/pools/{region}/legacy-balance`. */
export const PoolLegacyBalanceBody = z.strictObject({
  importId: ImportId,
  asOf: IsoDate,
  schemes: z
    .strictObject(Object.fromEntries(SCHEMES.map((s) => [s, PoolOpeningAmount.optional()])) as Record<Scheme, z.ZodOptional<typeof PoolOpeningAmount>>)
    .refine((s) => Object.values(s).some((v) => v !== undefined), 'at least one scheme'),
})
export type PoolLegacyBalanceBody = z.infer<typeof PoolLegacyBalanceBody>

/** The command of a validated body. */
export function legacyHistoryCommand(personId: string, body: LegacyHistoryBody): ImportLegacyHistory {
  return {
    importId: body.importId,
    personId,
    asOf: body.asOf,
    individualAccountBalance: yuan(body.individualAccountBalance),
    years: body.years.map((y) => ({ year: y.year, region: y.region, months: y.months, baseTotal: yuan(y.baseTotal) })),
  }
}

/** The command of a validated body. */
export function poolLegacyCommand(region: string, body: PoolLegacyBalanceBody): ImportPoolLegacyBalance {
  const schemes: ImportPoolLegacyBalance['schemes'] = {}
  for (const s of SCHEMES) {
    const text = body.schemes[s]
    if (text !== undefined) schemes[s] = yuan(text)
  }
  return { importId: body.importId, region, asOf: body.asOf, schemes }
}

/** The routes, on one use-case handler. */
export const legacyRoutes =
  (handler: ImportLegacyHandler): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/persons/:personId/legacy-history',
      { schema: { params: z.strictObject({ personId: CitizenId }), body: LegacyHistoryBody, ...LEGACY_HISTORY_DOCS }, config: { access: postLegacyHistory } },
      async (request, reply) => {
        const { personId } = request.params
        const result = await handler.importHistory(legacyHistoryCommand(personId, request.body), metadataOf(request))
        if (result.kind === 'refused') throw historyRefusal(result.decision)
        const r = result.receipt
        return reply.code(r.status === 'imported' ? 201 : 200).send({ importId: r.importId, personId, status: r.status, position: r.position.toString() })
      },
    )

    app.post(
      '/v1/pools/:region/legacy-balance',
      { schema: { params: z.strictObject({ region: Region }), body: PoolLegacyBalanceBody, ...POOL_LEGACY_DOCS }, config: { access: postPoolLegacyBalance } },
      async (request, reply) => {
        const { region } = request.params
        const result = await handler.importPoolBalance(poolLegacyCommand(region, request.body), metadataOf(request))
        if (result.kind === 'refused') throw poolRefusal(result.decision)
        const r = result.receipt
        return reply.code(r.status === 'imported' ? 201 : 200).send({ importId: r.importId, region, status: r.status, position: r.position.toString() })
      },
    )
  }

/** Turns a refused person import into its problem (409; 400 for content the schema let through). */
function historyRefusal(decision: Extract<ImportLegacyHistoryResult, { kind: 'refused' }>['decision']): HttpProblem {
  const detail = describeLegacyRefusal(decision)
  switch (decision.outcome) {
    case 'import-conflict':
      return new HttpProblem(409, 'import-exists-with-different-content', 'Import id already used for other content', detail, {
        importId: decision.importId,
        differences: decision.differences,
      })
    case 'already-has-history':
      return new HttpProblem(409, 'legacy-history-already-imported', 'Legacy history already imported', detail, {
        existingImportId: decision.existingImportId,
      })
    case 'overlap':
      return new HttpProblem(409, 'legacy-history-overlaps-recorded-months', 'Imported years overlap recorded months', `${detail}; nothing was imported`, {
        overlaps: decision.overlaps.slice(0, 100).map((o) => ({ period: o.period, region: o.region, submissionId: o.submissionId })),
        ...boundedErrors(
          decision.overlaps.map((o) => ({
            pointer: `/years/${o.yearIndex}`,
            message: `${o.period} is recorded (region ${o.region}, submission ${o.submissionId}) in imported year ${o.period.slice(0, 4)}`,
          })),
        ),
      })
    case 'after-transfer':
      return new HttpProblem(409, 'legacy-history-after-transfer', 'Legacy history after a transfer', detail)
    case 'invalid':
      return new HttpProblem(400, 'validation', 'Malformed request', 'the request body does not match the contract; see errors[]', {
        ...boundedErrors(decision.violations.map((v) => ({ pointer: `/${v.path.join('/')}`, message: v.message }))),
      })
  }
}

/** Turns a refused pool import into its problem (404 unknown region, 409). */
function poolRefusal(decision: Extract<ImportPoolLegacyBalanceResult, { kind: 'refused' }>['decision']): HttpProblem {
  switch (decision.outcome) {
    case 'import-conflict':
      return new HttpProblem(
        409,
        'import-exists-with-different-content',
        'Import id already used for other content',
        `import ${decision.importId} was recorded for this pool with other content (differs in: ${decision.differences.join(', ')})`,
        { importId: decision.importId, differences: decision.differences },
      )
    case 'already-has-opening-balance':
      return new HttpProblem(
        409,
        'opening-balance-already-imported',
        'Opening balance already imported',
        `the pools of this region already have an opening balance, imported as ${decision.existingImportId}; a region has one import`,
        { existingImportId: decision.existingImportId },
      )
    case 'unknown-region':
      return new HttpProblem(404, 'pool-not-found', 'No pools for this region', `region ${decision.region} has no row in the policy table`)
    case 'invalid':
      return new HttpProblem(400, 'validation', 'Malformed request', 'the request body does not match the contract; see errors[]', {
        ...boundedErrors(decision.violations.map((v) => ({ pointer: `/${v.path.join('/')}`, message: v.message }))),
      })
  }
}

// ---------------------------------------------------------------------------------------------
// Documentation (OpenAPI, see http/openapi.ts): what each route is and answers; never used to
// validate or serialize. Answers every /v1 route shares (400, 401, 403, 429, 503, …) are added there.
// ---------------------------------------------------------------------------------------------

const importStatus = z.enum(['imported', 'already-imported'])
const LegacyHistoryReceiptDoc = z.object({ importId: z.string(), personId: z.string(), status: importStatus, position: z.string() })
const PoolLegacyReceiptDoc = z.object({ importId: z.string(), region: z.string(), status: importStatus, position: z.string() })

const LEGACY_HISTORY_DOCS: RouteDocs = {
  summary: "Import a person's legacy history",
  description:
    "Imports the years a person contributed before this ledger (region, months and base total a year) and the individual account balance as of `asOf`: once per person, before any transfer. `importId` is the idempotency key.",
  tags: ['legacy'],
  answers: {
    201: { description: 'imported', body: LegacyHistoryReceiptDoc },
    200: { description: 'the same import again; nothing appended', body: LegacyHistoryReceiptDoc },
    400: 'the years break a rule across fields: a year after `asOf`, a (year, region) twice, more than 12 months in a year (`validation`)',
    409: 'the `importId` was used with other content (`import-exists-with-different-content`), the person has legacy history already (`legacy-history-already-imported`), imported years overlap recorded months (`legacy-history-overlaps-recorded-months`, `errors[]` per year) or the person was transferred already (`legacy-history-after-transfer`)',
  },
}

const POOL_LEGACY_DOCS: RouteDocs = {
  summary: "Import a pool's opening balance",
  description: "Imports the opening balance of a region's pools, per scheme, as of `asOf`: one import per region. `importId` is the idempotency key.",
  tags: ['legacy'],
  answers: {
    201: { description: 'imported', body: PoolLegacyReceiptDoc },
    200: { description: 'the same import again; nothing appended', body: PoolLegacyReceiptDoc },
    404: 'the region has no row in the policy table (`pool-not-found`)',
    409: 'the `importId` was used with other content (`import-exists-with-different-content`), or the region has an opening balance already (`opening-balance-already-imported`)',
  },
}
