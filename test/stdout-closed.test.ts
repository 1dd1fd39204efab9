import t from 'tap'
import { exitWithin, serviceEnv, startService } from './helpers/service-process.js'

/**
 * Logging to a standard output that is gone (issue #14): `npm start | tee log`, then Ctrl-C, and
 * tee dies with the service; the service's next log line meets a closed pipe (EPIPE). Logging must
 * stop quietly and the graceful shutdown go on to exit 0 (before, the failed write reached
 * close-with-grace as an uncaught error: exit 1). The service runs as a child process whose
 * standard output is a pipe this test closes.
 */

t.setTimeout(120_000)

/** The shutdown bound of this test (LEDGER_SHUTDOWN_TIMEOUT_MS), milliseconds. */
const SHUTDOWN_TIMEOUT_MS = 10_000

t.test('standard output closed, then a request and SIGTERM: exit 0', async (t) => {
  const dir = t.testdir()
  const running = await startService(t, serviceEnv(dir, { LEDGER_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) }))
  // Given the reader of the service's standard output gone,
  running.child.stdout!.destroy()
  // when a request is logged (its lines meet the closed pipe) and is still answered,
  const res = await fetch(`${running.address}/healthz`, { signal: AbortSignal.timeout(10_000) })
  t.equal(res.status, 200, 'requests are still answered')
  await res.text()
  // and the service is told to stop,
  running.child.kill('SIGTERM')
  // then it shuts down and exits 0, without a stack trace on standard error.
  t.same(await exitWithin(running, SHUTDOWN_TIMEOUT_MS + 5_000), { code: 0, signal: null }, `exit 0 (stderr: ${running.stderr().slice(0, 500)})`)
  t.notMatch(running.stderr(), /EPIPE|Error/, 'nothing about the broken pipe on standard error')
})
