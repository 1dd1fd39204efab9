import fs from 'node:fs'
import type { z } from 'zod'

/**
 * Reads a JSON configuration file and validates it with `schema`.
 * @throws the error `makeError` builds, with a message naming the file and, for a file that does
 * not match, every bad field (`  path: message`, one a line).
 */
export function readJsonFile<S extends z.ZodType>(file: string, schema: S, what: string, makeError: (message: string) => Error): z.infer<S> {
  let raw: unknown
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw makeError(`${what} ${file}: ${(err as Error).message}`)
  }
  const parsed = schema.safeParse(raw)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
    throw makeError(`${what} ${file} is invalid:\n${lines.join('\n')}`)
  }
  return parsed.data
}
