import t from 'tap'
import { UnavailableError, WrongExpectedVersionError, jsonEvent } from '@kurrent/kurrentdb-client'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'

/**
 * Fidelity of the scripted client: a multi-stream append where one stream is an idempotent repeat
 * and another is new, or a repeat only partly matches. Server 25.1.4 (and 26.0.0-26.0.2)
 * StorageWriterService.VerifyCommitChecks answers `WrongExpectedVersion(correlationId, [], [])` (no
 * failing stream; also for CorruptedIdempotency when several streams are written); Api.V2
 * StreamsService.MapToError then reads `FailureStreamIndexes.Span[0]` of the empty list, throws, and
 * ApiCallback answers ApiErrors.InternalServerError ("failed to map error"): gRPC INTERNAL, which
 * client 1.3.1's convertToCommandError turns into UnavailableError (a 503 that every retry repeats).
 * From 26.0.3 (server commit 999fed5f8, #5577) VerifyCommitChecks answers ConsistencyChecksFailed
 * listing the wrong, idempotent and corrupted streams in request order, and MapToError a
 * WrongExpectedVersion for the first, with the stream's current version.
 */

const event = (n: number) => jsonEvent({ type: 'T', data: { n } })

/** A client of `serverVersion` where a-1 already holds `first` (written by a multiStreamAppend). */
async function withA1(serverVersion: string, first = event(1)) {
  const client = new FakeKurrentClient({ systemEvents: false, serverVersion })
  await client.multiStreamAppend([{ streamName: 'a-1', expectedState: 'no_stream', events: [first] }])
  return { client, first }
}

for (const serverVersion of ['25.1.4', '26.0.2']) {
  t.test(`given server ${serverVersion}, when a multiStreamAppend repeats a-1 idempotently and adds a new b-1, then the client sees UnavailableError (gRPC INTERNAL) every time`, async (t) => {
    const { client, first } = await withA1(serverVersion)
    const retry = () =>
      client
        .multiStreamAppend([
          { streamName: 'a-1', expectedState: 'no_stream', events: [first] },
          { streamName: 'b-1', expectedState: 'no_stream', events: [event(2)] },
        ])
        .catch((e: unknown) => e)
    for (const attempt of [1, 2]) {
      const err = await retry()
      t.notOk(err instanceof WrongExpectedVersionError, `attempt ${attempt}: not a revision conflict`)
      t.type(err, UnavailableError, `attempt ${attempt}: INTERNAL, as the client maps it`)
      t.equal((err as UnavailableError).code, 13, 'gRPC INTERNAL')
      t.match((err as Error).message, /failed to map error/)
    }
    t.equal(client.events.length, 1, 'nothing written: b-1 does not exist')
  })
}

t.test('given server 25.1.4, when a multiStreamAppend repeats a-1 only partly and adds b-1, then it is UnavailableError too', async (t) => {
  const { client, first } = await withA1('25.1.4')
  const err = await client
    .multiStreamAppend([
      { streamName: 'a-1', expectedState: 'no_stream', events: [first, event(3)] },
      { streamName: 'b-1', expectedState: 'no_stream', events: [event(2)] },
    ])
    .catch((e: unknown) => e)
  t.type(err, UnavailableError, 'CorruptedIdempotency with several streams: empty failure lists')
  t.equal(client.events.length, 1)
})

t.test('given server 25.1.4, when a one-stream multiStreamAppend repeats a-1 only partly, then it is WrongExpectedVersionError (the one-stream case names index 0)', async (t) => {
  const { client, first } = await withA1('25.1.4')
  const err = await client.multiStreamAppend([{ streamName: 'a-1', expectedState: 'no_stream', events: [first, event(3)] }]).catch((e: unknown) => e)
  t.type(err, WrongExpectedVersionError)
  t.equal((err as WrongExpectedVersionError).streamName, 'a-1')
  t.equal(client.events.length, 1)
})

t.test('given server 25.1.4, when the streams are only ok or wrong (no idempotent one), then it is WrongExpectedVersionError for the first wrong stream', async (t) => {
  const { client } = await withA1('25.1.4')
  const err = await client
    .multiStreamAppend([
      { streamName: 'b-1', expectedState: 'no_stream', events: [event(2)] },
      { streamName: 'a-1', expectedState: 'no_stream', events: [event(3)] },
    ])
    .catch((e: unknown) => e)
  t.type(err, WrongExpectedVersionError)
  t.equal((err as WrongExpectedVersionError).streamName, 'a-1')
})

for (const serverVersion of ['26.0.3', '26.1.0']) {
  t.test(`given server ${serverVersion}, when a multiStreamAppend repeats a-1 idempotently and adds a new b-1, then it is WrongExpectedVersionError naming a-1 with its current version`, async (t) => {
    const { client, first } = await withA1(serverVersion)
    await client.appendToStream('a-1', event(4), { streamState: 0n })
    const err = await client
      .multiStreamAppend([
        { streamName: 'b-1', expectedState: 'no_stream', events: [event(2)] },
        { streamName: 'a-1', expectedState: 'no_stream', events: [first] },
      ])
      .catch((e: unknown) => e)
    t.type(err, WrongExpectedVersionError)
    const wrong = err as WrongExpectedVersionError
    t.equal(wrong.streamName, 'a-1', 'the first stream that is not ok, in request order')
    t.equal(wrong.expectedState, 'no_stream')
    t.equal(wrong.actualState, 1n, "the stream's current version (two events), not the repeated event's")
    t.equal(client.events.length, 2, 'nothing written')
  })
}
