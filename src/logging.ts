import type { FastifyServerOptions } from 'fastify'
import { maskCitizenId } from './domain/ids.js'

/** Masks every 18-character citizen identity number in a text (URLs in request logs). */
export function maskPersonIds(text: string): string {
  return text.replace(/\b\d{17}[\dXx]\b/g, (id) => maskCitizenId(id))
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
