/**
 * Preload for child processes whose peak memory the benchmark reports:
 *
 *   BENCH_PEAK_RSS_FILE=/tmp/x.json node --import ./dist/bench/peak-rss.js dist/src/cli/ledger.js …
 *
 * When the process exits (normally or through `process.exit`; not when killed by a signal), it
 * writes `{"maxRssKb": <peak resident set size in KiB>}` (`process.resourceUsage().maxRSS`)
 * synchronously to the file named by the environment variable `BENCH_PEAK_RSS_FILE`. Without that
 * variable it does nothing. Exports nothing.
 */
import { writeFileSync } from 'node:fs'

const file = process.env.BENCH_PEAK_RSS_FILE
if (file !== undefined && file !== '') {
  process.on('exit', () => {
    writeFileSync(file, JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS }))
  })
}
