import t from 'tap'
import { StoreLimitExceededError, StoreUnavailableError, WrongExpectedRevisionError } from '../../src/eventstore/port.js'
import { createTestLedger } from '../helpers/ledger.js'
import { personId, problem, submission } from '../helpers/http.js'

const URL = '/v1/contribution-submissions'

t.test('an unavailable store is 503 with Retry-After, and nothing is written', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  ledger.store.appendMany = async () => {
    throw new StoreUnavailableError('disk I/O error', 3)
  }
  const res = await ledger.app.inject({ method: 'POST', url: URL, payload: submission({ submissionId: 'S-503', lines: [{ personId: personId(1), wage: '8500.00' }] }) })
  const body = problem(t, res, 503, 'store unavailable')
  t.equal(res.headers['retry-after'], '3')
  t.equal(body.type, 'https://ledger.example/problems/store-unavailable')
  t.equal((await ledger.allEvents()).length, 0)
})

t.test('a submission that loses every race is 409 concurrency-conflict (retryable)', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  let attempts = 0
  ledger.store.appendMany = async (appends) => {
    attempts++
    throw new WrongExpectedRevisionError(appends[0]!.stream, appends[0]!.expectedRevision, 0n)
  }
  const res = await ledger.app.inject({ method: 'POST', url: URL, payload: submission({ submissionId: 'S-409', lines: [{ personId: personId(2), wage: '8500.00' }] }) })
  const body = problem(t, res, 409, 'lost every race')
  t.equal(body.type, 'https://ledger.example/problems/concurrency-conflict')
  t.equal(attempts, 10, 'decided and appended MAX_APPEND_ATTEMPTS times')
})

t.test('an unexpected error is a 500 problem that tells nothing of its internals', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  ledger.store.readStream = () => {
    throw new Error('secret internals')
  }
  const res = await ledger.app.inject({ method: 'GET', url: `/v1/persons/${personId(3)}/events` })
  const body = problem(t, res, 500, 'unexpected')
  t.notMatch(JSON.stringify(body), /secret/)
})

t.test('unknown routes and methods are problems too', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  problem(t, await ledger.app.inject({ method: 'GET', url: '/v2/nothing' }), 404, 'unknown route')
  problem(t, await ledger.app.inject({ method: 'DELETE', url: URL }), 404, 'unknown method on a known path')
})

t.test('an append larger than the store accepts is 413, naming the limit', async (t) => {
  const ledger = await createTestLedger()
  t.teardown(ledger.close)
  ledger.store.appendMany = async () => {
    throw new StoreLimitExceededError('KurrentDB refuses an append this large (TransactionMaxSizeExceededError); send fewer lines per submission, or raise the server\'s KURRENTDB_MAX_APPEND_SIZE')
  }
  const res = await ledger.app.inject({ method: 'POST', url: URL, payload: submission({ submissionId: 'S-413', lines: [{ personId: personId(4), wage: '8500.00' }] }) })
  const body = problem(t, res, 413, 'store limit')
  t.equal(body.type, 'https://ledger.example/problems/store-limit-exceeded')
  t.match(body.detail, /KURRENTDB_MAX_APPEND_SIZE/)
})
