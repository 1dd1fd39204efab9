import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import {
  AppendRecordSizeExceededError,
  DeadlineExceededError,
  InvalidArgumentError,
  MaxAppendSizeExceededError,
  NotLeaderError,
  StreamNotFoundError,
  TimeoutError,
  TransactionMaxSizeExceededError,
  UnavailableError,
  UnknownError,
  UnsupportedError,
  WrongExpectedVersionError,
  type AllStreamRecordedEvent,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendResult,
  type AppendStreamRequest,
  type AppendStreamState,
  type AppendToStreamOptions,
  type CaughtUp,
  type CurrentStreamState,
  type EventData,
  type Filter,
  type MultiAppendResult,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type ResolvedEvent,
  type SubscribeToAllOptions,
} from '@kurrent/kurrentdb-client'
import type { KurrentClient } from '../../src/eventstore/kurrentdb/client.js'
import { streamNameKey } from '../../src/eventstore/port.js'

/*
 * An in-memory KurrentDB behind the `KurrentClient` interface, for tests where no server can run.
 *
 * What it models, and where the behaviour comes from (paths under
 * node_modules/@kurrent/kurrentdb-client/dist unless a server file is named; server files are in
 * github.com/kurrent-io/KurrentDB, src/KurrentDB.Core/...):
 *
 * - Appends: expected-state checks and idempotency exactly as the server's
 *   `IndexWriter.CheckCommit` decides them (Services/Storage/ReaderIndex/IndexWriter.cs), the
 *   all-or-nothing rules of `StorageWriterService.VerifyCommitChecks` for multi-stream appends (by
 *   server version: a retry mixing an idempotent stream with others is gRPC INTERNAL before 26.0.3,
 *   a WrongExpectedVersionError from it; see `mixedRetryConflicts`), and the client's error classes
 *   built the way the client builds them (WrongExpectedVersionError in streams/appendToStream/append.js
 *   and utils/CommandError.js `fromRevisionConflict`).
 * - Size limits: MaxAppendSize, and MaxAppendEventSize for one event as each path sizes and refuses
 *   it (batchAppend behind `appendToStream`, the v2 append session behind `multiStreamAppend`).
 * - `multiStreamAppend`: the client's checks in the client's order (streams/appendToStream/index.js:
 *   UnsupportedError first, then multiStreamAppend.js: metadata must be a plain object of strings).
 * - Reads: `readStream`/`readAll` go through the client's Rust bridge (streams/readStream.js,
 *   readAll.js); errors surface when iterated, converted by utils/convertBridgeError.js. Forward
 *   `$all` reads are inclusive of `fromPosition`, backward ones exclusive (server AllReader.cs).
 * - Subscriptions: a Readable in object mode like streams/utils/Subscription.js, emitting
 *   `confirmation`, `caughtUp` and events; `fromPosition` is exclusive; `unsubscribe()` ends it
 *   without error; a server-side failure emits 'error' after the stream's end was pushed
 *   (@grpc/grpc-js client.js pushes null, then emits the error).
 * - Positions: a transaction file with byte offsets (records have sizes, so positions have gaps).
 *   See `PositionModel` for the two ways events get their (commit, prepare) pair, and
 *   `appendToStream`/`multiStreamAppend` for the positions the server answers appends with.
 * - A cluster, as far as the client's reads see one (`readsFrom`, `holdReplication`): reads go to
 *   the node the bridge is connected to, with `requiresLeader: false` unless asked, and a follower
 *   may not have the latest writes; `requiresLeader` on a follower is NotLeaderError, after which
 *   the bridge is on the leader.
 * - The `$all` default filter of the server (Services/Storage/ReaderIndex/EventFilter.cs): system
 *   events are in `$all`, except `$epoch-information` and persistent-subscription bookkeeping.
 */

/** The calls of `KurrentClient` a fault can be injected into (see `FakeKurrentClient.failNext`). */
export type FakeCallKind = 'appendToStream' | 'multiStreamAppend' | 'readStream' | 'readAll' | 'subscribeToAll' | 'serverVersion'

/** Read paths on which the "numbers instead of bigints" client bug can be simulated. */
export type NumbersBugScope = 'readStream' | 'readAll' | 'subscribeToAll'

/**
 * How events get their `$all` position.
 *
 * - `'perEvent'`: what the server writes for every append through gRPC (`appendToStream` and
 *   `multiStreamAppend`: StorageWriterService.WritePrepares flags every prepare `IsCommitted`, and
 *   AllReader.cs positions each such event at (its offset, its offset)): `commit === prepare`,
 *   unique per event. The server answers such an append with the position of its last prepare
 *   (see `appendToStream`), which is then exactly the last event's `$all` position.
 * - `'sharedCommit'`: events written by an explicit transaction (TCP clients of older servers; the
 *   gRPC API never writes one): prepares at increasing offsets followed by one commit record; every
 *   event has `commit` = the commit record's offset and its own `prepare` (< commit), AllReader.cs
 *   `LogRecordType.Commit` branch. Only history holds them here: `appendTransaction` writes them,
 *   so that reads and subscriptions meet positions whose `commit` alone is not unique.
 *
 * (Until issue #15 the fake wrote gRPC appends in the `sharedCommit` layout and answered the last
 * event's (commit, prepare): no server does that, and a `multiStreamAppend` answer - one number -
 * could not even name such a position.)
 */
export type PositionModel = 'sharedCommit' | 'perEvent'

/** What the Nth subscription does besides delivering events (see `FakeKurrentClient.scriptSubscription`). */
export interface SubscriptionScript {
  /**
   * Before anything else, deliver again this many already-seen events: the last ones (matching the
   * filter) at or before the requested `fromPosition`, as a server can after a reconnect. Only for
   * subscriptions from a position (not `start`/`end`).
   */
  replay?: number
  /** Drop the subscription once this many events (replayed ones included) have been delivered. */
  dropAfter?: number
  /** The error the drop emits; absent: the subscription just ends (as when the server closes the call). */
  error?: Error
}

/** Options of `FakeKurrentClient`; every one has a default that behaves like a healthy 25.1 server. */
export interface FakeKurrentClientOptions {
  /** Version the server reports (default '25.1.0'). */
  serverVersion?: string
  /** Whether the server has `multiStreamAppend` (default: serverVersion >= 25.1). */
  supportsMultiStreamAppend?: boolean
  /**
   * The node the client's read connection (the Rust bridge: `readStream`, `readAll`) is on, in a
   * cluster (default 'leader'; a single node is its own leader). On a 'follower', reads without
   * `requiresLeader` see only the log the follower has (see `holdReplication`), and a read with
   * `requiresLeader: true` fails once with the bridge's NotLeaderError, after which the bridge's
   * connection is on the leader (KurrentDB-Client-Rust kurrentdb/src/grpc.rs: on
   * `NotLeaderException(leader)` it sends `CreateChannel(id, Some(leader))`; the bridge's
   * crates/bridge/src/error.rs names it NotLeaderError with the leader's host and port).
   */
  readsFrom?: 'leader' | 'follower'
  /** Offset of the first record after the epoch record (default 128n). */
  firstPosition?: bigint
  /**
   * Start with the system events a fresh server has (default true): `$epoch-information`/`$epoch`
   * (never in `$all`), `$users`/`$User`, `$user-admin`/`$UserCreated`.
   */
  systemEvents?: boolean
  /**
   * Simulate the client bug where revisions and positions come back as JS numbers (issue
   * kurrent-io/KurrentDB-Client-NodeJS#513: the Rust bridge's `revision`; #423: `commitPosition`).
   * `true` = the bridge's read paths (readStream, readAll), where the real client has it; a list
   * chooses the paths. Affected: event.revision, event.position.commit/prepare, commitPosition.
   */
  numbersInsteadOfBigints?: boolean | readonly NumbersBugScope[]
  /** Every call fails with the client's UnavailableError (as with no server); see setUnavailable. */
  unavailable?: boolean
  /** Events every subscription from a position replays first (default 0; see SubscriptionScript.replay). */
  replayOnResubscribe?: number
  /** Scripts by subscription ordinal (0 = the first subscribeToAll call); see scriptSubscription. */
  subscriptionScripts?: Record<number, SubscriptionScript>
  /** Server's MaxAppendSize in bytes of data + metadata (default DEFAULT_MAX_APPEND_SIZE, 256 MiB as from 25.1). */
  maxAppendSize?: number
  /**
   * Server's MaxAppendEventSize in bytes of one event as the server sizes it (see `appendToStream`
   * and `multiStreamAppend`; default DEFAULT_MAX_APPEND_EVENT_SIZE, 16 MiB, from 25.1; no limit
   * before, where 25.0's default is int.MaxValue). The server refuses to start with it above
   * MaxAppendSize (ClusterVNodeOptionsValidator.cs); the fake does not check that.
   */
  maxAppendEventSize?: number
  /**
   * After `dispose()`: 'throw' (default) makes every later call fail with UnavailableError, to catch
   * use after dispose; 'succeed' is what the real client does (dispose only cancels open calls).
   */
  callsAfterDispose?: 'throw' | 'succeed'
  /** Clock for events' `created` (default: the wall clock). */
  now?: () => Date
}

