import t from 'tap'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { StoreLimitExceededError } from '../../src/eventstore/port.js'
import { RecordSubmissionHandler } from '../../src/usecases/record-submission.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import { yuan } from '../../src/domain/money.js'
import { MAX_LINES_PER_SUBMISSION } from '../../src/domain/contribution/submission.js'
import { FakeKurrentClient, DEFAULT_MAX_APPEND_SIZE } from '../helpers/fake-kurrent-client.js'
import { employerId, personId } from '../helpers/http.js'

/**
 * On KurrentDB 25.1+ a whole submission is ONE multiStreamAppend, and the server refuses a
 * transaction larger than its MaxAppendSize (default 1 MiB, about 1,000 line events). The adapter
 * turns that refusal into StoreLimitExceededError (HTTP 413 naming the limit, nothing written);
 * docker-compose.yml raises KURRENTDB_MAX_APPEND_SIZE to 16 MiB, which holds the API's 10,000 lines.
 */

const lines = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ personId: personId(i % 1000, `19${80 + Math.floor(i / 1000)}0101`), wage: yuan('8500.00') }))
const COMPOSE_MAX_APPEND_SIZE = 16 * 1024 * 1024

t.test(`a ${MAX_LINES_PER_SUBMISSION}-line submission on a server with the default MaxAppendSize is a clear size refusal, nothing written`, async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  t.equal(DEFAULT_MAX_APPEND_SIZE, 1_048_576)
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  const handler = new RecordSubmissionHandler(store, loadPolicyBook())
  const cmd = { submissionId: 'BIG-1', employerId: employerId(), region: '310000', period: '2024-07', workInjuryClass: 1 as const, lines: lines(MAX_LINES_PER_SUBMISSION) }
  const err = await handler.handle(cmd).catch((e: unknown) => e)
  t.type(err, StoreLimitExceededError)
  t.match((err as Error).message, /KURRENTDB_MAX_APPEND_SIZE/)
  t.equal(client.events.length, 0, 'nothing written')
})

t.test(`with the compose setting (16 MiB) the ${MAX_LINES_PER_SUBMISSION}-line submission is recorded`, async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false, maxAppendSize: COMPOSE_MAX_APPEND_SIZE })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  const handler = new RecordSubmissionHandler(store, loadPolicyBook())
  const cmd = { submissionId: 'BIG-2', employerId: employerId(), region: '310000', period: '2024-07', workInjuryClass: 1 as const, lines: lines(MAX_LINES_PER_SUBMISSION) }
  const result = await handler.handle(cmd)
  t.equal(result.kind === 'receipt' && result.receipt.lineCount, MAX_LINES_PER_SUBMISSION)
  t.equal(client.events.length, MAX_LINES_PER_SUBMISSION + 1, 'every line and the marker')
})

t.test('the size of one line event, for the record', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  const handler = new RecordSubmissionHandler(store, loadPolicyBook())
  await handler.handle({ submissionId: 'ONE', employerId: employerId(), region: '310000', period: '2024-07', workInjuryClass: 1 as const, lines: lines(1) })
  const [e] = client.streamEvents(`person-${lines(1)[0]!.personId}`)
  const bytes = e!.data.length + e!.metadata.length
  t.comment(`one line event: ${bytes} bytes of data + metadata; 1 MiB holds about ${Math.floor(1_048_576 / bytes)} lines`)
  t.ok(bytes > 0)
})
