import t from 'tap'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'
import { collect } from '../helpers/async.js'

/**
 * recordedAt on KurrentDB never goes back as far as this process can tell (issue #14): the adapter
 * stamps an append with the client's clock, but never before the latest recordedAt it recorded or
 * read. The clock is stepped back by replacing `Date` for the test (restored after).
 */

const STEP_MS = 3_600_000
const logger = { info: () => undefined, warn: () => undefined, error: () => undefined }
const storeOn = (client: FakeKurrentClient, atomic = true) =>
  new KurrentDbEventStore({ client, atomicAppendMany: atomic, logger, streamPrefixes: ['person-'] })

/** Runs `fn` with `Date` replaced by one `offsetMs` off the real clock (restored after). */
async function withClockShifted(offsetMs: number, fn: () => Promise<unknown>): Promise<void> {
  const RealDate = Date
  class Shifted extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(RealDate.now() + offsetMs)
      else super(...(args as [number]))
    }
    static override now(): number {
      return RealDate.now() + offsetMs
    }
  }
  globalThis.Date = Shifted as DateConstructor
  try {
    await fn()
  } finally {
    globalThis.Date = RealDate
  }
}

t.test('an append after the clock stepped back is stamped with the last recorded instant', async (t) => {
  for (const atomic of [true, false]) {
    const store = storeOn(new FakeKurrentClient(), atomic)
    await store.append('person-1', [{ type: 'T', data: { n: 0 } }], 'no_stream')
    const [first] = await collect(store.readStream('person-1'))
    await withClockShifted(-STEP_MS, async () => {
      await store.append('person-1', [{ type: 'T', data: { n: 1 } }], 0n)
      await store.appendMany([{ stream: 'person-2', expectedRevision: 'no_stream', events: [{ type: 'T', data: { n: 2 } }] }])
    })
    const later = [...(await collect(store.readStream('person-1'))).slice(1), ...(await collect(store.readStream('person-2')))]
    t.same(
      later.map((e) => e.recordedAt),
      [first!.recordedAt, first!.recordedAt],
      `atomic ${atomic}: both recorded at the first event's instant, not an hour before it`,
    )
    await store.close()
  }
})

t.test('an instant read from the log counts too (another process recorded it)', async (t) => {
  const client = new FakeKurrentClient()
  const writer = storeOn(client)
  // Written an hour ahead (another process's clock, or this one's before a step back).
  await withClockShifted(STEP_MS, () => writer.append('person-1', [{ type: 'T', data: { n: 0 } }], 'no_stream'))
  const reader = storeOn(client)
  const [ahead] = await collect(reader.readStream('person-1'))
  await reader.append('person-1', [{ type: 'T', data: { n: 1 } }], 0n)
  const [, next] = await collect(reader.readStream('person-1'))
  t.equal(next!.recordedAt, ahead!.recordedAt, 'not before the instant it read')
})
