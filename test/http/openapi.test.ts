import fs from 'node:fs'
import t from 'tap'
import { createTestLedger } from '../helpers/ledger.js'
import { json } from '../helpers/http.js'
import type { Authenticator } from '../../src/http/auth.js'

/**
 * The OpenAPI document (issue #9): every registered route is described, with its success answer,
 * its error answers as problem+json, the bearer requirement on /v1, and the request schemas; the
 * document and the /docs page need no token.
 */

/** An authenticator that knows no token and has no principal for a request without one: every
 * /v1 request is 401, so whatever answers 200 without a token is public. */
const refusesEveryone: Authenticator = { authenticate: async () => undefined }

const PROBLEM_REF = '#/components/schemas/Problem'
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace']

interface Operation {
  responses: Record<string, { description: string; content?: Record<string, { schema: any }>; headers?: Record<string, unknown> }>
  security?: Record<string, string[]>[]
  requestBody?: { content: Record<string, { schema: any }> }
  parameters?: { in: string; name: string; required?: boolean }[]
  summary?: string
}

/**
 * Every route as `METHOD /path` (path parameters as `{name}`), read from Fastify's own route tree
 * (`printRoutes` with `commonPrefix: false`: one node per line, indented 4 characters a level, its
 * path segment then its methods in parentheses).
 */
function registeredRoutes(tree: string): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = []
  const prefixes: string[] = ['']
  for (const line of tree.split('\n')) {
    const col = line.search(/[^│├└─\s]/u)
    if (col < 0) continue
    const depth = col / 4
    const m = /^(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line.slice(col))!
    const path = prefixes[depth - 1]! + m[1]!
    prefixes[depth] = path
    for (const method of m[2]?.split(', ') ?? []) out.push({ method, path: path.replace(/:(\w+)/g, '{$1}') })
  }
  return out
}

t.test('the OpenAPI document describes every route', async (t) => {
  const l = await createTestLedger({ authenticator: refusesEveryone })
  t.teardown(l.close)
  await l.app.ready()
  const res = await l.app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(res.statusCode, 200, 'served without a token')
  t.match(String(res.headers['content-type']), /^application\/json/)
  const doc = json(res)

  t.match(doc.openapi, /^3\.1\.\d+$/, 'OpenAPI 3.1.x')
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  t.same([doc.info.title, doc.info.version], [pkg.name, pkg.version], 'info from package.json')
  t.notOk(doc.servers, 'no absolute server URL')
  t.same(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.bearer.description })

  const problem = doc.components.schemas.Problem
  t.same(problem.required?.slice().sort(), ['detail', 'status', 'title', 'type'], 'Problem requires type, title, status, detail')
  for (const p of ['type', 'title', 'status', 'detail', 'instance', 'errors']) t.ok(problem.properties[p], `Problem has ${p}`)
  t.ok(problem.properties.errors.items.properties.pointer && problem.properties.errors.items.properties.message, 'errors[] of pointer and message')

  const routes = registeredRoutes(l.app.printRoutes({ commonPrefix: false }))
  const ops = routes.filter((r) => r.method !== 'HEAD' && r.path !== '/docs' && !r.path.startsWith('/docs/'))
  // The route list parsed from the tree really is the app's (a parser finding nothing would pass the loop below).
  t.ok(ops.some((r) => r.method === 'POST' && r.path === '/v1/contribution-submissions'), 'the submission route is listed')
  t.ok(ops.some((r) => r.method === 'POST' && r.path === '/v1/transfers/{transferId}/accept'), 'a nested route is listed with its full path')
  t.ok(ops.filter((r) => r.path.startsWith('/v1/')).length >= 20, 'every /v1 route is listed')
  t.ok(ops.some((r) => r.path === '/healthz') && ops.some((r) => r.path === '/openapi.json'), 'the public routes are listed')

  for (const { method, path } of ops) {
    const what = `${method} ${path}`
    const op: Operation | undefined = doc.paths[path]?.[method.toLowerCase()]
    if (!t.ok(op, `${what} is in paths`)) continue
    t.ok(op!.summary, `${what} has a summary`)
    const statuses = Object.keys(op!.responses).map(Number)
    t.ok(statuses.some((s) => s >= 200 && s < 300), `${what} has a 2xx answer`)
    if (path.startsWith('/v1/')) {
      t.ok(statuses.some((s) => s >= 400 && s < 500), `${what} has a 4xx answer`)
      for (const s of [400, 401, 403, 429]) t.ok(op!.responses[s], `${what} documents ${s}`)
      t.same(op!.security, [{ bearer: [] }], `${what} requires the bearer token`)
      if (method === 'POST') for (const s of [413, 415]) t.ok(op!.responses[s], `${what} documents ${s}`)
    } else {
      t.notOk(op!.security, `${what} needs no token`)
    }
    for (const s of statuses.filter((s) => s >= 400)) {
      const content = op!.responses[s]!.content ?? {}
      t.same(Object.keys(content), ['application/problem+json'], `${what} ${s} is problem+json`)
      t.equal(content['application/problem+json']?.schema.$ref, PROBLEM_REF, `${what} ${s} refers to Problem`)
      t.ok(op!.responses[s]!.description.length > 0, `${what} ${s} says when`)
    }
  }
  // Nothing documented that is not a route; HEAD routes are not repeated.
  const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item as object).filter((k) => METHODS.includes(k)).map((m) => `${m.toUpperCase()} ${path}`))
  t.same(documented.slice().sort(), ops.map((r) => `${r.method} ${r.path}`).sort(), 'the paths are exactly the routes')
})

