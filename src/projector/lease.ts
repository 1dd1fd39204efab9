/**
 * One projector per read-model file: a lease row (`projector_lease`, in the read-model file) naming
 * the service that folds the log into it, taken at start and renewed while it runs.
 *
 * Why a lease row and not a file lock: the lease lives in the same SQLite file as the documents, so
 * the projector's commit checks it in the same transaction as its documents and checkpoint (see
 * ReadModelStore.commitBatch), whatever process or host opened the file; and a holder that
 * crashed is recognised (its pid is gone and its heartbeat stopped, or its heartbeat is old)
 * instead of blocking a restart.
 *
 * A pid alone is not proof: a service in another pid namespace (another container) with the same
 * hostname shows a pid that looks gone, or even this very pid. So a holder whose pid looks dead is
 * taken over only once its heartbeat is also older than {@link LEASE_DEAD_HOLDER_GRACE_MS} (a crashed
 * holder's restart waits for that, about 11 s); one that still heartbeats keeps its lease.
 */
import os from 'node:os'
import { randomUUID } from 'node:crypto'
import { StartRefusedError } from '../startup-refused.js'
import { BUSY_TIMEOUT_MS, isBusy, type ReadModelStore } from './read-model-store.js'

/** How often the holder renews its heartbeat, milliseconds. */
export const LEASE_HEARTBEAT_MS = 5_000
/** Age of the last heartbeat after which another service takes the lease over, milliseconds (a
 * holder on another host, or one whose pid cannot be checked). Several heartbeats, so that a busy
 * file or a slow event loop never loses a live holder its lease. */
export const LEASE_TTL_MS = 30_000
/** Longest the start waits for the write lock to take the lease (retried asynchronously while the
 * file is busy, e.g. during a rebuild's swap), milliseconds. */
export const LEASE_ACQUIRE_WAIT_MS = 10_000
/** Pause between two attempts at taking the lease while the file is busy, milliseconds. */
const LEASE_ACQUIRE_RETRY_MS = 50
/** Age the heartbeat of a holder whose pid looks dead (gone on this host, or this very pid) must
 * reach before it is taken over, milliseconds: two missed heartbeats and a second. The start waits
 * for it (polling every {@link LEASE_DEAD_HOLDER_POLL_MS}) rather than refusing. */
export const LEASE_DEAD_HOLDER_GRACE_MS = 2 * LEASE_HEARTBEAT_MS + 1_000
/** Pause between two looks at a dead-looking holder's heartbeat while the start waits, milliseconds. */
const LEASE_DEAD_HOLDER_POLL_MS = 250

/** The lease row. Instants are ISO 8601 UTC. */
export interface LeaseHolder {
  /** Opaque id of the holder (hostname, pid and a random part). */
  owner: string
  pid: number
  hostname: string
  /** When it took the lease. */
  since: string
  /** Its last heartbeat. */
  heartbeat: string
}

/** Minimal logger (pino's). */
export interface LeaseLogger {
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}

export interface ProjectorLeaseOptions {
  /** The read-model file's path, for messages. */
  file: string
  heartbeatMs?: number
  ttlMs?: number
  /** Default {@link LEASE_DEAD_HOLDER_GRACE_MS} (2 × `heartbeatMs` + 1 s when that is given). */
  deadHolderGraceMs?: number
  logger?: LeaseLogger
  /** The current instant (tests). Default the system clock. */
  now?: () => Date
}

/** Whether process `pid` of this host is alive: `process.kill(pid, 0)` fails with ESRCH when not
 * (EPERM: alive, another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}

/**
 * The projector lease of one read-model file (its table is created by ReadModelStore). Take it with
 * {@link acquire} before the projector starts; pass {@link owner} to the projector (its commits
 * check it); {@link release} on graceful close.
 */
export class ProjectorLease {
  /** This holder's id. */
  readonly owner = `${os.hostname()}:${process.pid}:${randomUUID()}`
  private readonly heartbeatMs: number
  private readonly ttlMs: number
  private readonly graceMs: number
  private readonly now: () => Date
  private timer: NodeJS.Timeout | undefined
  private lostDetail: string | undefined

