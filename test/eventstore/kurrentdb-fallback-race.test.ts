import t from 'tap'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { RecordSubmissionHandler } from '../../src/usecases/record-submission.js'
import { loadPolicyBook } from '../../src/policy-loader.js'
import { yuan } from '../../src/domain/money.js'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'
import { employerId, personId } from '../helpers/http.js'

/**
 * On a server without multi-stream appends (the per-stream fallback), a submission that loses a
 * race on one person stream has already written the other persons' lines. When the fresh decision
 * then refuses it (here: the month is already credited by the competing submission), the use case
 * voids those lines (ContributionLineVoided) before answering, so the refused submission leaves
 * nothing that counts in balances or blocks a later month; the same id may then be sent corrected.
 */

t.test('fallback: a submission refused after losing a race leaves nothing of its lines that counts', async (t) => {
  const client = new FakeKurrentClient({ serverVersion: '24.10.6', systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: false })
  t.teardown(() => store.close())
  const policies = loadPolicyBook()
  // Two processes (each with its own in-process KeyedLock).
  const processA = new RecordSubmissionHandler(store, policies)
  const processB = new RecordSubmissionHandler(store, policies)
  const P = personId(1)
  const Q = personId(2)
  const base = { region: '310000', period: '2024-07', workInjuryClass: 1 as const }
  const s1 = { ...base, submissionId: 'S1', employerId: employerId('0001'), lines: [{ personId: P, wage: yuan('8000.00') }] }
  const s2 = { ...base, submissionId: 'S2', employerId: employerId('0002'), lines: [{ personId: Q, wage: yuan('9000.00') }, { personId: P, wage: yuan('9000.00') }] }

  // Process B's append to P's stream arrives just after process A recorded S1 (a real race between
  // two service instances); B's append to Q's stream, in the same parallel slice, goes through.
  const original = client.appendToStream.bind(client)
  let raced = false
  client.appendToStream = async (stream, events, options) => {
    if (!raced && stream === `person-${P}`) {
      raced = true
      const r1 = await processA.handle(s1)
      t.equal(r1.kind === 'receipt' && r1.receipt.status, 'recorded', 'S1 recorded by process A')
    }
    return original(stream, events, options)
  }

  const r2 = await processB.handle(s2)
  t.equal(r2.kind, 'refused', 'S2 is refused (P already credited for 2024-07 by S1)')
  t.equal(r2.kind === 'refused' && r2.decision.outcome, 'duplicate-months')
  t.equal(client.streamEvents('submission-S2').length, 0, 'no S2 marker')
  // Per-stream appends cannot take Q's line back; the refusal voids it, so nothing of S2 counts.
  t.same(
    client.streamEvents(`person-${Q}`).map((e) => [e.type, JSON.parse(new TextDecoder().decode(e.data)).submissionId]),
    [
      ['ContributionRecorded', 'S2'],
      ['ContributionLineVoided', 'S2'],
    ],
    'the refused S2 line on Q’s stream is voided',
  )
  // Q's month is free again: a corrected S2 without P records Q.
  const s2b = { ...s2, lines: [{ personId: Q, wage: yuan('9000.00') }] }
  const again = await processB.handle(s2b)
  t.equal(again.kind === 'receipt' && again.receipt.status, 'recorded', 'the corrected S2 is recorded')
  t.equal(client.streamEvents('submission-S2').length, 1)
})
