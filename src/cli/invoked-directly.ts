import { realpathSync } from 'node:fs'
import { pathToFileURL } from 'node:url'

/** Whether the module at `moduleUrl` (its `import.meta.url`) is the process entry, not imported by
 * a test: CLI modules run their `main` only then. */
export function invokedDirectly(moduleUrl: string): boolean {
  const entry = process.argv[1]
  if (entry === undefined) return false
  try {
    return moduleUrl === pathToFileURL(realpathSync(entry)).href
  } catch {
    return false
  }
}
