import { z } from 'zod'

/**
 * Service configuration from environment variables, validated at start. Every key has a default
 * that runs the service on the embedded store.
 */
export const ConfigSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  LEDGER_STORE: z.enum(['sqlite', 'kurrentdb']).default('sqlite'),
  LEDGER_SQLITE_PATH: z.string().min(1).default('./data/ledger.sqlite'),
  LEDGER_KURRENTDB_URL: z
    .string()
    .regex(/^(kurrentdb|kurrent|kdb|esdb)(\+discover)?:\/\//, 'a kurrentdb://, kurrent://, kdb:// or esdb:// connection string (+discover for gossip)')
    .optional(),
  /** How long start-up waits for KurrentDB to answer before giving up, milliseconds. */
  LEDGER_KURRENTDB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** Optional holiday calendar for transfer deadlines: JSON `{ "daysOff": ["2024-10-01", ...] }`. */
  LEDGER_HOLIDAYS_PATH: z.string().min(1).optional(),
  /** Optional replacement of the shipped policy table (JSON, same schema). */
  LEDGER_POLICY_PATH: z.string().min(1).optional(),
  /** Optional replacement of the shipped pension tables (months divisors, interest rates). */
  LEDGER_PENSION_TABLES_PATH: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Longest a read waits for `minPosition`, milliseconds. */
  LEDGER_READ_WAIT_MS: z.coerce.number().int().min(0).max(30_000).default(2_000),
  /** Largest request body, bytes (a 10,000-line submission is about 600 KB). */
  LEDGER_MAX_BODY_BYTES: z.coerce.number().int().min(1_024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Interval of the periodic audit seal, milliseconds (0: off). Unset: hourly (DEFAULT_SEAL_INTERVAL_MS
   * in src/audit/seal.ts; applied in bootstrap.ts). */
  LEDGER_SEAL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3_600_000)
    .refine((ms) => ms === 0 || ms >= 1_000, '0 (off) or at least 1000')
    .optional(),
})

export type Config = z.infer<typeof ConfigSchema>

/** A configuration error, with one line per bad key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

/**
 * Reads and validates the configuration.
 * @throws ConfigError naming every bad key and why, e.g. `PORT: Too big: expected number to be <=65535`.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Blank values count as unset, as in most shells' `KEY= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  const parsed = ConfigSchema.safeParse(present)
  if (parsed.success) {
    if (parsed.data.LEDGER_STORE === 'kurrentdb' && !parsed.data.LEDGER_KURRENTDB_URL)
      throw new ConfigError('invalid configuration:\n  LEDGER_KURRENTDB_URL: required when LEDGER_STORE=kurrentdb')
    return parsed.data
  }
  const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
}
