import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { formatYuan, yuan } from '../domain/money.js'
import type { RetirementHandler } from '../usecases/retire.js'
import { IsoDate } from './legacy.js'
import { HttpProblem } from './problem.js'
import { metadataOf } from './request-metadata.js'
import { Amount, CitizenId, Region } from './schemas.js'
import { postRetirement } from './access.js'
import type { RouteDocs } from './openapi.js'

/** Body of `POST /v1/persons/{personId}/retirement`. */
export const RetirementBody = z.strictObject({
  region: Region,
  retiredOn: IsoDate,
  ageYears: z.number().int().min(16).max(100),
  ageMonths: z.number().int().min(0).max(11).optional(),
  pooledMonthlyAmount: Amount,
})

/**
 * `POST /v1/persons/{personId}/retirement` (issue #5): records the retirement and fixes the pension
 * in payment. 201 recorded, 200 the same again, 409 retired already with other facts, 422 a rule
 * (open transfer, too few months, region not holding the account, age without a divisor).
 */
export const retirementRoutes =
  (handler: RetirementHandler): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/v1/persons/:personId/retirement',
      { schema: { params: z.strictObject({ personId: CitizenId }), body: RetirementBody, ...RETIREMENT_DOCS }, config: { access: postRetirement } },
      async (request, reply) => {
        const { personId } = request.params
        const b = request.body
        const result = await handler.retire(
          {
            personId,
            region: b.region,
            retiredOn: b.retiredOn,
            ageYears: b.ageYears,
            ...(b.ageMonths !== undefined ? { ageMonths: b.ageMonths } : {}),
            pooledMonthlyAmount: formatYuan(yuan(b.pooledMonthlyAmount)),
          },
          metadataOf(request),
        )
        switch (result.kind) {
          case 'recorded':
          case 'already-recorded':
            return reply
              .code(result.kind === 'recorded' ? 201 : 200)
              .send({ status: result.kind, ...result.retirement, position: result.position.toString() })
          case 'refused': {
            const d = result.decision
            if (d.outcome === 'conflict')
              throw new HttpProblem(409, 'already-retired', 'Retired already', `the person retired on ${d.recorded.retiredOn} with other facts (differs in: ${d.differences.join(', ')})`, {
                differences: d.differences,
                retiredOn: d.recorded.retiredOn,
              })
            throw new HttpProblem(422, 'retirement-rule', 'Retirement breaks a rule', d.violations.map((v) => v.message).join('; '), {
              errors: d.violations,
            })
          }
        }
      },
    )
  }

// ---------------------------------------------------------------------------------------------
// Documentation (OpenAPI, see http/openapi.ts): what each route is and answers; never used to
// validate or serialize. Answers every /v1 route shares (400, 401, 403, 429, 503, …) are added there.
// ---------------------------------------------------------------------------------------------

const RetirementReceiptDoc = z.looseObject({
  status: z.enum(['recorded', 'already-recorded']),
  personId: z.string(),
  region: z.string().meta({ description: 'the region paying the pension (holding the account)' }),
  retiredOn: z.string(),
  ageYears: z.number().int(),
  ageMonths: z.number().int(),
  monthsContributed: z.number().int(),
  individualAccountBalance: z.string(),
  monthsDivisor: z.number().int(),
  individualAccountMonthly: z.string(),
  pooledMonthlyAmount: z.string(),
  monthlyPension: z.string(),
  position: z.string(),
})

const RETIREMENT_DOCS: RouteDocs = {
  summary: "Record a person's retirement",
  description:
    'Records the retirement and fixes the monthly pension: the individual account divided by the months divisor of the age, plus the pooled amount given. Recorded by the region holding the account.',
  tags: ['benefits'],
  answers: {
    201: { description: 'recorded', body: RetirementReceiptDoc },
    200: { description: 'the same retirement again; nothing appended', body: RetirementReceiptDoc },
    409: 'retired already with other facts (`already-retired`, `differences`)',
    422: 'too few months contributed, an open transfer, another region than the one holding the account, or an age without a divisor (`retirement-rule`, `errors[]`)',
  },
}
