import type { FastifyInstance } from 'fastify'
import { parse as parseContentType } from 'fast-content-type-parse'
import { parse as parseJsonAst, type DocumentNode, type ValueNode } from '@humanwhocodes/momoa'
import { HttpProblem, lineOf } from './problem.js'

/** Object member names refused anywhere in a body: they mean prototype tricks, never ledger data. */
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * Installs the JSON body parser: `application/json` in UTF-8 only (see checkContentType: another
 * charset, another parameter, a tab or any other character after the type is 415), and
 * I-JSON's rule that an object never names a member twice (RFC 7493 §2.3): a duplicate would be
 * read differently by different parsers, so a ledger refuses it (400, naming the member) rather
 * than keep the last value silently. Syntax errors are 400 with line and column.
 *
 * momoa (a maintained JSON parser that keeps the syntax tree) finds the duplicates; the value
 * itself comes from the native JSON.parse.
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    try {
      checkContentType(request.headers['content-type'])
      const text = String(body)
      // An empty body is no body: routes that need one answer 400 from their schema, steps that
      // take none run.
      if (text.trim() === '') return done(null, undefined)
      done(null, parseStrictJson(text))
    } catch (err) {
      done(err as Error, undefined)
    }
  })
}

/** The Content-Type of a body, exactly: `application/json`, optionally `; charset=utf-8` (any case,
 * quoted or not, `utf8` too), spaces only around the `;`. */
const JSON_CONTENT_TYPE = /^application\/json(?: *; *charset=(?:utf-?8|"utf-?8"))?$/i

const unsupported = (detail: string) =>
  new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', `${detail}; send Content-Type: application/json (optionally ; charset=utf-8)`)

/**
 * Checks the Content-Type of a body Fastify routed to the JSON parser. Fastify matches on the media
 * type alone, so `application/json\t…` (the tab trick), `application/json; foo=bar` or two charsets
 * would reach the parser: anything but JSON_CONTENT_TYPE is refused, 400 when the header does not
 * parse as a media type (`application/json;`), else 415 naming what is wrong.
 * @throws HttpProblem 400 or 415
 */
export function checkContentType(header: string | undefined): void {
  if (header !== undefined && JSON_CONTENT_TYPE.test(header)) return
  const value = header ?? ''
  if (/[^\x20-\x7e]/.test(value)) throw unsupported('the Content-Type header holds a tab, a control or a non-ASCII character')
  let parameters: Record<string, string>
  try {
    parameters = parseContentType(value).parameters
  } catch {
    throw new HttpProblem(400, 'malformed-request', 'Malformed request', 'the Content-Type header is not a valid media type')
  }
  const names = Object.keys(parameters)
  const other = names.find((n) => n !== 'charset')
  if (other !== undefined) throw unsupported(`the media type parameter ${JSON.stringify(other.slice(0, 64))} is not supported`)
  const charset = parameters['charset']?.toLowerCase()
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') throw unsupported(`charset ${charset.slice(0, 64)} is not supported`)
  // Two charsets (the parser keeps the last), odd spacing, a type in another form.
  throw unsupported('the Content-Type header is not in the accepted form')
}

/** Deepest nesting accepted in a body (a submission needs 3: body, lines, line). */
export const MAX_JSON_DEPTH = 32

/** A lone surrogate (an escape such as `\ud800` without its pair): with the `u` flag a paired
 * surrogate is one code point and does not match. */
const LONE_SURROGATE = /\p{Cs}/u

/**
 * Parses JSON text, refusing duplicate member names, prototype-related names, nesting deeper
 * than MAX_JSON_DEPTH, and strings (values or names) holding a lone surrogate: I-JSON (RFC 7493
 * §2.1) forbids them, UTF-8 cannot carry them, so a store would keep another string than the one
 * hashed and answered.
 * @throws HttpProblem 400 naming the place (JSON Pointer), or the line and column of a syntax error.
 */
export function parseStrictJson(text: string): unknown {
  let document: DocumentNode
  try {
    document = parseJsonAst(text, { mode: 'json', ranges: false, tokens: false })
  } catch (err) {
    throw new HttpProblem(400, 'malformed-json', 'Malformed JSON', `the body is not valid JSON: ${(err as Error).message}`)
  }
  // Iterative walk (no recursion, so no stack limit to hit), pointer built per node.
  const stack: { node: ValueNode; pointer: string; depth: number }[] = [{ node: document.body, pointer: '', depth: 1 }]
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { node, pointer, depth } = item
    if ((node.type === 'Object' || node.type === 'Array') && depth > MAX_JSON_DEPTH)
      throw fieldProblem(pointer || '/', `nested deeper than ${MAX_JSON_DEPTH} levels`)
    if (node.type === 'String' && LONE_SURROGATE.test(node.value)) throw fieldProblem(pointer || '/', 'a string holds a lone surrogate (\\u escape of half a character)')
    if (node.type === 'Array') node.elements.forEach((e, i) => stack.push({ node: e.value, pointer: `${pointer}/${i}`, depth: depth + 1 }))
    if (node.type !== 'Object') continue
    const seen = new Set<string>()
    for (const member of node.members) {
      // In JSON mode a member name is always a string (identifiers are JSON5 only).
      const name = member.name.type === 'String' ? member.name.value : member.name.name
      const at = `${pointer}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`
      if (LONE_SURROGATE.test(name)) throw fieldProblem(pointer || '/', 'a member name holds a lone surrogate (\\u escape of half a character)')
      if (FORBIDDEN_NAMES.has(name)) throw fieldProblem(at, `member name ${JSON.stringify(name)} is not allowed`)
      if (seen.has(name)) throw fieldProblem(at, `member ${JSON.stringify(name)} appears twice in one object`)
      seen.add(name)
      stack.push({ node: member.value, pointer: at, depth: depth + 1 })
    }
  }
  // momoa lets a raw control character inside a string through (JSON forbids it, U+0000-U+001F
  // unescaped); the native parser refuses it: malformed, not an internal error.
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new HttpProblem(400, 'malformed-json', 'Malformed JSON', `the body is not valid JSON: ${(err as Error).message}`)
  }
}

function fieldProblem(pointer: string, message: string): HttpProblem {
  const line = lineOf(pointer)
  return new HttpProblem(400, 'validation', 'Malformed request', message, {
    errors: [{ pointer, ...(line !== undefined ? { line } : {}), message, in: 'body' }],
  })
}
