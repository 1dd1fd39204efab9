import {
  AppendRecordSizeExceededError,
  CancelledError,
  DeadlineExceededError,
  MaxAppendSizeExceededError,
  NotLeaderError,
  TransactionMaxSizeExceededError,
  UnknownError,
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
  InvalidPositionError,
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
  let json: string
  try {
    json = JSON.stringify(event.data)
  } catch (err) {
    throw new TypeError(`event ${event.type}: data is not JSON-serialisable (${(err as Error).message})`, { cause: err })
  }
  const size = Buffer.byteLength(json) + Buffer.byteLength(JSON.stringify(metadata)) + event.type.length * 2
  if (size > MAX_EVENT_SIZE_BYTES) {
    throw new StoreLimitExceededError(
      `event ${event.type} is ${size} bytes, over the ${MAX_EVENT_SIZE_BYTES} bytes the ledger sends as one KurrentDB record (data, metadata and type; a record holds at most ${SERVER_MAX_RECORD_SIZE_BYTES} with its framing, whatever the server's MaxAppendEventSize)`,
    )
  }
  return jsonEvent({ id, type: event.type, data: event.data as Record<string, unknown>, metadata })
}

/**
 * The most one KurrentDB record can hold, bytes (UTF-8 data and metadata JSON, plus twice the type's
 * length, as the server sizes a record: src/KurrentDB.Core/Data/Event.cs SizeOnDisk): the server's
 * TFConsts.EffectiveMaxLogRecordSize (16 MiB less 10,000 bytes), also the gRPC MaxReceiveMessageSize
 * of its v1 Streams service, which bounds the whole message carrying the event. Past it the server refuses before
 * its MaxAppendEventSize check, in forms the client does not recognise ("Record is too big." as
 * BadRequest; over the gRPC MaxReceiveMessageSize, set to the same value in ClusterVNodeStartup.cs,
 * RESOURCE_EXHAUSTED, which also fails the other appends sharing the client's batchAppend call):
 * so an event over MAX_EVENT_SIZE_BYTES is refused here, as a size limit (HTTP 413), before
 * anything is sent.
 */
export const SERVER_MAX_RECORD_SIZE_BYTES = 16 * 1024 * 1024 - 10_000
/** Bytes kept free below SERVER_MAX_RECORD_SIZE_BYTES for what the client's gRPC message carries
 * besides data and metadata (event id, type and content type as map entries, correlation id, stream
 * name, protobuf framing: dist/streams/appendToStream/batchAppend.js). */
export const EVENT_FRAMING_MARGIN_BYTES = 4_096
/** Largest event the adapter sends, bytes, sized as SERVER_MAX_RECORD_SIZE_BYTES says. */
export const MAX_EVENT_SIZE_BYTES = SERVER_MAX_RECORD_SIZE_BYTES - EVENT_FRAMING_MARGIN_BYTES

function isJsonObjectOrArray(value: unknown): boolean {
  return typeof value === 'object' && value !== null
}

/**
 * Metadata keys the server itself adds, never the ledger (server src/KurrentDB.Core/Services/
 * Transport/Grpc/Constants.cs `RecordProperties`): an event appended through the v2 API
 * (multiStreamAppend) has its metadata stored as record properties, and v1 reads (readStream,
 * readAll, subscriptions) synthesize the metadata from them with `$schema.name` (the event type)
 * and `$schema.format` ("Json") added (src/KurrentDB.Core/Data/EventRecord.cs
 * SynthesizeMetadataFromProperties; `$schema.id` when a schema id was sent, src/KurrentDB.Api.V2/
 * Modules/Streams/Model/AppendRecordExtensions.cs). Stripped on read, so an event reads the same
 * whichever append wrote it and whichever store holds it (the ledger writes no `$` keys of its own).
 */
export const SERVER_METADATA_KEYS: readonly string[] = ['$schema.name', '$schema.format', '$schema.id', '$record.timestamp']

/** The event's metadata as the ledger wrote it: a JSON object without the server's own keys. */
export function ledgerMetadata(metadata: unknown): EventMetadata {
  if (!isJsonObjectOrArray(metadata) || Array.isArray(metadata)) return {}
  const out: EventMetadata = {}
  for (const [key, value] of Object.entries(metadata as Record<string, string | undefined>)) {
    if (!SERVER_METADATA_KEYS.includes(key)) out[key] = value
  }
  return out
}

