import { redactConnectionString } from './mapping.js'

/**
 * Checks of a KurrentDB connection string made before the official client sees it, so that neither
 * its warnings nor its errors print the password.
 *
 * Client 1.3.1 parses the string twice (dist/Client/index.js connectionString): its JS parser
 * (dist/Client/parseConnectionString.js) console.warn's the WHOLE string with a caret line for an
 * option key it does not know, and ignores the option; then the Rust bridge
 * (`bridge.createClient`) throws a ParseError whose message IS the whole string for what it cannot
 * parse (e.g. a password holding `/`). The JS parser takes credentials as `[^:]+:[^@]+@` and
 * decodeURIComponent's each part, so a user name or password holding `@`, `:` or `/` must be
 * percent-encoded (a raw `@` or `:` is not even an error: the client silently uses a wrong password).
 */

/**
 * The query option keys client 1.3.1 knows: dist/Client/parseConnectionString.js `mapToQueryOption`,
 * which compares them flat-case (see flatCase); `dnsDiscover` its switch takes only spelled so.
 */
export const CLIENT_QUERY_OPTION_KEYS: readonly string[] = [
  'userCertFile',
  'userKeyFile',
  'maxDiscoverAttempts',
  'connectionName',
  'defaultDeadline',
  'discoveryInterval',
  'gossipTimeout',
  'nodePreference',
  'tls',
  'tlsVerifyCert',
  'tlsCAFile',
  'throwOnAppendFailure',
  'keepAliveInterval',
  'keepAliveTimeout',
]

/** The client's key spelling that is compared exactly, not flat-case (see CLIENT_QUERY_OPTION_KEYS). */
const EXACT_ONLY_KEY = 'dnsDiscover'

/** What to tell the operator about reserved characters in credentials. */
export const CREDENTIALS_ENCODING_ADVICE =
  'a user name or password holding @, :, / or another reserved character must be percent-encoded (@ as %40, : as %3A, / as %2F, % as %25)'

/** A key as the client compares it: trimmed, lower case, without `-` and `_`. */
function flatCase(key: string): string {
  return key.trim().toLowerCase().replace(/[_-]/g, '')
}

const KNOWN_FLAT_KEYS = new Set(CLIENT_QUERY_OPTION_KEYS.map(flatCase))

/** Whether client 1.3.1 takes `key` as a query option (rather than warning and ignoring it). */
export function isClientQueryOption(key: string): boolean {
  return key === EXACT_ONLY_KEY || KNOWN_FLAT_KEYS.has(flatCase(key))
}

/**
 * Why the client cannot take `url`'s query options, or `undefined`. The query is found as the
 * client's JS parser finds it (after the scheme, the credentials up to the first `@`, then the first
 * `?`; options separated by `&`). An unknown key is named, unless it lies where the password may be
 * (before the last `@`, what redactConnectionString masks): then the credentials are malformed, and
 * the message says so without quoting them.
 */
export function connectionStringOptionsProblem(url: string): string | undefined {
  const scheme = url.indexOf('://')
  if (scheme < 0) return undefined
  let start = scheme + 3
  const credentials = /^[^:]+:[^@]+@/.exec(url.slice(start))
  if (credentials) start += credentials[0].length
  const query = url.indexOf('?', start)
  if (query < 0) return undefined
  const lastAt = url.lastIndexOf('@')
  let at = query + 1
  for (const option of url.slice(query + 1).split('&')) {
    const key = option.split('=')[0] ?? ''
    const keyAt = at
    at += option.length + 1
    if (key === '' || isClientQueryOption(key)) continue
    if (keyAt < lastAt) return `the credentials are malformed (the client would read part of them as an option); ${CREDENTIALS_ENCODING_ADVICE}`
    return `unknown option "${key}" (the KurrentDB client would ignore it); the client's options are ${CLIENT_QUERY_OPTION_KEYS.join(', ')}, ${EXACT_ONLY_KEY}`
  }
  return undefined
}

/**
 * `text` (a client error's message) with `url` replaced by its redacted form and any remaining
 * occurrence of its password (raw or percent-decoded: what redactConnectionString masks) by `***`.
 */
export function withoutPassword(text: string, url: string): string {
  let out = text.split(url).join(redactConnectionString(url))
  for (const secret of passwordForms(url)) out = out.split(secret).join('***')
  return out
}

/** The password part of `url` as redactConnectionString delimits it, raw and decoded. */
function passwordForms(url: string): string[] {
  const scheme = url.indexOf('://')
  if (scheme < 0) return []
  const at = url.lastIndexOf('@')
  const colon = url.indexOf(':', scheme + 3)
  if (at < 0 || colon < 0 || colon > at) return []
  const raw = url.slice(colon + 1, at)
  if (raw === '') return []
  const forms = [raw]
  try {
    const decoded = decodeURIComponent(raw)
    if (decoded !== raw && decoded !== '') forms.push(decoded)
  } catch {
    // not valid percent-encoding: only the raw form can appear
  }
  return forms
}

/**
 * What the client's refusal of `url` says, without the password: for the JS parser's ParseError
 * (fields `location` and `expected`, dist/Client/parseConnectionString.js) the position and what it
 * expected (its message quotes the text at that position, which may be part of the password); for
 * anything else (the bridge's ParseError, whose message is the whole string) its name and its
 * message through withoutPassword.
 */
export function describeParseRefusal(err: unknown, url: string): string {
  if (!(err instanceof Error)) return 'the client refuses it'
  const { location, expected } = err as { location?: unknown; expected?: unknown }
  if (Array.isArray(location) && typeof location[0] === 'number' && typeof expected === 'string') {
    return `unexpected text at position ${location[0]}, expected ${expected}`
  }
  const name = err.name && err.name !== 'Error' ? err.name : err.constructor.name
  const message = withoutPassword(err.message, url)
  return message === '' || message === redactConnectionString(url) ? `the client's ${name}` : `the client's ${name}: ${message}`
}
