import t, { type Test } from 'tap'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { createTestLedger } from '../helpers/ledger.js'
import { personId, submission } from '../helpers/http.js'

/**
 * No request runs on a connection after an answer that closes it (issue #14, request smuggling after
 * a 413): a client sends an over-limit POST and, behind it on the same connection, a second complete
 * POST. It only ever sees the 413 (`Connection: close`); the second request must not be executed
 * (nothing appended) nor answered. Over a raw socket, with a 1 KiB body limit.
 */

const LIMIT = 1024
const URL_PATH = '/v1/contribution-submissions'
/** Longest the test waits for the server to close the connection, milliseconds. */
const EXCHANGE_WAIT_MS = 20_000

async function listening(t: Test) {
  const ledger = await createTestLedger({ maxBodyBytes: LIMIT })
  t.teardown(ledger.close)
  await ledger.app.listen({ port: 0, host: '127.0.0.1' })
  return { ledger, port: (ledger.app.server.address() as AddressInfo).port }
}

/** A complete, valid submission POST (two lines: it would append events if it ran). */
const validPost = () => {
  const body = JSON.stringify(submission({ submissionId: 'SMUGGLED-1', lines: [{ personId: personId(1), wage: '8000.00' }, { personId: personId(2), wage: '9000.00' }] }))
  return `POST ${URL_PATH} HTTP/1.1\r\nHost: ledger\r\nAuthorization: Bearer x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

/** The head of a POST announcing `bytes` of body. */
const head = (bytes: number) => `POST ${URL_PATH} HTTP/1.1\r\nHost: ledger\r\nAuthorization: Bearer x\r\nContent-Type: application/json\r\nContent-Length: ${bytes}\r\n\r\n`

/** Status lines in what the server sent. */
const statusLines = (raw: string) => raw.match(/HTTP\/1\.1 \d{3}[^\r]*/g) ?? []

/**
 * Connects, writes `first`; once an answer's head is read, writes `second` (when given); reads
 * until the server closes. Everything read.
 */
function exchange(port: number, first: string, second?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    let received = ''
    let sentSecond = second === undefined
    const timer = setTimeout(() => socket.destroy(), EXCHANGE_WAIT_MS)
    socket.on('data', (c: Buffer) => {
      received += c.toString('utf8')
      if (!sentSecond && received.includes('\r\n\r\n')) {
        sentSecond = true
        socket.write(second!)
      }
    })
    socket.on('error', () => undefined)
    // The server's FIN: the client ends its side too (after any write above).
    socket.on('end', () => socket.end())
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(received)
    })
    socket.on('connect', () => socket.write(first))
  })
}

t.test('an over-limit POST and a complete POST in one write: only the 413 is answered, the second is not executed', async (t) => {
  const { ledger, port } = await listening(t)
  // Given one write holding a POST with a 2 KiB body (over the 1 KiB limit) and a valid submission,
  const received = await exchange(port, head(2 * LIMIT) + ' '.repeat(2 * LIMIT) + validPost())
  // then the client reads the 413 and nothing else,
  t.same(statusLines(received), ['HTTP/1.1 413 Payload Too Large'], `only the 413 was answered: ${JSON.stringify(statusLines(received))}`)
  t.match(received, /connection: close/i)
  // and the second request was not executed: the log is still empty (give a run the time to append).
  await new Promise((r) => setTimeout(r, 300))
  t.equal((await ledger.allEvents()).length, 0, 'nothing appended')
})

t.test('the rest of an over-limit body and a complete POST sent after the 413 (during the lingering close): not executed', async (t) => {
  const { ledger, port } = await listening(t)
  // Given a POST announcing 2 KiB of which 100 bytes are sent; once the 413 is read, the other
  // bytes of the body and a valid submission in one write,
  const received = await exchange(port, head(2 * LIMIT) + ' '.repeat(100), ' '.repeat(2 * LIMIT - 100) + validPost())
  t.same(statusLines(received), ['HTTP/1.1 413 Payload Too Large'], `only the 413 was answered: ${JSON.stringify(statusLines(received))}`)
  await new Promise((r) => setTimeout(r, 300))
  t.equal((await ledger.allEvents()).length, 0, 'nothing appended')
})

t.test('pipelined requests on a connection that stays open are all answered, in order', async (t) => {
  const { port } = await listening(t)
  // Given two GETs and a closing one in one write, each answered 200,
  const get = (close: boolean) => `GET /healthz HTTP/1.1\r\nHost: ledger\r\n${close ? 'Connection: close\r\n' : ''}\r\n`
  const received = await exchange(port, get(false) + get(false) + get(true))
  t.same(statusLines(received), ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK'], 'three answers')
})