/** Bytes a prepare record adds to the log besides its stream name, type, data and metadata. */
export const PREPARE_RECORD_OVERHEAD = 88
/** Bytes of a commit record (sharedCommit model). */
export const COMMIT_RECORD_SIZE = 49
/** The server's default MaxAppendSize from 25.1, bytes: TFConsts.ChunkSize, 256 MiB
 * (src/KurrentDB.Core/Configuration/ClusterVNodeOptions.cs, TransactionLog/Chunks/TFConsts.cs). */
export const DEFAULT_MAX_APPEND_SIZE = 268_435_456
/** The server's default MaxAppendSize before 25.1, bytes (1 MiB). */
export const PRE_25_1_MAX_APPEND_SIZE = 1_048_576
/** The server's default MaxAppendEventSize from 25.1, bytes: TFConsts.MaxLogRecordSize, 16 MiB
 * (src/KurrentDB.Core/Configuration/ClusterVNodeOptions.cs, TransactionLog/Chunks/TFConsts.cs). */
export const DEFAULT_MAX_APPEND_EVENT_SIZE = 16_777_216

/** One event as the fake's transaction file holds it. */
export interface FakeStoredEvent {
  readonly streamId: string
  readonly revision: bigint
  /** Lower-case UUID (the server stores a Guid and prints it lower case). */
  readonly id: string
  readonly type: string
  readonly isJson: boolean
  /** Serialized data: UTF-8 JSON for JSON events. */
  readonly data: Uint8Array
  /** Serialized metadata; empty when none was given. */
  readonly metadata: Uint8Array
  readonly created: Date
  readonly commit: bigint
  readonly prepare: bigint
  /** Post-positions (end of the commit and prepare records), which backward `$all` reads compare. */
  readonly commitEnd: bigint
  readonly prepareEnd: bigint
  /**
   * Written through the v2 API (multiStreamAppend): the server stores the metadata as record
   * properties (PrepareFlags.IsPropertyMetadata, src/KurrentDB.Api.V2/Modules/Streams/Model/Mapping.cs
   * MapToEvent) and v1 reads synthesize metadata from them (see toRecorded). `metadata` holds them
   * as the JSON of the client's string map.
   */
  readonly propertyMetadata?: boolean
}

/** Factories for the client's errors shaped as the client builds them from a gRPC failure. */
export const fakeErrors = {
  /** gRPC UNAVAILABLE, as when the server is down or restarting (CommandError.js maps 14 to UnavailableError). */
  unavailable(details = 'No connection established'): UnavailableError {
    return new UnavailableError(serviceError(14, 'UNAVAILABLE', details))
  },
  /** gRPC DEADLINE_EXCEEDED (status 4). */
  deadlineExceeded(details = 'Deadline exceeded'): DeadlineExceededError {
    return new DeadlineExceededError(serviceError(4, 'DEADLINE_EXCEEDED', details))
  },
  /** A follower's answer to a leader-only call; `leader` is read from the error's metadata. */
  notLeader(host = 'node2.kurrentdb.local', port = 2113): NotLeaderError {
    const error = serviceError(5, 'NOT_FOUND', 'Leader info available', {
      exception: 'not-leader',
      'leader-endpoint-host': host,
      'leader-endpoint-port': String(port),
    })
    return new NotLeaderError(error)
  },
}

type ServiceErrorLike = ConstructorParameters<typeof NotLeaderError>[0]

/** A plain object with the fields of a grpc-js ServiceError the client's error classes read. */
function serviceError(code: number, name: string, details: string, metadata: Record<string, string> = {}): ServiceErrorLike {
  const error = Object.assign(new Error(`${code} ${name}: ${details}`), { code, details, metadata })
  return error as unknown as ServiceErrorLike
}

interface Fault {
  error: Error
  /** The call takes effect on the server, then the client sees the error (an ambiguous outcome). */
  afterWrite: boolean
  remaining: number
}

type CommitDecision =
  | { kind: 'ok'; current: bigint }
  | { kind: 'idempotent'; first: bigint; last: bigint; lastEvent: FakeStoredEvent }
  | { kind: 'wrong'; current: bigint; corrupted: boolean }

interface PendingEvent {
  stream: string
  id: string
  type: string
  isJson: boolean
  data: Uint8Array
  metadata: Uint8Array
  /** Metadata sent as v2 record properties (multiStreamAppend); see FakeStoredEvent.propertyMetadata. */
  propertyMetadata?: boolean
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A tick of the event loop: calls resolve in the order they were made, never synchronously. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * An in-memory fake of the official KurrentDB client (the `KurrentClient` part the adapter uses).
 *
 * Beyond the interface it has test controls: `failNext` (per call kind, optionally after the
 * write took effect), `setUnavailable`, `scriptSubscription`/`scriptNextSubscription` (drop a
 * subscription after K events, replay events), `appendSystemEvent`, `appendTransaction` (history
 * of explicit transactions), `holdReplication`/`replicate` (a lagging follower), `interposeNext`
 * (another writer between a read and a write), `stallNext` (a read that never answers), and
 * read-only views of the log.
 */
export class FakeKurrentClient implements KurrentClient {
  private readonly options: Required<Omit<FakeKurrentClientOptions, 'subscriptionScripts' | 'numbersInsteadOfBigints' | 'supportsMultiStreamAppend' | 'readsFrom'>>
  private readonly multiStreamAppendSupported: boolean
  /**
   * How the server answers a multi-stream append that mixes an idempotent repeat (or a partly
   * matching one) with other streams. true (26.0.3 and 26.1+, server commit 999fed5f8, #5577):
   * StorageWriterService.VerifyCommitChecks answers ConsistencyChecksFailed listing the wrong,
   * idempotent and corrupted streams in request order, and StreamsService.MapToError a
   * WrongExpectedVersion for the first. false (25.1.x, 26.0.0-26.0.2): VerifyCommitChecks answers
   * `WrongExpectedVersion(correlationId, [], [])` (also for CorruptedIdempotency when several streams
   * are written), StreamsService.MapToError (src/KurrentDB.Api.V2/Modules/Streams/StreamsService.cs)
   * reads `FailureStreamIndexes.Span[0]` of the empty list and throws, and ApiCallback.cs answers
   * ApiErrors.InternalServerError ("failed to map error"): gRPC INTERNAL, which
   * dist/utils/CommandError.js convertToCommandError turns into UnavailableError.
   */
  private readonly mixedRetryConflicts: boolean
  private readonly numbersOn: ReadonlySet<NumbersBugScope>
  private readonly log: FakeStoredEvent[] = []
  private readonly streams = new Map<string, FakeStoredEvent[]>()
  /** Event id -> the latest event written with it (the server's `_committedEvents` cache). */
  private readonly byId = new Map<string, FakeStoredEvent>()
  private readonly scripts = new Map<number, SubscriptionScript>()
  private readonly faults = new Map<FakeCallKind, Fault[]>()
  private readonly live = new Set<FakeSubscription>()
  private readonly callCounts = new Map<FakeCallKind, number>()
  private writerPosition: bigint
  /** The node the bridge's reads go to (see FakeKurrentClientOptions.readsFrom). */
  private readsFrom: 'leader' | 'follower'
  /** Events of the log the follower has (the whole log unless replication is held). */
  private replicatedLength: number | undefined
  /** Calls to run inside the next append of a kind, before its commit check (see interposeNext). */
  private readonly interposed = new Map<'appendToStream' | 'multiStreamAppend', (() => unknown)[]>()
  private interposing = false
  /** Calls of a kind that never answer (see stallNext). */
  private readonly stalls = new Map<'readStream' | 'readAll' | 'appendToStream', number>()
  private unavailable: boolean
  private disposed = false
  private subscriptionsOpened = 0