  constructor(
    private readonly readModels: ReadModelStore,
    private readonly options: ProjectorLeaseOptions,
  ) {
    this.heartbeatMs = options.heartbeatMs ?? LEASE_HEARTBEAT_MS
    this.ttlMs = options.ttlMs ?? LEASE_TTL_MS
    this.graceMs = options.deadHolderGraceMs ?? (options.heartbeatMs !== undefined ? 2 * options.heartbeatMs + 1_000 : LEASE_DEAD_HOLDER_GRACE_MS)
    this.now = options.now ?? (() => new Date())
  }

  /** The lease row, or `undefined` when nobody holds it. */
  holder(): LeaseHolder | undefined {
    return this.readModels.db.prepare('SELECT owner, pid, hostname, since, heartbeat FROM projector_lease WHERE id = 1').get() as LeaseHolder | undefined
  }

  /**
   * Takes the lease (one IMMEDIATE transaction; retried while the file is busy, up to
   * {@link LEASE_ACQUIRE_WAIT_MS}) and starts the heartbeat. A holder whose heartbeat is older than
   * the TTL is taken over (logged); so is a holder on this host whose pid looks dead (gone, or this
   * very pid) once its heartbeat is older than the grace ({@link LEASE_DEAD_HOLDER_GRACE_MS}): until
   * then this waits (asynchronously, polling), and refuses if the holder heartbeats meanwhile.
   * @throws StartRefusedError naming the file and the holder (pid, host, since, last heartbeat)
   *   when another live service holds it.
   * @throws SqliteError SQLITE_BUSY when the file stayed busy for LEASE_ACQUIRE_WAIT_MS.
   */
  async acquire(): Promise<void> {
    let deadline = Date.now() + LEASE_ACQUIRE_WAIT_MS
    let watched: LeaseHolder | undefined
    for (;;) {
      let outcome: { taken: true } | { waitMs: number; holder: LeaseHolder }
      try {
        outcome = this.tryAcquire(watched)
      } catch (err) {
        if (!isBusy(err) || Date.now() >= deadline) throw err
        await sleep(LEASE_ACQUIRE_RETRY_MS)
        continue
      }
      if ('taken' in outcome) break
      deadline = Date.now() + LEASE_ACQUIRE_WAIT_MS
      watched = outcome.holder
      await sleep(Math.min(outcome.waitMs, LEASE_DEAD_HOLDER_POLL_MS))
    }
    this.timer = setInterval(() => this.renew(), this.heartbeatMs)
    this.timer.unref()
  }

  /** One attempt (see {@link acquire}): taken, or how long to wait for a dead-looking holder.
   * @param watched the dead-looking holder seen at the previous attempt. */
  private tryAcquire(watched: LeaseHolder | undefined): { taken: true } | { waitMs: number; holder: LeaseHolder } {
    let refusedWhy = ''
    const taken = this.readModels.db
      .transaction((): { previous?: LeaseHolder; why?: string } | LeaseHolder | { waitMs: number; holder: LeaseHolder } => {
        const held = this.holder()
        const decision = held === undefined || held.owner === this.owner ? undefined : this.takeOver(held, watched?.owner === held.owner ? watched : undefined)
        if (held !== undefined && decision !== undefined && 'waitMs' in decision) return { waitMs: decision.waitMs, holder: held }
        if (held !== undefined && decision !== undefined && 'refuse' in decision) {
          refusedWhy = decision.refuse
          return held
        }
        const why = decision !== undefined && 'why' in decision ? decision.why : undefined
        const at = this.now().toISOString()
        this.readModels.db
          .prepare('INSERT OR REPLACE INTO projector_lease (id, owner, pid, hostname, since, heartbeat) VALUES (1, ?, ?, ?, ?, ?)')
          .run(this.owner, process.pid, os.hostname(), at, at)
        return { ...(held ? { previous: held } : {}), ...(why ? { why } : {}) }
      })
      .immediate()
    if ('waitMs' in taken) return taken
    if ('owner' in taken) {
      const ago = Math.round((this.now().getTime() - Date.parse(taken.heartbeat)) / 1000)
      throw new StartRefusedError(
        `another ledger service folds the read models in ${this.options.file}: pid ${taken.pid} on ${taken.hostname}, holding the projector lease since ${taken.since}, ` +
          `last heartbeat ${taken.heartbeat} (${ago} s ago)${refusedWhy}. Stop it, or give this service another LEDGER_SQLITE_PATH; ` +
          `a holder that crashed is taken over ${Math.round(this.graceMs / 1000)} s after its last heartbeat on its own host, or ${Math.round(this.ttlMs / 1000)} s after it elsewhere`,
      )
    }
    if (taken.previous) this.options.logger?.warn({ file: this.options.file, previous: taken.previous }, `took over the projector lease: ${taken.why}`)
    return { taken: true }
  }

