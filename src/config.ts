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
  /** API keys file (issue #7): ids, roles, scopes and the SHA-256 of each secret. */
  LEDGER_KEYS_PATH: z.string().min(1).default('./data/keys.json'),
  /** JWTs (issue #7): the issuer's public key (PEM, RS256 or ES256) … */
  LEDGER_JWT_PUBLIC_KEY_PATH: z.string().min(1).optional(),
  /** … or a JWKS file (the key chosen by the token's `kid`); one of the two at most. */
  LEDGER_JWT_JWKS_PATH: z.string().min(1).optional(),
  /** When set, a JWT's `iss` must be this. */
  LEDGER_JWT_ISSUER: z.string().min(1).optional(),
  /** When set, a JWT's `aud` must be (or contain) this. */
  LEDGER_JWT_AUDIENCE: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Longest a read waits for `minPosition`, milliseconds. */
  LEDGER_READ_WAIT_MS: z.coerce.number().int().min(0).max(30_000).default(2_000),
  /** Largest request body, bytes (a 10,000-line submission is about 600 KB). */
  LEDGER_MAX_BODY_BYTES: z.coerce.number().int().min(1_024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
  /** Requests one caller (API key or JWT subject) may make in a minute; 0: no limit. */
  LEDGER_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(600),
  /** Readiness (`GET /readyz`): most events the projections may be behind the log's head and the
   * service still ready (head − checkpoint; on KurrentDB a distance in the log). */
  LEDGER_READY_MAX_LAG_EVENTS: z.coerce.number().int().min(0).max(1_000_000_000).default(1_000),
  /** Readiness (`GET /readyz`): oldest an event the projections have not applied may be, seconds,
   * and the service still ready. */
  LEDGER_READY_MAX_LAG_SECONDS: z.coerce.number().min(0).max(86_400).default(30),
  /** Longest a graceful shutdown (SIGTERM, SIGINT) may take, milliseconds: requests in flight
   * answered, queued appends committed, the projector's batch and checkpoint written, the databases
   * closed. Past it the service logs it and exits with status 1 (src/server.ts). */
  LEDGER_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** Interval of the periodic audit seal, milliseconds (0: off). Unset: hourly (DEFAULT_SEAL_INTERVAL_MS
   * in src/audit/seal.ts; applied in bootstrap.ts). */
  LEDGER_SEAL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3_600_000)
    .refine((ms) => ms === 0 || ms >= 1_000, '0 (off) or at least 1000')
    .optional(),
  /** Interval of the read models' background self-check, milliseconds (0: off): a sample of
   * documents refolded from their streams, and every pool document from the whole log
   * (src/projector/self-check.ts). */
  LEDGER_READ_MODEL_CHECK_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(24 * 3_600_000)
    .default(60_000),
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
    const jwt = parsed.data
    if (jwt.LEDGER_JWT_PUBLIC_KEY_PATH && jwt.LEDGER_JWT_JWKS_PATH)
      throw new ConfigError('invalid configuration:\n  LEDGER_JWT_JWKS_PATH: set LEDGER_JWT_PUBLIC_KEY_PATH or LEDGER_JWT_JWKS_PATH, not both')
    for (const key of ['LEDGER_JWT_ISSUER', 'LEDGER_JWT_AUDIENCE'] as const)
      if (jwt[key] && !jwt.LEDGER_JWT_PUBLIC_KEY_PATH && !jwt.LEDGER_JWT_JWKS_PATH)
        throw new ConfigError(`invalid configuration:\n  ${key}: needs LEDGER_JWT_PUBLIC_KEY_PATH or LEDGER_JWT_JWKS_PATH`)
    return parsed.data
  }
  const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`)
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
}