  constructor(options: FakeKurrentClientOptions = {}) {
    this.options = {
      serverVersion: options.serverVersion ?? '25.1.0',
      firstPosition: options.firstPosition ?? 128n,
      systemEvents: options.systemEvents ?? true,
      unavailable: options.unavailable ?? false,
      replayOnResubscribe: options.replayOnResubscribe ?? 0,
      maxAppendSize: options.maxAppendSize ?? DEFAULT_MAX_APPEND_SIZE,
      maxAppendEventSize:
        options.maxAppendEventSize ?? (versionAtLeast(options.serverVersion ?? '25.1.0', 25, 1) ? DEFAULT_MAX_APPEND_EVENT_SIZE : Number.POSITIVE_INFINITY),
      callsAfterDispose: options.callsAfterDispose ?? 'throw',
      now: options.now ?? (() => new Date()),
    }
    this.multiStreamAppendSupported = options.supportsMultiStreamAppend ?? versionAtLeast(this.options.serverVersion, 25, 1)
    this.mixedRetryConflicts = versionAtLeast(this.options.serverVersion, 26, 0, 3)
    const bug = options.numbersInsteadOfBigints ?? false
    this.numbersOn = new Set<NumbersBugScope>(bug === true ? ['readStream', 'readAll'] : bug === false ? [] : bug)
    for (const [ordinal, script] of Object.entries(options.subscriptionScripts ?? {})) this.scripts.set(Number(ordinal), script)
    this.writerPosition = this.options.firstPosition
    this.readsFrom = options.readsFrom ?? 'leader'
    this.unavailable = this.options.unavailable
    if (this.options.systemEvents) {
      this.appendSystemEvent('$epoch-information', '$epoch', { epochNumber: 0, epochPosition: 0, leaderInstanceId: randomUUID() })
      this.appendSystemEvent('$users', '$User', 'admin')
      this.appendSystemEvent('$user-admin', '$UserCreated', { loginName: 'admin', fullName: 'KurrentDB Administrator', groups: ['$admins'] })
    }
  }

  // ------------------------------------------------------------------ KurrentClient

  /**
   * Appends to one stream, atomically, after the server's expected-state and idempotency checks.
   *
   * The answer's position is what the server answers (Services/Transport/Grpc/Streams.Append.cs:
   * `Position.FromInt64(completed.CommitPosition, completed.PreparePosition)`, both set to the
   * request's CommitPosition by Services/RequestManager/Managers/WriteEvents.cs ClientSuccessMsg,
   * which is CommitIndexed.LogPosition: the LogPosition of the transaction's last prepare,
   * StorageChaser.cs ProcessPrepareRecord). So it is (P, P) for the last event's offset P: that
   * event's `$all` position. An idempotent repeat answers (L, L) for the LogPosition L of the last
   * event it matched (IndexWriter.CheckCommit `logPos`, RequestManagerBase.ReturnCommitAt); for an
   * event of an explicit transaction that is its prepare offset, not its `$all` position.
   * @throws WrongExpectedVersionError (message '', as the client builds it) when the state does not
   *   match, or when the ids only partly match events already there (the server's "corrupted
   *   idempotency"); MaxAppendSizeExceededError over maxAppendSize; for an event over
   *   maxAppendEventSize, the UnknownError the client builds from batchAppend's answer (below);
   *   injected faults.
   *
   * Client 1.3.1 appends through batchAppend whenever the server lists it (dist/streams/appendToStream/index.js:
   * no per-call credentials and no credentialsProvider, which a connection string never sets; every
   * server from 21.10 lists it, Services/Transport/Grpc/ServerFeatures.cs). The server sizes each event
   * as Event.SizeOnDisk, data + metadata bytes + 2 x the type's UTF-16 length (src/KurrentDB.Core/Data/Event.cs),
   * and refuses one over MaxAppendEventSize with Status.MaximumAppendEventSizeExceeded
   * (Services/Transport/Grpc/Streams.BatchAppend.cs AddEvents, Status.cs), whose details type
   * dist/streams/appendToStream/unpackError.js does not know: `new UnknownError(undefined, "Could not
   * recognize MaximumAppendEventSizeExceeded")`, no gRPC status or metadata. (Not modelled: near the
   * default limit the server's own bounds come first - the Streams service's MaxReceiveMessageSize,
   * TFConsts.EffectiveMaxLogRecordSize = 16 MiB - 10000 (ClusterVNodeStartup.cs), and the Event
   * constructor's "Record is too big." over the same size - so this answer is what a server whose
   * MaxAppendEventSize was set lower gives.)
   */
  async appendToStream(stream: string, events: EventData | EventData[], options: AppendToStreamOptions = {}): Promise<AppendResult> {
    this.count('appendToStream')
    this.checkAvailable()
    const list = Array.isArray(events) ? events : [events]
    const streamState: AppendStreamState = options.streamState ?? 'any'
    // The client serializes before anything reaches the server.
    const pending = list.map((event) => toPending(stream, event, 'appendToStream'))
    await this.stallIfScripted('appendToStream')
    const fault = this.takeFault('appendToStream')
    await tick()
    if (fault && !fault.afterWrite) throw fault.error
    // The server checks each event as it adds it to the write, before the whole write's size.
    if (pending.some((e) => e.data.length + e.metadata.length + 2 * e.type.length > this.options.maxAppendEventSize)) {
      throw new UnknownError(undefined, 'Could not recognize MaximumAppendEventSizeExceeded')
    }
    const size = pending.reduce((sum, e) => sum + e.data.length + e.metadata.length, 0)
    if (size > this.options.maxAppendSize) throw MaxAppendSizeExceededError.fromMaxAppendSize(this.options.maxAppendSize)
    await this.runInterposed('appendToStream')

    const decision = this.checkCommit(stream, streamState, pending.map((e) => e.id))
    let result: AppendResult
    switch (decision.kind) {
      case 'wrong':
        throw new WrongExpectedVersionError(undefined, { streamName: stream, expected: streamState, current: currentState(decision.current) })
      case 'idempotent':
        result = { success: true, nextExpectedRevision: decision.last, position: logPositionOf(decision.lastEvent) }
        break
      case 'ok': {
        if (pending.length === 0) {
          // The server writes an empty prepare and answers with its position. For a stream that
          // does not exist it answers `no_stream`, which the client reads as revision 0
          // (BigInt(getCurrentRevision()) of an unset field, append.js / batchAppend.js).
          const at = this.writerPosition
          this.writerPosition += BigInt(PREPARE_RECORD_OVERHEAD + utf8Length(stream))
          const revision = decision.current < 0n ? 0n : decision.current
          result = { success: true, nextExpectedRevision: revision, position: { commit: at, prepare: at } }
        } else {
          const written = this.write(pending)
          const last = written[written.length - 1] as FakeStoredEvent
          result = { success: true, nextExpectedRevision: last.revision, position: logPositionOf(last) }
        }
      }
    }
    if (fault) throw fault.error
    return result
  }

