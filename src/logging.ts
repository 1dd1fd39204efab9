import { createRequire } from 'node:module'
import type { FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import { pino, type DestinationStream } from 'pino'
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

/** The pino-pretty module's file: pino resolves a bare transport name from the caller's file, which
 * may be outside this package (a script run with `node -e`, another working directory). */
const PINO_PRETTY = createRequire(import.meta.url).resolve('pino-pretty')

/** How the service's log lines are written. */
export interface LogOutput {
  /** Human-readable lines through the `pino-pretty` transport (a worker thread) instead of JSON
   * lines; see {@link wantsPrettyLogs}. Default false. */
  pretty?: boolean
}

/**
 * Whether the service should write pretty lines: standard output is a terminal and `NODE_ENV` is not
 * `production`. Anything else (a pipe, a file, a container's log driver, production) gets one JSON
 * object per line.
 */
export function wantsPrettyLogs(isTty: boolean = process.stdout.isTTY === true, nodeEnv: string | undefined = process.env['NODE_ENV']): boolean {
  return isTty && nodeEnv !== 'production'
}

/**
 * pino options for the service: level from config; request logs with the method, the URL with
 * person ids masked (first 6 and last 4 characters visible) and the request id, never headers or
 * bodies; credentials and bodies redacted wherever they are logged; and, last, every identity
 * number left in a line (an error message, a stack, a stream name) masked as the line is written
 * (also before a pretty transport formats it). With `output.pretty`, the `pino-pretty` transport.
 */
export function loggerOptions(level: string, output: LogOutput = {}): Exclude<FastifyServerOptions['logger'], boolean | undefined> {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: { method: string; url: string; id: string }) => ({ method: req.method, url: maskPersonIds(req.url), id: req.id }),
    },
    hooks: { streamWrite: maskPersonIdsInText },
    ...(output.pretty ? { transport: { target: PINO_PRETTY, options: { colorize: true, translateTime: 'SYS:standard', ignore: 'pid,hostname' } } } : {}),
  }
}

/** What a request's log lines say beyond the request id: who acts, which resource. */
export interface RequestLogBindings {
  /** The authenticated principal's actor (API key id, JWT subject, `ledger`). */
  actor?: string
  submissionId?: string
  transferId?: string
}

/**
 * Binds `bindings` to every later log line of one request: the request's and the reply's logger
 * become a child carrying them, so Fastify's `request completed` line, error lines and the handler's
 * own lines all have them (Fastify logs the end of a request with the reply's logger, which it
 * created with the request's, so both are replaced).
 */
export function bindRequestLog(request: FastifyRequest, reply: FastifyReply, bindings: RequestLogBindings): void {
  const child = request.log.child(bindings)
  request.log = child
  reply.log = child
}

/** Standard output as the service's log destination: see {@link stdoutLogDestination}. */
export interface StdoutLogDestination extends DestinationStream {
  /** Standard output is gone (EPIPE): nothing is written any more. */
  readonly gone: boolean
}

/**
 * The service's JSON log lines on file descriptor `fd` (default 1, standard output), written
 * synchronously (pino's SonicBoom, `sync: true`): each line is out before the next statement runs,
 * so nothing is left to flush when the process exits (pino's asynchronous default flushes at exit,
 * and that flush threw EPIPE into close-with-grace: exit 1 after a clean shutdown).
 *
 * When the reader of standard output is gone (`npm start | tee log`, then Ctrl-C: tee dies too),
 * a write fails with EPIPE: from then on lines are dropped quietly (there is nowhere to say so) and
 * the service goes on, its shutdown included; a write error never reaches the code that logged.
 * Any other write error is thrown to the code that logged, as pino does.
 */
export function stdoutLogDestination(fd = 1): StdoutLogDestination {
  const sonic = pino.destination({ dest: fd, sync: true })
  let gone = false
  const isBrokenPipe = (err: unknown) => (err as NodeJS.ErrnoException | undefined)?.code === 'EPIPE'
  // A synchronous SonicBoom reports a failed write as an 'error' event during the write.
  sonic.on('error', (err: Error) => {
    if (isBrokenPipe(err)) gone = true
    else throw err
  })
  return {
    get gone() {
      return gone
    },
    write(line: string) {
      if (gone) return
      try {
        sonic.write(line)
      } catch (err) {
        if (isBrokenPipe(err)) gone = true
        else throw err
      }
    },
  }
}
