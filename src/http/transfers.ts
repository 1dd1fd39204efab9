import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { FastifyReply } from 'fastify'
import {
  decideAccept,
  decideCancel,
  decideComplete,
  decideReject,
  decideRegister,
  type TransferDecision,
} from '../domain/transfer/decide.js'
import { TRANSFER_STEP_WORKING_DAYS, addWorkingDays } from '../domain/working-days.js'
import { decideSend } from '../domain/transfer/decide.js'
import { transfers as transfersProjection, type TransferDoc } from '../../projections/index.js'
import { ReadModelDocumentUnavailableError, type ReadModelStore } from '../projector/read-model-store.js'
import { readModelProblem } from './read-model-problem.js'
import type { Projector } from '../projector/projector.js'
import type { StepResult, TransferHandler } from '../usecases/transfers.js'
import { HttpProblem } from './problem.js'
import { readPosition } from './read-position.js'
import { metadataOf } from './request-metadata.js'
import { CitizenId, Limit, PositionString, Region } from './schemas.js'
import type { Access } from './auth.js'
import type { RouteDocs } from './openapi.js'
import { bindRequestLog } from '../logging.js'
import {
  acceptTransfer,
  cancelTransfer,
  completeTransfer,
  getTransfer,
  listTransfers,
  registerTransfer,
  rejectTransfer,
  sendTransfer,
} from './access.js'

/** Most transfers one list answer holds. */
export const MAX_TRANSFERS_PER_PAGE = 500
/** Longest refusal or cancellation reason, characters. */
export const MAX_REASON_CHARS = 500

const TransferId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, '1 to 64 characters from A-Z a-z 0-9 . _ -')
const Reason = z.string().trim().min(1, 'a reason is required').max(MAX_REASON_CHARS)
const STATES = ['registered', 'accepted', 'rejected', 'cancelled', 'sent', 'completed'] as const

export interface TransferRoutesDeps {
  handler: TransferHandler
  readModels: ReadModelStore
  projector: Projector
  readWaitMs: number
  daysOff: ReadonlySet<string>
  /** Regions with pools (those of the policy table). */
  knownRegions: ReadonlySet<string>
}

/**
 * The `transfers` resource (issue #4): register, accept / reject, send, complete, cancel, read one,
 * list. Every step is idempotent for its retry (200 with the same result) and refuses a step out
 * of order with 409 naming the current state.
 */
