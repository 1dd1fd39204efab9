import t from 'tap'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { StoreLimitExceededError } from '../../src/eventstore/port.js'
import { RecordSubmissionHandler } from '../../src/usecases/record-submission.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import { yuan } from '../../src/domain/money.js'
import { MAX_LINES_PER_SUBMISSION } from '../../src/domain/contribution/submission.js'
import { FakeKurrentClient, DEFAULT_MAX_APPEND_SIZE, PRE_25_1_MAX_APPEND_SIZE } from '../helpers/fake-kurrent-client.js'
import { employerId, personId } from '../helpers/http.js'

/**
 * On KurrentDB 25.1+ a whole submission is ONE multiStreamAppend, and the server refuses a
 * transaction larger than its MaxAppendSize: 256 MiB by default from 25.1, 1 MiB before (or lowered
 * by an operator). The adapter turns that refusal into StoreLimitExceededError (HTTP 413 naming both
 * server limits, nothing written).
 */

const lines = (count: number) =>
  Array.from({ length: count }, (_, i) => ({ personId: personId(i % 1000, `19${80 + Math.floor(i / 1000)}0101`), wage: yuan('8500.00') }))
const submission = (submissionId: string, count: number) => ({
  submissionId,
  employerId: employerId(),
  region: '310000',
  period: '2024-07',
  workInjuryClass: 1 as const,
  lines: lines(count),
})

t.test(`given a server with 25.1's default MaxAppendSize, when a ${MAX_LINES_PER_SUBMISSION}-line submission is posted, then it is recorded in one append`, async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  t.equal(DEFAULT_MAX_APPEND_SIZE, 256 * 1024 * 1024, 'the default of ClusterVNodeOptions.MaxAppendSize (TFConsts.ChunkSize)')
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  const result = await new RecordSubmissionHandler(store, loadPolicyBook()).handle(submission('BIG-1', MAX_LINES_PER_SUBMISSION))
  t.equal(result.kind === 'receipt' && result.receipt.lineCount, MAX_LINES_PER_SUBMISSION)
  t.equal(client.events.length, MAX_LINES_PER_SUBMISSION + 1, 'every line and the marker')
  t.equal(client.calls('multiStreamAppend'), 1, 'one atomic append')
})

t.test(`given a server whose MaxAppendSize is 1 MiB (before 25.1, or lowered), when a ${MAX_LINES_PER_SUBMISSION}-line submission is posted, then it is a clear size refusal and nothing is written`, async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false, maxAppendSize: PRE_25_1_MAX_APPEND_SIZE })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  const err = await new RecordSubmissionHandler(store, loadPolicyBook()).handle(submission('BIG-2', MAX_LINES_PER_SUBMISSION)).catch((e: unknown) => e)
  t.type(err, StoreLimitExceededError)
  t.match((err as Error).message, /MaxAppendSize/)
  t.match((err as Error).message, /MaxAppendEventSize/)
  t.match((err as Error).message, /KURRENTDB_MAX_APPEND_SIZE/)
  t.equal(client.events.length, 0, 'nothing written')
})

t.test('one line event is about 1 KB: the largest submission is over 1 MiB and far below 256 MiB', async (t) => {
  const client = new FakeKurrentClient({ systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: true })
  t.teardown(() => store.close())
  await new RecordSubmissionHandler(store, loadPolicyBook()).handle(submission('ONE', 1))
  const [e] = client.streamEvents(`person-${lines(1)[0]!.personId}`)
  const bytes = e!.data.length + e!.metadata.length
  t.comment(`one line event: ${bytes} bytes of data + metadata`)
  t.ok(bytes > 500 && bytes < 2000, `about 1 KB (${bytes} bytes)`)
  t.ok(bytes * MAX_LINES_PER_SUBMISSION > PRE_25_1_MAX_APPEND_SIZE, 'the largest submission does not fit in 1 MiB')
  t.ok(bytes * MAX_LINES_PER_SUBMISSION < DEFAULT_MAX_APPEND_SIZE / 10, 'and uses under a tenth of 256 MiB')
})
