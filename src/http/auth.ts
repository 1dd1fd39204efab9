import type { FastifyInstance, FastifyRequest } from 'fastify'
import { SYSTEM_PRINCIPAL, type Principal } from '../auth/principal.js'
import { HttpProblem } from './problem.js'
import { bindRequestLog } from '../logging.js'

/**
 * Authentication and authorisation at the HTTP edge (issue #7).
 *
 * - Every `/v1` request must carry `Authorization: Bearer <token>`; the app's Authenticator turns it
 *   into a Principal (`request.principal`) or the request is 401 (with `WWW-Authenticate: Bearer`).
 * - Every `/v1` route declares who may call it: `config: { access }`, checked once the body is
 *   parsed and validated (so a scope can depend on the body). A route without `access` is refused
 *   to everybody but the system principal (a forgotten policy fails closed). A refusal is 403 and
 *   says what the principal lacks.
 */

/** Turns a request's bearer token into a principal. */
export interface Authenticator {
  /** The principal of `token` (the part after `Bearer `), or undefined for an unknown, expired,
   * malformed or badly signed token. Never throws for a bad token. */
  authenticate(token: string, request: FastifyRequest): Promise<Principal | undefined>
  /** Registers what `authenticate` needs on the app (the JWT plugin), when anything. */
  register?(app: FastifyInstance): void
  /** The principal of a request without an Authorization header; only `systemAuthenticator` has
   * one (tests not about authorisation send no header). Absent: such a request is 401. */
  withoutToken?(request: FastifyRequest): Principal
}

/** An authenticator that makes every request the system principal: for tests that are not about
 * authorisation, never configured by the service. */
export const systemAuthenticator: Authenticator = { authenticate: async () => SYSTEM_PRINCIPAL, withoutToken: () => SYSTEM_PRINCIPAL }

/** Why a principal may not: a sentence naming what it lacks (HTTP 403 `detail`). */
export type Denial = string

/** A route's access rule: true when allowed, else the reason. May read the store (a transfer's
 * regions, the region holding a person's account). */
export type Access = (principal: Principal, request: FastifyRequest) => boolean | Denial | Promise<boolean | Denial>

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated caller (set on `/v1` routes). */
    principal?: Principal
  }
  interface FastifyContextConfig {
    /** Who may call the route (issue #7). */
    access?: Access
  }
}

/** Longest bearer token accepted, characters (a JWT with a few claims is far below). */
export const MAX_TOKEN_CHARS = 8_192

/** A 401 problem; `invalidToken` when a token was sent but is no good (RFC 6750 `invalid_token`). */
const unauthorized = (detail: string, invalidToken = false) =>
  new HttpProblem(401, 'unauthorized', 'Authentication required', detail, {}, {
    'www-authenticate': invalidToken ? 'Bearer realm="ledger", error="invalid_token"' : 'Bearer realm="ledger"',
  })

/** Routes anyone may call without a token: the liveness and readiness probes and the Prometheus
 * scrape (none of them says anything of a person). Everything else needs one (fail closed). */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics'])

/** Where the OpenAPI document is served (http/openapi.ts): public. */
export const OPENAPI_PATH = '/openapi.json'
/** Prefix of the swagger-ui page (http/openapi.ts): it and every route under it (its assets,
 * `/docs/static/*`, `/docs/json`, …) are public. */
export const DOCS_PREFIX = '/docs'

/** Whether a route pattern is the API's documentation (OPENAPI_PATH, DOCS_PREFIX and below). */
const isDocsRoute = (route: string) => route === OPENAPI_PATH || route === DOCS_PREFIX || route.startsWith(`${DOCS_PREFIX}/`)

/**
 * Whether a request goes to a public route, or to no route at all (a 404). Decided from the route
 * the router matched, never from the raw URL: `GET http://host/v1/…` (absolute form) or `/%761/…`
 * reach `/v1` routes although their text does not start with `/v1/`.
 */
export function isPublic(request: FastifyRequest): boolean {
  const route = request.routeOptions.url
  return route === undefined || PUBLIC_ROUTES.has(route) || isDocsRoute(route)
}

/** The principal of a request that passed the hook (throws 401 when there is none). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw unauthorized('no principal on this request')
  return request.principal
}

/**
 * Installs the hooks: authentication on `onRequest` (before the body is read: an unauthenticated
 * caller cannot make the service parse 4 MB), authorisation on `preHandler`. Once authenticated, the
 * request's log lines carry the principal's `actor`.
 */
export function installAuth(app: FastifyInstance, authenticator: Authenticator): void {
  authenticator.register?.(app)
  app.addHook('onRequest', async (request, reply) => {
    if (isPublic(request)) return
    const header = request.headers.authorization
    if (header === undefined && authenticator.withoutToken) {
      request.principal = authenticator.withoutToken(request)
      // Every later log line of the request names who acts (issue #9).
      bindRequestLog(request, reply, { actor: request.principal.actor })
      return
    }
    if (header === undefined) throw unauthorized('send Authorization: Bearer <API key or token>')
    // The scheme is case-insensitive (RFC 9110 11.1).
    const m = /^Bearer ([^\s]+)$/i.exec(header)
    if (!m) throw unauthorized('the Authorization header must be "Bearer <token>"')
    if (m[1]!.length > MAX_TOKEN_CHARS) throw unauthorized(`the token is longer than ${MAX_TOKEN_CHARS} characters`, true)
    const principal = await authenticator.authenticate(m[1]!, request)
    if (!principal) throw unauthorized('the token is unknown, expired, not validly signed or says no valid role and scope', true)
    request.principal = principal
    bindRequestLog(request, reply, { actor: principal.actor })
  })
  app.addHook('preHandler', async (request) => {
    if (isPublic(request)) return
    const principal = principalOf(request)
    if (principal.role === 'system') return
    const access = request.routeOptions.config.access
    const decision = access ? await access(principal, request) : 'this route has no access rule'
    if (decision !== true)
      throw new HttpProblem(403, 'forbidden', 'Not allowed', typeof decision === 'string' ? decision : `role ${principal.role} may not do this`, {
        role: principal.role,
      })
  })
}
