import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { yuan } from '../domain/money.js'
import type { WorkInjuryClass } from '../domain/schemes.js'
import type { RecordSubmissionHandler, RecordSubmissionResult } from '../usecases/record-submission.js'
import { HttpProblem, boundedErrors } from './problem.js'
import { metadataOf } from './request-metadata.js'
import { SubmissionBody, SubmissionId } from './schemas.js'
import { getSubmission, postSubmission } from './access.js'

/**
 * Routes of the `contribution-submissions` resource: `POST` records a payroll submission; `GET
 * /v1/contribution-submissions/{submissionId}` answers the recorded one (its employer, region,
 * period, line count, totals, policy row and log position; 404 when none was recorded).
 */
export const submissionRoutes =
  (handler: RecordSubmissionHandler): FastifyPluginAsyncZod =>
  async (app) => {
    app.post('/v1/contribution-submissions', { schema: { body: SubmissionBody }, config: { access: postSubmission } }, async (request, reply) => {
      const body = request.body
      const metadata = metadataOf(request)
      const result = await handler.handle(
        {
          submissionId: body.submissionId,
          employerId: body.employerId,
          region: body.region,
          period: body.period,
          workInjuryClass: body.workInjuryClass as WorkInjuryClass,
          lines: body.lines.map((l) => ({ personId: l.personId, wage: yuan(l.wage) })),
        },
        metadata,
      )
      if (result.kind === 'refused') throw refusal(result.decision, handler)
      const r = result.receipt
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
      { schema: { params: z.strictObject({ submissionId: SubmissionId }) }, config: { access: getSubmission(handler) } },
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

/** Turns a refusing decision into its problem (409 / 422). */
function refusal(decision: Extract<RecordSubmissionResult, { kind: 'refused' }>['decision'], handler: RecordSubmissionHandler): HttpProblem {
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
