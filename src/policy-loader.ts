import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { PolicyBook, PolicyTableSchema } from './domain/policy.js'
import { PensionTables, PensionTablesSchema } from './domain/pension/pension-tables.js'
import { readJsonFile } from './json-file.js'

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
  return new PolicyBook(readJsonFile(file, PolicyTableSchema, 'policy table', (m) => new PolicyTableError(m)))
}

/** Path of the shipped pension tables (months divisors, record-keeping interest rates). */
export const shippedPensionTablesPath = (): string => path.join(packageRoot(), 'policy', 'pension-tables.json')

/**
 * Loads and validates the pension tables (the shipped ones when `file` is absent).
 * @throws PolicyTableError when the file is missing, not JSON, or breaks PensionTablesSchema.
 */
export function loadPensionTables(file: string = shippedPensionTablesPath()): PensionTables {
  return new PensionTables(readJsonFile(file, PensionTablesSchema, 'pension tables', (m) => new PolicyTableError(m)))
}
