import {
  AppendRecordSizeExceededError,
  CancelledError,
  DeadlineExceededError,
  MaxAppendSizeExceededError,
  NotLeaderError,
  TransactionMaxSizeExceededError,
  convertToCommandError,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
  jsonEvent,
  type AllStreamResolvedEvent,
  type AppendStreamState,
  type EventData,
  type Position,
  type ResolvedEvent,
} from '@kurrent/kurrentdb-client'
import { v5 as uuidV5, v7 as uuidV7 } from 'uuid'
import {
  StoreLimitExceededError,
  StoreUnavailableError,
  WrongExpectedRevisionError,
  type EventMetadata,
  type ExpectedRevision,
  type NewEvent,
  type RecordedEvent,
} from '../port.js'

/**
 * Pure translations between the event store port and the official KurrentDB client: expected
 * revisions, positions, events, errors. No I/O; tested without a server.
 */

/** 2^64: a KurrentDB position's `prepare` part is below it. */
const TWO_POW_64 = 1n << 64n

/**
 * The port's position of a KurrentDB position. KurrentDB orders `$all` by the pair
 * (commit, prepare), and events written together can share a commit position, so both parts are
 * kept: `commit × 2^64 + prepare`, one integer whose order is the pair's order. On the wire it is
 * an opaque decimal string; `decodePosition` gives the pair back to resume a subscription.
 */
export function encodePosition(position: { commit: bigint | number; prepare: bigint | number }): bigint {
  const commit = toBigInt(position.commit, 'commit position')
  const prepare = toBigInt(position.prepare, 'prepare position')
  if (commit < 0n || prepare < 0n || prepare >= TWO_POW_64) throw new RangeError(`not a KurrentDB position: ${commit}/${prepare}`)
  return commit * TWO_POW_64 + prepare
}

/** The KurrentDB position a port position was encoded from (see encodePosition). */
export function decodePosition(position: bigint): Position {
  if (position < 0n) throw new RangeError(`not a position: ${position}`)
  return { commit: position / TWO_POW_64, prepare: position % TWO_POW_64 }
}

/**
 * A bigint from what the client hands back. Its types say bigint, but some of its code paths hand
 * back JS numbers for revisions and positions (a known client bug); a number that is not a safe
 * integer has already lost precision and is refused rather than passed on wrong.
 * @throws RangeError for an unsafe or non-integer number, or anything else.
 */
export function toBigInt(value: bigint | number | string, what: string): bigint {
  if (typeof value === 'bigint') return value
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value)
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value)
  throw new RangeError(`${what} from the KurrentDB client is not an exact integer: ${String(value)}`)
}

/** The client's stream state for the port's expected revision (the same four cases). */
export function toStreamState(expected: ExpectedRevision): AppendStreamState {
  return expected
}

/** Namespace of the ledger's UUID v5 event ids (derived from an event's idempotency key). */
export const EVENT_ID_NAMESPACE = '6f1d4c2e-9a7b-5e3f-8c21-4b5a6d7e8f90'

/**
 * The client's event for a port event. The id is the given one, else UUID v5 of the idempotency
 * key when `deterministicIds` (so a retry of a half-written append writes the same ids), else v7.
 * Metadata is a JSON object of string values (the port's EventMetadata), as KurrentDB's
 * multi-stream append requires.
 */
export function toEventData(event: NewEvent, options: { deterministicIds: boolean; recordedAt: string }): EventData {
  const id =
    event.id ?? (options.deterministicIds && event.idempotencyKey !== undefined ? uuidV5(event.idempotencyKey, EVENT_ID_NAMESPACE) : uuidV7())
  const metadata: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...event.metadata, recordedAt: options.recordedAt })) {
    if (value !== undefined) metadata[key] = value
  }
  if (!isJsonObjectOrArray(event.data)) throw new TypeError(`event ${event.type}: data must be a JSON object or array`)
  // The client serialises inside a promise executor, where a throw (a bigint, a cycle) is an
  // unhandled rejection that never settles the append: serialise here first.
  try {
    JSON.stringify(event.data)
  } catch (err) {
    throw new TypeError(`event ${event.type}: data is not JSON-serialisable (${(err as Error).message})`, { cause: err })
  }
  return jsonEvent({ id, type: event.type, data: event.data as Record<string, unknown>, metadata })
}

function isJsonObjectOrArray(value: unknown): boolean {
  return typeof value === 'object' && value !== null
}

/**
 * The port's recorded event for what the client read, or `undefined` for what the ledger never
 * reads: a link without its event, a binary event, a system event (`$`-prefixed stream or type).
 */
