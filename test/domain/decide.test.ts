import t from 'tap'
import { decideSubmission } from '../../src/domain/contribution/decide.js'
import { evolvePerson, initialPersonState } from '../../src/domain/contribution/person-state.js'
import { submissionContentHash, type RecordSubmission } from '../../src/domain/contribution/submission.js'
import { yuan } from '../../src/domain/money.js'
import { PolicyBook, PolicyTableSchema } from '../../src/domain/policy.js'
import { loadPolicyBook } from '../../src/policy-loader.js'

const book = loadPolicyBook()
const policy = book.find('310000', '2024-07')!
const A = '11010519491231002X'
const B = '440524188001010014'
const EMPLOYER_1 = '91310000MA1FL0000N'
const EMPLOYER_2 = '91310000MA1FL0001L'

const cmd = (over: Partial<RecordSubmission> = {}): RecordSubmission => ({
  submissionId: 'S1',
  employerId: EMPLOYER_1,
  region: '310000',
  period: '2024-07',
  workInjuryClass: 1,
  lines: [
    { personId: A, wage: yuan('8500.00') },
    { personId: B, wage: yuan('5000.00') },
  ],
  ...over,
})

t.test('records one event per line and the submission, with hand-computed totals', async (t) => {
  const c = cmd()
  const d = decideSubmission(c, submissionContentHash(c), { recorded: undefined, persons: new Map(), policy })
  if (d.outcome !== 'record') throw new Error(d.outcome)
  t.equal(d.lineEvents.length, 2)
  t.same(d.lineEvents.map((e) => e.personId), [A, B])
  t.equal(d.lineEvents[0]!.data.policyId, '310000/2024-07/v1')
  t.equal(d.lineEvents[1]!.data.schemes[0]!.base, '7384.00', 'B is below the floor')
  // Line A (8500): employer 1360+765+42.50+17 = 2184.50; employee 680+170+42.50 = 892.50;
  //   individual 680+170 = 850.00; pool 1360+765+85+17 = 2227.00
  // Line B (base 7384): employer 1181.44+664.56+36.92+14.77 = 1897.69; employee 590.72+147.68+36.92 = 775.32;
  //   individual 590.72+147.68 = 738.40; pool 1181.44+664.56+73.84+14.77 = 1934.61
  t.same(d.submissionEvent.data.totals, {
    employer: '4082.19',
    employee: '1667.82',
    individualAccount: '1588.40',
    pool: '4161.61',
  })
  t.equal(d.submissionEvent.data.lineCount, 2)
})

t.test('the same submission again is a retry; other content is a conflict naming what differs', async (t) => {
  const c = cmd()
  const first = decideSubmission(c, submissionContentHash(c), { recorded: undefined, persons: new Map(), policy })
  if (first.outcome !== 'record') throw new Error(first.outcome)
  const recorded = first.submissionEvent.data
  const again = decideSubmission(cmd(), submissionContentHash(cmd()), { recorded, persons: new Map(), policy })
  t.equal(again.outcome, 'already-recorded')

  const otherPeriod = cmd({ period: '2024-08' })
  const conflict = decideSubmission(otherPeriod, submissionContentHash(otherPeriod), { recorded, persons: new Map(), policy })
  t.equal(conflict.outcome, 'submission-conflict')
  if (conflict.outcome === 'submission-conflict') t.same(conflict.differences, ['period'])

  const otherWage = cmd({ lines: [{ personId: A, wage: yuan('8500.01') }, { personId: B, wage: yuan('5000.00') }] })
  const c2 = decideSubmission(otherWage, submissionContentHash(otherWage), { recorded, persons: new Map(), policy })
  if (c2.outcome !== 'submission-conflict') throw new Error(c2.outcome)
  t.same(c2.differences, ['lines (persons or wages)'])
})

t.test('the content hash ignores how a wage is written, not what it is', async (t) => {
  const a = cmd({ lines: [{ personId: A, wage: yuan('8500') }] })
  const b = cmd({ lines: [{ personId: A, wage: yuan('8500.00') }] })
  const c = cmd({ lines: [{ personId: A, wage: yuan('8500.01') }] })
  t.equal(submissionContentHash(a), submissionContentHash(b))
  t.not(submissionContentHash(a), submissionContentHash(c))
  t.match(submissionContentHash(a), /^[0-9a-f]{64}$/)
})

t.test('no policy, a person twice', async (t) => {
  const c = cmd({ region: '999999' })
  t.same(decideSubmission(c, 'h', { recorded: undefined, persons: new Map(), policy: undefined }), {
    outcome: 'no-policy',
    region: '999999',
    period: '2024-07',
  })
  const twice = cmd({ lines: [{ personId: A, wage: yuan('1.00') }, { personId: B, wage: yuan('1.00') }, { personId: A, wage: yuan('2.00') }] })
  const d = decideSubmission(twice, 'h', { recorded: undefined, persons: new Map(), policy })
  t.same(d, { outcome: 'rule-violation', violations: [{ line: 2, field: 'personId', message: 'person already on line 0 of this submission' }] })
})

