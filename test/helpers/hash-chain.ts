import type { EventStore } from '../../src/eventstore/port.js'
import { GENESIS_HASH, eventHash, storedHash } from '../../src/eventstore/hash-chain.js'
import { collect } from './async.js'

/** Whether every event of `stream` carries the audit hash chained from its predecessor (the genesis
 * value for the first), as the store reads it back. */
export async function chainIntact(store: EventStore, stream: string): Promise<boolean> {
  let previousHash = GENESIS_HASH
  for (const e of await collect(store.readStream(stream))) {
    const hash = eventHash({ stream, revision: e.revision, type: e.type, data: e.data, previousHash })
    if (storedHash(e.metadata) !== hash) return false
    previousHash = hash
  }
  return true
}