export function toRecordedEvent(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent | undefined {
  const event = resolved.event
  if (!event || !event.isJson) return undefined
  if (event.streamId.startsWith('$') || event.type.startsWith('$')) return undefined
  if (!event.position) throw new RangeError(`event ${event.id} of ${event.streamId} came without a position`)
  const metadata = (isJsonObjectOrArray(event.metadata) ? event.metadata : {}) as EventMetadata
  const created = event.created instanceof Date ? event.created.toISOString() : new Date(String(event.created)).toISOString()
  return {
    id: event.id,
    stream: event.streamId,
    revision: toBigInt(event.revision, 'revision'),
    position: encodePosition(event.position),
    type: event.type,
    data: event.data,
    metadata,
    recordedAt: typeof metadata.recordedAt === 'string' ? metadata.recordedAt : created,
  }
}

/**
 * A stream state as the client's WrongExpectedVersionError carries it. Built from the server's
 * v1 error metadata it holds the wire numbers (-1 no stream, -2 any, -4 stream exists) as bigints,
 * or numbers (the client bug above); from the v2 protocol it holds the names.
 */
export function fromWireState(state: unknown): ExpectedRevision {
  if (state === 'no_stream' || state === 'any' || state === 'stream_exists' || state === undefined || state === null) return (state ?? 'no_stream') as ExpectedRevision
  const n = toBigInt(state as bigint | number | string, 'stream state')
  if (n === -1n) return 'no_stream'
  if (n === -2n) return 'any'
  if (n === -4n) return 'stream_exists'
  if (n < 0n) throw new RangeError(`unknown stream state ${n}`)
  return n
}

/** Revision of what the client read, whether or not the ledger reads it (to page past it). */
export function rawRevision(resolved: ResolvedEvent | AllStreamResolvedEvent): bigint | undefined {
  const record = resolved.link ?? resolved.event
  return record ? toBigInt(record.revision, 'revision') : undefined
}

/** Position of what the client read, whether or not the ledger reads it (to page past it). */
export function rawPosition(resolved: ResolvedEvent | AllStreamResolvedEvent): bigint | undefined {
  const record = (resolved.link ?? resolved.event) as { position?: Position } | undefined
  if (record?.position) return encodePosition(record.position)
  return resolved.commitPosition === undefined ? undefined : encodePosition({ commit: resolved.commitPosition, prepare: resolved.commitPosition })
}

/** Whether the client reports a missing stream (reading it yields nothing in the port). */
export function isStreamNotFound(err: unknown): boolean {
  return err instanceof StreamNotFoundError
}

/** Seconds a client of this service should wait before retrying after an unavailable store. */
export const RETRY_AFTER_SECONDS = 2

/** gRPC status codes that mean "not now": CANCELLED (1), DEADLINE_EXCEEDED (4), UNAVAILABLE (14). */
const PASSING_GRPC_CODES = new Set([1, 4, 14])

/**
 * The port's error for a client error: a wrong expected version becomes WrongExpectedRevisionError
 * (HTTP 409); unavailable, not-leader, deadline-exceeded, time-out and cancelled (as the client's
 * errors, or as the raw gRPC errors some of its paths let through, e.g. when its feature probe fails
 * during a reconnect) become StoreUnavailableError (HTTP 503 with Retry-After); the server's size
 * limits become StoreLimitExceededError (HTTP 413). Anything else is returned unchanged.
 */
export function toPortError(raw: unknown): unknown {
  const err = raw instanceof Error ? convertToCommandError(raw) : raw
  if (err instanceof WrongExpectedVersionError) {
    const actual = fromWireState(err.actualState)
    return new WrongExpectedRevisionError(err.streamName, fromWireState(err.expectedState), actual === 'no_stream' ? 'no_stream' : (actual as bigint))
  }
  if (
    err instanceof UnavailableError ||
    err instanceof NotLeaderError ||
    err instanceof DeadlineExceededError ||
    err instanceof TimeoutError ||
    err instanceof CancelledError ||
    (err instanceof Error && PASSING_GRPC_CODES.has((err as { code?: unknown }).code as number))
  ) {
    return new StoreUnavailableError(`KurrentDB unavailable: ${(err as Error).message || (err as Error).constructor.name}`, RETRY_AFTER_SECONDS, { cause: err })
  }
  if (err instanceof TransactionMaxSizeExceededError || err instanceof MaxAppendSizeExceededError || err instanceof AppendRecordSizeExceededError) {
    return new StoreLimitExceededError(
      `KurrentDB refuses an append this large (${err.constructor.name}); send fewer lines per submission, or raise the server's KURRENTDB_MAX_APPEND_SIZE`,
      { cause: err },
    )
  }
  return err
}

/** A connection string with its password masked, for logs and messages. */
export function redactConnectionString(url: string): string {
  return url.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:***@')
}