/**
 * The port's recorded event for what the client read, or `undefined` for what the ledger never
 * reads: a link without its event, a binary event, a system event (`$`-prefixed stream or type).
 * Metadata loses the server's own keys (SERVER_METADATA_KEYS).
 */
export function toRecordedEvent(resolved: ResolvedEvent | AllStreamResolvedEvent): RecordedEvent | undefined {
  const event = resolved.event
  if (!event || !event.isJson) return undefined
  if (event.streamId.startsWith('$') || event.type.startsWith('$')) return undefined
  if (!event.position) throw new RangeError(`event ${event.id} of ${event.streamId} came without a position`)
  const metadata = ledgerMetadata(event.metadata)
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
  const over = sizeRefusal(err)
  if (over !== undefined) return new StoreLimitExceededError(`KurrentDB refuses an append this large: ${over}. ${SIZE_LIMITS_ADVICE}`, { cause: err })
  return err
}

/**
 * What the 413 says of the server's two size limits (server src/KurrentDB.Core/Configuration/
 * ClusterVNodeOptions.cs at 25.1: MaxAppendSize defaults to the chunk size, 256 MiB (1 MiB up to
 * 25.0); MaxAppendEventSize to TFConsts.MaxLogRecordSize, 16 MiB (unbounded in 25.0)).
 */
export const SIZE_LIMITS_ADVICE =
  'KurrentDB has two size limits: MaxAppendSize for a whole append (KURRENTDB_MAX_APPEND_SIZE; 256 MiB by default from 25.1, 1 MiB before) ' +
  'and MaxAppendEventSize for one event (KURRENTDB_MAX_APPEND_EVENT_SIZE; 16 MiB by default from 25.1); ' +
  "send fewer lines per submission, or raise the server's limit"

/** The server's v1 exception name for one event over MaxAppendEventSize (server
 * src/KurrentDB.Core/Services/Transport/Grpc/Constants.cs); client 1.3.1 has no class for it, so it
 * arrives as UnknownError (dist/utils/CommandError.js convertToCommandError). */
const MAX_APPEND_EVENT_SIZE_EXCEPTION = 'maximum-append-event-size-exceeded'

/**
 * What client 1.3.1 makes of batchAppend's refusal of one event over MaxAppendEventSize: the server
 * answers Status.MaximumAppendEventSizeExceeded (server src/KurrentDB.Core/Services/Transport/Grpc/
 * Streams.BatchAppend.cs, Status.cs: message "MaximumAppendEventSizeExceeded"), whose details type
 * dist/streams/appendToStream/unpackError.js does not know, so it answers
 * `new UnknownError(undefined, "Could not recognize " + message)`: no sizes, no gRPC metadata. The
 * client's appendToStream goes through batchAppend whenever the server lists it
 * (dist/streams/appendToStream/index.js), which every server the ledger supports does.
 */
const BATCH_APPEND_EVENT_TOO_LARGE_MESSAGE = 'Could not recognize MaximumAppendEventSizeExceeded'

/**
 * Which limit a size refusal hit and by how much, from the sizes the client's error carries
 * (dist/utils/CommandError.js): TransactionMaxSizeExceededError (v2 append: size, maxSize =
 * MaxAppendSize), MaxAppendSizeExceededError (v1 append: maxAppendSize), AppendRecordSizeExceededError
 * (v2, one record: size, maxSize = MaxAppendEventSize), and the v1 one-event refusals: the unary
 * append's (metadata `maximum-append-event-size`, `proposed-append-event-size`) and batchAppend's,
 * which carries no sizes (BATCH_APPEND_EVENT_TOO_LARGE_MESSAGE). `undefined`: not a size refusal.
 */
function sizeRefusal(err: unknown): string | undefined {
  if (err instanceof TransactionMaxSizeExceededError) return `the whole append is ${err.size} bytes, over the server's MaxAppendSize of ${err.maxSize} bytes`
  if (err instanceof MaxAppendSizeExceededError) return `the whole append is over the server's MaxAppendSize of ${err.maxAppendSize} bytes`
  if (err instanceof AppendRecordSizeExceededError) return `one event is ${err.size} bytes, over the server's MaxAppendEventSize of ${err.maxSize} bytes`
  if (err instanceof UnknownError) {
    if (err._raw === undefined && err.message === BATCH_APPEND_EVENT_TOO_LARGE_MESSAGE) return "one event is over the server's MaxAppendEventSize"
    const metadata = grpcMetadata(err._raw)
    if (metadata['exception'] !== MAX_APPEND_EVENT_SIZE_EXCEPTION) return undefined
    return `one event is ${metadata['proposed-append-event-size'] ?? '?'} bytes, over the server's MaxAppendEventSize of ${metadata['maximum-append-event-size'] ?? '?'} bytes`
  }
  return undefined
}

