import fs from 'node:fs'
import path from 'node:path'
import type { FastifyInstance, FastifySchema } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { packageRoot } from '../policy-loader.js'
import { DOCS_PREFIX, OPENAPI_PATH } from './auth.js'
import { MAX_FIELD_ERRORS, PROBLEM_BASE } from './problem.js'

/**
 * The OpenAPI 3.1 document of the HTTP API (issue #9), generated from the routes themselves:
 *
 * - request shapes (path parameters, query, body) are the zod schemas the routes validate with,
 *   converted by the type provider's `jsonSchemaTransform`;
 * - each route says what it is and what it answers next to its handler, in its schema:
 *   `summary`, `description`, `tags` (read by @fastify/swagger) and `answers` (read here only);
 * - the answers every route shares (401, 403, 429, 500, 503 on `/v1`; 400 / 413 / 415 for a body;
 *   409 and 413 of the store on writes) are added here by `crossCuttingAnswers`, so no route
 *   repeats them.
 *
 * `answers` is documentation only: it is never a Fastify `response` schema, so the zod serializer
 * never sees it and the answers on the wire are exactly those the handlers build.
 *
 * Served without a token at `GET /openapi.json` and, browsable, at `/docs` (swagger-ui).
 */

export { DOCS_PREFIX, OPENAPI_PATH }
/** Name of the bearer security scheme in `components.securitySchemes`. */
export const BEARER_SCHEME = 'bearer'
/** Media type of every error answer (RFC 9457). */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json'
/** `$ref` of the shared Problem schema. */
export const PROBLEM_REF = '#/components/schemas/Problem'

/** One bad field of a problem (problem.ts `FieldError`, plus `in`: the part of the request). */
const FieldErrorDoc = z
  .object({
    pointer: z.string().meta({ description: 'JSON Pointer (RFC 6901) into the request part, e.g. `/lines/12/wage`; `/` for the whole part' }),
    line: z.number().int().min(0).optional().meta({ description: '0-based index of the submission line at fault' }),
    message: z.string(),
    in: z.enum(['body', 'querystring', 'params', 'headers']).optional().meta({ description: 'the part of the request' }),
  })
  .meta({ description: 'One field at fault.' })

/**
 * The RFC 9457 problem every error answer carries (problem.ts `ProblemDetails`). Extension members
 * (`differences`, `submissionId`, `retryAfterSeconds`, …) depend on the `type`.
 */
export const ProblemDoc = z
  .looseObject({
    type: z.string().meta({ description: `a URI naming the kind of problem: ${PROBLEM_BASE}{kind}, e.g. ${PROBLEM_BASE}validation` }),
    title: z.string().meta({ description: 'short, the same for every problem of the type' }),
    status: z.number().int().min(400).max(599),
    detail: z.string().meta({ description: 'what went wrong with this request' }),
    instance: z.string().optional().meta({ description: 'the request path' }),
    errors: z.array(FieldErrorDoc).max(MAX_FIELD_ERRORS).optional().meta({ description: `each field at fault (at most ${MAX_FIELD_ERRORS})` }),
    errorsOmitted: z.number().int().min(1).optional().meta({ description: `field errors beyond the first ${MAX_FIELD_ERRORS}, not listed` }),
  })
  .meta({ title: 'Problem', description: 'RFC 9457 problem details (application/problem+json).' })

/** A documented answer: when it is given, and (success answers) the shape of its body. */
export interface AnswerDoc {
  /** When the answer is given (a sentence or a list of cases). */
  description: string
  /** The body's shape (documentation only, never used to serialize). Absent: not described. */
  body?: z.ZodType
  /** Media type of the body; default `application/json` (problems: always application/problem+json). */
  contentType?: string
  /** Headers of the answer: name → description. */
  headers?: Record<string, string>
}

/**
 * What a route answers, by status: a sentence (for a problem: when it is given) or an AnswerDoc.
 * `null` removes a cross-cutting answer the route cannot give (e.g. 503 on a read that never
 * touches the event store). Every 4xx/5xx is an application/problem+json Problem.
 */
