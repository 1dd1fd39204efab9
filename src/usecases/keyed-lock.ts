/**
 * An in-process lock over string keys: `run(keys, fn)` runs `fn` once every earlier holder of any
 * of those keys has finished, in the order the holders called.
 *
 * Why our own: it is the use cases' concurrency rule (one decision per stream at a time inside this
 * process, so concurrent requests for one person queue instead of exhausting their optimistic
 * retries), about thirty lines, and the lock libraries we looked at lock one key at a time.
 * Expected revisions still guard against other processes.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<void>>()

  /** Number of keys currently held or waited for (for tests and metrics). */
  get size(): number {
    return this.tails.size
  }

  async run<T>(keys: Iterable<string>, fn: () => Promise<T>): Promise<T> {
    // Every key is queued synchronously, before the first wait: holders are served in the order
    // they called, and one only ever waits for holders that called before it (no deadlock).
    const waits: Promise<void>[] = []
    const releases: (() => void)[] = []
    for (const key of new Set(keys)) {
      const previous = this.tails.get(key) ?? Promise.resolve()
      let release!: () => void
      const held = new Promise<void>((resolve) => (release = resolve))
      const tail = previous.then(() => held)
      this.tails.set(key, tail)
      waits.push(previous)
      releases.push(() => {
        release()
        if (this.tails.get(key) === tail) this.tails.delete(key)
      })
    }
    try {
      await Promise.all(waits)
      return await fn()
    } finally {
      for (const release of releases) release()
    }
  }
}
