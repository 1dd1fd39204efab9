import t, { type Test } from 'tap'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { loadConfig } from '../../src/config.js'
import Fastify from 'fastify'
import { OVERSIZED_BODY_DRAIN_MAX_BYTES, OVERSIZED_BODY_DRAIN_MAX_MS, installOversizedBodyDrain } from '../../src/http/oversized-body.js'
import { createTestLedger } from '../helpers/ledger.js'

/**
 * A body over LEDGER_MAX_BODY_BYTES is answered 413 and the client can read it (issue #14): before,
 * the service closed the socket while the client was still sending, and the client got EPIPE or
 * ECONNRESET instead of its answer. Over a real socket, with the default limit (4 MiB) and bodies
 * twice as large.
 */

const LIMIT = loadConfig({}).LEDGER_MAX_BODY_BYTES
const BODY_BYTES = 2 * LIMIT
const CHUNK_BYTES = 64 * 1024
const URL_PATH = '/v1/contribution-submissions'
/** Longest the test waits for a whole exchange, milliseconds. */
const EXCHANGE_WAIT_MS = 30_000

async function listening(t: Test) {
  const ledger = await createTestLedger({ maxBodyBytes: LIMIT })
  t.teardown(ledger.close)
  await ledger.app.listen({ port: 0, host: '127.0.0.1' })
  return { ledger, port: (ledger.app.server.address() as AddressInfo).port }
}

/** `n` bytes of JSON-ish filler (the content does not matter: it is never parsed). */
const filler = (n: number) => Buffer.alloc(n, 0x20)

/** The status, headers and body of a raw HTTP/1.1 answer. */
function parseAnswer(raw: string): { status: number; headers: string; body: string } {
  const end = raw.indexOf('\r\n\r\n')
  const head = end < 0 ? raw : raw.slice(0, end)
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body: end < 0 ? '' : raw.slice(end + 4) }
}

t.test('the drain bounds are named and positive', async (t) => {
  t.ok(OVERSIZED_BODY_DRAIN_MAX_BYTES >= LIMIT, `drains at least one body limit (${OVERSIZED_BODY_DRAIN_MAX_BYTES} bytes)`)
  t.ok(OVERSIZED_BODY_DRAIN_MAX_MS > 0)
})

/**
 * A client that sends everything before it reads (as many do: it reads the answer once its request
 * is out): the head, then `body` in CHUNK_BYTES pieces (as sent, or each framed as a chunk of a
 * chunked body), respecting back-pressure and stopping at a write error; only then reads until the
 * server closes. What it could read, the bytes sent, the first socket error.
 */