t.test('the document describes requests and answers from the route schemas', async (t) => {
  const l = await createTestLedger()
  t.teardown(l.close)
  const doc = json(await l.app.inject({ method: 'GET', url: '/openapi.json' }))

  const submit: Operation = doc.paths['/v1/contribution-submissions'].post
  const body = submit.requestBody!.content['application/json']!.schema
  t.same(body.required.slice().sort(), ['employerId', 'lines', 'period', 'region', 'submissionId'], 'required members of a submission')
  t.equal(body.additionalProperties, false, 'unknown members refused')
  const line = body.properties.lines.items
  t.same(Object.keys(line.properties).sort(), ['personId', 'wage'], 'a line has personId and wage')
  t.equal(body.properties.lines.maxItems, 10_000, 'at most 10,000 lines')
  t.ok(new RegExp(line.properties.wage.pattern).test('8500.00') && !new RegExp(line.properties.wage.pattern).test('0.00'), 'the wage pattern: > 0, two places')
  t.same(Object.keys(submit.responses).map(Number).sort((a, b) => a - b), [200, 201, 400, 401, 403, 409, 413, 415, 422, 429, 500, 503], 'its answers')
  const receipt = submit.responses['201']!.content!['application/json']!.schema
  t.same(Object.keys(receipt.properties).sort(), ['lineCount', 'position', 'status', 'submissionId', 'totals'], 'the receipt')
  t.match(submit.responses['409']!.description, /submission-exists-with-different-content/)
  t.match(submit.responses['409']!.description, /month-already-credited/)

  // Path and query parameters from the zod schemas.
  const balances: Operation = doc.paths['/v1/persons/{personId}/balances'].get
  t.match(balances.parameters, [{ in: 'query', name: 'minPosition' }, { in: 'query', name: 'asOf' }, { in: 'query', name: 'asOfPeriod' }, { in: 'path', name: 'personId', required: true }])
  t.ok(balances.responses['404'], 'a person without events: 404')
  t.notOk(balances.requestBody, 'a GET takes no body')

  // A discriminated union body, and a step without body that takes none.
  const payout = doc.paths['/v1/payouts'].post.requestBody.content['application/json'].schema
  t.equal((payout.oneOf ?? payout.anyOf).length, 3, 'one payout shape per scheme group')
  t.ok(doc.paths['/v1/transfers/{transferId}/send'].post.responses['501'], 'transfer steps: 501 on a store without multi-stream appends')
  t.equal(doc.paths['/v1/transfers/{transferId}/accept'].post.requestBody.required, false, 'accept takes no body')
  t.equal(doc.paths['/v1/transfers/{transferId}/reject'].post.requestBody.required, true, 'reject needs its reason')

  // Headers the answers carry.
  const start: Operation = doc.paths['/v1/interest-runs'].post
  t.same(Object.keys(start.responses).filter((s) => s.startsWith('2')), ['202'], 'an interest run is 202 only')
  t.ok(start.responses['202']!.headers!['Location'], '202 has Location')
  t.ok(submit.responses['503']!.headers!['Retry-After'], '503 has Retry-After')
  t.ok(submit.responses['401']!.headers!['WWW-Authenticate'], '401 has WWW-Authenticate')
  const exportOp: Operation = doc.paths['/v1/audit/events'].get
  t.ok(exportOp.responses['200']!.content!['application/x-ndjson'], 'the export is NDJSON')

  // A read of the projections only never meets the event store: no 503.
  t.notOk(doc.paths['/v1/transfers'].get.responses['503'], 'listing transfers documents no 503')
})

t.test('/docs is a page needing no token, with a CSP that lets swagger-ui run', async (t) => {
  const l = await createTestLedger({ authenticator: refusesEveryone })
  t.teardown(l.close)
  const page = await l.app.inject({ method: 'GET', url: '/docs' })
  t.equal(page.statusCode, 200, '/docs without a token')
  t.match(String(page.headers['content-type']), /^text\/html/)
  t.match(page.body, /swagger-ui-bundle\.js/, 'the swagger-ui page')
  const csp = String(page.headers['content-security-policy'])
  t.match(csp, /script-src 'self'/, 'its own scripts run')
  t.match(csp, /style-src 'self'/, 'its own styles apply')
  t.match(csp, /connect-src 'self'/, 'it fetches the document')
  t.match(csp, /frame-ancestors 'none'/, 'still never framed')

  for (const url of ['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js', '/docs/static/swagger-ui.css', '/docs/json']) {
    const res = await l.app.inject({ method: 'GET', url })
    t.equal(res.statusCode, 200, `${url} without a token`)
  }
  // The API keeps its own policy and still needs a token.
  const api = await l.app.inject({ method: 'GET', url: '/v1/transfers' })
  t.equal(api.statusCode, 401, '/v1 still needs a token')
  t.equal(api.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'", "the API's CSP is unchanged")
})
