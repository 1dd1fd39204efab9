import t from 'tap'
import { EventEmitter } from 'node:events'
import http from 'node:http'
import { createRequire } from 'node:module'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { DUPLICATE_SIGNAL_WINDOW_MS, SHUTDOWN_SIGNALS, watchShutdownSignals, type ShutdownSignal, type SignalSource } from '../src/shutdown-signals.js'
import { startService } from './helpers/service-process.js'
import { createKey } from '../src/auth/api-keys.js'
import { appendKey } from '../src/cli/keys.js'
import { employerId } from './helpers/http.js'

/**
 * Which signal starts the shutdown and which cuts it short (issue #14): one Ctrl-C under `npm start`
 * reaches the service twice (the terminal's and npm's SIGINT); that is one request. A signal after
 * DUPLICATE_SIGNAL_WINDOW_MS, or another signal, is a second request: exit 1 at once, as before.
 * (test/ctrl-c.test.ts presses Ctrl-C in a real terminal.)
 */

/** A fake process: signals emitted by hand, a clock set by hand. */
function fixture() {
  const source = new EventEmitter()
  let now = 10_000
  const calls: string[] = []
  const watcher = watchShutdownSignals(
    {
      first: (s) => calls.push(`first ${s}`),
      duplicate: (s, after) => calls.push(`duplicate ${s} +${after}`),
      second: (s) => calls.push(`second ${s}`),
    },
    { source: source as unknown as SignalSource, now: () => now },
  )
  const signal = (s: ShutdownSignal, atMs: number) => {
    now = 10_000 + atMs
    source.emit(s, s)
  }
  return { source, watcher, calls, signal }
}

t.test('the default clock is monotonic: the wall clock stepped back does not turn a real second signal into a duplicate', async (t) => {
  // Given the wall clock (Date.now) under the test's control, the watcher on its default clock with
  // a 50 ms window,
  const realNow = Date.now
  let steppedBackMs = 0
  Date.now = () => realNow() - steppedBackMs
  t.teardown(() => (Date.now = realNow))
  const source = new EventEmitter()
  const calls: string[] = []
  const watcher = watchShutdownSignals(
    { first: (s) => calls.push(`first ${s}`), duplicate: (s) => calls.push(`duplicate ${s}`), second: (s) => calls.push(`second ${s}`) },
    { source: source as unknown as SignalSource, windowMs: 50 },
  )
  t.teardown(() => watcher.uninstall())
  source.emit('SIGINT', 'SIGINT')
  // when the wall clock is stepped back one hour and the same signal comes again 200 ms later (real time),
  steppedBackMs = 3_600_000
  await sleep(200)
  source.emit('SIGINT', 'SIGINT')
  Date.now = realNow
  // then it is a second request, not a duplicate.
  t.same(calls, ['first SIGINT', 'second SIGINT'])
})

t.test('the same signal within the window is the same request; later, or another signal, is a second', async (t) => {
  t.equal(DUPLICATE_SIGNAL_WINDOW_MS, 1_000)
  const { calls, signal } = fixture()
  // Given SIGINT at 0 ms, SIGINT again at 3 ms (npm's) and at 1,000 ms (the window's edge),
  signal('SIGINT', 0)
  signal('SIGINT', 3)
  signal('SIGINT', 1_000)
  // then one shutdown, two duplicates;
  t.same(calls, ['first SIGINT', 'duplicate SIGINT +3', 'duplicate SIGINT +1000'])
  // a SIGINT at 1,001 ms is a second request.
  signal('SIGINT', 1_001)
  t.same(calls.slice(3), ['second SIGINT'])
})

t.test('another signal within the window is a second request', async (t) => {
  const { calls, signal } = fixture()
  signal('SIGTERM', 0)
  signal('SIGINT', 5)
  t.same(calls, ['first SIGTERM', 'second SIGINT'])
})

t.test('a shutdown begun without a signal: any signal is a second request', async (t) => {
  const { calls, signal, watcher } = fixture()
  watcher.shuttingDown()
  signal('SIGINT', 0)
  t.same(calls, ['second SIGINT'])
})

t.test('uninstall removes every listener; the signals are close-with-grace\'s', async (t) => {
  const { source, watcher } = fixture()
  for (const s of SHUTDOWN_SIGNALS) t.equal(source.listenerCount(s), 1, `${s} watched`)
  watcher.uninstall()
  for (const s of SHUTDOWN_SIGNALS) t.equal(source.listenerCount(s), 0, `${s} no longer watched`)
  // close-with-grace is told to skip these; a signal it handles and this list does not would be
  // handled by neither.
  const require = createRequire(import.meta.url)
  const { signalEvents } = require(path.join(path.dirname(require.resolve('close-with-grace')), 'events/signal.events.js')) as { signalEvents: string[] }
  t.same([...SHUTDOWN_SIGNALS].sort(), [...signalEvents].sort())
})

t.test('the service: a repeated SIGINT is ignored, a SIGINT after the window exits 1 with "second signal"', { timeout: 120_000 }, async (t) => {
  const dir = t.testdir()
  const payroll = createKey({ id: 'payroll-1', role: 'payroll', employers: [employerId('0001')] })
  appendKey(path.join(dir, 'keys.json'), payroll.entry)
  const service = await startService(t, {
    ...process.env,
    NODE_ENV: 'production',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'debug',
    LEDGER_SQLITE_PATH: path.join(dir, 'ledger.sqlite'),
    LEDGER_KEYS_PATH: path.join(dir, 'keys.json'),
    LEDGER_SHUTDOWN_TIMEOUT_MS: '30000',
  })
  // A request whose body never ends keeps the shutdown waiting.
  const req = http.request(new URL(`${service.address}/v1/contribution-submissions?probe=held`), {
    method: 'POST',
    headers: { authorization: `Bearer ${payroll.token}`, 'content-type': 'application/json', 'content-length': '1000' },
    agent: false,
  })
  req.on('error', () => undefined)
  req.write('{')
  await service.waitForLine((l) => l.msg === 'incoming request' && String((l['req'] as { url?: string } | undefined)?.url).includes('probe=held'))
  // Given SIGINT, and SIGINT again at once,
  service.child.kill('SIGINT')
  await service.waitForLine((l) => l.msg === 'shutting down')
  service.child.kill('SIGINT')
  // then the repeat is logged as the same request and the process goes on shutting down;
  const repeat = await service.waitForLine((l) => /same signal again/.test(l.msg ?? ''), 10_000)
  t.match(repeat, { signal: 'SIGINT' })
  t.equal(service.child.exitCode, null, 'still shutting down')
  // a SIGINT past the window ends it: exit 1, "second signal during shutdown".
  await sleep(DUPLICATE_SIGNAL_WINDOW_MS + 500)
  service.child.kill('SIGINT')
  t.same(await service.exited, { code: 1, signal: null }, 'exit 1')
  t.ok(service.log.some((l) => l.msg === 'second signal during shutdown; exiting with status 1'), '"second signal" logged')
  req.destroy()
})