function sendThenRead(port: number, head: string, bodyBytes: number, chunked: boolean): Promise<{ received: string; sentBytes: number; error?: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    let received = ''
    let error: string | undefined
    let sentBytes = 0
    const timer = setTimeout(() => socket.destroy(new Error('no end within the wait')), EXCHANGE_WAIT_MS)
    socket.pause()
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message))
    socket.on('close', () => {
      clearTimeout(timer)
      resolve({ received, sentBytes, ...(error !== undefined ? { error } : {}) })
    })
    socket.on('connect', async () => {
      socket.write(head)
      const chunk = filler(CHUNK_BYTES)
      const framed = chunked ? Buffer.concat([Buffer.from(`${CHUNK_BYTES.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk
      while (sentBytes < bodyBytes && error === undefined && !socket.destroyed) {
        sentBytes += CHUNK_BYTES
        if (!socket.write(framed)) await new Promise((r) => socket.once('drain', r).once('close', r))
      }
      if (chunked && !socket.destroyed) socket.write('0\r\n\r\n')
      // Now read what the server answered.
      socket.on('data', (c: Buffer) => (received += c.toString('utf8')))
      socket.resume()
    })
  })
}

async function checkRefused(t: Test, outcome: { received: string; sentBytes: number; error?: string }) {
  t.comment(`sent ${outcome.sentBytes} bytes; socket error: ${outcome.error ?? 'none'}`)
  const answer = parseAnswer(outcome.received)
  t.equal(answer.status, 413, `answered 413 (received ${outcome.received.length} bytes${outcome.error ? `, ${outcome.error}` : ''})`)
  t.match(answer.headers, /content-type: application\/problem\+json/i)
  t.match(answer.headers, /connection: close/i, 'the connection is not kept')
  t.match(answer.body ? JSON.parse(answer.body) : {}, { status: 413, type: 'https://ledger.example/problems/body-too-large' })
  // The detail states the limit (LEDGER_MAX_BODY_BYTES, 4 MiB = 4,194,304 bytes).
  t.match(answer.body ? JSON.parse(answer.body) : {}, { detail: `the request body is too large: at most ${LIMIT} bytes` }, 'the detail states the limit')
  t.equal(LIMIT, 4_194_304)
}

t.test('Content-Length twice the limit, sent in full before reading: the client reads a 413 problem, nothing is appended', async (t) => {
  const { ledger, port } = await listening(t)
  // Given a client that announces and sends an 8 MiB body (twice the limit) before it reads,
  const head = `POST ${URL_PATH} HTTP/1.1\r\nHost: ledger\r\nContent-Type: application/json\r\nContent-Length: ${BODY_BYTES}\r\n\r\n`
  const outcome = await sendThenRead(port, head, BODY_BYTES, false)
  // then its whole body was taken (no EPIPE or reset while sending) and the 413 problem is there to read,
  t.equal(outcome.sentBytes, BODY_BYTES, 'the whole body was sent')
  t.equal(outcome.error, undefined, 'no socket error')
  await checkRefused(t, outcome)
  // and nothing was appended.
  t.equal((await ledger.allEvents()).length, 0, 'nothing appended')
})

t.test('a chunked body twice the limit, sent in full before reading: the client reads a 413 problem, nothing is appended', async (t) => {
  const { ledger, port } = await listening(t)
  const head = `POST ${URL_PATH} HTTP/1.1\r\nHost: ledger\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`
  const outcome = await sendThenRead(port, head, BODY_BYTES, true)
  t.equal(outcome.sentBytes, BODY_BYTES, 'the whole body was sent')
  t.equal(outcome.error, undefined, 'no socket error')
  await checkRefused(t, outcome)
  t.equal((await ledger.allEvents()).length, 0, 'nothing appended')
})

t.test('a chunked body over the limit (http.request): the client reads a 413 problem, nothing is appended', async (t) => {
  const { ledger, port } = await listening(t)
  // Given Node's HTTP client streaming 8 MiB without a Content-Length (chunked),
  const outcome = await new Promise<{ status?: number; body?: string; error?: string }>((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: URL_PATH, headers: { 'content-type': 'application/json' }, agent: false })
    const timer = setTimeout(() => req.destroy(new Error('no answer within the wait')), EXCHANGE_WAIT_MS)
    let answered = false
    req.on('response', (res) => {
      answered = true
      let body = ''
      res.on('data', (c: Buffer) => (body += c.toString('utf8')))
      res.on('end', () => {
        clearTimeout(timer)
        resolve({ status: res.statusCode!, body })
      })
      res.on('error', (err) => {
        clearTimeout(timer)
        resolve({ status: res.statusCode!, body, error: (err as NodeJS.ErrnoException).code ?? err.message })
      })
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      // An error once the answer is in (the write side closed after it) is not the failure tested.
      if (answered) return
      clearTimeout(timer)
      resolve({ error: err.code ?? err.message })
    })
    void (async () => {
      const chunk = filler(CHUNK_BYTES)
      for (let sent = 0; sent < BODY_BYTES && !req.destroyed && !answered; sent += CHUNK_BYTES)
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r).once('close', r))
      if (!req.destroyed) req.end()
    })()
  })
  // then it reads the 413 problem.
  t.equal(outcome.status, 413, `answered 413 (${outcome.error ?? 'no error'})`)
  t.match(JSON.parse(outcome.body ?? '{}'), { status: 413, type: 'https://ledger.example/problems/body-too-large' })
  t.equal((await ledger.allEvents()).length, 0, 'nothing appended')
})

t.test('a body within the limit on the same server is still recorded', async (t) => {
  const { port } = await listening(t)
  const res = await fetch(`http://127.0.0.1:${port}${URL_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: AbortSignal.timeout(EXCHANGE_WAIT_MS) })
  t.equal(res.status, 400, 'parsed and validated (400: an empty object is not a submission), not 413')
})

/** A bare Fastify server with a 1 KiB body limit and the drain bounded by `bounds`. */
async function boundedServer(t: Test, bounds: { maxBytes: number; maxMs: number }) {
  // Its debug log kept: the drain says how it ended.
  const lines: { msg?: string; why?: string; drainedBytes?: number }[] = []
  const stream = { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) }
  const app = Fastify({ bodyLimit: 1024, logger: { level: 'debug', stream } })
  installOversizedBodyDrain(app, bounds)
  app.post('/', async () => ({ ok: true }))
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const drainEnd = () => lines.find((l) => l.msg === 'rest of the body drained after the answer')
  return { port: (app.server.address() as AddressInfo).port, drainEnd }
}

/** A client that announces `announced` bytes, reads as it goes, and sends CHUNK_BYTES every
 * `everyMs` (0: as fast as the socket takes them) until the server closes the socket (its FIN alone
 * does not stop the client). When the 413 came, when
 * the socket closed (ms after connecting), the bytes sent. */
function endlessClient(port: number, announced: number, everyMs: number): Promise<{ answeredAtMs: number | null; closedAtMs: number; sentBytes: number; received: string }> {
  return new Promise((resolve) => {
    // Half-open allowed: the server's FIN after its answer does not end the client's sending.
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    const started = Date.now()
    let received = ''
    let answeredAtMs: number | null = null
    let sentBytes = 0
    let closed = false
    const timer = setTimeout(() => socket.destroy(), EXCHANGE_WAIT_MS)
    socket.on('data', (c: Buffer) => {
      received += c.toString('utf8')
      if (answeredAtMs === null && received.includes('\r\n\r\n')) answeredAtMs = Date.now() - started
    })
    socket.on('error', () => undefined)
    socket.on('close', () => {
      closed = true
      clearTimeout(timer)
      resolve({ answeredAtMs, closedAtMs: Date.now() - started, sentBytes, received })
    })
    socket.on('connect', async () => {
      socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${announced}\r\n\r\n`)
      const chunk = filler(CHUNK_BYTES)
      while (!closed && !socket.destroyed && sentBytes < announced) {
        sentBytes += CHUNK_BYTES
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r).once('close', r))
        if (everyMs > 0) await new Promise((r) => setTimeout(r, everyMs))
      }
    })
  })
}

t.test('the drain is bounded in time: a client trickling a huge body is cut off after maxMs', async (t) => {
  // Given a drain of at most 1 s and a client announcing 1 GiB at 64 KiB every 100 ms,
  const { port, drainEnd } = await boundedServer(t, { maxBytes: 1024 * 1024 * 1024, maxMs: 1_000 })
  const r = await endlessClient(port, 1024 * 1024 * 1024, 100)
  t.match(drainEnd(), { why: 'time bound' }, 'ended by the time bound')
  // then it has its 413 at once, and the socket is closed about 1 s later (margin 2 s).
  t.match(r.received, /^HTTP\/1\.1 413 /)
  t.ok(r.answeredAtMs !== null && r.closedAtMs - r.answeredAtMs >= 900, `closed ${r.closedAtMs - (r.answeredAtMs ?? 0)} ms after the answer, not before 1 s`)
  t.ok(r.closedAtMs <= 1_000 + 2_000 + (r.answeredAtMs ?? 0), `closed at ${r.closedAtMs} ms, within 1 s + margin of the answer`)
})

t.test('the drain is bounded in bytes: a client sending as fast as it can is cut off after maxBytes', async (t) => {
  // Given a drain of at most 1 MiB (and 20 s) and a client announcing 1 GiB, sent as fast as possible,
  const { port, drainEnd } = await boundedServer(t, { maxBytes: 1024 * 1024, maxMs: 20_000 })
  const r = await endlessClient(port, 1024 * 1024 * 1024, 0)
  const end = drainEnd()
  t.match(end, { why: 'byte bound' }, 'ended by the byte bound')
  t.ok(end !== undefined && end.drainedBytes! > 1024 * 1024 && end.drainedBytes! <= 1024 * 1024 + CHUNK_BYTES, `drained ${end?.drainedBytes} bytes: just over 1 MiB`)
  // then the socket is closed long before 1 GiB, and before the time bound.
  t.match(r.received, /^HTTP\/1\.1 413 /)
  t.ok(r.sentBytes < 256 * 1024 * 1024, `cut off after ${r.sentBytes} bytes sent (the drain's 1 MiB plus socket buffers), not 1 GiB`)
  t.ok(r.closedAtMs < 20_000, `closed at ${r.closedAtMs} ms, by the byte bound`)
})