t.test('a month credited once: any employer for pension/medical/unemployment, same employer for work injury', async (t) => {
  const first = cmd({ lines: [{ personId: A, wage: yuan('8500.00') }] })
  const d1 = decideSubmission(first, 'h1', { recorded: undefined, persons: new Map(), policy })
  if (d1.outcome !== 'record') throw new Error(d1.outcome)
  const state = evolvePerson(initialPersonState(), d1.lineEvents[0]!)

  const sameEmployer = cmd({ submissionId: 'S2', lines: [{ personId: A, wage: yuan('9000.00') }] })
  const d2 = decideSubmission(sameEmployer, 'h2', { recorded: undefined, persons: new Map([[A, state]]), policy })
  if (d2.outcome !== 'duplicate-months') throw new Error(d2.outcome)
  t.same(d2.duplicates.map((d) => d.scheme), ['pension', 'medical', 'unemployment', 'work_injury'])
  t.equal(d2.duplicates[0]!.earlier.submissionId, 'S1')

  const otherEmployer = cmd({ submissionId: 'S3', employerId: EMPLOYER_2, lines: [{ personId: A, wage: yuan('9000.00') }] })
  const d3 = decideSubmission(otherEmployer, 'h3', { recorded: undefined, persons: new Map([[A, state]]), policy })
  if (d3.outcome !== 'duplicate-months') throw new Error(d3.outcome)
  t.same(d3.duplicates.map((d) => d.scheme), ['pension', 'medical', 'unemployment'], 'work injury of another employer is not a duplicate')

  // A region whose policy has only work injury in force: a second employer may insure the person.
  const row = structuredClone(book.table.policies.find((p) => p.id === '310000/2024-07/v1')!)
  row.rates = { work_injury: row.rates.work_injury! }
  const wiOnly = new PolicyBook(PolicyTableSchema.parse({ tableVersion: 't', policies: [row] })).find('310000', '2024-07')!
  const d4 = decideSubmission(otherEmployer, 'h4', { recorded: undefined, persons: new Map([[A, state]]), policy: wiOnly })
  t.equal(d4.outcome, 'record')
  const d5 = decideSubmission(sameEmployer, 'h5', { recorded: undefined, persons: new Map([[A, state]]), policy: wiOnly })
  t.equal(d5.outcome, 'duplicate-months')

  const nextMonth = cmd({ submissionId: 'S4', period: '2024-08', lines: [{ personId: A, wage: yuan('9000.00') }] })
  t.equal(decideSubmission(nextMonth, 'h6', { recorded: undefined, persons: new Map([[A, state]]), policy }).outcome, 'record')
})

t.test('a retry completes a half-written submission: written lines are skipped, totals cover all', async (t) => {
  const c = cmd()
  const full = decideSubmission(c, submissionContentHash(c), { recorded: undefined, persons: new Map(), policy })
  if (full.outcome !== 'record') throw new Error(full.outcome)
  // A store without atomic multi-stream appends wrote A's line, then the process died.
  const aState = evolvePerson(initialPersonState(), full.lineEvents[0]!)
  const retry = decideSubmission(c, submissionContentHash(c), { recorded: undefined, persons: new Map([[A, aState]]), policy })
  if (retry.outcome !== 'record') throw new Error(retry.outcome)
  t.same(retry.lineEvents.map((e) => e.personId), [B], "only B's line is still to write")
  t.same(retry.submissionEvent.data.totals, full.submissionEvent.data.totals, 'totals over both lines, as the first attempt')
  t.equal(retry.submissionEvent.data.lineCount, 2)

  // Everything but the marker was written: only the marker is left.
  const bState = evolvePerson(initialPersonState(), full.lineEvents[1]!)
  const last = decideSubmission(c, submissionContentHash(c), { recorded: undefined, persons: new Map([[A, aState], [B, bState]]), policy })
  if (last.outcome !== 'record') throw new Error(last.outcome)
  t.same(last.lineEvents, [])

  // The same id with another wage for A is not a completion but a conflict.
  const other = cmd({ lines: [{ personId: A, wage: yuan('9000.00') }, { personId: B, wage: yuan('5000.00') }] })
  const conflict = decideSubmission(other, submissionContentHash(other), { recorded: undefined, persons: new Map([[A, aState]]), policy })
  t.same(conflict, { outcome: 'submission-conflict', submissionId: 'S1', differences: ['lines (line 0 was recorded with other content)'] })
})
