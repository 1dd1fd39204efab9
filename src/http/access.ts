import type { FastifyRequest } from 'fastify'
import type { Principal, Role } from '../auth/principal.js'
import type { Access, Denial } from './auth.js'
import type { PersonBalancesDoc } from '../../projections/index.js'
import { SCHEMES } from '../domain/schemes.js'
import { CONTRIBUTION_RECORDED, type ContributionRecordedData } from '../domain/contribution/events.js'
import { PAYOUT_RECORDED, type PayoutRecordedData } from '../domain/payout/events.js'
import { latestRegion, type PersonAccountsState } from '../domain/person/person-accounts.js'
import type { Scheme } from '../domain/schemes.js'

/**
 * Who may call what (issue #7): one named access rule per `/v1` route, attached by the route as
 * `config: { access }` and checked by `installAuth` (http/auth.ts) in `preHandler`, i.e. after the
 * body, params and query are validated (a malformed request is 400 before it is 403) and before the
 * handler runs. A rule answers `true` or a Denial (the 403 `detail`). The system principal passes
 * every rule without calling it.
 *
 * | route | payroll | region-officer | auditor | admin |
 * |---|---|---|---|---|
 * | POST contribution-submissions | `employerId` in scope | - | - | - |
 * | GET contribution-submissions/{id} | its employer in scope | - | yes | yes |
 * | POST persons/{id}/legacy-history | - | every `years[].region` in scope | - | yes |
 * | POST pools/{region}/legacy-balance | - | `region` in scope | - | yes |
 * | POST transfers (register) | - | `toRegion` in scope | - | - |
 * | POST transfers/{id}/accept, reject, cancel, complete | - | the transfer's `toRegion` | - | - |
 * | POST transfers/{id}/send | - | the transfer's `fromRegion` | - | - |
 * | GET transfers/{id} | - | its `fromRegion` or `toRegion` | yes | yes |
 * | GET transfers | - | with `?region=` in scope | yes | yes |
 * | POST persons/{id}/retirement | - | body `region` in scope | - | - |
 * | POST payouts | - | the paying region | - | - |
 * | POST reversals | - | the region of the referenced event | - | - |
 * | POST interest-runs | - | - | - | yes |
 * | GET interest-runs/{year} | - | - | yes | yes |
 * | GET persons/{id}/balances, events | - | the region holding the account | yes | yes |
 * | GET pools/{region}/balances | - | `region` in scope | yes | yes |
 * | GET audit/streams/{stream}/verify, audit/events | - | - | yes | yes |
 *
 * Decisions where the issue is silent:
 * - Role first, then scope: a principal of a role the route never allows is refused before anything
 *   is read, so it learns nothing about the resource.
 * - A resource the rule must read (a transfer, a submission, a person, the payout's person, the
 *   reversed event) that does not exist lets an in-role caller through, so the route answers its own
 *   404 or 422 (an unknown transfer is 404 to an officer of any region; a payout for a person with
 *   no paying region is 422). Existence of an id is all this reveals; no content is shown.
 * - Denials built from stored data do not name the stored regions or employers (an out-of-scope
 *   caller must not learn where a transfer goes or whose a submission is); denials about the
 *   request's own fields do.
 * - Auditors never write. Admins write only interest runs and legacy imports (person and pool); they
 *   read everything auditors read.
 */

/** The request as a rule reads it: schema-validated params, query and body (never undefined once
 * validation passed, except a body-less POST, whose body is null or undefined). */
type Req = FastifyRequest

const params = (request: Req) => (request.params ?? {}) as Record<string, string>
const query = (request: Req) => (request.query ?? {}) as Record<string, string | undefined>
const body = <T>(request: Req) => (request.body ?? {}) as T

/** The roles' names for a denial: "admin", "auditor or admin", "auditor, admin or region-officer". */
const either = (allowed: readonly Role[]) => (allowed.length <= 1 ? allowed.join('') : `${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}`)

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** A rule allowing the given roles, whatever their scope. */
export function roles(...allowed: Role[]): Access {
  return (principal) => hasRole(principal, allowed) || `only ${either(allowed)} may call this route; the caller is ${principal.role}`
}

/** Whether the principal has one of the roles (the system principal has none of them). */
export function hasRole(principal: Principal, allowed: readonly Role[]): boolean {
  return (allowed as readonly string[]).includes(principal.role)
}

