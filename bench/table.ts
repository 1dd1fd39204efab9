/**
 * The targets of issue #8, judged on figures measured in the same run as their baselines, and the
 * one table the benchmark prints (a Markdown table: measurement, figure, baseline, ratio, target,
 * verdict).
 */
import type { PhaseName, PhaseOutcome } from './phases/phase.js'

/** Events of the log at which the replay's peak RSS is judged (`--large`). */
export const RSS_JUDGED_AT_EVENTS = 10_000_000
/** Achieved share of the asked single-line rate below which the table says the rate was not reached. */
export const SINGLE_RATE_SHORTFALL = 0.95

/** A target: `figure ≥ value` or `figure < value`, where the figure is a ratio (0.5 = 50%), MiB or ms. */
export interface Target {
  comparison: '>=' | '<'
  value: number
  of: 'ratio' | 'MB' | 'ms'
}

/** A target judged: what was compared with what, and whether it was met. */
export interface TargetResult {
  name: string
  /** The measured figure (`unit` e.g. `events/s`, `MB`, `ms`), or null when its phase did not run or failed. */
  figure: { value: number; unit: string } | null
  /** The baseline of a ratio target (`name` its phase), or null (none, or it did not run). */
  baseline: { name: string; value: number; unit: string } | null
  /** figure / baseline (a fraction: 0.5 = 50%), or null. */
  ratio: number | null
  target: Target
  /** Whether it was met; null when it could not be judged (a phase missing, or RSS under 10M events). */
  met: boolean | null
  /** Why it was not judged, or what else to know (a single-line rate not reached). */
  note?: string
}

/** One row of the table, every cell already text. */
export interface TableRow {
  measurement: string
  figure: string
  baseline: string
  ratio: string
  target: string
  verdict: string
}

type Outcomes = Partial<Record<PhaseName, PhaseOutcome>>

/** The number `key` of a phase's figures, or undefined when the phase has none. */
function fig(outcomes: Outcomes, phase: PhaseName, key: string): number | undefined {
  const o = outcomes[phase]
  if (o?.status !== 'ok') return undefined
  const v = (o.figures as Record<string, unknown>)[key]
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined
}

/** Why a phase has no figures: "not run", "failed", or undefined when it has them. */
function missing(outcomes: Outcomes, phase: PhaseName): string | undefined {
  const o = outcomes[phase]
  if (o === undefined || o.status === 'not run') return `${phase} not run`
  if (o.status === 'failed') return `${phase} failed`
  return undefined
}

/** A ratio target: `figurePhase.figureKey / baselinePhase.baselineKey ≥ value`. */
function ratioTarget(
  outcomes: Outcomes,
  name: string,
  figurePhase: PhaseName,
  figureKey: string,
  unit: string,
  baselinePhase: PhaseName,
  baselineKey: string,
  baselineUnit: string,
  value: number,
): TargetResult {
  const target: Target = { comparison: '>=', value, of: 'ratio' }
  const f = fig(outcomes, figurePhase, figureKey)
  const b = fig(outcomes, baselinePhase, baselineKey)
  const figure = f === undefined ? null : { value: f, unit }
  const baseline = b === undefined ? null : { name: baselinePhase, value: b, unit: baselineUnit }
  if (f === undefined || b === undefined || b <= 0) {
    const why = missing(outcomes, figurePhase) ?? missing(outcomes, baselinePhase) ?? 'baseline is zero'
    return { name, figure, baseline, ratio: null, target, met: null, note: why }
  }
  const ratio = f / b
  return { name, figure, baseline, ratio, target, met: ratio >= value }
}

/**
 * Judges the targets of issue #8 on the outcomes of one run:
 * in-process posting ≥ 50% and HTTP bulk ≥ 40% of the raw insert's rows/s; catch-up and replay
 * ≥ 60% of the raw scan's rows/s; replay peak RSS < 512 MB (judged only at ≥ 10M events);
 * single-line p99 < 5 ms (with a note when the achieved rate is under 95% of the asked one).
 */
