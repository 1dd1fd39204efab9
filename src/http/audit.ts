import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { InvalidPositionError, type EventStore } from '../eventstore/port.js'
import { verifyStream } from '../audit/verify.js'
import { exportPage } from '../audit/export.js'
import { HttpProblem } from './problem.js'
import { Limit, PositionString } from './schemas.js'
import { exportAuditEvents, verifyAuditStream } from './access.js'
import type { RouteDocs } from './openapi.js'

/** Longest stream name the audit routes accept. */
export const MAX_STREAM_NAME_LENGTH = 200
/** Fastify's `maxParamLength` (app.ts): above the longest stream name, so a name a little too long
 * is a 400 naming the rule; a far longer path parameter is refused before routing (414). */
export const MAX_PATH_PARAM_LENGTH = 256
/** Events per `GET /v1/audit/events` page by default, and at most. */
export const DEFAULT_EXPORT_LIMIT = 1_000
export const MAX_EXPORT_LIMIT = 10_000

/** A stream name as the audit routes accept it: 1-200 characters of A-Z a-z 0-9 . _ - */
export const StreamName = z
  .string()
  .regex(new RegExp(`^[A-Za-z0-9._-]{1,${MAX_STREAM_NAME_LENGTH}}$`), `1 to ${MAX_STREAM_NAME_LENGTH} characters from A-Z a-z 0-9 . _ -`)

/**
 * Routes for auditors (issue #6):
 * - `GET /v1/audit/streams/{stream}/verify`: one stream's hash chain, recordedAt, and its head in
 *   the seals (walked back from the latest to the latest naming it, each seal's digest checked and
 *   chained; verify.ts `verifyStream`, which yields to the event loop between pages): 200 with `ok`;
 *   404 when the stream has no events and no seal names it.
 * - Positions beyond the store's range (the schema allows up to 2^128 - 1) read an empty page. A
 *   position the store cannot read from (on KurrentDB: not an event's position, e.g. inside a
 *   record, or with its prepare part after its commit part) is a 400 `invalid-position` naming
 *   `fromPosition` and why; the positions this route hands out (`x-next-position`) always work.
 * - `GET /v1/audit/events?fromPosition=&limit=`: the log as NDJSON (export.ts), `limit` events (1000
 *   by default, at most 10000) from `fromPosition` (inclusive). When more events follow, the answer
 *   has `x-next-position` (the next event's position: the next `fromPosition`) and
 *   `Link: </v1/audit/events?fromPosition=…&limit=…>; rel="next"`; at the end of the log it has
 *   neither.
 */
export const auditRoutes =
  (deps: { store: EventStore }): FastifyPluginAsyncZod =>
  async (app) => {
    app.get('/v1/audit/streams/:stream/verify', { schema: { params: z.strictObject({ stream: StreamName }), ...VERIFY_DOCS }, config: { access: verifyAuditStream } }, async (request) => {
      const { stream } = request.params
      const report = await verifyStream(deps.store, stream)
      if (!report) throw new HttpProblem(404, 'stream-not-found', 'No such stream', `the log has no events of stream ${stream} and no seal names it`)
      return report
    })

    app.get(
      '/v1/audit/events',
      {
        schema: { querystring: z.strictObject({ fromPosition: PositionString.optional(), limit: Limit(MAX_EXPORT_LIMIT) }), ...EXPORT_DOCS },
        config: { access: exportAuditEvents },
      },
      async (request, reply) => {
        const limit = request.query.limit ?? DEFAULT_EXPORT_LIMIT
        const from = request.query.fromPosition !== undefined ? BigInt(request.query.fromPosition) : undefined
        const page = await exportPage(deps.store, from, limit).catch((err: unknown) => {
          if (err instanceof InvalidPositionError) throw invalidFromPosition(err)
          throw err
        })
        if (page.next !== undefined) {
          reply.header('x-next-position', page.next.toString())
          reply.header('link', `</v1/audit/events?fromPosition=${page.next}&limit=${limit}>; rel="next"`)
        }
        reply.type('application/x-ndjson; charset=utf-8')
        return page.lines.join('')
      },
    )
  }

/** The 400 for a `fromPosition` the store cannot read from. */
function invalidFromPosition(err: InvalidPositionError): HttpProblem {
  return new HttpProblem(400, 'invalid-position', 'Invalid position', `fromPosition ${err.position} ${err.why}; start from a position this log handed out (an event's position, x-next-position) or leave it out`, {
    errors: [{ pointer: '/fromPosition', message: `${err.position} ${err.why}`, in: 'querystring' }],
  })
}

// ---------------------------------------------------------------------------------------------
// Documentation (OpenAPI, see http/openapi.ts): what each route is and answers; never used to
// validate or serialize. Answers every /v1 route shares (400, 401, 403, 429, 503, …) are added there.
// ---------------------------------------------------------------------------------------------

const VERIFY_DOCS: RouteDocs = {
  summary: "Verify a stream's hash chain",
  description: "Checks one stream's hash chain and recordedAt order, and its head against the seals naming it.",
  tags: ['audit'],
  answers: {
    200: {
      description: 'the report: `ok`, and the first problem as `brokenAt` when there is one',
      body: z.looseObject({
        stream: z.string(),
        events: z.number().int(),
        head: z.object({ revision: z.string(), hash: z.string() }).nullable(),
        ok: z.boolean(),
        brokenAt: z.looseObject({}).optional(),
        unchained: z.object({ events: z.number().int(), firstRevision: z.string() }).optional(),
      }),
    },
    404: 'the log has no events of the stream and no seal names it (`stream-not-found`)',
  },
}

const EXPORT_DOCS: RouteDocs = {
  summary: 'Export the log',
  description: `The log as NDJSON, one recorded event a line, \`limit\` events (${DEFAULT_EXPORT_LIMIT} by default, at most ${MAX_EXPORT_LIMIT}) from \`fromPosition\` (inclusive).`,
  tags: ['audit'],
  answers: {
    200: {
      description: 'a page of the log',
      contentType: 'application/x-ndjson',
      headers: {
        'x-next-position': 'when more events follow: the next page\'s `fromPosition`',
        Link: 'when more events follow: `</v1/audit/events?fromPosition=…&limit=…>; rel="next"`',
      },
    },
  },
}
