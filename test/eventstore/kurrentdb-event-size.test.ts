import { createRequire } from 'node:module'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { AppendRecordSizeExceededError, UnknownError, binaryEvent, jsonEvent } from '@kurrent/kurrentdb-client'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { MAX_EVENT_SIZE_BYTES, SERVER_MAX_RECORD_SIZE_BYTES, toEventData } from '../../src/eventstore/kurrentdb/mapping.js'
import { StoreLimitExceededError } from '../../src/eventstore/port.js'
import { DEFAULT_MAX_APPEND_EVENT_SIZE, FakeKurrentClient } from '../helpers/fake-kurrent-client.js'

/**
 * One event over the server's MaxAppendEventSize (issue #15 follow-up). Client 1.3.1's
 * appendToStream goes through batchAppend whenever the server lists it
 * (dist/streams/appendToStream/index.js; server ServerFeatures.cs lists Streams.BatchAppend on 25.1
 * and 26.0). There the refusal is a BatchAppendResp error Status.MaximumAppendEventSizeExceeded
 * (server Services/Transport/Grpc/Streams.BatchAppend.cs, Status.cs), whose details type the client
 * does not know: unpackError.js answers `new UnknownError(undefined, "Could not recognize
 * MaximumAppendEventSizeExceeded")`, without sizes or metadata. multiStreamAppend's refusal is
 * AppendRecordSizeExceededError. Both must be the 413 (StoreLimitExceededError), nothing written.
 */

const require = createRequire(import.meta.url)
const statusPb = require('@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/status_pb')
const anyPb = require('google-protobuf/google/protobuf/any_pb')
const structPb = require('google-protobuf/google/protobuf/struct_pb')
const { unpackToCommandError } = require('@kurrent/kurrentdb-client/dist/streams/appendToStream/unpackError')

/** The error client 1.3.1's batchAppend rejects with for the server's MaximumAppendEventSizeExceeded. */
function batchAppendEventTooLarge(stream: string): Error {
  const status = new statusPb.Status()
  status.setCode(3) // InvalidArgument
  status.setMessage('MaximumAppendEventSizeExceeded')
  const details = new anyPb.Any()
  details.setTypeUrl('type.googleapis.com/event_store.client.MaximumAppendEventSizeExceeded')
  details.setValue(new Uint8Array())
  status.setDetails(details)
  return unpackToCommandError(status, stream)
}

t.test('given the error the client builds from batchAppend, when it reaches the adapter, then it is the 413 naming MaxAppendEventSize', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  const raw = batchAppendEventTooLarge('s-1')
  t.equal(raw.message, 'Could not recognize MaximumAppendEventSizeExceeded', 'what the client hands over')
  client.failNext('appendToStream', raw)
  const err = await store.append('s-1', [{ type: 'T', data: { n: 1 } }], 'no_stream').catch((e: unknown) => e)
  t.type(err, StoreLimitExceededError, 'StoreLimitExceededError (HTTP 413)')
  t.match((err as Error).message, /one event is over the server's MaxAppendEventSize/)
  t.match((err as Error).message, /KURRENTDB_MAX_APPEND_EVENT_SIZE/, 'with the advice naming both limits')
})

t.test('given another UnknownError without metadata, when it reaches the adapter, then it is not a size refusal', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  client.failNext('appendToStream', new UnknownError(undefined, 'Could not recognize BadRequest'))
  const err = await store.append('s-1', [{ type: 'T', data: { n: 1 } }], 'no_stream').catch((e: unknown) => e)
  t.notOk(err instanceof StoreLimitExceededError)
  t.type(err, UnknownError, 'passed on unchanged (a 500)')
})

t.test('the scripted client: MaxAppendEventSize defaults to TFConsts.MaxLogRecordSize (16 MiB) from 25.1', async (t) => {
  t.equal(DEFAULT_MAX_APPEND_EVENT_SIZE, 16 * 1024 * 1024)
})

t.test('given the scripted client, when appendToStream sends an event over MaxAppendEventSize, then it fails as batchAppend does and writes nothing', async (t) => {
  // Event.SizeOnDisk (server src/KurrentDB.Core/Data/Event.cs): data + metadata + 2 x type length.
  // {"n":1} is 7 bytes, no metadata, type "T" counts 2: 9 bytes.
  const event = () => jsonEvent({ type: 'T', data: { n: 1 } })
  const atLimit = new FakeKurrentClient({ systemEvents: false, maxAppendEventSize: 9 })
  await atLimit.appendToStream('s-1', event())
  t.equal(atLimit.events.length, 1, 'an event of exactly MaxAppendEventSize bytes is written')

  const client = new FakeKurrentClient({ systemEvents: false, maxAppendEventSize: 8 })
  const err = await client.appendToStream('s-1', [event(), event()]).catch((e: unknown) => e)
  const expected = batchAppendEventTooLarge('s-1')
  t.type(err, UnknownError)
  t.equal((err as Error).message, expected.message, 'the message the client builds')
  t.equal((err as UnknownError)._raw, (expected as UnknownError)._raw, 'no gRPC error underneath, as the client builds it')
  t.equal(client.events.length, 0, 'nothing written')
})