export function evaluateTargets(outcomes: Outcomes): TargetResult[] {
  const targets: TargetResult[] = [
    ratioTarget(outcomes, 'in-process posting vs raw insert', 'inprocess', 'eventsPerSecond', 'events/s', 'raw-insert', 'rowsPerSecond', 'rows/s', 0.5),
    ratioTarget(outcomes, 'HTTP bulk posting vs raw insert', 'http-bulk', 'eventsPerSecond', 'events/s', 'raw-insert', 'rowsPerSecond', 'rows/s', 0.4),
    ratioTarget(outcomes, 'catch-up vs raw scan', 'catch-up', 'eventsPerSecond', 'events/s', 'raw-scan', 'rowsPerSecond', 'rows/s', 0.6),
    ratioTarget(outcomes, 'replay vs raw scan', 'replay', 'eventsPerSecond', 'events/s', 'raw-scan', 'rowsPerSecond', 'rows/s', 0.6),
  ]

  const rssTarget: Target = { comparison: '<', value: 512, of: 'MB' }
  const rss = fig(outcomes, 'replay', 'peakRssMb')
  const replayEvents = fig(outcomes, 'replay', 'events')
  if (rss === undefined || replayEvents === undefined) {
    targets.push({ name: 'replay peak RSS', figure: null, baseline: null, ratio: null, target: rssTarget, met: null, note: missing(outcomes, 'replay') ?? 'no figure' })
  } else if (replayEvents < RSS_JUDGED_AT_EVENTS) {
    targets.push({ name: 'replay peak RSS', figure: { value: rss, unit: 'MB' }, baseline: null, ratio: null, target: rssTarget, met: null, note: `judged at 10M (--large); this log has ${replayEvents} events` })
  } else {
    targets.push({ name: 'replay peak RSS', figure: { value: rss, unit: 'MB' }, baseline: null, ratio: null, target: rssTarget, met: rss < rssTarget.value })
  }

  const p99Target: Target = { comparison: '<', value: 5, of: 'ms' }
  const p99 = fig(outcomes, 'http-single', 'p99Ms')
  if (p99 === undefined) {
    targets.push({ name: 'HTTP single-line p99', figure: null, baseline: null, ratio: null, target: p99Target, met: null, note: missing(outcomes, 'http-single') ?? 'no answers' })
  } else {
    const asked = fig(outcomes, 'http-single', 'askedRatePerSecond') ?? 0
    const achieved = fig(outcomes, 'http-single', 'achievedRatePerSecond') ?? 0
    const short = asked > 0 && achieved < SINGLE_RATE_SHORTFALL * asked
    targets.push({
      name: 'HTTP single-line p99',
      figure: { value: p99, unit: 'ms' },
      baseline: null,
      ratio: null,
      target: p99Target,
      met: p99 < p99Target.value,
      ...(short ? { note: `achieved ${Math.round(achieved)}/s, ${pct(achieved / asked)} of the asked ${asked}/s` } : {}),
    })
  }
  return targets
}

/** How far a missed target is from its value, relative to the value: "missed by 35.2%". */
export function verdict(t: TargetResult): string {
  if (t.met === true) return t.note ? `met (${t.note})` : 'met'
  const value = t.target.of === 'ratio' ? t.ratio : (t.figure?.value ?? null)
  if (t.met === false && value !== null) {
    const by = t.target.comparison === '>=' ? (t.target.value - value) / t.target.value : (value - t.target.value) / t.target.value
    return `missed by ${(by * 100).toFixed(1)}%` + (t.note ? ` (${t.note})` : '')
  }
  return t.note ?? '-'
}