/** Whether a `payroll` principal is scoped to `employerId` (false for any other role). */
export function employerInScope(principal: Principal, employerId: string): boolean {
  return principal.role === 'payroll' && principal.employers.has(employerId)
}

/** Whether a `region-officer` principal is scoped to `region` (false for any other role). */
export function regionInScope(principal: Principal, region: string): boolean {
  return principal.role === 'region-officer' && principal.regions.has(region)
}

/** Whether a `region-officer` principal is scoped to every one of `regions` (false for an empty list). */
export function regionsInScope(principal: Principal, regions: Iterable<string>): boolean {
  let any = false
  for (const r of regions) {
    if (!regionInScope(principal, r)) return false
    any = true
  }
  return any
}

/** Officer of `region` (a region the request names) or the denial saying so. */
function officerOf(principal: Principal, region: string, what: string): true | Denial {
  return regionInScope(principal, region) || `only a region-officer of region ${region} may ${what}`
}

/**
 * `rule` for the principals whose role is in `allowed`; a denial naming the roles for the others
 * (before `rule` reads anything).
 */
function forRoles(allowed: readonly Role[], rule: Access): Access {
  return (principal, request) => (hasRole(principal, allowed) ? rule(principal, request) : `only ${either(allowed)} may call this route; the caller is ${principal.role}`)
}

/** Auditors and admins read everything; region officers by `officerRule`. */
function readers(officerRule: Access): Access {
  return forRoles(['auditor', 'admin', 'region-officer'], (principal, request) =>
    principal.role === 'region-officer' ? officerRule(principal, request) : true,
  )
}

// ---------------------------------------------------------------------------------------------
// What the rules read (implemented by the use-case handlers and the read models)
// ---------------------------------------------------------------------------------------------

/** A recorded submission's employer (RecordSubmissionHandler.get). */
export interface SubmissionReads {
  get(submissionId: string): Promise<{ data: { employerId: string } } | undefined>
}

/** A transfer's regions (TransferHandler.get). */
export interface TransferReads {
  get(transferId: string): Promise<{ view: { fromRegion: string; toRegion: string } } | undefined>
}

/** What decides a payout's paying region (PayoutHandler). */
export interface PayoutReads {
  /** The payout already recorded under `payoutId`, if any. */
  recorded(payoutId: string): Promise<{ region: string } | undefined>
  /** The person's accounts folded from the log. */
  accounts(personId: string): Promise<PersonAccountsState>
}

/** The event a reversal names (ReversalHandler.eventAt). */
export interface ReversalReads {
  eventAt(ref: { stream: string; revision: string }): Promise<{ type: string; data: unknown } | undefined>
}

/** A person's balances document (folded from the log, see persons.ts): undefined for a person
 * without events. */
export type PersonDocRead = (personId: string) => Promise<PersonBalancesDoc | undefined>

// ---------------------------------------------------------------------------------------------
// Submissions
// ---------------------------------------------------------------------------------------------

/** `POST /v1/contribution-submissions`: a payroll principal scoped to the body's `employerId`. */
export const postSubmission: Access = forRoles(['payroll'], (principal, request) => {
  const { employerId } = body<{ employerId: string }>(request)
  return employerInScope(principal, employerId) || `this payroll key is not scoped to employer ${employerId}`
})

/**
 * `GET /v1/contribution-submissions/{submissionId}`: auditor, admin, or a payroll principal scoped
 * to the submission's employer. An unknown submission lets payroll through to the route's 404.
 * Region officers are not readers of submissions (the issue lists payroll, auditor and admin); they
 * see the lines on the persons whose account their region holds.
 */
export const getSubmission =
  (reads: SubmissionReads): Access =>
  async (principal, request) => {
    if (hasRole(principal, ['auditor', 'admin'])) return true
    if (principal.role !== 'payroll') return `only payroll, auditor or admin may read submissions; the caller is ${principal.role}`
    const found = await reads.get(params(request)['submissionId']!)
    if (!found) return true
    return employerInScope(principal, found.data.employerId) || 'this payroll key is not scoped to the employer of this submission'
  }

// ---------------------------------------------------------------------------------------------
// Legacy imports
// ---------------------------------------------------------------------------------------------

/**
 * `POST /v1/persons/{personId}/legacy-history`: admin, or a region officer scoped to every region of
 * `years[]` (an import touching a region the officer does not hold needs an admin).
 */