  /**
   * What to do about the lease of `held`: take it over (`why`), wait `waitMs` for its heartbeat to
   * age (its pid looks dead), refuse (`refuse`: a note for the message, may be empty).
   * @param watched `held` as seen at the previous attempt, when the start is waiting for it.
   */
  private takeOver(held: LeaseHolder, watched: LeaseHolder | undefined): { why: string } | { waitMs: number } | { refuse: string } {
    const age = this.now().getTime() - Date.parse(held.heartbeat)
    const here = held.hostname === os.hostname()
    // Gone on this host, or this very pid under another owner id (a container restarted after a
    // crash runs the service as the same pid, often 1). Either may also be a live service in another
    // pid namespace with the same hostname: its heartbeat tells.
    const dead = here && !processAlive(held.pid) ? `its holder (pid ${held.pid} on this host) is gone` : undefined
    const samePid = here && held.pid === process.pid ? `its holder was an earlier run with this pid (${held.pid}) on this host` : undefined
    const looksDead = dead ?? samePid
    if (looksDead !== undefined) {
      if (watched !== undefined && watched.heartbeat !== held.heartbeat)
        return { refuse: ` (its pid looks ${dead ? 'gone' : 'like this one'} from here, yet it heartbeats: a service in another pid namespace?)` }
      if (!(age < this.graceMs)) return { why: `${looksDead}, and its last heartbeat (${held.heartbeat}) is older than ${this.graceMs} ms` }
      return { waitMs: this.graceMs - age }
    }
    if (!(age <= this.ttlMs)) return { why: `its holder's last heartbeat (${held.heartbeat}) is older than ${this.ttlMs} ms` }
    return { refuse: '' }
  }

  /** Renews the heartbeat; a busy file is tried again at the next beat; a lease another took is lost. */
  private renew(): void {
    if (this.lostDetail !== undefined) return
    try {
      const changes = this.readModels.db
        .prepare('UPDATE projector_lease SET heartbeat = ? WHERE id = 1 AND owner = ?')
        .run(this.now().toISOString(), this.owner).changes
      if (changes === 0) this.markLost(`the projector lease of ${this.options.file} is no longer this service's (${describe(this.holder())})`)
    } catch (err) {
      if (isBusy(err)) this.options.logger?.warn({ file: this.options.file }, 'projector lease heartbeat: the read-model file is busy; trying again at the next beat')
      else this.options.logger?.error({ err, file: this.options.file }, 'projector lease heartbeat failed')
    }
  }

  /** Records that the lease is lost (sticky: readiness fails until a restart). */
  markLost(detail: string): void {
    if (this.lostDetail !== undefined) return
    this.lostDetail = detail
    this.options.logger?.error({ file: this.options.file }, `${detail}; this service no longer folds the read models: stop the other service and restart this one`)
  }

  /** Whether the lease was lost. */
  get lost(): boolean {
    return this.lostDetail !== undefined
  }

  /** The readiness fault `projector-lease-lost`, or `undefined` while the lease is held. */
  fault(): { reason: string; detail: string } | undefined {
    if (this.lostDetail === undefined) return undefined
    return { reason: 'projector-lease-lost', detail: `${this.lostDetail}; this service no longer folds the read models: stop the other service and restart this one` }
  }

  /** Stops the heartbeat and gives the lease up (when still held). Idempotent; never throws. */
  release(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = undefined
    try {
      if (!this.readModels.db.open) return
      // Shutting down: waiting for the lock (synchronously) is fine now.
      this.readModels.setBusyTimeout(BUSY_TIMEOUT_MS)
      this.readModels.db.prepare('DELETE FROM projector_lease WHERE id = 1 AND owner = ?').run(this.owner)
    } catch (err) {
      this.options.logger?.warn({ err, file: this.options.file }, 'could not release the projector lease; the next start takes it over')
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const describe = (h: LeaseHolder | undefined): string =>
  h === undefined ? 'nobody holds it' : `held by pid ${h.pid} on ${h.hostname} since ${h.since}, last heartbeat ${h.heartbeat}`