  /**
   * Appends to several streams in one transaction: all or nothing (KurrentDB 25.1+).
   * @throws UnsupportedError('multiStreamAppend', '25.1') on an older server (checked first, as the
   *   client does); Error when an event's metadata is not a plain object of strings (the client's
   *   own check); WrongExpectedVersionError for the first stream whose state does not match;
   *   for a retry that mixes an idempotent (or partly matching) stream with others,
   *   WrongExpectedVersionError naming the first stream that is not ok from 26.0.3, and before
   *   (25.1.x, 26.0.0-26.0.2) UnavailableError, the client's class for the server's gRPC INTERNAL
   *   (see `mixedRetryConflicts`): every retry of it fails the same way;
   *   UnknownError for an empty request list, and for a stream with no events (the server's
   *   request validator answers INVALID_ARGUMENT, Api.V2/Modules/Streams/Validators/AppendRequestValidator.cs
   *   "must contain at least one record", before ClientMessage.cs WriteEvents could refuse it with
   *   "Not all streams have events being written to them"; convertToCommandError in
   *   dist/utils/CommandError.js has no class for INVALID_ARGUMENT without size details: UnknownError);
   *   TimeoutError for a stream named twice, compared case-insensitively (Api.V2/Modules/Streams/StreamsService.cs
   *   AppendRequestComparer, OrdinalIgnoreCase; ApiErrors.StreamAlreadyInAppendSession is ABORTED,
   *   which CommandError.js `case ABORTED` turns into a TimeoutError unless the details are a size
   *   error); AppendRecordSizeExceededError for the first event over maxAppendEventSize (below);
   *   TransactionMaxSizeExceededError over maxAppendSize; injected faults.
   *
   * The v2 server sizes a record as its data bytes + the protobuf size of its properties (a Struct
   * of the client's metadata strings, plus `$schema.format: "Bytes"` for non-JSON data) + the UTF-8
   * bytes of its type (src/KurrentDB.Api.V2/Modules/Streams/Model/AppendRecordExtensions.cs
   * CalculateSizeOnDisk, after PreProcessRecord) and refuses one over MaxAppendEventSize with
   * ApiErrors.AppendRecordSizeExceeded (StreamsService.cs WithRequest; Modules/Streams/ApiErrors.cs):
   * INVALID_ARGUMENT with AppendRecordSizeExceededErrorDetails {stream, recordId, size, maxSize},
   * which dist/utils/CommandError.js convertToCommandError turns into AppendRecordSizeExceededError.
   *
   * The answer's `position` is the server's `completed.CommitPosition` (Api.V2/Modules/Streams/StreamsService.cs
   * MapToResult): the LogPosition of the transaction's last prepare, i.e. the last event's offset,
   * whose `$all` position is (it, it); an idempotent repeat answers the largest LogPosition of the
   * events it matched (StorageWriterService.cs, AlreadyCommitted).
   */
  async multiStreamAppend(requests: AppendStreamRequest[]): Promise<MultiAppendResult> {
    this.count('multiStreamAppend')
    this.checkAvailable()
    await tick()
    if (!this.multiStreamAppendSupported) throw new UnsupportedError('multiStreamAppend', '25.1')
    for (const request of requests) {
      for (const event of request.events) {
        const { metadata } = event
        if (metadata == null) continue
        if (
          metadata.constructor === Uint8Array ||
          typeof metadata !== 'object' ||
          Array.isArray(metadata) ||
          Object.values(metadata).some((value) => typeof value !== 'string')
        ) {
          throw new Error('multiStreamAppend requires metadata to be a plain object with string keys and string values.')
        }
      }
    }
    const fault = this.takeFault('multiStreamAppend')
    if (fault && !fault.afterWrite) throw fault.error
    if (requests.length === 0) throw new UnknownError(undefined, 'An append session must contain at least one append request.')
    // The server reads the requests in order: each is validated as it arrives, then added to the
    // session (where a stream already there is refused).
    const seen = new Set<string>()
    for (const request of requests) {
      if (request.events.length === 0) {
        throw new UnknownError(serviceError(3, 'INVALID_ARGUMENT', 'gRPC request AppendRequest is invalid! See attached details for more information.'))
      }
      // .NET's OrdinalIgnoreCase, code unit by code unit (the port's streamNameKey).
      const key = streamNameKey(request.streamName)
      if (seen.has(key)) {
        throw new TimeoutError(
          serviceError(
            10,
            'ABORTED',
            `Stream '${request.streamName}' is already part of this append session. Appending to the same stream multiple times is currently not supported.`,
          ),
        )
      }
      seen.add(key)
    }
    const pending = requests.map((request) => request.events.map((event) => toPending(request.streamName, event, 'multiStreamAppend')))
    for (const events of pending) {
      for (const event of events) {
        const recordSize = v2RecordSize(event)
        if (recordSize > this.options.maxAppendEventSize) throw appendRecordTooLarge(event, recordSize, this.options.maxAppendEventSize)
      }
    }
    const size = pending.flat().reduce((sum, e) => sum + e.data.length + e.metadata.length, 0)
    if (size > this.options.maxAppendSize) {
      const details = { size, maxSize: this.options.maxAppendSize }
      throw new TransactionMaxSizeExceededError(undefined as unknown as ServiceErrorLike, details as never)
    }

    await this.runInterposed('multiStreamAppend')
    const decisions = requests.map((request, i) =>
      this.checkCommit(request.streamName, request.expectedState, (pending[i] as PendingEvent[]).map((e) => e.id)),
    )
    const conflict = (index: number): WrongExpectedVersionError => {
      const request = requests[index] as AppendStreamRequest
      // The stream's current version, for an idempotent one too (IndexWriter.CheckCommit `curVersion`,
      // ConsistencyCheckFailure.ActualVersion on 26.0.3).
      const current = BigInt(this.streamEvents(request.streamName).length) - 1n
      return new WrongExpectedVersionError(undefined, { streamName: request.streamName, expected: request.expectedState, current: currentState(current) })
    }
    let result: MultiAppendResult
    if (decisions.every((d) => d.kind === 'ok')) {
      const written = this.write(pending.flat())
      const responses = requests.map((request, i) => {
        const mine = written.filter((e) => e.streamId === request.streamName)
        const revision = mine.length > 0 ? (mine[mine.length - 1] as FakeStoredEvent).revision : (decisions[i] as { current: bigint }).current
        return { streamName: request.streamName, revision }
      })
      const last = written[written.length - 1]
      result = { position: last ? last.prepare : this.headCommit(), responses }
    } else if (decisions.every((d) => d.kind === 'idempotent')) {
      const idempotent = decisions as Extract<CommitDecision, { kind: 'idempotent' }>[]
      result = {
        position: idempotent.reduce((max, d) => (d.lastEvent.prepare > max ? d.lastEvent.prepare : max), -1n),
        responses: requests.map((request, i) => ({ streamName: request.streamName, revision: (idempotent[i] as { last: bigint }).last })),
      }
    } else if (this.mixedRetryConflicts || requests.length === 1 || decisions.every((d) => d.kind === 'ok' || (d.kind === 'wrong' && !d.corrupted))) {
      // Ok + wrong (every version): the first wrong stream. From 26.0.3 also a mix with idempotent or
      // corrupted streams: ConsistencyChecksFailed lists wrong, idempotent and corrupted streams in
      // request order and the first is reported (see mixedRetryConflicts).
      throw conflict(decisions.findIndex((d) => d.kind !== 'ok'))
    } else {
      // 25.1.x / 26.0.0-26.0.2: WrongExpectedVersion with empty failure lists, which StreamsService
      // cannot map (see mixedRetryConflicts): gRPC INTERNAL, UnavailableError in the client.
      throw new UnavailableError(
        serviceError(
          13,
          'INTERNAL',
          'An internal server error occurred. Please contact support if the problem persists.\nAppendSession failed to map error: Index was outside the bounds of the array.',
        ),
      )
    }
    if (fault) throw fault.error
    return result
  }

  /**
   * Reads one stream. Nothing happens until iterated; a missing stream then throws the client's
   * StreamNotFoundError (as the Rust bridge reports it). `fromRevision` is inclusive both ways.
   * Served by the node of `readsFrom`: a follower sees only what was replicated to it; with
   * `requiresLeader` a follower answers NotLeaderError once and the bridge moves to the leader.
   * There is no deadline (readStream.js passes none to the bridge): see `stallNext`.
   * @throws InvalidArgumentError synchronously for a negative or > 2^64-1 fromRevision (as readStream.js).
   */
  readStream(stream: string, options: ReadStreamOptions = {}): AsyncIterableIterator<ResolvedEvent> {
    const { fromRevision = 'start', direction = 'forwards', maxCount = Number.MAX_SAFE_INTEGER } = options
    if (typeof fromRevision === 'bigint') {
      if (fromRevision < 0n) {
        throw new InvalidArgumentError(`fromRevision value must be a non-negative integer. Value Received: ${fromRevision}`)
      }
      if (fromRevision > 0xffffffffffffffffn) {
        throw new InvalidArgumentError(
          `fromRevision value must be a non-negative integer, range from 0 to 18446744073709551615. Value Received: ${fromRevision}`,
        )
      }
    }
    this.count('readStream')
    const numbers = this.numbersOn.has('readStream')
    const self = this
    return (async function* readStreamIterator(): AsyncGenerator<ResolvedEvent> {
      self.checkCall('readStream')
      const limit = toLimit(maxCount)
      if (fromRevision !== 'start' && fromRevision !== 'end' && typeof fromRevision !== 'bigint') {
        throw new TypeError(`FakeKurrentClient: readStream fromRevision must be 'start', 'end' or a bigint, got ${typeof fromRevision}`)
      }
      await self.stallIfScripted('readStream')
      await tick()
      self.checkReadNode(options.requiresLeader === true)
      const events = self.visible(self.streams.get(stream) ?? [], options.requiresLeader === true)
      if (events.length === 0) throw new StreamNotFoundError(undefined, stream)
      const snapshot = events.slice()
      const last = BigInt(snapshot.length - 1)
      const selected: FakeStoredEvent[] = []
      if (direction === 'forwards') {
        const from = fromRevision === 'start' ? 0n : fromRevision === 'end' ? last + 1n : fromRevision
        for (let r = from; r <= last && BigInt(selected.length) < limit; r++) selected.push(snapshot[Number(r)] as FakeStoredEvent)
      } else {
        let from = fromRevision === 'start' ? 0n : fromRevision === 'end' ? last : fromRevision
        if (from > last) from = last
        for (let r = from; r >= 0n && BigInt(selected.length) < limit; r--) selected.push(snapshot[Number(r)] as FakeStoredEvent)
      }
      for (const event of selected) yield { event: toRecorded(event, numbers) } as ResolvedEvent
    })()
  }

