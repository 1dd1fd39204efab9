/**
 * A plain-text table for the CLI's summaries: columns padded to their widest cell, two spaces
 * apart, numbers (amounts, counts, positions) right-aligned.
 *
 * Why our own and not a table library (cli-table3 and the like): it is a dozen lines, and those
 * libraries draw boxes and colours that get in the way when the output is piped or diffed.
 */

/** How a column is aligned: `left` for text, `right` for amounts and counts. */
export type Align = 'left' | 'right'

/** A column: its heading and alignment. */
export interface Column {
  heading: string
  align?: Align
}

/**
 * The table's lines: the headings, then one line per row (a missing cell is empty). Trailing blanks
 * are trimmed.
 */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string[] {
  const cells = [columns.map((c) => c.heading), ...rows]
  const widths = columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells.map((r) =>
    columns
      .map((c, i) => {
        const cell = r[i] ?? ''
        return c.align === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)
      })
      .join('  ')
      .trimEnd(),
  )
}
