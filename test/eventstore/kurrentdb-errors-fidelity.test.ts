import t from 'tap'
import {
  AppendRecordSizeExceededError,
  MaxAppendSizeExceededError,
  TransactionMaxSizeExceededError,
  UnknownError,
} from '@kurrent/kurrentdb-client'
import { StoreLimitExceededError } from '../../src/eventstore/port.js'
import { redactConnectionString, toPortError } from '../../src/eventstore/kurrentdb/mapping.js'

/**
 * Issue #15, items 4c and 4d: the 413's detail names both server size limits with the sizes the
 * client's error carries, and a connection string's password is masked whole.
 */

type ServiceErrorLike = NonNullable<ConstructorParameters<typeof UnknownError>[0]>

/** A gRPC ServiceError as grpc-js hands it to the client (the fields convertToCommandError reads:
 * its Metadata's getMap, and get for the status details, which these errors do not have). */
function serviceError(code: number, details: string, metadata: Record<string, string>): ServiceErrorLike {
  const grpcMetadata = { getMap: () => metadata, get: (key: string) => (key in metadata ? [metadata[key]] : []) }
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: grpcMetadata }) as unknown as ServiceErrorLike
}

const BOTH_LIMITS = /MaxAppendSize for a whole append \(KURRENTDB_MAX_APPEND_SIZE; 256 MiB by default from 25\.1, 1 MiB before\) and MaxAppendEventSize for one event \(KURRENTDB_MAX_APPEND_EVENT_SIZE; 16 MiB by default from 25\.1\)/

t.test('every size refusal is a 413 naming which limit, the sizes, and both limits', async (t) => {
  // v2 (multiStreamAppend) whole append: AppendTransactionSizeExceededErrorDetails {size, maxSize}
  const transaction = toPortError(new TransactionMaxSizeExceededError(undefined as unknown as ServiceErrorLike, { size: 300_000_000, maxSize: 268_435_456 }))
  t.type(transaction, StoreLimitExceededError)
  t.match((transaction as Error).message, /the whole append is 300000000 bytes, over the server's MaxAppendSize of 268435456 bytes/)
  t.match((transaction as Error).message, BOTH_LIMITS)

  // v1 (appendToStream) whole append: metadata maximum-append-size
  const v1 = toPortError(MaxAppendSizeExceededError.fromMaxAppendSize(1_048_576))
  t.type(v1, StoreLimitExceededError)
  t.match((v1 as Error).message, /the whole append is over the server's MaxAppendSize of 1048576 bytes/)
  t.match((v1 as Error).message, BOTH_LIMITS)

  // v2 one record: AppendRecordSizeExceededErrorDetails {stream, recordId, size, maxSize}
  const record = toPortError(
    new AppendRecordSizeExceededError(undefined as unknown as ServiceErrorLike, { stream: 'person-1', recordId: '0190', size: 17_000_000, maxSize: 16_777_216 }),
  )
  t.type(record, StoreLimitExceededError)
  t.match((record as Error).message, /one event is 17000000 bytes, over the server's MaxAppendEventSize of 16777216 bytes/)
  t.match((record as Error).message, BOTH_LIMITS)

  // v1 one event: the server's INVALID_ARGUMENT with exception maximum-append-event-size-exceeded
  // (RpcExceptions.MaxAppendEventSizeExceeded); client 1.3.1 has no class for it: UnknownError.
  const raw = serviceError(3, 'Event with Id: 0190, Size: 17000000, exceeds Maximum Append Event Size of 16777216.', {
    exception: 'maximum-append-event-size-exceeded',
    'maximum-append-event-size': '16777216',
    'event-id': '0190',
    'proposed-append-event-size': '17000000',
  })
  const event = toPortError(raw)
  t.type(event, StoreLimitExceededError, 'was an UnknownError passed on as a 500 before')
  t.match((event as Error).message, /one event is 17000000 bytes, over the server's MaxAppendEventSize of 16777216 bytes/)
  t.match((event as Error).message, BOTH_LIMITS)

  // Any other UnknownError is passed on unchanged.
  const other = new UnknownError(serviceError(2, 'something else', {}))
  t.equal(toPortError(other), other)
})

t.test('connection strings: the whole password is masked, whatever it holds', async (t) => {
  const cases: [string, string][] = [
    ['kurrentdb://admin:changeit@db:2113?tls=false', 'kurrentdb://admin:***@db:2113?tls=false'],
    ['kurrentdb://admin:p@ss:w/rd@host1:2113,host2:2113?tls=false', 'kurrentdb://admin:***@host1:2113,host2:2113?tls=false'],
    ['kurrentdb+discover://ops:a@b@c:d/e?f@cluster.local:2113', 'kurrentdb+discover://ops:***@cluster.local:2113'],
    ['esdb://admin:secret@node1:2113,node2:2113,node3:2113?tls=true&tlsVerifyCert=false', 'esdb://admin:***@node1:2113,node2:2113,node3:2113?tls=true&tlsVerifyCert=false'],
    ['kdb://admin:@db:2113', 'kdb://admin:***@db:2113'],
    ['kurrentdb://admin:pw%40x@db:2113', 'kurrentdb://admin:***@db:2113'],
    // No password: nothing to mask.
    ['kurrentdb://db:2113?tls=false', 'kurrentdb://db:2113?tls=false'],
    ['kurrentdb://admin@db:2113', 'kurrentdb://admin@db:2113'],
    // An `@` in the query: the password is still masked; more is masked than needed (safer).
    ['kurrentdb://admin:pw@db:2113?tlsCaFile=/etc/ca@1.pem', 'kurrentdb://admin:***@1.pem'],
  ]
  for (const [given, expected] of cases) t.equal(redactConnectionString(given), expected, given.replace(/:[^:@/]*@/, ':…@'))
  for (const [given] of cases) {
    const secret = /^[a-z+]+:\/\/[^:@]+:(.*)@[^@]*$/.exec(given)?.[1]
    if (secret) t.notOk(redactConnectionString(given).includes(secret), 'no password left in the output')
  }
})
