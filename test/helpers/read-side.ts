import Database from 'better-sqlite3'
import { createLedger, type Ledger } from '../../src/bootstrap.js'
import { systemAuthenticator } from '../../src/http/auth.js'
import { loadConfig } from '../../src/config.js'
import type { ReadModelStore } from '../../src/projector/read-model-store.js'
import type { ProjectorLogger } from '../../src/projector/projector.js'
import { employerId, personId, submission } from './http.js'

/** Longest a test waits for the projector, milliseconds. */
export const PROJECTOR_WAIT_MS = 20_000

/** A ledger service in this process on `file` (the lease, projector and self-check of bootstrap),
 * every token the system principal; the self-check off unless `env` sets it. */
export const openService = (file: string, env: Record<string, string> = {}, projectorLogger?: ProjectorLogger): Promise<Ledger> =>
  createLedger(loadConfig({ LEDGER_SQLITE_PATH: file, LOG_LEVEL: 'silent', LEDGER_SEAL_INTERVAL_MS: '0', LEDGER_READ_MODEL_CHECK_INTERVAL_MS: '0', ...env }), {
    authenticator: systemAuthenticator,
    ...(projectorLogger ? { projectorLogger } : {}),
  })

/** A logger that keeps every line (object and message). */
export function captureLogger(): ProjectorLogger & { warn(obj: object, msg?: string): void; lines: { level: string; obj: object; msg: string }[] } {
  const lines: { level: string; obj: object; msg: string }[] = []
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg: msg ?? '' })
  return { lines, info: at('info'), warn: at('warn'), error: at('error') }
}

/** POSTs `payload` to `url`; throws on a status of 300 or more. */
export async function post(ledger: Ledger, url: string, payload?: object): Promise<void> {
  const res = await ledger.app.inject({ method: 'POST', url, ...(payload ? { payload } : {}) })
  if (res.statusCode >= 300) throw new Error(`POST ${url}: ${res.statusCode} ${res.body}`)
}

/**
 * Monthly submissions for persons 1..`persons` in Shanghai (wage 8000.00 + 100 × i) for each of
 * `periods`, then a transfer to Beijing for person 1 (registered, accepted, sent). One event per
 * line and one per submission.
 */
export async function seed(ledger: Ledger, persons: number, periods: readonly string[], tag = 'A'): Promise<void> {
  const ids = Array.from({ length: persons }, (_, i) => personId(i + 1))
  for (const period of periods)
    await post(ledger, '/v1/contribution-submissions', submission({ submissionId: `S-${tag}-${period}`, employerId: employerId('0001'), period, lines: ids.map((p, i) => ({ personId: p, wage: `${8000 + 100 * i}.00` })) }))
}

/** Waits until the projector has applied the log's head; the head. */
export async function caughtUp(ledger: Ledger): Promise<bigint> {
  const head = (await ledger.store.headPosition()) ?? 0n
  const reached = await ledger.projector.waitForPosition(head, PROJECTOR_WAIT_MS)
  if (reached !== head) throw new Error(`the projector reached ${reached ?? 'nothing'}, not the head ${head}`)
  return head
}

/** Every live document as stored: `projection/key` → JSON text. */
export function storedDocs(rm: ReadModelStore): Map<string, string> {
  const rows = rm.db.prepare('SELECT projection, key, doc FROM read_models ORDER BY projection, key').all() as { projection: string; key: string; doc: string }[]
  return new Map(rows.map((r) => [`${r.projection}/${r.key}`, r.doc]))
}

/** Runs `edit` on the file with a connection of its own (an operator's, or a fault's, change). */
export function editFile(file: string, edit: (db: Database.Database) => void): void {
  const db = new Database(file)
  try {
    edit(db)
  } finally {
    db.close()
  }
}

/** A document's text replaced with `text`, with a connection of its own (a damaged row).
 * @throws Error when there is no such document. */
export function damage(file: string, projection: string, key: string, text: string): void {
  editFile(file, (db) => {
    const changes = db.prepare('UPDATE read_models SET doc = ? WHERE projection = ? AND key = ?').run(text, projection, key).changes
    if (changes !== 1) throw new Error(`no document ${projection}/${key}`)
  })
}
