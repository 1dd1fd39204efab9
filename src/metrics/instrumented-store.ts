import { WrongExpectedRevisionError, type EventStore, type NewEvent } from '../eventstore/port.js'
import type { LedgerMetrics } from './metrics.js'

/**
 * The event store with its appends measured: `append` and `appendMany` are timed
 * (`ledger_store_append_duration_seconds{operation,outcome}`, outcome `ok`, `conflict` for a
 * WrongExpectedRevisionError, `error` otherwise) and, when they succeed, their events counted by
 * type (`ledger_events_appended_total{type}`). Errors pass through unchanged.
 *
 * Everything else is the store itself: a Proxy forwards every other member (`subscribeAll`,
 * `readAll`, `headPosition`, `close`, `atomicAppendMany`, the SQLite store's `db` …) to it, bound
 * to it, and `instanceof` still sees its class (the audit's verify checks `instanceof
 * SqliteEventStore`). The result has the store's own type.
 */
export function instrumentStore<S extends EventStore>(store: S, metrics: Pick<LedgerMetrics, 'eventsAppended' | 'appendDuration'>): S {
  const timed = async <R>(operation: 'append' | 'append_many', events: () => readonly NewEvent[], run: () => Promise<R>): Promise<R> => {
    const stop = metrics.appendDuration.startTimer({ operation })
    try {
      const result = await run()
      stop({ outcome: 'ok' })
      for (const e of events()) metrics.eventsAppended.inc({ type: e.type })
      return result
    } catch (err) {
      stop({ outcome: err instanceof WrongExpectedRevisionError ? 'conflict' : 'error' })
      throw err
    }
  }
  const append: EventStore['append'] = (stream, events, expected) => timed('append', () => events, () => store.append(stream, events, expected))
  const appendMany: EventStore['appendMany'] = (appends) =>
    timed(
      'append_many',
      () => appends.flatMap((a) => a.events),
      () => store.appendMany(appends),
    )
  return new Proxy(store, {
    get(target, property) {
      if (property === 'append') return append
      if (property === 'appendMany') return appendMany
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
}
