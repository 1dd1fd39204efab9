import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('defaults run the service on the embedded store', async (t) => {
  t.same(loadConfig({}), {
    PORT: 3000,
    HOST: '127.0.0.1',
    LEDGER_STORE: 'sqlite',
    LEDGER_SQLITE_PATH: './data/ledger.sqlite',
    LOG_LEVEL: 'info',
    LEDGER_READ_WAIT_MS: 2000,
    LEDGER_KURRENTDB_CONNECT_TIMEOUT_MS: 10000,
    LEDGER_MAX_BODY_BYTES: 4194304,
    LEDGER_KEYS_PATH: './data/keys.json',
    LEDGER_RATE_LIMIT_PER_MINUTE: 600,
    LEDGER_READY_MAX_LAG_EVENTS: 1000,
    LEDGER_READY_MAX_LAG_SECONDS: 30,
    LEDGER_SHUTDOWN_TIMEOUT_MS: 10000,
    LEDGER_READ_MODEL_CHECK_INTERVAL_MS: 60000,
  })
  t.equal(loadConfig({ PORT: '' }).PORT, 3000, 'a blank value counts as unset')
  t.equal(loadConfig({ PORT: '8080', LOG_LEVEL: 'debug' }).PORT, 8080)
})

t.test('every bad key is named with the reason', async (t) => {
  const err = t.throws(() => loadConfig({ PORT: '70000', LEDGER_STORE: 'postgres', LOG_LEVEL: 'loud' })) as ConfigError
  t.type(err, ConfigError)
  t.match(err.message, /^invalid configuration:/)
  t.match(err.message, /\n {2}PORT: /)
  t.match(err.message, /\n {2}LEDGER_STORE: /)
  t.match(err.message, /\n {2}LOG_LEVEL: /)
  t.throws(() => loadConfig({ PORT: 'abc' }), /PORT/)
  t.throws(() => loadConfig({ LEDGER_READY_MAX_LAG_EVENTS: '-1' }), /LEDGER_READY_MAX_LAG_EVENTS/)
  t.throws(() => loadConfig({ LEDGER_READY_MAX_LAG_SECONDS: 'soon' }), /LEDGER_READY_MAX_LAG_SECONDS/)
  t.throws(() => loadConfig({ LEDGER_SHUTDOWN_TIMEOUT_MS: '50' }), /LEDGER_SHUTDOWN_TIMEOUT_MS/, 'below 100 ms')
  t.throws(() => loadConfig({ LEDGER_STORE: 'kurrentdb' }), /LEDGER_KURRENTDB_URL: required when LEDGER_STORE=kurrentdb/)
  t.throws(() => loadConfig({ LEDGER_KURRENTDB_URL: 'http://x' }), /LEDGER_KURRENTDB_URL/)
})

t.test('JWT keys: a public key or a JWKS, not both; issuer and audience only with one of them', async (t) => {
  t.match(loadConfig({ LEDGER_JWT_PUBLIC_KEY_PATH: 'k.pem', LEDGER_JWT_ISSUER: 'https://idp', LEDGER_JWT_AUDIENCE: 'ledger' }), {
    LEDGER_JWT_PUBLIC_KEY_PATH: 'k.pem',
    LEDGER_JWT_ISSUER: 'https://idp',
    LEDGER_JWT_AUDIENCE: 'ledger',
  })
  t.equal(loadConfig({ LEDGER_JWT_JWKS_PATH: 'jwks.json' }).LEDGER_JWT_JWKS_PATH, 'jwks.json')
  t.equal(loadConfig({ LEDGER_KEYS_PATH: '/etc/ledger/keys.json' }).LEDGER_KEYS_PATH, '/etc/ledger/keys.json')
  t.throws(() => loadConfig({ LEDGER_JWT_PUBLIC_KEY_PATH: 'k.pem', LEDGER_JWT_JWKS_PATH: 'jwks.json' }), /LEDGER_JWT_JWKS_PATH: set LEDGER_JWT_PUBLIC_KEY_PATH or LEDGER_JWT_JWKS_PATH, not both/)
  t.throws(() => loadConfig({ LEDGER_JWT_ISSUER: 'https://idp' }), ConfigError)
  t.throws(() => loadConfig({ LEDGER_JWT_AUDIENCE: 'ledger' }), /LEDGER_JWT_AUDIENCE: needs LEDGER_JWT_PUBLIC_KEY_PATH or LEDGER_JWT_JWKS_PATH/)
})
