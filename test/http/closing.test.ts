/**
 * A request that reaches the app while it closes (a graceful shutdown, issue #9) is answered as a
 * problem like every other error: 503 `application/problem+json` with `Retry-After`, the security
 * headers and `Connection: close` — not Fastify's own plain-JSON 503.
 */
import t from 'tap'
import { createTestLedger } from '../helpers/ledger.js'

/** Longest any request of this test may take, milliseconds. */
const REQUEST_WAIT_MS = 10_000

t.test('a request during the close: 503 problem with Retry-After and Connection: close', async (t) => {
  const ledger = await createTestLedger()
  let url = ''
  let during: { status: number; headers: Headers; body: string } | undefined
  // preClose hooks run in order, before the server stops accepting connections: the closing gate's
  // (installed by buildApp) has marked the app as closing when this one sends its request.
  ledger.app.addHook('preClose', async () => {
    const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_WAIT_MS) })
    during = { status: res.status, headers: res.headers, body: await res.text() }
  })
  const base = await ledger.app.listen({ port: 0, host: '127.0.0.1' })
  url = `${base}/v1/pools/310000/balances`
  const before = await fetch(url, { signal: AbortSignal.timeout(REQUEST_WAIT_MS) })
  t.equal(before.status, 200, 'answered before the close')
  await before.text()
  await ledger.close()
  if (!during) throw new Error('the preClose hook did not run')
  t.equal(during.status, 503)
  t.match(during.headers.get('content-type'), /^application\/problem\+json/)
  t.equal(during.headers.get('retry-after'), '5')
  t.equal(during.headers.get('connection'), 'close')
  t.ok(during.headers.get('content-security-policy'), 'security headers as on every answer')
  const body = JSON.parse(during.body) as { type: string; status: number; title: string; detail: string }
  t.match(body, { status: 503, title: 'Service shutting down' })
  t.match(body.type, /shutting-down$/)
})
