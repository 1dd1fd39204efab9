import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { RATE_PERCENT_PATTERN } from '../domain/pension/pension-tables.js'
import { shanghaiDate } from '../domain/working-days.js'
import type { InterestRunner } from '../usecases/interest-run.js'
import { HttpProblem } from './problem.js'
import { metadataOf } from './request-metadata.js'
import { getInterestRun, startInterestRun } from './access.js'
import type { RouteDocs } from './openapi.js'

/** First and last year an interest run may be for. */
export const FIRST_INTEREST_YEAR = 1992
export const LAST_INTEREST_YEAR = 2099

const Year = z.number().int().min(FIRST_INTEREST_YEAR).max(LAST_INTEREST_YEAR)

/** Body of `POST /v1/interest-runs`: `rate` in percent ("2.62" for 2.62%), from the shipped table
 * when omitted. */
export const InterestRunBody = z.strictObject({
  year: Year,
  rate: z
    .string()
    .regex(RATE_PERCENT_PATTERN, 'a percent per year as a decimal string, e.g. "2.62" for 2.62% (not a fraction)')
    .optional(),
})

/**
 * The interest runs (issue #5). `POST /v1/interest-runs` starts (or resumes) the run for a year in
 * the background: 202 with the run and `Location`; 409 another rate for the year, another year's
 * run unfinished, or a later year credited already; 422 a year not over, or no rate.
 * `GET /v1/interest-runs/{year}`: the run's progress (404 when never started).
 */
export const interestRunRoutes =
  (runner: InterestRunner, clock: () => Date): FastifyPluginAsyncZod =>
  async (app) => {
    app.post('/v1/interest-runs', { schema: { body: InterestRunBody, ...START_RUN_DOCS }, config: { access: startInterestRun } }, async (request, reply) => {
      const b = request.body
      const currentYear = Number(shanghaiDate(clock()).slice(0, 4))
      const result = await runner.start({ year: b.year, ...(b.rate !== undefined ? { ratePercent: b.rate } : {}), currentYear }, metadataOf(request))
      if (result.kind === 'refused') {
        const d = result.decision
        if (d.outcome === 'conflict') throw new HttpProblem(409, 'interest-run-conflict', 'Interest run not possible now', d.detail)
        throw new HttpProblem(422, 'interest-run-rule', 'Interest run breaks a rule', d.detail, { errors: [{ pointer: d.pointer, message: d.detail }] })
      }
      return reply
        .code(202)
        .header('location', `/v1/interest-runs/${b.year}`)
        .send({ status: result.kind, ...result.view })
    })

    app.get('/v1/interest-runs/:year', { schema: { params: z.strictObject({ year: z.string().regex(/^\d{4}$/, 'a year YYYY') }), ...GET_RUN_DOCS }, config: { access: getInterestRun } }, async (request) => {
      const run = await runner.get(Number(request.params.year))
      if (!run) throw new HttpProblem(404, 'interest-run-not-found', 'No interest run for this year', `no interest run for ${request.params.year}`)
      return run
    })
  }

// ---------------------------------------------------------------------------------------------
// Documentation (OpenAPI, see http/openapi.ts): what each route is and answers; never used to
// validate or serialize. Answers every /v1 route shares (400, 401, 403, 429, 503, …) are added there.
// ---------------------------------------------------------------------------------------------

const InterestRunViewDoc = z.looseObject({
  year: z.number().int(),
  ratePercent: z.string().meta({ description: 'percent a year, e.g. "2.62"' }),
  rateSource: z.enum(['table', 'request']),
  monthCounting: z.string(),
  pensionTablesVersion: z.string(),
  state: z.enum(['running', 'interrupted', 'completed']),
  passes: z.array(
    z.looseObject({
      pass: z.number().int(),
      completed: z.boolean(),
      batches: z.number().int(),
      examined: z.number().int(),
      credited: z.number().int(),
      interest: z.string(),
      alreadyCredited: z.number().int(),
      skipped: z.number().int(),
      lastPersonId: z.string().optional(),
    }),
  ),
  credited: z.number().int().meta({ description: 'persons credited over all passes' }),
  interest: z.string().meta({ description: 'interest credited over all passes, yuan' }),
})

const START_RUN_DOCS: RouteDocs = {
  summary: "Start a year's interest run",
  description:
    "Starts (or resumes) in the background the run crediting a year's interest to every pension individual account, at `rate` percent or the shipped table's. Poll the `Location`.",
  tags: ['interest'],
  answers: {
    202: {
      description: 'started, resumed, or running already (`status`)',
      body: InterestRunViewDoc.extend({ status: z.enum(['started', 'resumed', 'running']) }),
      headers: { Location: 'the run: /v1/interest-runs/{year}' },
    },
    409: "another rate for the year, another year's run unfinished, or a later year credited already (`interest-run-conflict`)",
    422: 'the year is not over, or no rate for it (`interest-run-rule`, `errors[]`)',
  },
}

const GET_RUN_DOCS: RouteDocs = {
  summary: 'An interest run',
  description: "The run's rate, state and passes with their progress.",
  tags: ['interest'],
  answers: {
    200: { description: 'the run', body: InterestRunViewDoc },
    404: 'no run for the year (`interest-run-not-found`)',
  },
}
