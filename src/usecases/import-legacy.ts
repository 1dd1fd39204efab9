import { PENSION_TRANSFERRED } from '../domain/transfer/events.js'
import { WrongExpectedRevisionError, type EventMetadata, type EventStore, type ExpectedRevision } from '../eventstore/port.js'
import { personStream } from '../domain/contribution/events.js'
import { evolvePerson, initialPersonState } from '../domain/contribution/person-state.js'
import { LEGACY_HISTORY_IMPORTED, POOL_LEGACY_BALANCE_IMPORTED, poolStream } from '../domain/legacy/events.js'
import {
  decideLegacyHistory,
  decidePoolLegacyBalance,
  evolvePoolLegacy,
  initialPoolLegacyState,
  type ImportLegacyHistory,
  type ImportPoolLegacyBalance,
  type LegacyHistoryDecision,
  type PoolLegacyDecision,
  type PoolLegacyState,
} from '../domain/legacy/decide.js'
import type { PolicyBook } from '../domain/policy.js'
import { KeyedLock } from './keyed-lock.js'
import { MAX_APPEND_ATTEMPTS } from './record-submission.js'

/** An imported (or already imported) history or opening balance, as HTTP and the CLI answer it. */
export interface ImportReceipt {
  status: 'imported' | 'already-imported'
  importId: string
  /** Log position of the import's event. */
  position: bigint
}

/** The answer for a person's history: a receipt, or the decision that refused it. */
export type ImportLegacyHistoryResult =
  | { kind: 'receipt'; receipt: ImportReceipt }
  | { kind: 'refused'; decision: Exclude<LegacyHistoryDecision, { outcome: 'import' | 'already-imported' }> }

/** The answer for a pool's opening balance: a receipt, or the decision that refused it. */
export type ImportPoolLegacyBalanceResult =
  | { kind: 'receipt'; receipt: ImportReceipt }
  | { kind: 'refused'; decision: Exclude<PoolLegacyDecision, { outcome: 'import' | 'already-imported' }> }

/**
 * I/O around the legacy decisions (domain/legacy/decide.ts): reads the stream, decides, appends the
 * one event with the expected revision read. Used by HTTP and by `ledger import-history`.
 *
 * Inside this process, imports of one stream are decided one after the other (KeyedLock); against
 * other writers (a submission for the same person, another process), losing the race on the
 * stream's revision decides again from fresh state, at most MAX_APPEND_ATTEMPTS times.
 */
export class ImportLegacyHandler {
  private readonly lock = new KeyedLock()

  constructor(
    private readonly store: EventStore,
    private readonly policies: PolicyBook,
  ) {}

  /**
   * Imports a person's legacy history: one `LegacyHistoryImported` on `person-{personId}`.
   * @throws WrongExpectedRevisionError when every attempt lost its race (HTTP 409, retryable).
   * @throws StoreUnavailableError from the store (HTTP 503).
   */
  async importHistory(cmd: ImportLegacyHistory, metadata: EventMetadata = {}): Promise<ImportLegacyHistoryResult> {
    const stream = personStream(cmd.personId)
    return this.lock.run([stream], async () => {
      for (let attempt = 1; ; attempt++) {
        const state = initialPersonState()
        let transferred = false
        const read = await this.read(stream, LEGACY_HISTORY_IMPORTED, (e) => {
          if (e.type === PENSION_TRANSFERRED) transferred = true
          return evolvePerson(state, e)
        })
        const known = new Set(this.policies.regions())
        const unknownRegions = cmd.years
          .map((y, i) => ({ y, i }))
          .filter(({ y }) => !known.has(y.region))
          .map(({ y, i }) => ({ path: ['years', i, 'region'], message: `region ${y.region} has no pools in this ledger (not in the policy table)` }))
        const decided = unknownRegions.length > 0 ? ({ outcome: 'invalid', violations: unknownRegions } as const) : decideLegacyHistory(cmd, state)
        const decision = decided.outcome === 'import' && transferred ? ({ outcome: 'after-transfer' } as const) : decided
        if (decision.outcome === 'already-imported')
          return { kind: 'receipt', receipt: { status: 'already-imported', importId: cmd.importId, position: read.importPosition! } }
        if (decision.outcome !== 'import') return { kind: 'refused', decision }
        try {
          const result = await this.store.append(stream, [{ ...decision.event, metadata, idempotencyKey: `legacy-history/${cmd.personId}/${cmd.importId}` }], read.revision)
          return { kind: 'receipt', receipt: { status: 'imported', importId: cmd.importId, position: result.position } }
        } catch (err) {
          if (!(err instanceof WrongExpectedRevisionError) || attempt >= MAX_APPEND_ATTEMPTS) throw err
        }
      }
    })
  }

  /**
   * Imports a pool's opening balance per scheme: one `PoolLegacyBalanceImported` on `pool-{region}`.
   * @throws WrongExpectedRevisionError when every attempt lost its race (HTTP 409, retryable).
   * @throws StoreUnavailableError from the store (HTTP 503).
   */
  async importPoolBalance(cmd: ImportPoolLegacyBalance, metadata: EventMetadata = {}): Promise<ImportPoolLegacyBalanceResult> {
    const stream = poolStream(cmd.region)
    const regionHasPolicy = this.policies.regions().includes(cmd.region)
    return this.lock.run([stream], async () => {
      for (let attempt = 1; ; attempt++) {
        const state: PoolLegacyState = initialPoolLegacyState()
        const read = await this.read(stream, POOL_LEGACY_BALANCE_IMPORTED, (e) => evolvePoolLegacy(state, e))
        const decision = decidePoolLegacyBalance(cmd, { ...state, regionHasPolicy })
        if (decision.outcome === 'already-imported')
          return { kind: 'receipt', receipt: { status: 'already-imported', importId: cmd.importId, position: read.importPosition! } }
        if (decision.outcome !== 'import') return { kind: 'refused', decision }
        try {
          const result = await this.store.append(stream, [{ ...decision.event, metadata, idempotencyKey: `pool-legacy-balance/${cmd.region}/${cmd.importId}` }], read.revision)
          return { kind: 'receipt', receipt: { status: 'imported', importId: cmd.importId, position: result.position } }
        } catch (err) {
          if (!(err instanceof WrongExpectedRevisionError) || attempt >= MAX_APPEND_ATTEMPTS) throw err
        }
      }
    })
  }

  /** Folds `stream` through `evolve`; returns its revision and the position of its `importType`
   * event, if any. */
  private async read(
    stream: string,
    importType: string,
    evolve: (event: { type: string; data: unknown }) => unknown,
  ): Promise<{ revision: ExpectedRevision; importPosition: bigint | undefined }> {
    let revision: ExpectedRevision = 'no_stream'
    let importPosition: bigint | undefined
    for await (const event of this.store.readStream(stream)) {
      evolve(event)
      if (event.type === importType) importPosition = event.position
      revision = event.revision
    }
    return { revision, importPosition }
  }
}
