import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { yuan } from '../domain/money.js'
import type { WorkInjuryClass } from '../domain/schemes.js'
import type { RecordSubmissionHandler, RecordSubmissionResult } from '../usecases/record-submission.js'
import type { RecordSubmission } from '../domain/contribution/submission.js'
import { HttpProblem, boundedErrors } from './problem.js'
import { metadataOf } from './request-metadata.js'
import { SubmissionBody, SubmissionId } from './schemas.js'
import { getSubmission, postSubmission } from './access.js'
import type { RouteDocs } from './openapi.js'
import { bindRequestLog } from '../logging.js'
import type { SubmissionMetrics } from '../metrics/http.js'

/**
 * Routes of the `contribution-submissions` resource: `POST` records a payroll submission; `GET
 * /v1/contribution-submissions/{submissionId}` answers the recorded one (its employer, region,
 * period, line count, totals, policy row and log position; 404 when none was recorded).
 * With `metrics`, each `POST` is counted by outcome (recorded, already-recorded, the refusal's
 * reason, or one named from the status such as `invalid` for a 400) with its lines.
 */
export const submissionRoutes =
  (handler: RecordSubmissionHandler, metrics?: SubmissionMetrics): FastifyPluginAsyncZod =>
  async (app) => {
    // From here on every log line of the request (errors, `request completed`) names the submission
    // (issue #9), when the path or the body carries a well-formed id.
    app.addHook('preValidation', async (request, reply) => {
      const id = (request.params as { submissionId?: unknown } | undefined)?.submissionId ?? (request.body as { submissionId?: unknown } | null | undefined)?.submissionId
      if (SubmissionId.safeParse(id).success) bindRequestLog(request, reply, { submissionId: id as string })
    })
    const counted = metrics ? { onResponse: metrics.onResponse } : {}
    app.post('/v1/contribution-submissions', { schema: { body: SubmissionBody, ...RECORD_SUBMISSION_DOCS }, config: { access: postSubmission }, ...counted }, async (request, reply) => {
      const body = request.body
      const metadata = metadataOf(request)
      const result = await handler.handle(submissionCommand(body), metadata)
      if (result.kind === 'refused') {
        metrics?.note(request, result.decision.outcome, body.lines.length)
        throw refusal(result.decision, handler)
      }
      const r = result.receipt
      metrics?.note(request, r.status, r.lineCount)
      return reply.code(r.status === 'recorded' ? 201 : 200).send({
        submissionId: r.submissionId,
        status: r.status,
        position: r.position.toString(),
        lineCount: r.lineCount,
        totals: r.totals,
      })
    })

    app.get(
      '/v1/contribution-submissions/:submissionId',
      { schema: { params: z.strictObject({ submissionId: SubmissionId }), ...GET_SUBMISSION_DOCS }, config: { access: getSubmission(handler) } },
      async (request) => {
        const { submissionId } = request.params
        const found = await handler.get(submissionId)
        if (!found)
          throw new HttpProblem(404, 'submission-not-found', 'No such submission', `no submission ${submissionId} was recorded`)
        const d = found.data
        return {
          submissionId: d.submissionId,
          // Only recorded submissions are kept: a refused one leaves nothing behind.
          status: 'recorded' as const,
          employerId: d.employerId,
          region: d.region,
          period: d.period,
          workInjuryClass: d.workInjuryClass,
          lineCount: d.lineCount,
          totals: d.totals,
          policyId: d.policyId,
          policyTableVersion: d.policyTableVersion,
          recordedAt: found.recordedAt,
          position: found.position.toString(),
        }
      },
    )
  }

/** The use case's command of a validated body (wages parsed into Decimal from their strings); the
 * CLI's `ledger post` builds its commands the same way. */
export function submissionCommand(body: z.infer<typeof SubmissionBody>): RecordSubmission {
  return {
    submissionId: body.submissionId,
    employerId: body.employerId,
    region: body.region,
    period: body.period,
    workInjuryClass: body.workInjuryClass as WorkInjuryClass,
    lines: body.lines.map((l) => ({ personId: l.personId, wage: yuan(l.wage) })),
  }
}

/** Turns a refusing decision into its problem (409 / 422); the CLI's embedded `ledger post` answers
 * with the same problems. */