export type RouteAnswers = { [status: number]: string | AnswerDoc | null }

/** What a route file adds to a route's schema to document it: spread into `schema`. */
export type RouteDocs = Pick<FastifySchema, 'summary' | 'description' | 'tags' | 'answers'>

declare module 'fastify' {
  interface FastifySchema {
    /** Documented answers of the route (OpenAPI only, see http/openapi.ts). */
    answers?: RouteAnswers
  }
}

/** Documentation of the service's probes and metrics (health.ts, metrics/http.ts), whose files carry
 * none, by `METHOD url`. A route's own schema overrides it. */
const DOCUMENTED_ELSEWHERE: Record<string, RouteDocs> = {
  'GET /healthz': {
    summary: 'Liveness',
    description: 'No token needed. The process answers; never touches the event store.',
    tags: ['service'],
    answers: {
      200: {
        description: 'the process answers',
        body: z.looseObject({
          status: z.literal('ok'),
          store: z.string().meta({ description: 'the event store kind configured, e.g. `sqlite`' }),
          projectionPosition: z.string().meta({ description: 'the projections\' checkpoint, a decimal string' }),
          projectionLive: z.boolean().meta({ description: 'whether the projector\'s subscription is live' }),
        }),
      },
    },
  },
  'GET /readyz': {
    summary: 'Readiness',
    description:
      'No token needed. Ready when the event store answers its head position in time, the projector is live and the projections are behind by at most `LEDGER_READY_MAX_LAG_EVENTS` events and `LEDGER_READY_MAX_LAG_SECONDS` seconds.',
    tags: ['service'],
    answers: {
      200: {
        description: 'ready',
        body: z.looseObject({
          status: z.literal('ready'),
          store: z.string(),
          headPosition: z.string(),
          projectionPosition: z.string(),
          lagEvents: z.string().meta({ description: 'events the projections are behind, a decimal string' }),
          lagSeconds: z.number().meta({ description: 'age of the oldest event not yet applied, seconds' }),
        }),
      },
      503: {
        description: 'not ready: `reason` is `store-unreachable`, `projection-not-live` or `projection-lagging`, with the figures the store gave',
        headers: { 'Retry-After': 'seconds before asking again' },
      },
    },
  },
  'GET /metrics': {
    summary: 'Prometheus metrics',
    description: 'No token needed. Request counts and durations by route pattern, submissions, projection lag, in the Prometheus text format.',
    tags: ['service'],
    answers: { 200: { description: 'the metrics', contentType: 'text/plain' } },
  },
}

/** Tags of the API, in the order the page lists them. */
const TAGS = [
  { name: 'contribution submissions', description: 'Payroll submissions: one atomic, idempotent write per employer, region and month.' },
  { name: 'legacy', description: 'Imports of history kept before this ledger (a person\'s years, a pool\'s opening balance).' },
  { name: 'persons', description: 'A person\'s balances and events.' },
  { name: 'pools', description: 'Pooled funds of a region.' },
  { name: 'transfers', description: 'Cross-province pension transfers: register, accept / reject, send, complete, cancel.' },
  { name: 'benefits', description: 'Retirement and payouts.' },
  { name: 'reversals', description: 'Compensating events undoing a contribution line or a payout.' },
  { name: 'interest', description: 'Yearly interest runs on pension individual accounts.' },
  { name: 'audit', description: 'Hash-chain verification and the log export.' },
  { name: 'service', description: 'Health and this document.' },
]

/** What the body-parsing edge answers on any route that takes a body (json-body.ts, errors.ts). */
const BODY_400 = 'the body is not valid JSON, names a member twice, holds a lone surrogate or a prototype name, or nests deeper than 32 levels (`malformed-json`, `validation`)'

/**
 * The answers a route gives whatever it does, from what it is: any `/v1` route (authentication,
 * authorisation, rate limit, the store), a route with a schema (validation), a body (parser and
 * limits), a write (metadata, store conflicts and limits). Cases are joined with the route's own.
 */
