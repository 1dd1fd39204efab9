import fs from 'node:fs'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import type { Authenticator } from '../http/auth.js'
import { readJsonFile } from '../json-file.js'
import { ApiKeyBook, KeysFileSchema } from './api-keys.js'
import type { Principal } from './principal.js'

/** A keys file, public key or JWKS file that cannot be used. */
export class AuthConfigError extends Error {
  override readonly name = 'AuthConfigError'
}

/** How often, at most, the keys file is looked at for changes (on a request), milliseconds. */
export const KEYS_FILE_CHECK_MS = 1_000

/** What identifies one version of the keys file; undefined when there is no file. A new file
 * written beside and renamed over it (as `ledger keys create` does) has a new inode too. */
function stampOf(file: string): string | undefined {
  try {
    const st = fs.statSync(file)
    return `${st.ino}:${st.size}:${st.mtimeMs}`
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

const readBook = (file: string): ApiKeyBook => new ApiKeyBook(readJsonFile(file, KeysFileSchema, 'keys file', (m) => new AuthConfigError(m)))

/**
 * The API keys of the keys file (`LEDGER_KEYS_PATH`), following the file while the service runs: on
 * a request, at most once every {@link KEYS_FILE_CHECK_MS}, the file's modification time (and inode
 * and size) is compared with the version loaded, and a changed file is read again. A changed file
 * that is invalid (an edit by hand half done) is logged and ignored: the keys loaded before stay in
 * use until the file is valid again. A file removed is an empty book.
 */
export class KeysFileBook {
  private book: ApiKeyBook
  private stamp: string | undefined
  private checkedAt: number
  private readonly now: () => number

  /** @throws AuthConfigError naming the file and the bad field, for a present but invalid file. */
  constructor(
    readonly file: string,
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now
    this.stamp = stampOf(file)
    this.book = this.stamp === undefined ? new ApiKeyBook({ keys: [] }) : readBook(file)
    this.checkedAt = this.now()
  }

  /** Whether the file existed when last looked at. */
  get exists(): boolean {
    return this.stamp !== undefined
  }

  /** The principal of a valid API key token, or undefined; looks at the file first (see the class). */
  authenticate(token: string, log?: FastifyBaseLogger): Principal | undefined {
    this.refresh(log)
    return this.book.authenticate(token)
  }

  /** Reads the file again when it changed, at most once every {@link KEYS_FILE_CHECK_MS}. */
  refresh(log?: FastifyBaseLogger): void {
    const now = this.now()
    if (now - this.checkedAt < KEYS_FILE_CHECK_MS) return
    this.checkedAt = now
    let stamp: string | undefined
    try {
      stamp = stampOf(this.file)
    } catch (err) {
      log?.error({ file: this.file, err: (err as Error).message }, 'cannot look at the keys file; the keys loaded before stay in use')
      return
    }
    if (stamp === this.stamp) return
    this.stamp = stamp
    if (stamp === undefined) {
      this.book = new ApiKeyBook({ keys: [] })
      log?.warn({ file: this.file }, 'the keys file was removed: no API key is accepted')
      return
    }
    try {
      this.book = readBook(this.file)
      log?.info({ file: this.file }, 'keys file reloaded')
    } catch (err) {
      log?.error({ file: this.file, err: (err as Error).message }, 'the keys file changed but cannot be used; the keys loaded before stay in use')
    }
  }
}

/**
 * Loads the keys file (`LEDGER_KEYS_PATH`), followed while the service runs (see KeysFileBook). A
 * missing file is an empty book (nobody can call the API with a key until one is created with
 * `ledger keys create`); a present but invalid one stops the start.
 * @throws AuthConfigError naming the file and the bad field.
 */
export function loadApiKeyBook(file: string, options: { now?: () => number } = {}): KeysFileBook {
  return new KeysFileBook(file, options)
}

/** Where API keys are looked up: a KeysFileBook, or a fixed ApiKeyBook. */
export interface KeySource {
  authenticate(token: string, log?: FastifyBaseLogger): Principal | undefined
}

/** JWT verification (src/auth/jwt.ts): the plugin it needs on the app, and the check of a token. */
export interface JwtVerifier {
  register(app: FastifyInstance): void
  verify(token: string, request: FastifyRequest): Promise<Principal | undefined>
}

/** The service's authenticator: API keys (`lk_…` tokens) from the keys book, anything else as a JWT
 * when JWTs are configured (else refused). */
export function createAuthenticator(options: { keys: KeySource; jwt?: JwtVerifier | undefined }): Authenticator {
  const { keys, jwt } = options
  return {
    authenticate: async (token, request) => {
      if (ApiKeyBook.isApiKey(token)) return keys.authenticate(token, request.log)
      return jwt ? jwt.verify(token, request) : undefined
    },
    ...(jwt ? { register: (app: FastifyInstance) => jwt.register(app) } : {}),
  }
}