  /**
   * Reads `$all`: forwards from `fromPosition` inclusive, backwards from it exclusive (the server's
   * AllReader). The server's default `$all` filter always applies; `filter` narrows it further.
   */
  readAll(options: ReadAllOptions = {}): AsyncIterableIterator<AllStreamResolvedEvent> {
    const { fromPosition = 'start', direction = 'forwards', maxCount = Number.MAX_SAFE_INTEGER, filter } = options
    this.count('readAll')
    const numbers = this.numbersOn.has('readAll')
    const self = this
    return (async function* readAllIterator(): AsyncGenerator<AllStreamResolvedEvent> {
      self.checkCall('readAll')
      const limit = toLimit(maxCount)
      if (fromPosition !== 'start' && fromPosition !== 'end') {
        if (typeof fromPosition.commit !== 'bigint' || typeof fromPosition.prepare !== 'bigint') {
          throw new TypeError('FakeKurrentClient: readAll fromPosition.commit and .prepare must be bigints')
        }
      }
      await self.stallIfScripted('readAll')
      await tick()
      // The node of readsFrom serves it, as readStream (the cluster model).
      self.checkReadNode(options.requiresLeader === true)
      const snapshot = self.visible(self.log, options.requiresLeader === true).slice()
      if (fromPosition !== 'start' && fromPosition !== 'end') self.refuseInvalidPosition(fromPosition, filter !== undefined, snapshot)
      const selected: FakeStoredEvent[] = []
      const take = (event: FakeStoredEvent): boolean => {
        if (!allows(filter, event)) return true
        selected.push(event)
        return BigInt(selected.length) < limit
      }
      if (limit > 0n) {
        if (direction === 'forwards') {
          for (const event of snapshot) {
            if (fromPosition === 'end') break
            if (fromPosition !== 'start' && comparePositions(event.commit, event.prepare, fromPosition) < 0) continue
            if (!take(event)) break
          }
        } else {
          for (let i = snapshot.length - 1; i >= 0; i--) {
            const event = snapshot[i] as FakeStoredEvent
            if (fromPosition === 'start') break
            if (fromPosition !== 'end' && comparePositions(event.commitEnd, event.prepareEnd, fromPosition) > 0) continue
            if (!take(event)) break
          }
        }
      }
      for (const event of selected) yield toAllResolved(event, numbers)
    })()
  }

  /**
   * Subscribes to `$all` after `fromPosition` (exclusive), then live. Returns at once; failures
   * (unavailable, injected) arrive as an 'error' event, as with the real client.
   * @throws Error synchronously for a filter with checkpointInterval or maxSearchWindow <= 0 (subscribeToAll.js).
   */
  subscribeToAll(options: SubscribeToAllOptions = {}): AllStreamSubscription {
    const { fromPosition = 'start', filter } = options
    if (filter) {
      if (typeof filter.maxSearchWindow === 'number' && filter.maxSearchWindow <= 0) throw new Error('MaxSearchWindow must be greater than 0.')
      if (filter.checkpointInterval <= 0) throw new Error('CheckpointInterval must be greater than 0.')
    }
    this.count('subscribeToAll')
    const ordinal = this.subscriptionsOpened++
    const script = { replay: this.options.replayOnResubscribe, ...this.scripts.get(ordinal) }
    this.scripts.delete(ordinal)
    let startError: Error | undefined
    try {
      this.checkCall('subscribeToAll')
    } catch (error) {
      startError = error as Error
    }
    const subscription = new FakeSubscription({
      host: this,
      fromPosition,
      filter,
      script,
      startError,
      numbers: this.numbersOn.has('subscribeToAll'),
    })
    this.live.add(subscription)
    return subscription as unknown as AllStreamSubscription
  }

  /** Ends every live subscription (as the real client's dispose cancels its open calls). */
  async dispose(): Promise<void> {
    this.disposed = true
    const subscriptions = [...this.live]
    await Promise.all(subscriptions.map((s) => s.unsubscribe()))
  }

  /** The configured server version. */
  async serverVersion(): Promise<string> {
    this.enterNow('serverVersion')
    await tick()
    return this.options.serverVersion
  }

  // ------------------------------------------------------------------ test controls

  /**
   * Makes the next `times` calls of `kind` fail with `error`. With `afterWrite`, an append takes
   * effect on the server first and the client still sees the error (a lost answer: the caller
   * cannot know the write happened; retrying with the same ids is then idempotent).
   * Reads fail when iterated; subscriptions emit the error right after starting.
   */
  failNext(kind: FakeCallKind, error: Error, options: { times?: number; afterWrite?: boolean } = {}): void {
    const list = this.faults.get(kind) ?? []
    list.push({ error, afterWrite: options.afterWrite ?? false, remaining: options.times ?? 1 })
    this.faults.set(kind, list)
  }

  /** Makes every call fail with the client's UnavailableError (true) or work again (false). */
  setUnavailable(unavailable: boolean): void {
    this.unavailable = unavailable
  }

  /** Scripts the subscription with this ordinal (0 = the first subscribeToAll call of this client). */
  scriptSubscription(ordinal: number, script: SubscriptionScript): void {
    this.scripts.set(ordinal, script)
  }

  /** Scripts the next subscribeToAll call. */
  scriptNextSubscription(script: SubscriptionScript): void {
    this.scripts.set(this.subscriptionsOpened, script)
  }

  /**
   * Drops every live subscription now, with `error` (or just ending them), as a server restart
   * does; the events they already delivered stay delivered.
   */
  dropSubscriptions(error?: Error): void {
    for (const subscription of [...this.live]) subscription.dropFromServer(error)
  }

  /**
   * Writes an event without any check, as the server itself does for system streams (`$`-prefixed
   * streams, `$metadata`, `$>` links...). `data` is JSON unless it is a Uint8Array.
   */
  appendSystemEvent(stream: string, type: string, data: unknown, metadata?: Record<string, unknown>): FakeStoredEvent {
    const isJson = !(data instanceof Uint8Array)
    const event: PendingEvent = {
      stream,
      id: randomUUID(),
      type,
      isJson,
      data: isJson ? encoder.encode(JSON.stringify(data)) : (data as Uint8Array).slice(),
      metadata: metadata ? encoder.encode(JSON.stringify(metadata)) : new Uint8Array(),
    }
    return this.write([event])[0] as FakeStoredEvent
  }

  /**
   * Writes events to `stream` as an explicit transaction of an old (TCP) client would have: no
   * checks, every event at (the commit record's offset, its own prepare offset) - see PositionModel.
   * For history that reads and subscriptions must handle; gRPC appends never write this layout.
   */
  appendTransaction(stream: string, events: EventData[]): FakeStoredEvent[] {
    return this.write(events.map((event) => toPending(stream, event, 'appendToStream')), 'sharedCommit')
  }

  /**
   * Holds replication to the follower: from now on it has only the log as it is now, until
   * `replicate()`. Reads served by the follower (`readsFrom: 'follower'`, without `requiresLeader`)
   * see that log; the leader (appends, leader reads) sees everything.
   */
  holdReplication(): void {
    this.replicatedLength = this.log.length
  }

  /** The follower catches up with the leader and replication runs freely again. */
  replicate(): void {
    this.replicatedLength = undefined
  }

  /** Which node the bridge's reads go to now (it moves to the leader after a NotLeaderError). */
  get readNode(): 'leader' | 'follower' {
    return this.readsFrom
  }

  /**
   * Runs `fn` (and waits for it) inside the next call of `kind`, after the request reached the
   * server and before its commit check: e.g. another writer's append landing between a caller's
   * read and its write.
   */
  interposeNext(kind: 'appendToStream' | 'multiStreamAppend', fn: () => unknown): void {
    const list = this.interposed.get(kind) ?? []
    list.push(fn)
    this.interposed.set(kind, list)
  }

  /** Makes the next `times` calls of `kind` never answer: a read (a server or network that hangs;
   * the bridge's reads have no deadline), or an appendToStream (before it reaches the server) whose
   * shared batchAppend call ended without an error: the client then only drops the call from its
   * cache (dist/Client/index.js GRPCStreamCreator, `finished` without err) and never settles the
   * appends waiting in that call's promise bank (dist/streams/appendToStream/batchAppend.js; the
   * call itself has `deadline: Infinity`). */
  stallNext(kind: 'readStream' | 'readAll' | 'appendToStream', times = 1): void {
    this.stalls.set(kind, (this.stalls.get(kind) ?? 0) + times)
  }

  /** Every event in the log, in `$all` order (system events included, nothing filtered). */
  get events(): readonly FakeStoredEvent[] {
    return this.log
  }