export function crossCuttingAnswers(method: string, url: string, schema: FastifySchema): Record<number, string[]> {
  const out: Record<number, string[]> = {}
  const add = (status: number, text: string) => (out[status] ??= []).push(text)
  const v1 = url.startsWith('/v1/')
  const parts = (['params', 'querystring', 'body'] as const).filter((k) => schema[k] !== undefined)
  if (parts.length > 0) add(400, `the request ${parts.join(' or ')} does not match the contract; \`errors[]\` names each field (\`validation\`)`)
  if (method === 'POST') {
    add(400, BODY_400)
    add(413, 'the body is larger than `LEDGER_MAX_BODY_BYTES` (`body-too-large`)')
    add(415, 'a body that is not `application/json` (optionally `; charset=utf-8`) (`unsupported-media-type`)')
  }
  if (v1 && method === 'POST') {
    add(400, 'the request carries the retired `x-actor` header (`validation`)')
    add(409, 'another request changed the same records at the same time; retry (`concurrency-conflict`)')
    add(413, 'the append is larger than the event store accepts (`store-limit-exceeded`)')
  }
  if (v1) {
    add(401, 'no `Authorization: Bearer <token>`, or a token that is unknown, expired or badly signed (`unauthorized`, with `WWW-Authenticate`)')
    add(403, 'the caller\'s role or scope does not allow this request; `detail` says what it lacks (`forbidden`)')
    add(429, 'more requests a minute than `LEDGER_RATE_LIMIT_PER_MINUTE` from this caller (`rate-limited`, with `Retry-After`)')
    add(503, 'the event store is unavailable; nothing was recorded; retry later (`store-unavailable`, with `Retry-After`)')
  }
  add(500, 'an unexpected error; logged, `detail` says nothing of it (`internal`)')
  return out
}

/** Response headers named by status, when the answer always carries them. */
const PROBLEM_HEADERS: Record<number, Record<string, string>> = {
  401: { 'WWW-Authenticate': 'the Bearer challenge, `error="invalid_token"` when a token was sent' },
  429: { 'Retry-After': 'seconds until the caller may send again' },
  503: { 'Retry-After': 'seconds after which a retry may succeed' },
}

const toJson = (schema: z.ZodType) => z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' })

const headerObjects = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).map(([name, description]) => [name, { type: 'string', description }]))

/**
 * The `response` object @fastify/swagger turns into the operation's responses: the route's own
 * answers merged with the cross-cutting ones (a `null` drops one), problems referring to the
 * shared Problem schema.
 */
export function documentedResponses(method: string, url: string, schema: FastifySchema): Record<string, unknown> {
  const own = schema.answers ?? {}
  const shared = crossCuttingAnswers(method, url, schema)
  const statuses = new Set([...Object.keys(own), ...Object.keys(shared)].map(Number))
  const out: Record<string, unknown> = {}
  for (const status of [...statuses].sort((a, b) => a - b)) {
    const mine = own[status]
    if (mine === null) continue
    const doc: AnswerDoc | undefined = typeof mine === 'string' ? { description: mine } : mine
    const cases = [...(doc ? [doc.description] : []), ...(shared[status] ?? [])]
    const headers = { ...PROBLEM_HEADERS[status], ...doc?.headers }
    const response: Record<string, unknown> = { description: cases.join('; or ') }
    if (Object.keys(headers).length > 0) response['headers'] = headerObjects(headers)
    if (status >= 400) response['content'] = { [PROBLEM_MEDIA_TYPE]: { schema: { $ref: PROBLEM_REF } } }
    else if (doc?.body) response['content'] = { [doc.contentType ?? 'application/json']: { schema: toJson(doc.body) } }
    else if (doc?.contentType) response['content'] = { [doc.contentType]: { schema: {} } }
    else response['type'] = 'null'
    out[String(status)] = response
  }
  return out
}

type OpenApiObject = { paths?: Record<string, Record<string, { requestBody?: { required?: boolean; content?: Record<string, { schema?: { anyOf?: { type?: unknown }[] } }> } }>> }

