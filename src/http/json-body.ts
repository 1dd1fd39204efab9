import type { FastifyInstance } from 'fastify'
import { parse as parseContentType } from 'fast-content-type-parse'
import { parse as parseJsonAst, type DocumentNode, type ValueNode } from '@humanwhocodes/momoa'
import { HttpProblem, lineOf } from './problem.js'

/** Object member names refused anywhere in a body: they mean prototype tricks, never ledger data. */
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * Installs the JSON body parser: `application/json` in UTF-8 only (another charset is 415), and
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
      const charset = parseContentType(request.headers['content-type'] ?? '').parameters['charset']?.toLowerCase()
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        throw new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', `charset ${charset} is not supported; send UTF-8`)
      }
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

/** Deepest nesting accepted in a body (a submission needs 3: body, lines, line). */
export const MAX_JSON_DEPTH = 32

/**
 * Parses JSON text, refusing duplicate member names, prototype-related names and nesting deeper
 * than MAX_JSON_DEPTH.
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
    if (node.type === 'Array') node.elements.forEach((e, i) => stack.push({ node: e.value, pointer: `${pointer}/${i}`, depth: depth + 1 }))
    if (node.type !== 'Object') continue
    const seen = new Set<string>()
    for (const member of node.members) {
      // In JSON mode a member name is always a string (identifiers are JSON5 only).
      const name = member.name.type === 'String' ? member.name.value : member.name.name
      const at = `${pointer}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`
      if (FORBIDDEN_NAMES.has(name)) throw fieldProblem(at, `member name ${JSON.stringify(name)} is not allowed`)
      if (seen.has(name)) throw fieldProblem(at, `member ${JSON.stringify(name)} appears twice in one object`)
      seen.add(name)
      stack.push({ node: member.value, pointer: at, depth: depth + 1 })
    }
  }
  return JSON.parse(text)
}

function fieldProblem(pointer: string, message: string): HttpProblem {
  const line = lineOf(pointer)
  return new HttpProblem(400, 'validation', 'Malformed request', message, {
    errors: [{ pointer, ...(line !== undefined ? { line } : {}), message, in: 'body' }],
  })
}
