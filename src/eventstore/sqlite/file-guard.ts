/**
 * Whether the SQLite database file (and its `-wal`, `-shm`) at a path are still the files a
 * connection opened: a file deleted or replaced under an open connection keeps taking writes (into
 * an inode nobody will find again) and loses them at the next start.
 *
 * Why our own check: SQLite notices a moved database file only in rollback-journal mode
 * (SQLITE_READONLY_DBMOVED), never in WAL mode, and not a deleted `-wal` at all. A file's identity
 * is its (device, inode) pair from `fs.statSync`; a `stat` costs microseconds, cheap enough for
 * every group commit.
 */
import fs from 'node:fs'

/** How often an open store checks its files when no write does it, milliseconds. */
export const FILE_CHECK_INTERVAL_MS = 1000

/** A file's identity: device and inode numbers (bigint, as `fs.statSync(…, { bigint: true })`). */
export interface FileIdentity {
  dev: bigint
  ino: bigint
}

/** Which file changed and how: `missing` (nothing at the path) or `replaced` (another file, or a
 * file with no links left, is there now). */
export interface FileChange {
  file: 'database' | 'wal'
  change: 'missing' | 'replaced'
  /** The path of the file that changed. */
  path: string
}

/** The identity of the file at `file`: undefined when there is none (ENOENT, ENOTDIR); `null`
 * when it cannot be told (another stat error: no verdict rather than a false alarm). */
export function identityOf(file: string): FileIdentity | undefined | null {
  try {
    const st = fs.statSync(file, { bigint: true, throwIfNoEntry: false })
    if (st === undefined) return undefined
    // A file with no links left is deleted, though something still shows it at the path.
    if (st.nlink === 0n) return { dev: st.dev, ino: -1n }
    return { dev: st.dev, ino: st.ino }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined
    return null
  }
}

const same = (a: FileIdentity, b: FileIdentity): boolean => a.dev === b.dev && a.ino === b.ino

/**
 * The identities of a database file and its side files, recorded when the store opened them, and
 * the check that they are still at the path.
 */
export class DatabaseFileGuard {
  /** `<path>-wal`. */
  readonly walPath: string
  /** `<path>-shm`. */
  readonly shmPath: string
  private readonly database: FileIdentity
  /** The WAL's identity; recorded at the first check that finds it when it was not there yet. */
  private wal: FileIdentity | undefined
  private shm: FileIdentity | undefined

  /**
   * Records the identity of `path` (which must exist: the connection just opened it) and of its
   * `-wal` and `-shm` when they exist.
   * @throws Error when `path` cannot be stat'ed.
   */
  constructor(readonly path: string) {
    const database = identityOf(path)
    if (!database) throw new Error(`cannot stat the database file ${path} just opened`)
    this.database = database
    this.walPath = `${path}-wal`
    this.shmPath = `${path}-shm`
    this.wal = identityOf(this.walPath) ?? undefined
    this.shm = identityOf(this.shmPath) ?? undefined
  }

  /** The first change found (the database file first, then the WAL), or undefined when both are
   * still the files opened (or cannot be told). A WAL not recorded yet is recorded now. */
  check(): FileChange | undefined {
    const database = identityOf(this.path)
    if (database === undefined) return { file: 'database', change: 'missing', path: this.path }
    if (database !== null && !same(database, this.database)) return { file: 'database', change: 'replaced', path: this.path }
    const wal = identityOf(this.walPath)
    if (this.wal === undefined) {
      if (wal) this.wal = wal
    } else if (wal === undefined) {
      return { file: 'wal', change: 'missing', path: this.walPath }
    } else if (wal !== null && !same(wal, this.wal)) {
      return { file: 'wal', change: 'replaced', path: this.walPath }
    }
    if (this.shm === undefined) this.shm = identityOf(this.shmPath) ?? undefined
    return undefined
  }

  /**
   * Unlinks the `-wal` and `-shm` at the path when they are still the ones this connection uses:
   * beside another (or a restored) database file they would be replayed into it at its next open.
   * Files that are not ours are left alone.
   * @returns the paths unlinked.
   */
  unlinkOwnSideFiles(): string[] {
    const removed: string[] = []
    for (const [file, recorded] of [
      [this.walPath, this.wal],
      [this.shmPath, this.shm],
    ] as const) {
      const now = identityOf(file)
      if (recorded && now && same(now, recorded)) {
        fs.unlinkSync(file)
        removed.push(file)
      }
    }
    return removed
  }
}