export function refusal(decision: Extract<RecordSubmissionResult, { kind: 'refused' }>['decision'], handler: RecordSubmissionHandler): HttpProblem {
  switch (decision.outcome) {
    case 'submission-conflict':
      return new HttpProblem(
        409,
        'submission-exists-with-different-content',
        'Submission id already used for other content',
        `submission ${decision.submissionId} was recorded with other content (differs in: ${decision.differences.join(', ')})`,
        { submissionId: decision.submissionId, differences: decision.differences },
      )
    case 'no-policy':
      return new HttpProblem(
        422,
        'no-policy',
        'No contribution policy for this region and period',
        `the policy table has no row for region ${decision.region} in period ${decision.period}`,
        {
          errors: [
            handler.regionHasPolicy(decision.region)
              ? { pointer: '/period', message: `region ${decision.region} has no policy in force for ${decision.period}` }
              : { pointer: '/region', message: `the policy table has no row for region ${decision.region}` },
          ],
        },
      )
    case 'rule-violation':
      return new HttpProblem(422, 'rule-violation', 'Submission breaks a ledger rule', 'see errors[]', {
        ...boundedErrors(decision.violations.map((v) => ({ pointer: `/lines/${v.line}/${v.field}`, line: v.line, message: v.message }))),
      })
    case 'duplicate-months': {
      const earlier = [...new Set(decision.duplicates.map((d) => d.earlier.submissionId))]
      return new HttpProblem(
        409,
        'month-already-credited',
        'Month already credited',
        `${decision.duplicates.length} line-scheme(s) already credited for ${decision.duplicates[0]?.period} by submission(s) ${earlier.join(', ')}; nothing was recorded`,
        {
          earlierSubmissions: earlier,
          ...boundedErrors(
            decision.duplicates.map((d) => ({
              pointer: `/lines/${d.lineIndex}/personId`,
              line: d.lineIndex,
              message: `${d.scheme} for ${d.period} already credited by submission ${d.earlier.submissionId} (line ${d.earlier.lineIndex})`,
            })),
          ),
        },
      )
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Documentation (OpenAPI, see http/openapi.ts): what each route is and answers; never used to
// validate or serialize. Answers every /v1 route shares (400, 401, 403, 429, 503, …) are added there.
// ---------------------------------------------------------------------------------------------

const TotalsDoc = z
  .object({ employer: z.string(), employee: z.string(), individualAccount: z.string(), pool: z.string() })
  .meta({ description: 'yuan totals of the submission (employer + employee = individualAccount + pool)' })

const SubmissionReceiptDoc = z.object({
  submissionId: z.string(),
  status: z.enum(['recorded', 'already-recorded']),
  position: z.string().meta({ description: 'log position of the submission, a decimal string' }),
  lineCount: z.number().int(),
  totals: TotalsDoc,
})

const RECORD_SUBMISSION_DOCS: RouteDocs = {
  summary: 'Record a payroll submission',
  description:
    "Records every line of an employer's payroll for one region and month in one atomic write, the contributions computed with the policy row in force. " +
    '`submissionId` is the idempotency key: the same canonical content again is 200 with the first position, other content under the same id 409.',
  tags: ['contribution submissions'],
  answers: {
    201: { description: 'recorded', body: SubmissionReceiptDoc },
    200: { description: 'the same submission was recorded before; nothing appended', body: SubmissionReceiptDoc },
    409: 'the `submissionId` was recorded with other content (`submission-exists-with-different-content`, `differences` names the fields), or a person is credited for the period already (`month-already-credited`, `errors[]` per line, `earlierSubmissions`); nothing recorded',
    422: 'no policy row for the region and period (`no-policy`), or a line breaks a ledger rule such as a person twice (`rule-violation`, `errors[]` per line)',
  },
}

const GET_SUBMISSION_DOCS: RouteDocs = {
  summary: 'Read a recorded submission',
  description: 'The submission as recorded: its employer, region, period, line count, totals, the policy row used and its log position.',
  tags: ['contribution submissions'],
  answers: {
    200: {
      description: 'the recorded submission',
      body: z.object({
        submissionId: z.string(),
        status: z.literal('recorded'),
        employerId: z.string(),
        region: z.string(),
        period: z.string(),
        workInjuryClass: z.number().int(),
        lineCount: z.number().int(),
        totals: TotalsDoc,
        policyId: z.string(),
        policyTableVersion: z.string(),
        recordedAt: z.string().meta({ description: 'ISO 8601 instant' }),
        position: z.string(),
      }),
    },
    404: 'no submission with this id was recorded; a refused one leaves none (`submission-not-found`)',
  },
}
