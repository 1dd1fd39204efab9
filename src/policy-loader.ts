import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { PolicyBook, PolicyTableSchema } from './domain/policy.js'

/** The folder holding package.json, found upwards from this module (works from src/ and dist/src/). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url))
    dir = parent
  }
}

/** Path of the shipped policy table. */
export const shippedPolicyPath = (): string => path.join(packageRoot(), 'policy', 'policy-table.json')

/** A policy table file that cannot be used; the message names the file and every bad field. */
export class PolicyTableError extends Error {
  override readonly name = 'PolicyTableError'
}

/**
 * Loads and validates a policy table (the shipped one when `file` is absent).
 * @throws PolicyTableError when the file is missing, not JSON, or breaks PolicyTableSchema.
 */
export function loadPolicyBook(file: string = shippedPolicyPath()): PolicyBook {
  let raw: unknown
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new PolicyTableError(`policy table ${file}: ${(err as Error).message}`)
  }
  const parsed = PolicyTableSchema.safeParse(raw)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
    throw new PolicyTableError(`policy table ${file} is invalid:\n${lines.join('\n')}`)
  }
  return new PolicyBook(parsed.data)
}
