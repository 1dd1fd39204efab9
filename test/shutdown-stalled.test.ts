import t from 'tap'
import net from 'node:net'
import path from 'node:path'
import { createKey } from '../src/auth/api-keys.js'
import { appendKey } from '../src/cli/keys.js'
import { SHUTDOWN_STALL_MS } from '../src/http/closing.js'
import { HEADERS_TIMEOUT_MS } from '../src/http/limits.js'
import { employerId } from './helpers/http.js'
import { exitWithin, serviceEnv, startService } from './helpers/service-process.js'

/**
 * A graceful shutdown is not held by stalled clients (issue #14): a connection that sent only part
 * of its headers, or the headers and part of a body, has no request being handled (nothing of it
 * was recorded); at shutdown it is closed once nothing arrives on it for SHUTDOWN_STALL_MS, instead
 * of holding the close until LEDGER_SHUTDOWN_TIMEOUT_MS (exit 1). The service runs as a child
 * process (as `npm start` does).
 */

t.setTimeout(120_000)

/** The shutdown bound of this test (LEDGER_SHUTDOWN_TIMEOUT_MS), milliseconds: long, so that only
 * the stalled connections could make the shutdown last. */
const SHUTDOWN_TIMEOUT_MS = 60_000
/** Scheduling slack on a shared machine, milliseconds. */
const MARGIN_MS = 4_000

t.test('SIGTERM with one connection holding half its headers and one half its body: exit 0, shut down, long before the bound', async (t) => {
  const dir = t.testdir()
  const EMPLOYER = employerId('0001')
  const payroll = createKey({ id: 'payroll-1', role: 'payroll', employers: [EMPLOYER] })
  appendKey(path.join(dir, 'keys.json'), payroll.entry)
  const running = await startService(t, serviceEnv(dir, { LEDGER_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) }))
  const { hostname, port } = new URL(running.address)
  const open = (text: string) => {
    const socket = net.connect(Number(port), hostname)
    socket.on('error', () => undefined)
    socket.on('connect', () => socket.write(text))
    t.teardown(() => socket.destroy())
    return socket
  }
  // Given a connection that sent the request line and one header, never the blank line,
  open('GET /healthz HTTP/1.1\r\nHost: ledger\r\n')
  // and one that sent a submission's headers and 10 of its 1,000 body bytes,
  open(
    `POST /v1/contribution-submissions?probe=stalled HTTP/1.1\r\nHost: ledger\r\nAuthorization: Bearer ${payroll.token}\r\n` +
      'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"submissi',
  )
  await running.waitForLine((l) => l.msg === 'incoming request' && String((l['req'] as { url?: string } | undefined)?.url).includes('probe=stalled'))
  // when the service is told to stop,
  const signalledAt = Date.now()
  running.child.kill('SIGTERM')
  // then it exits 0 after closing both connections: within the stall time and a margin, before
  // the headers timeout (which alone would close the first one) and long before the bound.
  const bound = SHUTDOWN_STALL_MS + MARGIN_MS
  t.ok(bound < HEADERS_TIMEOUT_MS, 'the wait tested is shorter than the headers timeout')
  const exit = await exitWithin(running, SHUTDOWN_TIMEOUT_MS + 10_000)
  const tookMs = Date.now() - signalledAt
  t.same(exit, { code: 0, signal: null }, `exit 0 (stderr: ${running.stderr().slice(0, 500)})`)
  t.ok(tookMs <= bound, `exited ${tookMs} ms after the signal, at most ${bound} ms`)
  t.ok(running.log.some((l) => l.msg === 'shut down'), 'the log says shut down')
})