  /** The events of one stream (empty when it does not exist). */
  streamEvents(stream: string): readonly FakeStoredEvent[] {
    return this.streams.get(stream) ?? []
  }

  /** Subscriptions not yet ended. */
  get liveSubscriptions(): number {
    return this.live.size
  }

  /** subscribeToAll calls so far (the next one has this ordinal). */
  get subscriptionCount(): number {
    return this.subscriptionsOpened
  }

  /** How many times `kind` was called. */
  calls(kind: FakeCallKind): number {
    return this.callCounts.get(kind) ?? 0
  }

  /** Whether dispose() was called. */
  get isDisposed(): boolean {
    return this.disposed
  }

  // ------------------------------------------------------------------ internals (used by FakeSubscription too)

  /** @internal */
  logSnapshotLength(): number {
    return this.log.length
  }

  /** @internal */
  logAt(index: number): FakeStoredEvent | undefined {
    return this.log[index]
  }

  /** @internal Index of the first event strictly after `position`. */
  indexAfter(position: Position): number {
    const i = this.log.findIndex((e) => comparePositions(e.commit, e.prepare, position) > 0)
    return i < 0 ? this.log.length : i
  }

  /** @internal */
  forget(subscription: FakeSubscription): void {
    this.live.delete(subscription)
  }

  /**
   * @internal The server's refusal of a `$all` read from inside a record. The reader repositions at
   * the commit part and reads the record there (server AllReader.cs ReadAllEventsForwardInternal):
   * from a byte that is not a record's first it fails with InvalidReadException, which the reader
   * worker answers as InvalidPosition (StorageReaderWorker.All.cs / .AllFiltered.cs); a commit part
   * past the last indexed record reads nothing (no error), and the prepare part only filters. The
   * same check applies to backward reads (ReadAllEventsBackward repositions there too).
   * @throws the client's UnknownError as the bridge delivers the refusal (see bridgeInvalidPosition).
   */
  refuseInvalidPosition(position: Position, filtered: boolean, snapshot: readonly FakeStoredEvent[]): void {
    const commit = BigInt(position.commit)
    const last = snapshot[snapshot.length - 1]
    const lastIndexed = last ? (last.commit > last.prepare ? last.commit : last.prepare) : this.options.firstPosition
    if (commit > lastIndexed) return
    if (commit === 0n || commit === this.options.firstPosition || commit === this.writerPosition) return
    if (this.log.some((e) => e.prepare === commit || e.commit === commit || e.prepareEnd === commit || e.commitEnd === commit)) return
    throw bridgeInvalidPosition(filtered, commit)
  }

  /**
   * @internal Whether the server tells a subscription it has caught up: from 24.2 (the caughtUp
   * message came with the gRPC enumerator rewrite, commit 0923c5632; server
   * src/EventStore.Core/Services/Transport/Grpc/Streams.Read.cs has no CaughtUp at oss-v23.10.0 and
   * has it at oss-v24.2.0, src/KurrentDB.Core/... at 25.1). The client emits 'caughtUp' only when
   * the message comes (dist/streams/utils/Subscription.js), so on older servers never.
   */
  sendsCaughtUp(): boolean {
    return versionAtLeast(this.options.serverVersion, 24, 2)
  }

  /** @internal Position of the last event of the log, for caughtUp. */
  headPosition(): Position | undefined {
    const last = this.log[this.log.length - 1]
    return last ? positionOf(last) : undefined
  }

  private headCommit(): bigint {
    return this.headPosition()?.commit ?? 0n
  }

  private count(kind: FakeCallKind): void {
    this.callCounts.set(kind, this.calls(kind) + 1)
  }

  /** Counts the call and throws now if it must fail. */
  private enterNow(kind: FakeCallKind): void {
    this.count(kind)
    this.checkCall(kind)
  }

  /** Throws when the call must fail: unavailable, disposed, or an injected fault. */
  private checkCall(kind: FakeCallKind): void {
    this.checkAvailable()
    const fault = this.takeFault(kind)
    if (fault) throw fault.error
  }

  private checkAvailable(): void {
    if (this.unavailable) throw fakeErrors.unavailable()
    if (this.disposed && this.options.callsAfterDispose === 'throw') {
      throw new UnavailableError(undefined, 'FakeKurrentClient: called after dispose()')
    }
  }

  /** Never settles when a stall is scripted for `kind` (see stallNext). */
  private async stallIfScripted(kind: 'readStream' | 'readAll' | 'appendToStream'): Promise<void> {
    const left = this.stalls.get(kind) ?? 0
    if (left <= 0) return
    this.stalls.set(kind, left - 1)
    await new Promise<never>(() => undefined)
  }

  /**
   * A leader-only read on a follower: the bridge's NotLeaderError (crates/bridge/src/error.rs: name
   * 'NotLeaderError', metadata with the leader's host and port, converted by
   * dist/utils/convertBridgeError.js); the bridge then reconnects to the leader.
   */
  private checkReadNode(requiresLeader: boolean): void {
    if (!requiresLeader || this.readsFrom === 'leader') return
    this.readsFrom = 'leader'
    const bridgeError = Object.assign(new Error('NotLeaderError(Endpoint { host: "node1.kurrentdb.local", port: 2113 })'), {
      name: 'NotLeaderError',
      metadata: { 'leader-endpoint-host': 'node1.kurrentdb.local', 'leader-endpoint-port': 2113 },
    })
    throw new NotLeaderError(bridgeError as unknown as ServiceErrorLike)
  }

  /** The events of `events` (in log order) that the node serving a read has. */
  private visible(events: readonly FakeStoredEvent[], requiresLeader: boolean): readonly FakeStoredEvent[] {
    if (requiresLeader || this.readsFrom === 'leader' || this.replicatedLength === undefined) return events
    const horizon = this.log[this.replicatedLength - 1]
    if (!horizon) return []
    return events.filter((e) => comparePositions(e.commit, e.prepare, positionOf(horizon)) <= 0)
  }

  private async runInterposed(kind: 'appendToStream' | 'multiStreamAppend'): Promise<void> {
    // The interposed writer's own appends are not interposed on.
    if (this.interposing) return
    const fn = this.interposed.get(kind)?.shift()
    if (!fn) return
    this.interposing = true
    try {
      await fn()
    } finally {
      this.interposing = false
    }
  }

  private takeFault(kind: FakeCallKind): Fault | undefined {
    const list = this.faults.get(kind)
    const fault = list?.[0]
    if (!list || !fault) return undefined
    fault.remaining -= 1
    if (fault.remaining <= 0) list.shift()
    return fault
  }

  /**
   * The server's commit check for one stream (IndexWriter.CheckCommit): which expected states
   * match, and when a write is an idempotent repeat of events already there.
   */
  private checkCommit(stream: string, expected: AppendStreamState, ids: string[]): CommitDecision {
    const events = this.streams.get(stream) ?? []
    const current = BigInt(events.length) - 1n
    const wrong = (corrupted = false): CommitDecision => ({ kind: 'wrong', current, corrupted })
    if (events.length === 0) {
      // A stream that never existed: only 'any' and 'no_stream' match (CheckCommitForNewStream).
      return expected === 'any' || expected === 'no_stream' ? { kind: 'ok', current } : wrong()
    }
    if (expected === 'any' || expected === 'stream_exists') {
      // Best-effort idempotency through the ids' latest writes.
      if (ids.length === 0) return { kind: 'ok', current }
      const found = ids.map((id) => {
        const event = this.byId.get(id)
        return event && event.streamId === stream ? event : undefined
      })
      const first = found[0]
      if (!first) return { kind: 'ok', current }
      if (found.some((e) => e === undefined)) return wrong(true)
      const lastEvent = found[found.length - 1] as FakeStoredEvent
      return { kind: 'idempotent', first: first.revision, last: lastEvent.revision, lastEvent }
    }
    const expectedRevision = expected === 'no_stream' ? -1n : expected
    if (expectedRevision < current) {
      // Writing earlier than the end: idempotent only if the ids are the events right after it.
      if (ids.length === 0) return wrong()
      for (let i = 0; i < ids.length; i++) {
        const event = events[Number(expectedRevision) + 1 + i]
        if (!event || event.id !== ids[i]) return wrong(i > 0)
      }
      const lastEvent = events[Number(expectedRevision) + ids.length] as FakeStoredEvent
      return { kind: 'idempotent', first: expectedRevision + 1n, last: lastEvent.revision, lastEvent }
    }
    if (expectedRevision > current) return wrong()
    return { kind: 'ok', current }
  }

