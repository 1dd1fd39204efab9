/**
 * What the `ledger` commands that can talk to a running service share: the `--url` and `--token`
 * options and one HTTP request with a bounded wait. Without `--url` those commands work on the
 * configured store and read models directly (LEDGER_* variables).
 */
import { InvalidArgumentError, Option, type Command } from 'commander'
import type { ProblemDetails } from '../http/problem.js'
import { EXIT_BAD_CONFIG, type CliContext } from './context.js'

/** Longest one HTTP request may take, milliseconds (a 10,000-line submission is recorded in ~1 s). */
export const HTTP_TIMEOUT_MS = 60_000
/** Environment variable a token may come from instead of `--token` (keeps it out of `ps`). */
export const TOKEN_ENV = 'LEDGER_TOKEN'
/** Longest body text quoted from an answer that is not a problem document, characters. */
const MAX_QUOTED_BODY_CHARS = 200

/** Options `--url` and `--token`, as commander gives them. */
export interface ServiceOptions {
  url?: string
  token?: string
}

/** A running service and the bearer token sent to it (absent: none sent, e.g. for /healthz). */
export interface ServiceTarget {
  url: string
  token?: string
}

/** Adds `--url <base>` and `--token <token>` to `command`. */
export function addServiceOptions(command: Command, what: string): Command {
  return command
    .addOption(new Option('--url <base>', `${what} through the service at this base URL (http or https), e.g. http://127.0.0.1:3000`).argParser(urlOption))
    .addOption(new Option('--token <token>', `bearer token for --url (an API key lk_… or a JWT); default: $${TOKEN_ENV}`))
}

function urlOption(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new InvalidArgumentError('an absolute http:// or https:// URL, e.g. http://127.0.0.1:3000')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`an http:// or https:// URL, not ${url.protocol}`)
  if (url.search !== '' || url.hash !== '') throw new InvalidArgumentError('a base URL without ?query or #fragment')
  return value.replace(/\/+$/, '')
}

/**
 * The service target of `opts` (`undefined`: no `--url`, work on the configured store), or `null`
 * after reporting a usage error (status 2): a token without `--url`, or `--url` without a token when
 * `needsToken`.
 */
export function serviceTarget(opts: ServiceOptions, ctx: CliContext, command: string, needsToken: boolean): ServiceTarget | undefined | null {
  const token = opts.token ?? (ctx.env[TOKEN_ENV] || undefined)
  if (opts.url === undefined) {
    if (opts.token !== undefined) {
      ctx.err(`${command}: --token is for --url; without --url the command works on the configured store (LEDGER_* variables) and needs no token`)
      ctx.setStatus(EXIT_BAD_CONFIG)
      return null
    }
    return undefined
  }
  if (needsToken && token === undefined) {
    ctx.err(
      `${command}: --url needs a token: add --token <token> (or set ${TOKEN_ENV}); create one with: ledger keys create --role admin --id cli ` +
        `(or --role payroll --employer <uscc> to post payrolls)`,
    )
    ctx.setStatus(EXIT_BAD_CONFIG)
    return null
  }
  return { url: opts.url, ...(token !== undefined ? { token } : {}) }
}

/** An answer of the service: status, headers, the body parsed as JSON (undefined when it is not). */
export interface ServiceAnswer {
  status: number
  headers: Headers
  json: unknown
  text: string
}

/** The service could not be reached (refused, timed out, DNS): nothing was answered. */
export class ServiceUnreachableError extends Error {
  override readonly name = 'ServiceUnreachableError'
}

/**
 * One request to the service: `path` (e.g. `/v1/pools/310000/balances`) after the base URL, JSON
 * `body` when given, the bearer token when the target has one, at most {@link HTTP_TIMEOUT_MS}.
 * @throws ServiceUnreachableError saying what to check.
 */
export async function callService(target: ServiceTarget, method: 'GET' | 'POST', path: string, body?: string): Promise<ServiceAnswer> {
  const url = target.url + path
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' }
  if (target.token !== undefined) headers['authorization'] = `Bearer ${target.token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  let res: Response
  let text: string
  try {
    res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })
    text = await res.text()
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    const why = cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err))
    throw new ServiceUnreachableError(`cannot reach ${method} ${url}: ${why}; check --url and that the service runs (npm start, or ledger serve)`)
  }
  let json: unknown
  try {
    json = text === '' ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, json, text }
}

/** The problem document of an error answer, or one made from its status and text when the body is
 * not a problem (a proxy's HTML page, an empty body). */
export function problemOf(answer: ServiceAnswer): ProblemDetails {
  const j = answer.json as Partial<ProblemDetails> | undefined
  if (j && typeof j === 'object' && typeof j.status === 'number' && typeof j.title === 'string') {
    return { type: String(j.type ?? 'about:blank'), detail: String(j.detail ?? ''), ...j, status: j.status, title: j.title } as ProblemDetails
  }
  return { type: 'about:blank', status: answer.status, title: `HTTP ${answer.status}`, detail: answer.text.slice(0, MAX_QUOTED_BODY_CHARS) || '(empty answer)' }
}

/** A problem on one line: `404 No events for this person: the ledger has no events for person …`. */
export function problemLine(p: ProblemDetails): string {
  return `${p.status} ${p.title}${p.detail ? `: ${p.detail}` : ''}`
}

/** What to do about a 401 or 403 answer to a command run with `--url`. */
export function authAdvice(status: number): string {
  return status === 401
    ? `the service did not accept the token: pass a valid one with --token (or ${TOKEN_ENV}); ledger keys create makes one`
    : 'the token is valid but its role or scope does not allow this: use a key whose role and employers/regions cover it'
}