export const postLegacyHistory: Access = forRoles(['admin', 'region-officer'], (principal, request) => {
  if (principal.role === 'admin') return true
  const regions = [...new Set(body<{ years: { region: string }[] }>(request).years.map((y) => y.region))].sort()
  const outside = regions.filter((r) => !regionInScope(principal, r))
  return outside.length === 0 || `the imported years name region(s) ${outside.join(', ')}, outside this officer's regions`
})

/** `POST /v1/pools/{region}/legacy-balance`: admin, or a region officer of `{region}`. */
export const postPoolLegacyBalance: Access = forRoles(['admin', 'region-officer'], (principal, request) =>
  principal.role === 'admin' ? true : officerOf(principal, params(request)['region']!, 'import the opening balance of its pools'),
)

// ---------------------------------------------------------------------------------------------
// Transfers
// ---------------------------------------------------------------------------------------------

/** `POST /v1/transfers`: a region officer of `toRegion` (the destination registers the transfer). */
export const registerTransfer: Access = forRoles(['region-officer'], (principal, request) =>
  officerOf(principal, body<{ toRegion: string }>(request).toRegion, 'register a transfer to it (the destination registers)'),
)

/** A step owned by one side of the transfer: an officer of that side's region; an unknown transfer
 * goes through to the route's 404. */
const transferStep = (reads: TransferReads, side: 'fromRegion' | 'toRegion', step: string): Access =>
  forRoles(['region-officer'], async (principal, request) => {
    const found = await reads.get(params(request)['transferId']!)
    if (!found) return true
    const whose = side === 'toRegion' ? 'destination' : 'source'
    return regionInScope(principal, found.view[side]) || `only a region-officer of the transfer's ${whose} region may ${step} it`
  })

/** `POST /v1/transfers/{id}/accept`: an officer of the transfer's `toRegion`. */
export const acceptTransfer = (reads: TransferReads): Access => transferStep(reads, 'toRegion', 'accept')
/** `POST /v1/transfers/{id}/reject`: an officer of the transfer's `toRegion`. */
export const rejectTransfer = (reads: TransferReads): Access => transferStep(reads, 'toRegion', 'reject')
/** `POST /v1/transfers/{id}/cancel`: an officer of the transfer's `toRegion` (where it was registered). */
export const cancelTransfer = (reads: TransferReads): Access => transferStep(reads, 'toRegion', 'cancel')
/** `POST /v1/transfers/{id}/complete`: an officer of the transfer's `toRegion` (confirms receipt). */
export const completeTransfer = (reads: TransferReads): Access => transferStep(reads, 'toRegion', 'complete')
/** `POST /v1/transfers/{id}/send`: an officer of the transfer's `fromRegion` (the source pays). */
export const sendTransfer = (reads: TransferReads): Access => transferStep(reads, 'fromRegion', 'send')

/** `GET /v1/transfers/{id}`: auditor, admin, or an officer of either region (unknown: the route's 404). */
export const getTransfer = (reads: TransferReads): Access =>
  readers(async (principal, request) => {
    const found = await reads.get(params(request)['transferId']!)
    if (!found) return true
    return (
      regionInScope(principal, found.view.fromRegion) ||
      regionInScope(principal, found.view.toRegion) ||
      "only a region-officer of the transfer's source or destination region may read it"
    )
  })

/** `GET /v1/transfers`: auditor, admin, or an officer naming one of its regions as `?region=` (the
 * list then holds only transfers from or to that region). */
export const listTransfers: Access = readers((principal, request) => {
  const region = query(request)['region']
  if (region === undefined) return 'a region-officer must name one of its regions as ?region='
  return officerOf(principal, region, 'list its transfers')
})

// ---------------------------------------------------------------------------------------------
// Retirement, payouts, reversals
// ---------------------------------------------------------------------------------------------

/** `POST /v1/persons/{personId}/retirement`: an officer of the body's `region` (the route refuses
 * with 422 a region other than the one holding the account). */
export const postRetirement: Access = forRoles(['region-officer'], (principal, request) =>
  officerOf(principal, body<{ region: string }>(request).region, 'record a retirement there'),
)

/**
 * The region whose pool pays `scheme` for the person: pension, the retirement's region; another
 * scheme, the region of the latest contribution to it (as decidePayout). Undefined when there is
 * none (the route answers 422).
 */
export function payingRegion(state: PersonAccountsState, scheme: Scheme): string | undefined {
  return scheme === 'pension' ? state.pension.retirement?.region : latestRegion(state, scheme)
}

