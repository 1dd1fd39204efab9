import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { formatYuan, yuan } from '../domain/money.js'
import type { PayoutHandler } from '../usecases/pay-out.js'
import { HttpProblem } from './problem.js'
import { metadataOf } from './request-metadata.js'
import { Amount, CitizenId, Period, PositiveAmount, RequestKey } from './schemas.js'
import { keyedAnswer } from './keyed-answer.js'
import { postPayout } from './access.js'
import type { RouteDocs } from './openapi.js'

/** A benefit kind of the schemes other than pension, recorded as given: e.g. `benefit`,
 * `reimbursement`, `injury-allowance`, `maternity-allowance`. */
const Kind = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, '1 to 32 characters: a-z first, then a-z 0-9 _ -')
const common = { payoutId: RequestKey, personId: CitizenId, period: Period }

/** Body of `POST /v1/payouts`: one shape per scheme. Pension pays the monthly pension fixed at
 * retirement (no amount); other schemes name the amount; only medical may draw on the individual
 * account. */
export const PayoutBody = z.discriminatedUnion('scheme', [
  z.strictObject({ ...common, scheme: z.literal('pension'), kind: z.literal('monthly') }),
  z.strictObject({ ...common, scheme: z.literal('medical'), kind: Kind, amount: PositiveAmount, fromIndividualAccount: Amount.optional() }),
  z.strictObject({ ...common, scheme: z.enum(['unemployment', 'work_injury', 'maternity']), kind: Kind, amount: PositiveAmount }),
])

const two = (a: string | undefined) => (a === undefined ? undefined : formatYuan(yuan(a)))

/**
 * `POST /v1/payouts` (issue #5). 201 paid, 200 the same payout again, 409 the payoutId with another
 * body or the period's pension paid already, 422 a rule (not retired, before retirement, no
 * contributions to the scheme, more than the medical account holds), 501 on a store without atomic
 * multi-stream appends.
 */
export const payoutRoutes =
  (handler: PayoutHandler): FastifyPluginAsyncZod =>
  async (app) => {
    app.post('/v1/payouts', { schema: { body: PayoutBody, ...PAYOUT_DOCS }, config: { access: postPayout(handler) } }, async (request, reply) => {
      const b = request.body
      const amount = 'amount' in b ? two(b.amount) : undefined
      const fromIndividualAccount = 'fromIndividualAccount' in b ? two(b.fromIndividualAccount) : undefined
      const result = await handler.pay(
        {
          payoutId: b.payoutId,
          personId: b.personId,
          scheme: b.scheme,
          period: b.period,
          kind: b.kind,
          ...(amount !== undefined ? { amount } : {}),
          ...(fromIndividualAccount !== undefined ? { fromIndividualAccount } : {}),
        },
        metadataOf(request),
      )
      return keyedAnswer(reply, result, {
        what: 'payout',
        key: b.payoutId,
        body: (m) => ({ ...m.payout }),
        refusal: (d) =>
          d.outcome === 'period-paid'
            ? new HttpProblem(409, 'pension-period-paid', 'Pension paid already for this period', `the pension for ${d.period} was paid by payout ${d.payoutId}`, {
                payoutId: d.payoutId,
              })
            : new HttpProblem(422, 'payout-rule', 'Payout breaks a rule', d.detail, { errors: [{ pointer: d.pointer, message: d.detail }] }),
      })
    })
  }

// ---------------------------------------------------------------------------------------------
// Documentation (OpenAPI, see http/openapi.ts): what each route is and answers; never used to
// validate or serialize. Answers every /v1 route shares (400, 401, 403, 429, 503, …) are added there.
// ---------------------------------------------------------------------------------------------

const PayoutReceiptDoc = z.looseObject({
  status: z.enum(['recorded', 'already-recorded']),
  payoutId: z.string(),
  personId: z.string(),
  scheme: z.string(),
  kind: z.string(),
  period: z.string(),
  region: z.string().meta({ description: 'the region whose pool pays' }),
  amount: z.string(),
  fromIndividualAccount: z.string(),
  fromPool: z.string(),
  position: z.string(),
})

const PAYOUT_DOCS: RouteDocs = {
  summary: 'Record a payout',
  description:
    "Pays a benefit: the month's pension (fixed at retirement, no amount), or an amount for another scheme (medical may draw on the individual account). `payoutId` is the idempotency key.",
  tags: ['benefits'],
  answers: {
    201: { description: 'paid', body: PayoutReceiptDoc },
    200: { description: 'the same payout again; nothing appended', body: PayoutReceiptDoc },
    409: 'the `payoutId` was used with another body (`payout-exists-with-different-content`, `differences`), or the period\'s pension is paid already (`pension-period-paid`)',
    422: 'not retired, a period before retirement, no contributions to the scheme, or more than the medical account holds (`payout-rule`, `errors[]`)',
    501: 'the store lacks atomic multi-stream appends (`payouts-unsupported-by-store`)',
  },
}
