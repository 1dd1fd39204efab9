import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { validateCitizenId } from '../domain/ids.js'
import { PERSON_STREAM_PREFIX, type ReversalHandler } from '../usecases/reverse.js'
import { HttpProblem } from './problem.js'
import { metadataOf } from './request-metadata.js'
import { RequestKey, RevisionString } from './schemas.js'
import { keyedAnswer } from './keyed-answer.js'
import { postReversal } from './access.js'
import type { RouteDocs } from './openapi.js'

/** Longest reason of a reversal, characters. */
export const MAX_REVERSAL_REASON_CHARS = 500
/** Longest stream name a reference may give, characters. */
export const MAX_STREAM_NAME_CHARS = 200

/** Body of `POST /v1/reversals`. */
export const ReversalBody = z.strictObject({
  reversalId: RequestKey,
  eventRef: z.strictObject({ stream: z.string().min(1).max(MAX_STREAM_NAME_CHARS), revision: RevisionString }),
  reason: z.string().trim().min(1, 'a reason is required').max(MAX_REVERSAL_REASON_CHARS),
})

/**
 * `POST /v1/reversals` (issue #5): a compensating event undoing a contribution line or a payout.
 * 201 reversed, 200 the same reversal again, 409 the reversalId with another body, an event reversed
 * already, or a line that can no longer be undone; 422 no such event, or one a reversal cannot undo
 * (a reversal, another type, a stream that is not a person's); 501 on a store without atomic
 * multi-stream appends.
 */
export const reversalRoutes =
  (handler: ReversalHandler): FastifyPluginAsyncZod =>
  async (app) => {
    app.post('/v1/reversals', { schema: { body: ReversalBody, ...REVERSAL_DOCS }, config: { access: postReversal(handler) } }, async (request, reply) => {
      const b = request.body
      const stream = b.eventRef.stream
      if (!stream.startsWith(PERSON_STREAM_PREFIX))
        throw new HttpProblem(422, 'reversal-rule', 'Reversal breaks a rule', `only events of a person's stream (person-{personId}) can be reversed, not ${stream}`, {
          errors: [{ pointer: '/eventRef/stream', message: 'not a person stream' }],
        })
      const id = validateCitizenId(stream.slice(PERSON_STREAM_PREFIX.length))
      if (!id.ok)
        throw new HttpProblem(400, 'validation', 'Malformed request', `eventRef.stream: not a valid citizen identity number: ${id.reason}`, {
          errors: [{ pointer: '/eventRef/stream', message: `not a valid citizen identity number: ${id.reason}` }],
        })
      // "007" and "7" name the same revision: the canonical form is what the idempotency hash sees.
      const eventRef = { stream, revision: BigInt(b.eventRef.revision).toString() }
      const result = await handler.reverse({ reversalId: b.reversalId, eventRef, reason: b.reason }, metadataOf(request))
      return keyedAnswer(reply, result, {
        what: 'reversal',
        key: b.reversalId,
        body: (m) => ({ reversalId: m.reversalId, personId: m.personId, reversedType: m.reversedType, ...m.request }),
        refusal: (d) => {
          switch (d.outcome) {
            case 'already-reversed':
              return new HttpProblem(409, 'already-reversed', 'Event reversed already', `the event was reversed by reversal ${d.reversalId}`, { reversalId: d.reversalId })
            case 'conflict':
              return new HttpProblem(409, 'reversal-conflict', 'The event can no longer be reversed', d.detail)
            case 'invalid':
              return new HttpProblem(422, 'reversal-rule', 'Reversal breaks a rule', d.detail, { errors: [{ pointer: d.pointer, message: d.detail }] })
          }
        },
      })
    })
  }

// ---------------------------------------------------------------------------------------------
// Documentation (OpenAPI, see http/openapi.ts): what each route is and answers; never used to
// validate or serialize. Answers every /v1 route shares (400, 401, 403, 429, 503, …) are added there.
// ---------------------------------------------------------------------------------------------

const ReversalReceiptDoc = z.looseObject({
  status: z.enum(['recorded', 'already-recorded']),
  reversalId: z.string(),
  personId: z.string(),
  reversedType: z.string().meta({ description: 'the type of the event undone' }),
  eventRef: z.object({ stream: z.string(), revision: z.string() }),
  reason: z.string(),
  position: z.string(),
})

const REVERSAL_DOCS: RouteDocs = {
  summary: 'Reverse an event',
  description: "Appends a compensating event undoing a contribution line or a payout of a person's stream. `reversalId` is the idempotency key.",
  tags: ['reversals'],
  answers: {
    201: { description: 'reversed', body: ReversalReceiptDoc },
    200: { description: 'the same reversal again; nothing appended', body: ReversalReceiptDoc },
    400: '`eventRef.stream` names a person stream whose id is no valid citizen identity number (`validation`)',
    409: 'the `reversalId` was used with another body (`reversal-exists-with-different-content`), the event is reversed already (`already-reversed`), or the line was moved by a transfer or paid out since (`reversal-conflict`)',
    422: "no such event, a reversal, another event type, or a stream that is not a person's (`reversal-rule`, `errors[]`)",
    501: 'the store lacks atomic multi-stream appends (`reversals-unsupported-by-store`)',
  },
}
