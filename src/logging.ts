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

/**
 * pino options for the service: level from config, request logs with person ids masked
 * (first 6 and last 4 characters visible), no request bodies.
 */
export function loggerOptions(level: string): Exclude<FastifyServerOptions['logger'], boolean | undefined> {
  return {
    level,
    serializers: {
      req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: maskPersonIds(req.url), id: req.id }),
    },
  }
}
