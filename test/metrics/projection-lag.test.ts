/**
 * The projection lag in events: head − checkpoint on a store with dense positions (SQLite); counted
 * by reading on a store whose positions are commit positions (KurrentDB), where a difference of
 * positions is a distance in bytes, not a number of events.
 */
import t from 'tap'
import type { EventStore, ReadAllOptions, RecordedEvent } from '../../src/eventstore/port.js'
import { MAX_COUNTED_LAG_EVENTS, measureProjectionLag } from '../../src/metrics/projection-lag.js'

/** A read-only log at the given positions (bigint), recorded one second apart from `start`. */
function logAt(positions: bigint[], dense: boolean): Pick<EventStore, 'headPosition' | 'readAll' | 'densePositions'> {
  const events: RecordedEvent[] = positions.map((position, i) => ({
    id: `e${i}`,
    stream: 'person-x',
    revision: BigInt(i),
    position,
    type: 'T',
    data: {},
    metadata: {},
    recordedAt: new Date(Date.UTC(2026, 10, 30, 0, 0, i)).toISOString(),
  }))
  return {
    densePositions: dense,
    headPosition: async () => positions.at(-1) ?? null,
    async *readAll(options: ReadAllOptions = {}) {
      let left = options.maxCount ?? Number.POSITIVE_INFINITY
      for (const e of events) {
        if (left <= 0) return
        if (e.position < (options.fromPosition ?? 0n)) continue
        left -= 1
        yield e
      }
    },
  }
}

const at = (iso: string) => () => new Date(iso)

t.test('sparse (commit) positions: the events after the checkpoint are counted', async (t) => {
  // KurrentDB-like: each event ~2^64 apart; the checkpoint at the second event, two events behind
  const step = 1n << 64n
  const store = logAt([1n * step, 2n * step, 3n * step, 4n * step], false)
  const lag = await measureProjectionLag(store, { position: 2n * step, caughtUp: true }, { timeoutMs: 1000, now: at('2026-11-30T00:00:10.000Z') })
  t.equal(lag.lagEvents, 2n, 'two events, not a distance of 2^65')
  t.equal(lag.lagSeconds, 8, 'the oldest unapplied event (recorded at 00:00:02) is 8 s old')
  const caughtUp = await measureProjectionLag(store, { position: 4n * step, caughtUp: true }, { timeoutMs: 1000 })
  t.equal(caughtUp.lagEvents, 0n)
  t.equal(caughtUp.lagSeconds, 0)
})

t.test('sparse positions: a lag beyond MAX_COUNTED_LAG_EVENTS reads as that many', async (t) => {
  const positions = Array.from({ length: MAX_COUNTED_LAG_EVENTS + 5 }, (_, i) => BigInt(i + 1) * 1000n)
  const lag = await measureProjectionLag(logAt(positions, false), { position: null, caughtUp: false }, { timeoutMs: 5000 })
  t.equal(lag.lagEvents, BigInt(MAX_COUNTED_LAG_EVENTS))
})

t.test('dense positions: head − checkpoint, read only for the age', async (t) => {
  const store = logAt([1n, 2n, 3n, 4n, 5n], true)
  const lag = await measureProjectionLag(store, { position: 1n, caughtUp: true }, { timeoutMs: 1000, now: at('2026-11-30T00:00:04.500Z') })
  t.equal(lag.lagEvents, 4n)
  t.equal(lag.lagSeconds, 3.5, 'event 2 was recorded at 00:00:01')
})