t.test('given the scripted client, when multiStreamAppend sends a record over MaxAppendEventSize, then it fails with AppendRecordSizeExceededError and writes nothing', async (t) => {
  // v2 record size (server Api.V2 AppendRecordExtensions.cs CalculateSizeOnDisk): data + the
  // protobuf Struct of its properties + the type's UTF-8 bytes. {"n":1} is 7 bytes; properties
  // {a: "b"}: Value 3 bytes (tag, length, "b"), map entry 1+1+1 (key) + 1+1+3 (value) = 8, field
  // 1+1+8 = 10; type "T" 1: 18 bytes.
  t.equal(structPb.Struct.fromJavaScript({ a: 'b' }).serializeBinary().length, 10, 'the Struct size, as protobuf serializes it')
  const event = () => jsonEvent({ type: 'T', data: { n: 1 }, metadata: { a: 'b' } })
  const atLimit = new FakeKurrentClient({ systemEvents: false, maxAppendEventSize: 18 })
  await atLimit.multiStreamAppend([{ streamName: 'a-1', expectedState: 'any', events: [event()] }])
  t.equal(atLimit.events.length, 1, 'a record of exactly MaxAppendEventSize bytes is written')

  const client = new FakeKurrentClient({ systemEvents: false, maxAppendEventSize: 17 })
  const big = event()
  const err = await client
    .multiStreamAppend([
      { streamName: 'a-1', expectedState: 'any', events: [jsonEvent({ type: 'T', data: {} })] },
      { streamName: 'b-1', expectedState: 'any', events: [big] },
    ])
    .catch((e: unknown) => e)
  t.type(err, AppendRecordSizeExceededError)
  const refused = err as AppendRecordSizeExceededError
  t.same({ stream: refused.stream, recordId: refused.recordId, size: refused.size, maxSize: refused.maxSize }, { stream: 'b-1', recordId: big.id, size: 18, maxSize: 17 })
  t.equal(client.events.length, 0, 'nothing written, not even the stream that fits')
})

t.test('given the scripted client, when multiStreamAppend sends binary data, then its size counts the $schema.format property the server adds', async (t) => {
  // 5 data bytes; properties {"$schema.format": "Bytes"} (Api.V2 AppendRecordExtensions.cs
  // PreProcessRecord): Value 1+1+5 = 7, entry 1+1+14 + 1+1+7 = 25, field 1+1+25 = 27; type 1: 33.
  t.equal(structPb.Struct.fromJavaScript({ '$schema.format': 'Bytes' }).serializeBinary().length, 27)
  const event = () => binaryEvent({ type: 'T', data: new Uint8Array(5) })
  const fits = new FakeKurrentClient({ systemEvents: false, maxAppendEventSize: 33 })
  await fits.multiStreamAppend([{ streamName: 'a-1', expectedState: 'any', events: [event()] }])
  t.equal(fits.events.length, 1)
  const client = new FakeKurrentClient({ systemEvents: false, maxAppendEventSize: 32 })
  const err = await client.multiStreamAppend([{ streamName: 'a-1', expectedState: 'any', events: [event()] }]).catch((e: unknown) => e)
  t.type(err, AppendRecordSizeExceededError)
  t.equal((err as AppendRecordSizeExceededError).size, 33)
})