/** The rows of the table: the baselines, then every measurement with its target. */
export function tableRows(outcomes: Outcomes, targets: readonly TargetResult[]): TableRow[] {
  const rows: TableRow[] = []
  const byName = new Map(targets.map((t) => [t.name, t]))
  const info = (measurement: string, phase: PhaseName, figure: () => string): void => {
    const o = outcomes[phase]
    const text = figureText(o, figure)
    rows.push({ measurement, figure: text, baseline: '-', ratio: '-', target: '-', verdict: o?.status === 'ok' ? '-' : text.startsWith('failed') ? 'failed' : 'not run' })
  }
  const judged = (measurement: string, phase: PhaseName, targetName: string, figure: () => string): void => {
    const o = outcomes[phase]
    const t = byName.get(targetName)!
    const text = figureText(o, figure)
    rows.push({
      measurement,
      figure: text,
      baseline: t.baseline ? `${t.baseline.name} ${rate(t.baseline.value)} ${t.baseline.unit}` : '-',
      ratio: t.ratio === null ? '-' : pct(t.ratio),
      target: targetText(t.target),
      verdict: o?.status === 'ok' ? verdict(t) : o?.status === 'failed' ? 'failed' : 'not run',
    })
  }
  const f = (phase: PhaseName, key: string): number => fig(outcomes, phase, key) ?? NaN

  info('raw insert (baseline)', 'raw-insert', () => `${rate(f('raw-insert', 'rowsPerSecond'))} rows/s (${count(f('raw-insert', 'rows'))} rows in ${secs(f('raw-insert', 'seconds'))})`)
  info('raw scan (baseline)', 'raw-scan', () => `${rate(f('raw-scan', 'rowsPerSecond'))} rows/s (${count(f('raw-scan', 'rows'))} rows in ${secs(f('raw-scan', 'seconds'))})`)
  judged('in-process posting', 'inprocess', 'in-process posting vs raw insert', () =>
    `${rate(f('inprocess', 'eventsPerSecond'))} events/s (${rate(f('inprocess', 'linesPerSecond'))} lines/s; ${count(f('inprocess', 'events'))} events in ${secs(f('inprocess', 'seconds'))})`)
  judged('HTTP bulk posting', 'http-bulk', 'HTTP bulk posting vs raw insert', () =>
    `${rate(f('http-bulk', 'eventsPerSecond'))} events/s (${rate(f('http-bulk', 'linesPerSecond'))} lines/s; ${count(f('http-bulk', 'submissions'))} submissions in ${secs(f('http-bulk', 'seconds'))})`)
  info('HTTP bulk latency', 'http-bulk', () => `p50 ${ms(f('http-bulk', 'p50Ms'))}, p99 ${ms(f('http-bulk', 'p99Ms'))} per submission`)
  judged('catch-up', 'catch-up', 'catch-up vs raw scan', () => `${rate(f('catch-up', 'eventsPerSecond'))} events/s (${count(f('catch-up', 'events'))} events in ${secs(f('catch-up', 'seconds'))})`)
  judged('replay', 'replay', 'replay vs raw scan', () => `${rate(f('replay', 'eventsPerSecond'))} events/s (${count(f('replay', 'events'))} events in ${secs(f('replay', 'seconds'))})`)
  judged('replay peak RSS', 'replay', 'replay peak RSS', () => `${f('replay', 'peakRssMb').toFixed(0)} MB at ${count(f('replay', 'events'))} events`)
  judged('HTTP single-line p99', 'http-single', 'HTTP single-line p99', () =>
    `${ms(f('http-single', 'p99Ms'))} at ${rate(f('http-single', 'achievedRatePerSecond'))}/s (asked ${rate(f('http-single', 'askedRatePerSecond'))}/s)`)
  info('HTTP single-line p50 / max', 'http-single', () => `p50 ${ms(f('http-single', 'p50Ms'))}, max ${ms(f('http-single', 'maxMs'))} (${count(f('http-single', 'requests'))} requests, all 201)`)
  return rows
}

/** The rows as an aligned Markdown table. */
export function formatTable(rows: readonly TableRow[]): string {
  const header: TableRow = { measurement: 'measurement', figure: 'figure', baseline: 'baseline', ratio: 'ratio', target: 'target', verdict: 'verdict' }
  const keys = Object.keys(header) as (keyof TableRow)[]
  const widths = keys.map((k) => Math.max(...[header, ...rows].map((r) => r[k].length)))
  const line = (r: TableRow): string => `| ${keys.map((k, i) => r[k].padEnd(widths[i]!)).join(' | ')} |`
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`
  return [line(header), rule, ...rows.map(line)].join('\n')
}

/** The figure cell: the figures, or "not run" (saying when the phase ran as untimed setup), or the failure. */
function figureText(o: PhaseOutcome | undefined, figure: () => string): string {
  if (o === undefined) return 'not run'
  if (o.status === 'not run') return o.setup === true ? 'not run (ran untimed, as setup)' : 'not run'
  if (o.status === 'failed') return `failed: ${oneLine(o.error)}`
  return figure()
}

function targetText(t: Target): string {
  const op = t.comparison === '>=' ? '≥' : '<'
  if (t.of === 'ratio') return `${op} ${Math.round(t.value * 100)}% of baseline`
  if (t.of === 'MB') return `${op} ${t.value} MB at 10M events`
  return `${op} ${t.value} ms`
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })
const rate = (n: number): string => integer.format(n)
const count = (n: number): string => integer.format(n)
const secs = (n: number): string => `${n.toFixed(2)} s`
const pct = (fraction: number): string => `${(fraction * 100).toFixed(1)}%`
const ms = (n: number): string => (Number.isNaN(n) ? '-' : `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms`)
const oneLine = (s: string): string => {
  const flat = s.replace(/\s+/g, ' ')
  return flat.length > 120 ? flat.slice(0, 117) + '...' : flat
}