  /**
   * Writes events as one transaction; returns them with their revisions and positions. `layout`
   * (see PositionModel): 'perEvent' for everything written through gRPC and by the server itself,
   * 'sharedCommit' only for `appendTransaction` (explicit transactions of old clients).
   */
  private write(pending: PendingEvent[], layout: PositionModel = 'perEvent'): FakeStoredEvent[] {
    const created = this.options.now()
    const sizes = pending.map((e) => BigInt(recordSize(e)))
    const offsets: bigint[] = []
    let offset = this.writerPosition
    for (const size of sizes) {
      offsets.push(offset)
      offset += size
    }
    const shared = layout === 'sharedCommit'
    const commitAt = offset
    const commitEnd = shared ? commitAt + BigInt(COMMIT_RECORD_SIZE) : commitAt
    this.writerPosition = commitEnd
    const written = pending.map((e, i) => {
      const events = this.streams.get(e.stream) ?? []
      const prepare = offsets[i] as bigint
      const prepareEnd = prepare + (sizes[i] as bigint)
      const stored: FakeStoredEvent = Object.freeze({
        streamId: e.stream,
        revision: BigInt(events.length),
        id: e.id,
        type: e.type,
        isJson: e.isJson,
        data: e.data,
        metadata: e.metadata,
        ...(e.propertyMetadata ? { propertyMetadata: true } : {}),
        created,
        commit: shared ? commitAt : prepare,
        prepare,
        commitEnd: shared ? commitEnd : prepareEnd,
        prepareEnd,
      })
      events.push(stored)
      this.streams.set(e.stream, events)
      this.log.push(stored)
      this.byId.set(e.id, stored)
      return stored
    })
    for (const subscription of this.live) subscription.wake()
    return written
  }
}

// ------------------------------------------------------------------ subscription

interface FakeSubscriptionInit {
  host: FakeKurrentClient
  fromPosition: SubscribeToAllOptions['fromPosition']
  filter: Filter | undefined
  script: SubscriptionScript
  startError: Error | undefined
  numbers: boolean
}

/**
 * A `$all` subscription: an object-mode Readable like the client's Subscription (a Transform fed by
 * the gRPC call), with `unsubscribe()`, 'confirmation', 'caughtUp' and async iteration.
 *
 * Like the real one, it emits 'caughtUp' when it has pushed the last historical event into its
 * buffer, which can be before the consumer has read those events - on servers from 24.2 only (see
 * FakeKurrentClient.sendsCaughtUp).
 */
class FakeSubscription extends Readable {
  /** Subscription id the server confirmed (set on 'confirmation'). */
  id?: string
  private readonly host: FakeKurrentClient
  private readonly eventFilter: Filter | undefined
  private readonly script: SubscriptionScript
  private readonly numbers: boolean
  private readonly replayQueue: FakeStoredEvent[] = []
  private cursor = 0
  private delivered = 0
  private started = false
  private stopped = false
  private wantsData = true
  private caughtUpEmitted = false
  private wakeScheduled = false

  constructor(init: FakeSubscriptionInit) {
    super({ objectMode: true })
    this.host = init.host
    this.eventFilter = init.filter
    this.script = init.script
    this.numbers = init.numbers
    const from = init.fromPosition ?? 'start'
    if (from === 'start') {
      this.cursor = 0
    } else if (from === 'end') {
      this.cursor = init.host.logSnapshotLength()
    } else {
      this.cursor = init.host.indexAfter({ commit: BigInt(from.commit), prepare: BigInt(from.prepare) })
      const replay = init.script.replay ?? 0
      if (replay > 0) {
        const earlier: FakeStoredEvent[] = []
        for (let i = this.cursor - 1; i >= 0 && earlier.length < replay; i--) {
          const event = init.host.logAt(i) as FakeStoredEvent
          if (allows(this.eventFilter, event)) earlier.unshift(event)
        }
        this.replayQueue.push(...earlier)
      }
    }
    setImmediate(() => this.start(init.startError))
  }

  override _read(): void {
    this.wantsData = true
    this.pump()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stopped = true
    this.host.forget(this)
    callback(error)
  }

  /** Ends the subscription without error (the client cancels the call; its CANCELLED is ignored). */
  unsubscribe(): Promise<void> {
    return new Promise((resolve) => {
      setImmediate(() => {
        this.end()
        resolve()
      })
    })
  }

  /** @internal New events were written. */
  wake(): void {
    // Delivered from the event loop, never from inside the writer's call.
    if (!this.started || !this.wantsData || this.wakeScheduled) return
    this.wakeScheduled = true
    setImmediate(() => {
      this.wakeScheduled = false
      this.pump()
    })
  }

  /** @internal The server drops the subscription: the stream ends, then `error` (if any) is emitted. */
  dropFromServer(error?: Error): void {
    if (this.stopped) return
    this.stopped = true
    this.host.forget(this)
    setImmediate(() => {
      if (this.destroyed) return
      this.push(null)
      if (error) this.emit('error', error)
    })
  }

  private start(startError: Error | undefined): void {
    if (this.stopped) return
    if (startError) {
      this.dropFromServer(startError)
      return
    }
    this.started = true
    this.id = randomUUID()
    this.emit('confirmation')
    this.pump()
  }

  private end(): void {
    if (this.stopped) return
    this.stopped = true
    this.host.forget(this)
    this.push(null)
  }

  private pump(): void {
    while (this.started && !this.stopped) {
      if (this.script.dropAfter !== undefined && this.delivered >= this.script.dropAfter) {
        this.dropFromServer(this.script.error)
        return
      }
      const event = this.next()
      if (!event) {
        if (!this.caughtUpEmitted && this.host.sendsCaughtUp()) {
          this.caughtUpEmitted = true
          const info: CaughtUp = { date: new Date() }
          const position = this.host.headPosition()
          if (position) info.position = position
          this.emit('caughtUp', info)
        }
        return
      }
      this.delivered += 1
      if (!this.push(toAllResolved(event, this.numbers))) {
        this.wantsData = false
        return
      }
    }
  }

  private next(): FakeStoredEvent | undefined {
    const replayed = this.replayQueue.shift()
    if (replayed) return replayed
    while (this.cursor < this.host.logSnapshotLength()) {
      const event = this.host.logAt(this.cursor++) as FakeStoredEvent
      if (allows(this.eventFilter, event)) return event
    }
    return undefined
  }
}

// ------------------------------------------------------------------ helpers

function versionAtLeast(version: string, major: number, minor: number, patch = 0): boolean {
  const [a = 0, b = 0, c = 0] = version.split('.').map((part) => Number.parseInt(part, 10))
  return a > major || (a === major && (b > minor || (b === minor && c >= patch)))
}

function utf8Length(text: string): number {
  return encoder.encode(text).length
}

/**
 * A record's size as the v2 append sizes it (see `FakeKurrentClient.multiStreamAppend`): data +
 * the serialized google.protobuf.Struct of its properties + the type's UTF-8 bytes. Each property
 * is a map entry of Struct field 1: tag, length, then the entry (key as field 1, a Value holding
 * `string_value` (field 3) as field 2), every field a one-byte tag and a varint length.
 */
function v2RecordSize(event: PendingEvent): number {
  const properties: Record<string, string> = event.metadata.length > 0 ? (JSON.parse(decoder.decode(event.metadata)) as Record<string, string>) : {}
  if (!event.isJson) properties['$schema.format'] = 'Bytes'
  let struct = 0
  for (const [key, value] of Object.entries(properties)) {
    const valueMessage = 1 + varintLength(utf8Length(value)) + utf8Length(value)
    const entry = 1 + varintLength(utf8Length(key)) + utf8Length(key) + 1 + varintLength(valueMessage) + valueMessage
    struct += 1 + varintLength(entry) + entry
  }
  return event.data.length + struct + utf8Length(event.type)
}

/** Bytes of a protobuf varint holding `n`. */
function varintLength(n: number): number {
  let bytes = 1
  while (n >= 128) {
    n = Math.floor(n / 128)
    bytes += 1
  }
  return bytes
}

/** The client's error for the v2 server's refusal of one record over MaxAppendEventSize (see
 * `FakeKurrentClient.multiStreamAppend`); the message as ApiErrors.AppendRecordSizeExceeded words it. */
function appendRecordTooLarge(event: PendingEvent, size: number, maxSize: number): AppendRecordSizeExceededError {
  const message = `The size of record ${event.id} (${humanizeBytes(size)}) exceeds the maximum allowed size of ${humanizeBytes(maxSize)} bytes by ${humanizeBytes(size - maxSize)}`
  const details = { stream: event.stream, recordId: event.id, size, maxSize }
  return new AppendRecordSizeExceededError(serviceError(3, 'INVALID_ARGUMENT', message), details)
}

/** Bytes as Humanizer's `Bytes().Humanize("0.000")` prints them (1024-based units). */
function humanizeBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB']
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return `${value.toFixed(3)} ${units[unit]}`
}