/**
 * `POST /v1/payouts`: an officer of the paying region. A payoutId already recorded pays from the
 * region it recorded (so a retry stays 200 even if the person contributed elsewhere since); a new
 * one from `payingRegion` of the person folded from the log. No paying region (not retired, no
 * contributions to the scheme): through to the route's 422.
 */
export const postPayout = (reads: PayoutReads): Access =>
  forRoles(['region-officer'], async (principal, request) => {
    const b = body<{ payoutId: string; personId: string; scheme: Scheme }>(request)
    const recorded = await reads.recorded(b.payoutId)
    const region = recorded ? recorded.region : payingRegion(await reads.accounts(b.personId), b.scheme)
    if (region === undefined) return true
    return regionInScope(principal, region) || `only a region-officer of the paying region may pay this ${b.scheme} payout`
  })

/** The region of an event a reversal may undo: a contribution line's or a payout's `region`. */
export function regionOfReversible(event: { type: string; data: unknown }): string | undefined {
  if (event.type === CONTRIBUTION_RECORDED) return (event.data as ContributionRecordedData).region
  if (event.type === PAYOUT_RECORDED) return (event.data as PayoutRecordedData).region
  return undefined
}

/**
 * `POST /v1/reversals`: an officer of the region of the referenced event (a ContributionRecorded
 * line's or a PayoutRecorded's `region`). Anything else (not a person stream, no event there,
 * another type): through to the route's 400 / 422.
 */
export const postReversal = (reads: ReversalReads): Access =>
  forRoles(['region-officer'], async (principal, request) => {
    const { eventRef } = body<{ eventRef: { stream: string; revision: string } }>(request)
    if (!eventRef.stream.startsWith('person-')) return true
    const event = await reads.eventAt(eventRef)
    const region = event ? regionOfReversible(event) : undefined
    if (region === undefined) return true
    return regionInScope(principal, region) || 'only a region-officer of the region of the referenced event may reverse it'
  })

// ---------------------------------------------------------------------------------------------
// Interest runs
// ---------------------------------------------------------------------------------------------

/** `POST /v1/interest-runs`: admin. */
export const startInterestRun: Access = roles('admin')
/** `GET /v1/interest-runs/{year}`: admin, auditor. */
export const getInterestRun: Access = roles('admin', 'auditor')

// ---------------------------------------------------------------------------------------------
// Reads of persons and pools
// ---------------------------------------------------------------------------------------------

/**
 * The regions whose officers may read a person: the region holding the pension account
 * (`pensionHeldIn`: the last transfer's destination, else the first region contributed in); for a
 * person without a pension account, every region the person contributed in (any scheme, imported
 * months included). A region that held the account before a transfer no longer reads it.
 */
export function regionsReadingPerson(doc: PersonBalancesDoc): string[] {
  if (doc.pensionHeldIn) return [doc.pensionHeldIn]
  const out = new Set<string>()
  for (const s of SCHEMES) {
    for (const r of Object.keys(doc.schemes[s].regions)) out.add(r)
    for (const r of Object.keys(doc.schemes[s].legacyMonths ?? {})) out.add(r)
  }
  return [...out].sort()
}

const personReader = (read: PersonDocRead): Access =>
  readers(async (principal, request) => {
    const doc = await read(params(request)['personId']!)
    if (!doc) return true
    return regionsReadingPerson(doc).some((r) => regionInScope(principal, r)) || "only a region-officer of the region holding the person's account may read it"
  })

/** `GET /v1/persons/{personId}/balances`: auditor, admin, or an officer of a region reading the
 * person (`regionsReadingPerson`). A person without events: through to the route's 404. */
export const getPersonBalances = (read: PersonDocRead): Access => personReader(read)
/** `GET /v1/persons/{personId}/events`: as the balances. */
export const getPersonEvents = (read: PersonDocRead): Access => personReader(read)

/** `GET /v1/pools/{region}/balances`: auditor, admin, or an officer of `{region}`. */
export const getPoolBalances: Access = readers((principal, request) => officerOf(principal, params(request)['region']!, 'read its pools'))

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

/** `GET /v1/audit/streams/{stream}/verify`: auditor, admin. */
export const verifyAuditStream: Access = roles('auditor', 'admin')
/** `GET /v1/audit/events`: auditor, admin (the whole log, every person's events). */
export const exportAuditEvents: Access = roles('auditor', 'admin')