t.test('given a server whose MaxAppendEventSize is lowered, when the adapter appends one too-large event, then it is the 413 on both paths and nothing is written', async (t) => {
  const small = { type: 'T', data: { n: 1 } }
  const large = { type: 'T', data: { text: 'x'.repeat(1000) } }
  for (const atomicAppendMany of [false, true]) {
    const client = new FakeKurrentClient({ systemEvents: false, maxAppendEventSize: 500 })
    const store = new KurrentDbEventStore({ client, atomicAppendMany })
    t.teardown(() => store.close())
    const one = await store.append('s-1', [small, large], 'no_stream').catch((e: unknown) => e)
    t.type(one, StoreLimitExceededError, `append (appendToStream, batchAppend), atomicAppendMany ${atomicAppendMany}`)
    t.match((one as Error).message, /MaxAppendEventSize/)
    const many = await store
      .appendMany([
        { stream: 'a-1', events: [small], expectedRevision: 'no_stream' },
        { stream: 'b-1', events: [large], expectedRevision: 'no_stream' },
      ])
      .catch((e: unknown) => e)
    t.type(many, StoreLimitExceededError, `appendMany (${atomicAppendMany ? 'multiStreamAppend' : 'per-stream appendToStream'})`)
    t.match((many as Error).message, /MaxAppendEventSize/)
    if (atomicAppendMany) {
      t.match((many as Error).message, /one event is \d+ bytes, over the server's MaxAppendEventSize of 500 bytes/, 'with the sizes the v2 refusal carries')
      t.equal(client.events.length, 0, 'nothing written')
    } else {
      t.equal(client.streamEvents('b-1').length, 0, 'the too-large event is not written')
    }
    t.equal(client.streamEvents('s-1').length, 0, 'the append with the too-large event wrote nothing')
  }
})

t.test('given an event over the record size the server can hold at all (16 MiB less 10,000 bytes), when it is appended on either path, then it is a size refusal before anything is sent', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  // A string of MAX_EVENT_SIZE_BYTES characters: with its quotes and key, the data alone is over.
  const huge = { blob: 'x'.repeat(MAX_EVENT_SIZE_BYTES) }
  const single = await store.append('big-1', [{ type: 'Big', data: huge }], 'no_stream').catch((e: unknown) => e)
  t.type(single, StoreLimitExceededError)
  t.match((single as Error).message, `over the ${MAX_EVENT_SIZE_BYTES} bytes the ledger sends as one KurrentDB record`)
  const many = await store
    .appendMany([
      { stream: 'big-2', events: [{ type: 'Small', data: { n: 1 } }], expectedRevision: 'no_stream' },
      { stream: 'big-3', events: [{ type: 'Big', data: huge }], expectedRevision: 'no_stream' },
    ])
    .catch((e: unknown) => e)
  t.type(many, StoreLimitExceededError)
  t.equal(client.calls('appendToStream') + client.calls('multiStreamAppend'), 0, 'nothing sent')
  t.equal(client.events.length, 0, 'nothing written')
  t.equal(SERVER_MAX_RECORD_SIZE_BYTES, 16 * 1024 * 1024 - 10_000, 'TFConsts.EffectiveMaxLogRecordSize')
})

// The pre-check leaves room for the message around the event: the v1 Streams service's gRPC
// MaxReceiveMessageSize (server ClusterVNodeStartup.cs) bounds the whole BatchAppendReq, which carries
// the event's id, type and content type, the correlation id and protobuf framing besides its data.
const pbRequire = createRequire(path.resolve('node_modules/@kurrent/kurrentdb-client/dist/index.js'))
const streamsPb = pbRequire('../generated/kurrentdb/protocols/v1/streams_pb') as any
const sharedPb = pbRequire('../generated/kurrentdb/protocols/v1/shared_pb') as any

t.test('given an event the size pre-check accepts at its limit, when the client frames it for batchAppend, then the message is within the server’s MaxReceiveMessageSize', async (t) => {
  const type = 'ContributionRecorded'
  const metadata = { actor: 'clerk', correlationId: randomUUID(), recordedAt: '2024-08-05T02:00:00.000Z' }
  const base = Buffer.byteLength(JSON.stringify({ s: '' })) + Buffer.byteLength(JSON.stringify(metadata)) + type.length * 2
  const data = { s: 'x'.repeat(MAX_EVENT_SIZE_BYTES - base) }
  const event = toEventData({ type, data, metadata: { actor: 'clerk', correlationId: metadata.correlationId } }, { deterministicIds: false, recordedAt: metadata.recordedAt })
  t.equal(event.type, type, 'accepted by toEventData (an event at the limit)')

  // As eventBatcher builds the request holding this event (its own request: it is over batchAppendSize).
  const message = new streamsPb.BatchAppendReq.ProposedMessage()
  const id = new sharedPb.UUID()
  id.setString(event.id)
  message.setId(id)
  message.getMetadataMap().set('type', event.type)
  message.getMetadataMap().set('content-type', event.contentType)
  message.setData(Buffer.from(JSON.stringify(event.data), 'utf8').toString('base64'))
  message.setCustomMetadata(Buffer.from(JSON.stringify(event.metadata), 'utf8').toString('base64'))
  const request = new streamsPb.BatchAppendReq()
  const correlation = new sharedPb.UUID()
  correlation.setString(randomUUID())
  request.setCorrelationId(correlation)
  request.addProposedMessages(message)
  request.setIsFinal(true)
  const size = request.serializeBinary().length
  t.ok(size <= SERVER_MAX_RECORD_SIZE_BYTES, `the gRPC message (${size} bytes) is within MaxReceiveMessageSize (${SERVER_MAX_RECORD_SIZE_BYTES})`)
})
