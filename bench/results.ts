/**
 * `results.json`: the run's options, machine, commit, every phase's outcome and the judged targets.
 * Positions and other bigints are written as decimal strings.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { BenchOptions, PhaseName, PhaseOutcome } from './phases/phase.js'
import type { TargetResult } from './table.js'

/** The machine the figures were measured on. */
export interface MachineInfo {
  /** Logical CPUs. */
  cpus: number
  /** CPU model name (of the first CPU). */
  model: string
  /** Total memory, MiB. */
  totalMemMb: number
  /** Node version, e.g. `v20.20.2`. */
  node: string
  platform: string
}

/** The content of results.json. */
export interface BenchResults {
  /** When the run started: ISO 8601 local time with its UTC offset, e.g. `2025-11-30T12:53:04.120+08:00`. */
  startedAt: string
  /** `git rev-parse HEAD` of the repository, or null (not a git checkout, no git). */
  commit: string | null
  machine: MachineInfo
  options: BenchOptions
  /** Every phase, in run order: its figures, or why it has none. */
  phases: Partial<Record<PhaseName, PhaseOutcome>>
  targets: TargetResult[]
}

/** The machine's description. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus()
  return {
    cpus: cpus.length,
    model: cpus[0]?.model.trim() ?? 'unknown',
    totalMemMb: Math.round(os.totalmem() / (1024 * 1024)),
    node: process.version,
    platform: `${process.platform} ${os.release()} ${process.arch}`,
  }
}

/** `git rev-parse HEAD` in `repoRoot`, or null. */
export function gitCommit(repoRoot: string): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null
  } catch {
    return null
  }
}

/** `date` as local ISO 8601 with milliseconds and the UTC offset (`+08:00`, `Z` never used). */
export function isoWithOffset(date: Date): string {
  const offsetMin = -date.getTimezoneOffset()
  const sign = offsetMin >= 0 ? '+' : '-'
  const abs = Math.abs(offsetMin)
  const p = (n: number, width = 2): string => String(n).padStart(width, '0')
  return (
    `${p(date.getFullYear(), 4)}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}.${p(date.getMilliseconds(), 3)}` +
    `${sign}${p(Math.floor(abs / 60))}:${p(abs % 60)}`
  )
}

/** Writes `results` to `file` (its folder created if missing), bigints as decimal strings. */
export function writeResults(file: string, results: BenchResults): void {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const json = JSON.stringify(results, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value), 2)
  fs.writeFileSync(file, json + '\n')
}
