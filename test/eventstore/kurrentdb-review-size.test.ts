import t from 'tap'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { RecordSubmissionHandler } from '../../src/usecases/record-submission.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import { yuan } from '../../src/domain/money.js'
import { MAX_LINES_PER_SUBMISSION } from '../../src/domain/contribution/submission.js'
import { FakeKurrentClient, DEFAULT_MAX_APPEND_SIZE } from '../helpers/fake-kurrent-client.js'
import { employerId, personId } from '../helpers/http.js'

/**
 * Review finding: on KurrentDB 25.1+ a whole submission is ONE multiStreamAppend, and the server
 * refuses a transaction larger than its MaxAppendSize (default 1 MiB) with
 * AppendTransactionSizeExceeded (the client's TransactionMaxSizeExceededError). One line event is
 * about 1 KB of data + metadata (plus the server's per-record overhead), so any submission over
 * roughly 1,000 lines fails, although the API accepts up to
 * MAX_LINES_PER_SUBMISSION (10,000) lines and the embedded store records them. The error is not
 * mapped by toPortError, so HTTP answers 500 ("internal"), and retrying never helps.
 * docker-compose.yml does not raise KURRENTDB_MAX_APPEND_SIZE either.
 */

const lines = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ personId: personId(i % 1000, `19${80 + Math.floor(i / 1000)}0101`), wage: yuan('8500.00') }))

t.test(`a ${MAX_LINES_PER_SUBMISSION}-line submission (the API maximum) on a 25.1 server with the default MaxAppendSize is recorded`, async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  t.equal(DEFAULT_MAX_APPEND_SIZE, 1_048_576)
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  const handler = new RecordSubmissionHandler(store, loadPolicyBook())
  const cmd = { submissionId: 'BIG-1', employerId: employerId(), region: '310000', period: '2024-07', workInjuryClass: 1 as const, lines: lines(MAX_LINES_PER_SUBMISSION) }
  const result = await handler.handle(cmd).catch((e: unknown) => e)
  t.notOk(result instanceof Error, `threw ${(result as Error)?.constructor?.name}: ${(result as Error)?.message}`)
  t.equal((result as { kind?: string }).kind, 'receipt')
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
