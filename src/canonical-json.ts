/** Deepest nesting {@link canonicalJson} follows; deeper (or circular) data is refused. */
export const MAX_CANONICAL_DEPTH = 256

/**
 * RFC 8785 canonical JSON (JSON Canonicalization Scheme) of a JSON value: object
 * members sorted by UTF-16 code units, strings and numbers as ECMAScript's JSON.stringify writes
 * them, no blanks. Members whose value is undefined, a function or a symbol are left out and such
 * array elements written `null`, as JSON.stringify does; a `toJSON` method is honoured.
 *
 * Why our own and not json-canonicalize's `canonicalize` (still used by the tests as the reference
 * it must equal): the library builds a path string for every member it visits, which made it the
 * largest cost of an append (bench/README.md). Pure: used by the hash chain, the seals, the replay's
 * comparisons and the submission content hash.
 * @throws TypeError for a bigint, a non-finite number, a top-level value JSON cannot hold, or data
 *   nested deeper than MAX_CANONICAL_DEPTH (which includes circular data).
 */
export function canonicalJson(value: unknown): string {
  const json = canonicalValue(value, 0)
  if (json === undefined) throw new TypeError('the value is not JSON-serialisable')
  return json
}

/** Canonical JSON of `value`, or undefined for what JSON leaves out (undefined, functions, symbols). */
function canonicalValue(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case 'string':
      return quote(value)
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`the value holds a non-finite number (${value})`)
      return JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'bigint':
      throw new TypeError('the value holds a bigint: write it as a decimal string')
    case 'object': {
      if (value === null) return 'null'
      if (depth >= MAX_CANONICAL_DEPTH) throw new TypeError(`the value is nested deeper than ${MAX_CANONICAL_DEPTH} levels (or circular)`)
      const toJSON = (value as { toJSON?: unknown }).toJSON
      if (typeof toJSON === 'function') return canonicalValue((toJSON as () => unknown).call(value), depth + 1)
      if (Array.isArray(value)) {
        let out = '['
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ','
          out += canonicalValue(value[i], depth + 1) ?? 'null'
        }
        return out + ']'
      }
      const record = value as Record<string, unknown>
      const keys = Object.keys(record)
      // Sorting only when needed: most objects are built with their members in order already.
      for (let i = 1; i < keys.length; i++) {
        if (keys[i - 1]! > keys[i]!) {
          keys.sort()
          break
        }
      }
      let out = '{'
      for (const key of keys) {
        const member = canonicalValue(record[key], depth + 1)
        if (member === undefined) continue
        if (out.length > 1) out += ','
        out += quote(key) + ':' + member
      }
      return out + '}'
    }
    default:
      return undefined
  }
}

/** Characters JSON.stringify escapes in a string: `"`, `\\`, controls, and surrogates (a lone one is
 * written as a `\\u` escape). */
// eslint-disable-next-line no-control-regex -- the control characters are what it looks for
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/** A string as JSON.stringify writes it: quoted as it is when nothing in it needs an escape (most
 * strings of the ledger's events), else by JSON.stringify itself. */
function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`
}
