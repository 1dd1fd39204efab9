/**
 * The service refuses to start for a reason the operator must cure, not retry: another service
 * already folds the read models of the same file (names the file and the holder), or the data
 * directory cannot be written (names the path and the cause). `src/server.ts` exits 2 with the
 * message (like a bad configuration).
 */
export class StartRefusedError extends Error {
  override readonly name = 'StartRefusedError'
}
