import t from 'tap'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { createTestLedger } from '../helpers/ledger.js'

/**
 * A route is protected by what the router matched, not by the text of the URL: an absolute-form
 * request target (`GET http://host/v1/…`) or a percent-encoded prefix (`/%761/…`, %76 = "v")
 * reaches a `/v1` route and must need a token like `/v1/…` does.
 */

/** Sends one raw HTTP/1.1 request and answers its status code. */
function rawStatus(port: number, requestLine: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${requestLine}\r\nHost: x\r\nConnection: close\r\n\r\n`))
    let text = ''
    socket.on('data', (chunk) => (text += chunk.toString('latin1')))
    socket.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)))
    socket.on('error', reject)
  })
}

t.test('every way of writing a /v1 URL needs a token', async (t) => {
  const ledger = await createTestLedger({ authenticator: { authenticate: async () => undefined } })
  t.teardown(ledger.close)
  await ledger.app.listen({ port: 0, host: '127.0.0.1' })
  const port = (ledger.app.server.address() as AddressInfo).port
  for (const line of [
    'GET /v1/audit/events HTTP/1.1',
    'GET http://x/v1/audit/events HTTP/1.1',
    'GET HTTP://x/v1/audit/events HTTP/1.1',
    'GET /%761/audit/events HTTP/1.1',
    'GET /%761/pools/310000/balances HTTP/1.1',
    'POST http://x/v1/interest-runs HTTP/1.1',
  ])
    t.equal(await rawStatus(port, line), 401, line)
  t.equal(await rawStatus(port, 'GET /healthz HTTP/1.1'), 200, '/healthz stays open')
  t.equal(await rawStatus(port, 'GET /nowhere HTTP/1.1'), 404, 'no route: 404')
})