export const transferRoutes =
  (deps: TransferRoutesDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const { handler } = deps
    const params = z.strictObject({ transferId: TransferId })
    // From here on every log line of the request (errors, `request completed`) names the transfer
    // (issue #9), when the path or the body (registration) carries a well-formed id.
    app.addHook('preValidation', async (request, reply) => {
      const id = (request.params as { transferId?: unknown } | undefined)?.transferId ?? (request.body as { transferId?: unknown } | null | undefined)?.transferId
      if (TransferId.safeParse(id).success) bindRequestLog(request, reply, { transferId: id as string })
    })

    app.post(
      '/v1/transfers',
      {
        schema: { body: z.strictObject({ transferId: TransferId, personId: CitizenId, fromRegion: Region, toRegion: Region }), ...REGISTER_DOCS },
        config: { access: registerTransfer },
      },
      async (request, reply) => {
        const b = request.body
        for (const field of ['fromRegion', 'toRegion'] as const) {
          if (!deps.knownRegions.has(b[field]))
            throw new HttpProblem(422, 'transfer-rule', 'Transfer breaks a rule', `region ${b[field]} has no pools in this ledger (not in the policy table)`, {
              errors: [{ pointer: `/${field}`, message: 'no pools for this region' }],
            })
        }
        const today = handler.today()
        const result = await handler.step(
          b.transferId,
          b.personId,
          (transfer, pension) => decideRegister({ ...b, today }, transfer, pension),
          metadataOf(request),
        )
        return answer(reply, b.transferId, result)
      },
    )

    const step = (
      path: string,
      body: z.ZodType<Record<string, unknown> | undefined | null>,
      access: Access,
      decide: (transferId: string, today: string, body: Record<string, unknown>) => Parameters<TransferHandler['step']>[2],
    ) =>
      app.post(`/v1/transfers/:transferId/${path}`, { schema: { params, body, ...STEP_DOCS[path] }, config: { access } }, async (request, reply) => {
        const { transferId } = request.params
        const result = await handler.step(
          transferId,
          undefined,
          decide(transferId, handler.today(), (request.body ?? {}) as Record<string, unknown>),
          metadataOf(request),
        )
        return answer(reply, transferId, result)
      })

    // No body at all arrives as null.
    const empty = z.strictObject({}).nullish()
    step('accept', empty, acceptTransfer(handler), (transferId, today) => (t) => decideAccept({ transferId, today }, t))
    step('reject', z.strictObject({ reason: Reason }), rejectTransfer(handler), (transferId, today, b) => (t) => decideReject({ transferId, today, reason: b['reason'] as string }, t))
    step('cancel', z.strictObject({ reason: Reason.optional() }).nullish(), cancelTransfer(handler), (transferId, today, b) => (t) =>
      decideCancel({ transferId, today, reason: (b['reason'] as string | undefined) ?? 'cancelled before sending' }, t),
    )
    step('send', empty, sendTransfer(handler), (transferId, today) => (t, pension) => decideSend({ transferId, today }, t, pension))
    step('complete', empty, completeTransfer(handler), (transferId, today) => (t) => decideComplete({ transferId, today }, t))

    app.get('/v1/transfers/:transferId', { schema: { params, ...GET_DOCS }, config: { access: getTransfer(handler) } }, async (request) => {
      const found = await handler.get(request.params.transferId)
      if (!found) throw notFound(request.params.transferId)
      return { ...found.view, position: found.position.toString() }
    })

    app.get(
      '/v1/transfers',
      {
        schema: {
          querystring: z.strictObject({
            personId: CitizenId.optional(),
            region: Region.optional(),
            state: z.enum(STATES).optional(),
            overdue: z.enum(['true', 'false']).optional(),
            after: TransferId.optional(),
            limit: Limit(MAX_TRANSFERS_PER_PAGE),
            minPosition: PositionString.optional(),
          }),
          ...LIST_DOCS,
        },
        config: { access: listTransfers },
      },
      async (request) => {
        const q = request.query
        const position = await readPosition(deps.projector, q.minPosition, deps.readWaitMs)
        const today = handler.today()
        const keep = (d: TransferDoc) =>
          (!q.personId || d.personId === q.personId) &&
          (!q.region || d.fromRegion === q.region || d.toRegion === q.region) &&
          (!q.state || d.state === q.state) &&
          (q.overdue === undefined || isOverdue(d, today, deps.daysOff) === (q.overdue === 'true'))
        const limit = q.limit ?? MAX_TRANSFERS_PER_PAGE
        // A damaged or differing document on the page: 503 naming it, never served.
        let page: { key: string; doc: TransferDoc }[]
        try {
          page = deps.readModels.listDocuments<TransferDoc>(transfersProjection.name, { limit, ...(q.after ? { afterKey: q.after } : {}), keep, valid: isTransferDoc, refuseUnavailable: true })
        } catch (err) {
          if (err instanceof ReadModelDocumentUnavailableError) throw readModelProblem(err)
          throw err
        }
        return {
          position,
          transfers: page.map(({ doc }) => ({ ...doc, overdue: isOverdue(doc, today, deps.daysOff) })),
          ...(page.length === limit ? { next: page.at(-1)!.key } : {}),
        }
      },
    )
  }

/** Whether a stored document has the transfers projection's shape (the fields a page shows and
 * filters on): one that has not (`{}`, `[]`) is damaged, and its page answers 503. */
function isTransferDoc(d: unknown): d is TransferDoc {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return false
  const r = d as Record<string, unknown>
  return ['transferId', 'personId', 'fromRegion', 'toRegion', 'state', 'registeredOn'].every((f) => typeof r[f] === 'string')
}

/** Whether the step a transfer waits for is past its due date (15 working days). */
function isOverdue(d: TransferDoc, today: string, daysOff: ReadonlySet<string>): boolean {
  const from = d.state === 'registered' ? d.registeredOn : d.state === 'accepted' ? d.acceptedOn : d.state === 'sent' ? d.firstSentOn : undefined
  return from !== undefined && today > addWorkingDays(from, TRANSFER_STEP_WORKING_DAYS, daysOff)
}

const notFound = (transferId: string) => new HttpProblem(404, 'transfer-not-found', 'No such transfer', `no transfer ${transferId}`)

function answer(reply: FastifyReply, transferId: string, result: StepResult) {
  if (result.kind === 'done') return reply.code(result.appended ? 201 : 200).send({ ...result.view, position: result.position.toString() })
  throw refusal(transferId, result.decision)
}

function refusal(transferId: string, d: Exclude<TransferDecision, { outcome: 'append' | 'unchanged' }>): HttpProblem {
  switch (d.outcome) {
    case 'not-found':
      return notFound(transferId)
    case 'conflict':
      return d.openTransferId !== undefined
        ? new HttpProblem(409, 'person-has-open-transfer', 'Another transfer is open for the person', d.detail, { openTransferId: d.openTransferId })
        : new HttpProblem(409, 'transfer-conflict', 'Not possible in the transfer’s state', d.detail, { ...(d.status ? { state: d.status } : {}) })
    case 'invalid':
      return new HttpProblem(422, 'transfer-rule', 'Transfer breaks a rule', d.detail, { errors: [{ pointer: d.pointer, message: d.detail }] })
    case 'unsupported':
      return new HttpProblem(501, 'transfers-unsupported-by-store', 'Transfers not supported on this store', d.detail)
  }
}

