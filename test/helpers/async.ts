import type { RecordedEvent } from '../../src/eventstore/port.js'

/** Collects an async iterable of events into an array. */
export async function collect(iterable: AsyncIterable<RecordedEvent>): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = []
  for await (const event of iterable) out.push(event)
  return out
}

/** Awaits `promise`, failing with a clear message after `ms`. The timer never outlives the wait. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}