/** The string values of a gRPC error's metadata (grpc-js Metadata, or the bridge's plain object). */
function grpcMetadata(raw: unknown): Record<string, string> {
  const metadata = (raw as { metadata?: unknown } | undefined)?.metadata as { getMap?: () => Record<string, unknown> } | Record<string, unknown> | undefined
  if (!metadata || typeof metadata !== 'object') return {}
  const map = typeof metadata.getMap === 'function' ? metadata.getMap() : (metadata as Record<string, unknown>)
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(map)) out[key] = String(value)
  return out
}

/**
 * The port's error for a failed `$all` read from `position`: the server's refusal of a position
 * inside a record becomes InvalidPositionError, anything else as toPortError.
 *
 * The server answers a position that is not a record boundary with ReadAllResult.InvalidPosition
 * (src/KurrentDB.Core/Services/Storage/StorageReaderWorker.All.cs, StorageReaderWorker.AllFiltered.cs:
 * InvalidReadException or UnableToReadPastEndOfStreamException from the chunk reader): on an
 * unfiltered read INVALID_ARGUMENT "Trying to read from an invalid position."
 * (Services/Transport/Grpc/RpcExceptions.cs), on a filtered one UNKNOWN "Unexpected
 * FilteredReadAllResult: InvalidPosition >> …" (Enumerators/Enumerator.ReadAllForwardsFiltered.cs
 * has no case for it). The Rust bridge maps either status to its UnknownError (`Unmapped gRPC error:
 * code: …, message: …`, KurrentDB-Bridge-Client crates/bridge/src/error.rs, from kurrentdb's
 * `Error::Grpc`), which dist/utils/convertBridgeError.js turns into the client's UnknownError.
 */
export function toReadAllError(raw: unknown, position: bigint | undefined): unknown {
  const err = raw instanceof Error ? convertToCommandError(raw) : raw
  if (position !== undefined && err instanceof UnknownError && INVALID_POSITION_REFUSAL.test(err.message)) {
    return new InvalidPositionError(position, 'is not the position of an event in the KurrentDB log', { cause: err })
  }
  return toPortError(raw)
}

/** The server's words for a read position inside a record (see toReadAllError). */
const INVALID_POSITION_REFUSAL = /Trying to read from an invalid position|ReadAllResult: InvalidPosition/

/** Largest commit or prepare part the server takes: it casts positions to signed 64-bit integers
 * (src/KurrentDB.Core/Services/Transport/Common/Position.cs ToInt64), so a larger one turns
 * negative and is refused as "Invalid position." (StorageReaderWorker.All.cs). No log reaches it. */
export const MAX_KURRENTDB_LOG_POSITION = (1n << 63n) - 1n

/**
 * Whether a port position can be a KurrentDB event position, before asking the server: `undefined`
 * if it can, else why not. Every event of a KurrentDB log has prepare <= commit (its own prepare
 * record, then its commit: server AllReader.cs), so a larger prepare part was never given out.
 */
export function positionProblem(position: bigint): string | undefined {
  if (position < 0n) return 'is negative'
  const { commit, prepare } = decodePosition(position)
  if (prepare > commit) return `is not a KurrentDB position: its prepare part (${prepare}) is after its commit part (${commit})`
  return undefined
}

/**
 * A connection string with its password masked, for logs and messages: everything between the
 * first `:` after `scheme://` and the LAST `@` becomes `***`, so a password holding `@`, `:` or `/`
 * is masked whole (`kurrentdb://admin:p@ss:w/rd@host1:2113,host2:2113` →
 * `kurrentdb://admin:***@host1:2113,host2:2113`). A query holding `@` masks more than the
 * password (the hosts too): over-masking is safer than leaking. No `@`, or a user name without a
 * password: unchanged.
 */
export function redactConnectionString(url: string): string {
  const scheme = url.indexOf('://')
  if (scheme < 0) return url
  const start = scheme + 3
  const at = url.lastIndexOf('@')
  if (at < start) return url
  const colon = url.indexOf(':', start)
  if (colon < 0 || colon > at) return url
  return `${url.slice(0, colon + 1)}***${url.slice(at)}`
}
