import {
  KurrentDBClient,
  type AllStreamResolvedEvent,
  type AllStreamSubscription,
  type AppendResult,
  type AppendStreamRequest,
  type AppendToStreamOptions,
  type EventData,
  type MultiAppendResult,
  type ReadAllOptions,
  type ReadStreamOptions,
  type ResolvedEvent,
  type SubscribeToAllOptions,
} from '@kurrent/kurrentdb-client'

/**
 * The part of the official client (`@kurrent/kurrentdb-client`, the renamed successor of
 * `@eventstore/db-client`) the adapter uses, with the official types. The adapter depends on this
 * interface rather than the class, so its logic is tested against a scripted client where no
 * server can run (test/eventstore/kurrentdb-*.test.ts).
 */
export interface KurrentClient {
  appendToStream(stream: string, events: EventData | EventData[], options?: AppendToStreamOptions): Promise<AppendResult>
  /** KurrentDB 25.1+; older servers throw the client's UnsupportedError. */
  multiStreamAppend(requests: AppendStreamRequest[]): Promise<MultiAppendResult>
  readStream(stream: string, options?: ReadStreamOptions): AsyncIterableIterator<ResolvedEvent>
  readAll(options?: ReadAllOptions): AsyncIterableIterator<AllStreamResolvedEvent>
  subscribeToAll(options?: SubscribeToAllOptions): AllStreamSubscription
  dispose(): Promise<void>
  /** The server's version as it reports it (e.g. "25.1.0"), or "unknown". */
  serverVersion(): Promise<string>
}

/**
 * Connects the official client to `connectionString` (`kurrentdb://`, `kurrentdb+discover://`,
 * `kdb://`, or the older `esdb://`, which the client accepts with a deprecation warning).
 * Connecting is lazy: the first call reaches the server.
 * @throws the client's error for a malformed connection string.
 */
export function connectKurrentDB(connectionString: string): KurrentClient {
  const client = KurrentDBClient.connectionString(connectionString)
  return {
    appendToStream: (stream, events, options) => client.appendToStream(stream, events, options),
    multiStreamAppend: (requests) => client.multiStreamAppend(requests),
    readStream: (stream, options) => client.readStream(stream, options),
    readAll: (options) => client.readAll(options),
    subscribeToAll: (options) => client.subscribeToAll(options),
    dispose: () => client.dispose(),
    serverVersion: async () => {
      // The client asks the server for its features (and version) once and keeps the answer; it
      // exposes them only as a protected member, so we read it through a cast.
      const features = await (client as unknown as { capabilities: Promise<{ serverVersion?: string }> }).capabilities
      return features.serverVersion ?? 'unknown'
    },
  }
}
