import type { FastifyServerOptions } from 'fastify'
import { maskCitizenId } from './domain/ids.js'

/**
 * Masks every 18-character citizen identity number in a URL for the logs, percent-encoded or not
 * (any run of 17 digits and a digit or X is masked, wherever it stands).
 */
export function maskPersonIds(url: string): string {
  let text = url
  try {
    text = decodeURIComponent(url)
  } catch {
    // not valid percent-encoding: mask the raw text
  }
  return text.replace(/\d{17}[\dXx]/g, (id) => maskCitizenId(id))
}

/** An identity number standing on its own in a log line: 17 digits and a digit or X, not inside a
 * longer run of letters or digits (a 39-digit log position, a hex digest stay whole). */
const PERSON_ID_IN_TEXT = /(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])/g

/** Masks every identity number in a serialized log line (messages, error messages and stacks,
 * stream names such as `person-{id}`, any field). */
export function maskPersonIdsInText(text: string): string {
  return text.replace(PERSON_ID_IN_TEXT, (id) => maskCitizenId(id))
}

/** What never reaches a log line, in whatever object it is logged: credentials and bodies. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'authorization',
  'token',
  'req.body',
  'request.body',
  'body',
  'payload',
]

/**
 * pino options for the service: level from config; request logs with the method, the URL with
 * person ids masked (first 6 and last 4 characters visible) and the request id, never headers or
 * bodies; credentials and bodies redacted wherever they are logged; and, last, every identity
 * number left in a line (an error message, a stack, a stream name) masked as the line is written.
 */
export function loggerOptions(level: string): Exclude<FastifyServerOptions['logger'], boolean | undefined> {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: maskPersonIds(req.url), id: req.id }),
    },
    hooks: { streamWrite: maskPersonIdsInText },
  }
}
