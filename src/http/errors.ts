import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { InvalidPositionError, StoreLimitExceededError, StoreUnavailableError, WrongExpectedRevisionError, type StoreFaultReason } from '../eventstore/port.js'
import { HttpProblem, boundedErrors, lineOf, type FieldError } from './problem.js'

const PROBLEM_JSON = 'application/problem+json; charset=utf-8'

/** What a request refused for a store fault wrote. A replaced file is noticed after a commit too:
 * that commit is kept (restored with the file), so only a retry with the same id tells. */
const STORE_FAULT_OUTCOME: Record<StoreFaultReason, string> = {
  'store-file-replaced': 'what this request wrote, if anything, is kept: after the restart, retry with the same id (answered 200 if it was recorded)',
  'disk-full': 'nothing was recorded; retry later',
  'store-read-only': 'nothing was recorded; retry later',
  'store-busy': 'nothing was recorded; retry later',
}

/** Fastify's own client errors, by code: status, problem kind, title. */
const FASTIFY_CLIENT_ERRORS: Record<string, [number, string, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported-media-type', 'Unsupported media type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'malformed-request', 'Invalid Content-Length'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'body-too-large', 'Request body too large'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'malformed-json', 'Empty JSON body'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'malformed-json', 'Malformed JSON'],
  FST_ERR_CTP_INVALID_TYPE: [415, 'unsupported-media-type', 'Unsupported media type'],
}

/**
 * Fastify's `frameworkErrors` option: errors raised before routing (FST_ERR_BAD_URL,
 * FST_ERR_MAX_PARAM_LENGTH, ...) answered as problems, without echoing the URL back.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400
  const detail = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is too long' : error.code === 'FST_ERR_BAD_URL' ? 'the URL is not valid' : 'malformed request'
  void send(reply, request, new HttpProblem(status, 'malformed-request', 'Malformed request', detail), false)
}

/**
 * Installs the problem-details error and not-found handlers: every error is RFC 9457
 * `application/problem+json`; validation errors name each field (JSON Pointer, line index);
 * store conflicts are 409, an unavailable store 503 with Retry-After; anything unexpected is a 500
 * that is logged and says nothing of its internals.
 */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    send(reply, request, new HttpProblem(404, 'not-found', 'Not found', `no route ${request.method} ${request.url.split('?')[0]}`))
  })

  app.setErrorHandler((error: FastifyError, request, reply) => {
    // Whatever goes wrong while answering (an odd thrown value, a bug below), the answer is the
    // generic 500: Fastify's fallback handler would answer the error's message.
    try {
      return answerError(error, request, reply)
    } catch (failure) {
      request.log.error({ err: failure }, 'error handler failed')
      return send(reply, request, INTERNAL)
    }
  })
}

/** The answer to anything unexpected: says nothing of what happened (the log has it). */
const INTERNAL = new HttpProblem(500, 'internal', 'Internal error', 'an unexpected error occurred; it has been logged')

function answerError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  // A thrown non-Error (a string, null, a plain object) is unexpected whatever it says.
  if (!(error instanceof Error)) {
    request.log.error({ thrown: typeof error }, 'unhandled non-Error thrown')
    return send(reply, request, INTERNAL)
  }
  if (error instanceof HttpProblem) return send(reply, request, error)
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext ?? 'body'
    const errors: FieldError[] = error.validation.flatMap((v) => {
      const at = v.instancePath === '/' ? '' : v.instancePath
      // An unknown field is named by its own pointer, one error per field.
      const unknown = v.keyword === 'unrecognized_keys' && Array.isArray(v.params['keys']) ? (v.params['keys'] as string[]) : undefined
      const pointers = unknown ? unknown.map((k) => `${at}/${k.replaceAll('~', '~0').replaceAll('/', '~1')}`) : [at || '/']
      return pointers.map((pointer) => {
        const line = where === 'body' ? lineOf(pointer) : undefined
        const message = unknown ? `unknown field ${JSON.stringify(unknown[pointers.indexOf(pointer)])}` : (v.message ?? 'invalid')
        return { pointer, ...(line !== undefined ? { line } : {}), message, in: where }
      })
    })
    return send(
      reply,
      request,
      new HttpProblem(400, 'validation', 'Malformed request', `the request ${where} does not match the contract; see errors[]`, boundedErrors(errors)),
    )
  }
  if (error instanceof WrongExpectedRevisionError) {
    return send(
      reply,
      request,
      new HttpProblem(409, 'concurrency-conflict', 'Concurrent change', 'another request changed the same records at the same time; retry the request', {
        stream: error.stream,
      }),
    )
  }
  if (error instanceof InvalidPositionError) {
    // A route that takes a position names its field itself (audit.ts); this is the fallback.
    return send(reply, request, new HttpProblem(400, 'invalid-position', 'Invalid position', `the store cannot read from ${error.message}`))
  }
  if (error instanceof StoreLimitExceededError) {
    request.log.warn({ err: error }, 'store size limit')
    return send(reply, request, new HttpProblem(413, 'store-limit-exceeded', 'Too large for the event store', error.message))
  }
  if (error instanceof StoreUnavailableError) {
    request.log.warn({ err: error }, 'store unavailable')
    return send(
      reply,
      request,
      error.reason
        ? new HttpProblem(503, 'store-unavailable', 'Store unavailable', `${error.message}; ${STORE_FAULT_OUTCOME[error.reason]}`, { reason: error.reason }, {
            'retry-after': String(error.retryAfterSeconds),
          })
        : new HttpProblem(503, 'store-unavailable', 'Store unavailable', 'the event store is unavailable; nothing was recorded; retry later', {}, {
            'retry-after': String(error.retryAfterSeconds),
          }),
    )
  }
  const known = error.code ? FASTIFY_CLIENT_ERRORS[error.code] : undefined
  // A body over the limit: the detail states the limit (Fastify's message does not).
  const detail = error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? `the request body is too large: at most ${request.routeOptions.bodyLimit} bytes` : error.message
  if (known) return send(reply, request, new HttpProblem(known[0], known[1], known[2], detail))
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    return send(reply, request, new HttpProblem(error.statusCode, 'client-error', 'Bad request', error.message))
  }
  request.log.error({ err: error }, 'unhandled error')
  return send(reply, request, INTERNAL)
}

function send(reply: FastifyReply, request: FastifyRequest, problem: HttpProblem, withInstance = true) {
  for (const [k, v] of Object.entries(problem.headers)) reply.header(k, v)
  return reply
    .code(problem.status)
    .type(PROBLEM_JSON)
    .send(JSON.stringify(problem.toProblem(withInstance ? request.url.split('?')[0] : undefined)))
}