// ---------------------------------------------------------------------------------------------
// Documentation (OpenAPI, see http/openapi.ts): what each route is and answers; never used to
// validate or serialize. Answers every /v1 route shares (400, 401, 403, 429, 503, …) are added there.
// ---------------------------------------------------------------------------------------------

const TransferViewDoc = z.looseObject({
  transferId: z.string(),
  personId: z.string(),
  fromRegion: z.string(),
  toRegion: z.string(),
  state: z.enum(STATES),
  registeredOn: z.string().meta({ description: 'YYYY-MM-DD (Asia/Shanghai)' }),
  acceptedOn: z.string().optional(),
  rejected: z.object({ reason: z.string(), on: z.string() }).optional(),
  cancelled: z.object({ reason: z.string(), on: z.string() }).optional(),
  completedOn: z.string().optional(),
  sends: z.array(z.looseObject({ sendNumber: z.number().int(), sentOn: z.string(), individualAccount: z.string(), pooledFund: z.string(), months: z.number().int(), baseTotal: z.string() })),
  moved: z.object({ individualAccount: z.string(), pooledFund: z.string() }),
  deadlines: z.looseObject({ decision: z.string(), send: z.string().optional(), complete: z.string().optional() }).meta({ description: 'due date of each step, 15 working days after the previous one' }),
  overdue: z.boolean(),
  supplementaryNeeded: z.looseObject({}).optional().meta({ description: 'after a send: months recorded in the source region since, still to move' }),
  position: z.string(),
})

const NOT_FOUND = 'no such transfer (`transfer-not-found`)'
const UNSUPPORTED = 'the store lacks atomic multi-stream appends (KurrentDB before 25.1) (`transfers-unsupported-by-store`)'
const STATE_CONFLICT = "not possible in the transfer's state, `state` names it (`transfer-conflict`)"

/** A step of the process: 201 when it appended, 200 when it was so already (its retry). */
const stepDocs = (summary: string, description: string, extra: RouteDocs['answers'] = {}): RouteDocs => ({
  summary,
  description: `${description} Idempotent: the step again answers 200 with the same transfer.`,
  tags: ['transfers'],
  answers: {
    201: { description: 'done: the transfer after the step', body: TransferViewDoc },
    200: { description: 'done already (a retry); nothing appended', body: TransferViewDoc },
    404: NOT_FOUND,
    409: STATE_CONFLICT,
    422: 'the step breaks a transfer rule (`transfer-rule`, `errors[]`)',
    501: UNSUPPORTED,
    ...extra,
  },
})

const REGISTER_DOCS: RouteDocs = {
  ...stepDocs('Register a transfer', "Registers the transfer of a person's pension account from `fromRegion` to `toRegion` (by the destination region).", {
    404: null,
    409: 'another transfer is open for the person (`person-has-open-transfer`, `openTransferId`), or the `transferId` names another transfer (`transfer-conflict`)',
    422: 'a region without pools in this ledger, the same region twice, a retired person, or nothing to move out of `fromRegion` (`transfer-rule`, `errors[]`)',
  }),
}

const STEP_DOCS: Record<string, RouteDocs> = {
  accept: stepDocs('Accept a transfer', 'The destination region accepts a registered transfer. No body.'),
  reject: stepDocs('Reject a transfer', 'The destination region refuses a registered transfer, with a `reason`.'),
  cancel: stepDocs('Cancel a transfer', 'The destination region cancels a transfer before it is sent; `reason` optional.'),
  send: stepDocs(
    'Send the funds',
    "The source region moves the individual account and the pooled fund due; a later send moves the months recorded there since (`supplementaryNeeded`). No body.",
  ),
  complete: stepDocs('Complete a transfer', 'The destination region confirms the funds arrived. No body.'),
}

const GET_DOCS: RouteDocs = {
  summary: 'Read a transfer',
  description: 'The transfer folded from its stream: state, dates, sends, deadlines, whether overdue.',
  tags: ['transfers'],
  answers: { 200: { description: 'the transfer', body: TransferViewDoc }, 404: NOT_FOUND },
}

const LIST_DOCS: RouteDocs = {
  summary: 'List transfers',
  description: `Transfers from the transfers projection, filtered by person, region (from or to), state, overdue; in transferId order, \`limit\` a page (at most ${MAX_TRANSFERS_PER_PAGE}), \`next\` the \`after\` of the next page. \`minPosition\` waits (bounded) for the projections.`,
  tags: ['transfers'],
  answers: {
    200: {
      description: 'a page of transfers',
      body: z.object({ position: z.string(), transfers: z.array(z.looseObject({ transferId: z.string(), state: z.enum(STATES), overdue: z.boolean() })), next: z.string().optional() }),
    },
    // Reads the projections only, never the event store.
    503: null,
  },
}