/**
 * Marks a request body optional where the route's schema accepts none (`z.….nullish()`: the transfer
 * steps that take no body); @fastify/swagger marks every body required.
 */
function optionalBodies<T extends OpenApiObject>(document: T): T {
  for (const item of Object.values(document.paths ?? {}))
    for (const operation of Object.values(item)) {
      const body = operation?.requestBody
      const schema = body?.content?.['application/json']?.schema
      if (body && schema?.anyOf?.some((s) => s.type === 'null')) body.required = false
    }
  return document
}

/** The version and name the document's `info` gives: package.json's. */
function packageInfo(): { title: string; version: string; description?: string } {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { name?: string; version?: string; description?: string }
  return { title: pkg.name ?? 'ledger', version: pkg.version ?? '0.0.0', ...(pkg.description ? { description: pkg.description } : {}) }
}

/**
 * The Content-Security-Policy of the /docs page and its assets, in place of the API's
 * `default-src 'none'` (limits.ts): swagger-ui's own scripts and styles from this origin (it has no
 * inline script; its style sheets set inline styles), its icons as data: URIs, and fetches of the
 * document and of "Try it out" to this origin only. Still never framed.
 */
export const DOCS_CSP =
  "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; connect-src 'self'; font-src 'self' data:; img-src 'self' data:; script-src 'self'; style-src 'self' 'unsafe-inline'"

/**
 * Registers @fastify/swagger (OpenAPI 3.1, zod schemas converted by the type provider, the
 * answers documented as above, the bearer scheme required on `/v1`), `GET /openapi.json` and the
 * swagger-ui page at `/docs`. Call BEFORE any route is registered: @fastify/swagger collects routes
 * as they are added. Both are public (auth.ts `isPublic`).
 */
export async function installOpenApi(app: FastifyInstance): Promise<void> {
  const info = packageInfo()
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        ...info,
        description:
          `${info.description ?? ''}\n\nEvery \`/v1\` request needs \`Authorization: Bearer <API key or JWT>\`. Money is a decimal string in yuan with two places ("1234.50"); ` +
          'log positions and stream revisions are decimal strings. Every error is RFC 9457 `application/problem+json` (schema `Problem`).',
      },
      tags: TAGS,
      components: {
        securitySchemes: {
          [BEARER_SCHEME]: { type: 'http', scheme: 'bearer', description: 'An API key, or a JWT (RS256 or ES256) naming a role and its scope' },
        },
        schemas: { Problem: toJson(ProblemDoc) as Record<string, unknown> },
      },
    },
    transform: (document) => {
      const { url, route } = document
      const method = String(Array.isArray(route.method) ? route.method[0] : route.method).toUpperCase()
      const own = (route.schema ?? {}) as FastifySchema
      if (own.hide) return { schema: { hide: true } as FastifySchema, url }
      const schema: FastifySchema = { ...DOCUMENTED_ELSEWHERE[`${method} ${url}`], ...own }
      // The type provider converts the zod request schemas; `answers` is ours, not its.
      const { answers: _answers, ...forZod } = schema
      const converted = jsonSchemaTransform({ ...document, schema: forZod as typeof document.schema })
      const out = { ...(converted.schema as FastifySchema), response: documentedResponses(method, url, schema) }
      if (url.startsWith('/v1/')) out.security = [{ [BEARER_SCHEME]: [] }]
      return { schema: out, url: converted.url }
    },
    transformObject: (document) => optionalBodies(jsonSchemaTransformObject(document) as OpenApiObject),
  })

  app.get(
    OPENAPI_PATH,
    {
      schema: {
        summary: 'This OpenAPI document',
        description: 'No token needed. The OpenAPI 3.1 description of every route, generated from the routes\' own schemas.',
        tags: ['service'],
        answers: { 200: { description: 'the document', body: z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) }) } },
      },
    },
    async () => app.swagger(),
  )

  await app.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { deepLinking: true, persistAuthorization: false },
    // Replaces helmet's `default-src 'none'` on the page and its assets only (see DOCS_CSP).
    staticCSP: DOCS_CSP,
  })
}