function recordSize(event: PendingEvent): number {
  return PREPARE_RECORD_OVERHEAD + utf8Length(event.stream) + utf8Length(event.type) + event.data.length + event.metadata.length
}

function positionOf(event: FakeStoredEvent): Position {
  return { commit: event.commit, prepare: event.prepare }
}

/** The position the server answers an append with: (LogPosition, LogPosition) of the event's
 * prepare (see `appendToStream`). */
function logPositionOf(event: FakeStoredEvent): Position {
  return { commit: event.prepare, prepare: event.prepare }
}

function currentState(current: bigint): CurrentStreamState {
  return current < 0n ? 'no_stream' : current
}

/** Order of (commit, prepare) against a position: negative, zero or positive. */
function comparePositions(commit: bigint, prepare: bigint, position: Position): number {
  if (commit !== position.commit) return commit < position.commit ? -1 : 1
  if (prepare !== position.prepare) return prepare < position.prepare ? -1 : 1
  return 0
}

/**
 * The server's refusal of a read position inside a record, as the client hands it over. Unfiltered,
 * the status is INVALID_ARGUMENT "Trying to read from an invalid position." (server
 * Services/Transport/Grpc/RpcExceptions.cs InvalidPositionException); filtered (the adapter's reads),
 * UNKNOWN "Unexpected FilteredReadAllResult: InvalidPosition >> <reader's message>"
 * (Enumerators/Enumerator.ReadAllForwardsFiltered.cs has no case for it; RpcExceptions.UnknownError).
 * The Rust client maps either to `Error::Grpc { code, message }` ("Unmapped gRPC error: code: {code},
 * message: {message}.", KurrentDB-Client-Rust kurrentdb/src/types.rs `from_grpc`, the code printed
 * as tonic's description), the bridge to an Error named UnknownError with metadata.detail
 * (KurrentDB-Bridge-Client crates/bridge/src/error.rs), and dist/utils/convertBridgeError.js to the
 * client's UnknownError.
 */
function bridgeInvalidPosition(filtered: boolean, at: bigint): UnknownError {
  const code = filtered ? 'Unknown error' : 'Client specified an invalid argument'
  const reason = filtered
    ? `Unexpected FilteredReadAllResult: InvalidPosition >> Prefix/suffix length inconsistency: prefix length (1869768058) != suffix length (0).\nActual pre-position: ${at}. Something is seriously wrong in chunk #0-0 (chunk-000000.000000).`
    : 'Trying to read from an invalid position.'
  const message = `Unmapped gRPC error: code: ${code}, message: ${reason}.`
  const error = Object.assign(new Error(message), { name: 'UnknownError', metadata: { detail: message } })
  return new UnknownError(error as unknown as ServiceErrorLike)
}

/** maxCount as the bridge takes it (BigInt(maxCount)); a fractional number fails like BigInt does. */
function toLimit(maxCount: number | bigint): bigint {
  try {
    return BigInt(maxCount)
  } catch (error) {
    throw new UnknownError(undefined, (error as Error).message)
  }
}

/**
 * An event as the client serializes it (append.js / multiStreamAppend.js): JSON data through
 * JSON.stringify, metadata as JSON bytes unless already bytes.
 */
function toPending(stream: string, event: EventData, call: 'appendToStream' | 'multiStreamAppend'): PendingEvent {
  if (typeof event.id !== 'string' || !UUID_PATTERN.test(event.id)) {
    throw new UnknownError(undefined, `FakeKurrentClient: event id ${String(event.id)} is not a UUID`)
  }
  let data: Uint8Array
  if (event.contentType === 'application/json') {
    let json: string | undefined
    try {
      json = JSON.stringify(event.data)
    } catch (error) {
      throw new TypeError(
        `FakeKurrentClient: ${call} of ${event.type}: data is not JSON-serializable (${(error as Error).message}). ` +
          'The real client throws this inside an async Promise executor: an unhandled rejection, and the append never settles.',
        { cause: error },
      )
    }
    if (json === undefined) {
      throw new TypeError(
        `FakeKurrentClient: ${call} of ${event.type}: JSON.stringify(data) is undefined; the real client's Buffer.from fails in an async executor (unhandled rejection, no answer).`,
      )
    }
    data = encoder.encode(json)
  } else {
    data = Uint8Array.from(event.data as Uint8Array)
  }
  let metadata = new Uint8Array()
  const given = event.metadata as unknown
  if (given) {
    metadata = given instanceof Uint8Array ? Uint8Array.from(given) : encoder.encode(JSON.stringify(given))
  }
  const propertyMetadata = call === 'multiStreamAppend'
  return { stream, id: event.id.toLowerCase(), type: event.type, isJson: event.contentType === 'application/json', data, metadata, ...(propertyMetadata ? { propertyMetadata } : {}) }
}

/** The server's `$all` filter (EventFilter.cs): its defaults, then the stream-name or event-type filter. */
function allows(filter: Filter | undefined, event: FakeStoredEvent): boolean {
  if (!defaultAllFilterAllows(event)) return false
  if (!filter) return true
  const subject = filter.filterOn === 'streamName' ? event.streamId : event.type
  if ('prefixes' in filter) return filter.prefixes.some((prefix) => subject.startsWith(prefix))
  if ('regex' in filter) return new RegExp(filter.regex).test(subject)
  return true
}

function defaultAllFilterAllows(event: FakeStoredEvent): boolean {
  const stream = event.streamId
  if (!stream.startsWith('$')) return true
  if (stream === '$epoch-information') return false
  if (stream.startsWith('$persistentsubscription-$all::') && (stream.endsWith('-checkpoint') || stream.endsWith('-parked'))) return false
  return true
}

/** A bigint, or the JS number the buggy client path hands back instead. */
function maybeNumber(value: bigint, numbers: boolean): bigint {
  return numbers ? (Number(value) as unknown as bigint) : value
}

/** The recorded event as the client converts it (convertRustEvent.js / convertGrpcEvent.js). */
function toRecorded(event: FakeStoredEvent, numbers: boolean): AllStreamRecordedEvent {
  let data: unknown
  if (event.isJson) {
    const text = decoder.decode(event.data)
    try {
      data = JSON.parse(text)
    } catch {
      data = text
    }
  } else {
    data = event.data.slice()
  }
  let metadata: unknown
  const metadataBytes = event.propertyMetadata ? synthesizedMetadata(event) : event.metadata
  if (metadataBytes.length > 0) {
    try {
      metadata = JSON.parse(decoder.decode(metadataBytes))
    } catch {
      metadata = metadataBytes.slice()
    }
  }
  return {
    streamId: event.streamId,
    id: event.id,
    revision: maybeNumber(event.revision, numbers),
    type: event.type,
    data,
    metadata,
    isJson: event.isJson,
    created: new Date(event.created.getTime()),
    position: { commit: maybeNumber(event.commit, numbers), prepare: maybeNumber(event.prepare, numbers) },
  } as AllStreamRecordedEvent
}

/**
 * The metadata every v1 read (readStream, readAll, subscriptions) returns for an event written
 * through the v2 API: its record properties with `$schema.name` = the event type and, for JSON data,
 * `$schema.format` = "Json" set on them (server src/KurrentDB.Core/Data/EventRecord.cs
 * SynthesizeMetadataFromProperties; keys in Services/Transport/Grpc/Constants.cs RecordProperties).
 * The properties are the client's string map (dist/streams/appendToStream/multiStreamAppend.js),
 * which google-protobuf serializes in sorted key order (jspb.Map toArray sorts) and the server's
 * Struct keeps; a non-JSON record got `$schema.format` = "Bytes" on writing (src/KurrentDB.Api.V2/
 * Modules/Streams/Model/AppendRecordExtensions.cs PreProcessRecord). New keys go last.
 */
function synthesizedMetadata(event: FakeStoredEvent): Uint8Array {
  const given = event.metadata.length > 0 ? (JSON.parse(decoder.decode(event.metadata)) as Record<string, unknown>) : {}
  const properties: Record<string, unknown> = {}
  for (const key of Object.keys(given).sort()) properties[key] = given[key]
  if (!event.isJson) properties['$schema.format'] = 'Bytes'
  properties['$schema.name'] = event.type
  if (event.isJson) properties['$schema.format'] = 'Json'
  return encoder.encode(JSON.stringify(properties))
}

function toAllResolved(event: FakeStoredEvent, numbers: boolean): AllStreamResolvedEvent {
  return { event: toRecorded(event, numbers), commitPosition: maybeNumber(event.commit, numbers) }
}
