import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { EventStore, RecordedEvent } from '../eventstore/port.js'
import { personStream } from '../domain/contribution/events.js'
import { SCHEMES } from '../domain/schemes.js'
import { personBalances, type PersonBalancesDoc } from '../../projections/index.js'
import { ReadModelDocumentUnavailableError, type ReadModelStore } from '../projector/read-model-store.js'
import { firstFoldedPosition } from '../projector/first-folded.js'
import type { Projector } from '../projector/projector.js'
import { HttpProblem } from './problem.js'
import { answerOf, readModelProblem, servedDocument } from './read-model-problem.js'
import { readPosition } from './read-position.js'
import { CitizenId, Limit, Period, PositionString, RevisionString } from './schemas.js'
import { personBalancesAt, type Cut } from '../audit/point-in-time.js'
import { getPersonBalances, getPersonEvents, type PersonDocRead } from './access.js'
import type { RouteDocs } from './openapi.js'

/** Most events one `GET /v1/persons/{id}/events` answers (about 80 years of monthly lines). */
export const MAX_EVENTS_PER_PAGE = 1_000

export interface PersonRoutesDeps {
  store: EventStore
  readModels: ReadModelStore
  projector: Projector
  readWaitMs: number
}

const notFound = (personId: string) =>
  new HttpProblem(404, 'person-not-found', 'No events for this person', `the ledger has no events for person ${personId}`)

/** Routes of the `persons` resource: balances (from the projection, or folded from the log at a point
 * in time) and events (from the log). */
export const personRoutes =
  (deps: PersonRoutesDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const params = z.strictObject({ personId: CitizenId })
    // Who may read a person (access.ts) is decided on the person's stream folded with the
    // person-balances projection, not on the read model: the read model may lag behind the log, and
    // a lagging one would open a person just written to every region, or keep a transferred account
    // closed to its new region (and open to the old one) until the projector catches up.
    const personDoc: PersonDocRead = (personId) => foldPersonBalances(deps.store, personId)

    app.get('/v1/persons/:personId/balances', { schema: { params, querystring: BalancesQuery, ...PERSON_BALANCES_DOCS }, config: { access: getPersonBalances(personDoc) } }, async (request) => {
      const { personId } = request.params
      const cut = cutOf(request.query)
      if (cut) {
        // Point in time: the person's stream folded from scratch (minPosition is moot: the log is never behind).
        const { doc, position } = await personBalancesAt(deps.store, personId, cut)
        if (!doc) throw notFound(personId)
        return personBalancesAnswer(doc, position.toString(), cut)
      }
      const position = await readPosition(deps.projector, request.query.minPosition, deps.readWaitMs)
      // A damaged document, or one the self-check found different from the log: 503, never served.
      const doc = servedDocument<PersonBalancesDoc>(deps.readModels, personBalances.name, personId)
      if (!doc) {
        // No document, yet the projector is past the person's first event: the row was lost (deleted),
        // not "no such person" (its reads answer 503 until a rebuild; the projector marks it too).
        const first = await firstFoldedPosition(deps.store, personBalances, personId, personStream(personId))
        const applied = deps.projector.position
        if (first !== undefined && applied !== null && applied >= first) {
          const reason = `the document is missing: the projector applied its first event (position ${first}), yet the read models have no row for it`
          throw readModelProblem(new ReadModelDocumentUnavailableError({ projection: personBalances.name, key: personId, kind: 'damaged', reason, position: null }))
        }
        throw notFound(personId)
      }
      return answerOf(personBalances.name, personId, doc, (d) => personBalancesAnswer(d, position))
    })

    app.get(
      '/v1/persons/:personId/events',
      {
        schema: {
          params,
          querystring: z.strictObject({
            // Accepted like the other reads; events come from the log itself, which is never behind.
            minPosition: PositionString.optional(),
            fromRevision: RevisionString.optional(),
            limit: Limit(MAX_EVENTS_PER_PAGE),
          }),
          ...PERSON_EVENTS_DOCS,
        },
        config: { access: getPersonEvents(personDoc) },
      },
      async (request) => {
        const { personId } = request.params
        const limit = request.query.limit ?? MAX_EVENTS_PER_PAGE
        const fromRevision = BigInt(request.query.fromRevision ?? '0')
        const events: RecordedEvent[] = []
        for await (const e of deps.store.readStream(personStream(personId), { fromRevision, maxCount: limit + 1 })) events.push(e)
        if (events.length === 0 && (fromRevision === 0n || !(await hasEvents(deps.store, personId)))) throw notFound(personId)
        const page = events.slice(0, limit)
        const next = events[limit]
        return {
          personId,
          events: page.map((e) => ({
            id: e.id,
            type: e.type,
            revision: e.revision.toString(),
            position: e.position.toString(),
            recordedAt: e.recordedAt,
            data: e.data,
          })),
          ...(next ? { nextRevision: next.revision.toString() } : {}),
        }
      },
    )
  }

/** The person's balances document folded from the log with the projection (undefined for a person
 * without events). */
async function foldPersonBalances(store: EventStore, personId: string): Promise<PersonBalancesDoc | undefined> {
  let doc: PersonBalancesDoc | undefined
  for await (const e of store.readStream(personStream(personId))) {
    if (personBalances.keysOf(e).includes(personId)) doc = personBalances.evolve(doc ?? personBalances.initial(personId), e, personId)
  }
  return doc
}

async function hasEvents(store: EventStore, personId: string): Promise<boolean> {
  for await (const _ of store.readStream(personStream(personId), { maxCount: 1 })) return true
  return false
}

/**
 * Query of the balances reads: `minPosition` (wait for the projections), or a point in time,
 * `asOf` (an ISO 8601 instant with an offset or `Z`) or `asOfPeriod` (`YYYY-MM`), not both. With a
 * point in time the answer is folded from the log and `minPosition` is ignored.
 */
export const BalancesQuery = z
  .strictObject({
    minPosition: PositionString.optional(),
    asOf: z.iso.datetime({ offset: true, message: 'an ISO 8601 instant with an offset or Z, e.g. "2024-08-01T10:00:00+08:00"' }).optional(),
    asOfPeriod: Period.optional(),
  })
  .superRefine((q, ctx) => {
    if (q.asOf !== undefined && q.asOfPeriod !== undefined)
      ctx.addIssue({ code: 'custom', path: ['asOfPeriod'], message: 'asOf and asOfPeriod exclude each other: give one of them' })
  })

/** The point in time a balances query asks for, if any. */
export function cutOf(query: { asOf?: string | undefined; asOfPeriod?: string | undefined }): Cut | undefined {
  if (query.asOf !== undefined) return { asOf: query.asOf }
  if (query.asOfPeriod !== undefined) return { asOfPeriod: query.asOfPeriod }
  return undefined
}

/**
 * A person's balances as the API answers them, from the read model or from a fold at a point in time
 * (then with `asOf` or `asOfPeriod` echoed): per scheme, the pension account, the pension in
 * payment, reversals.
 */
export function personBalancesAnswer(doc: PersonBalancesDoc, position: string, cut?: Cut) {
  const schemes = Object.fromEntries(
    SCHEMES.map((s) => {
      const b = doc.schemes[s]
      return [
        s,
        {
          individualAccount: b.individualAccount,
          employerContributed: b.employerContributed,
          employeeContributed: b.employeeContributed,
          // Distinct recorded periods plus imported (legacy) months, which never overlap them.
          months: Object.keys(b.periods).length + Object.values(b.legacyMonths ?? {}).reduce((n, m) => n + m, 0),
          regions: [...new Set([...Object.keys(b.regions), ...Object.keys(b.legacyMonths ?? {})])].sort(),
          ...(b.openingBalance !== undefined ? { openingBalance: b.openingBalance } : {}),
          paidOut: b.paidOut ?? '0.00',
          ...(s === 'pension' ? { interestCredited: b.interestCredited ?? '0.00', interestByYear: b.interestByYear ?? {} } : {}),
        },
      ]
    }),
  )
  // The pension account's segments: where it is held, months per region (the years are merged
  // for the pension, the segments stay visible).
  const pensionAccount = doc.pensionHeldIn ? { heldIn: doc.pensionHeldIn, monthsByRegion: monthsByRegion(doc.schemes.pension) } : undefined
  return {
    personId: doc.personId,
    position,
    ...cut,
    schemes,
    ...(pensionAccount ? { pensionAccount } : {}),
    ...(doc.pensionInPayment ? { pensionInPayment: withoutPaidMap(doc.pensionInPayment) } : {}),
    reversed: doc.reversed ?? [],
  }
}

/** Months per region: recorded lines (one per period for pension) plus imported months. */
function monthsByRegion(b: PersonBalancesDoc['schemes']['pension']): Record<string, number> {
  const out: Record<string, number> = { ...b.regions }
  for (const [region, months] of Object.entries(b.legacyMonths ?? {})) out[region] = (out[region] ?? 0) + months
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)))
}

/** The pension in payment as the API shows it: the projection's map of paid periods (its internal
 * bookkeeping, one entry a month) is left out. */
function withoutPaidMap(p: NonNullable<PersonBalancesDoc['pensionInPayment']>): Omit<typeof p, 'paid'> {
  const { paid: _paid, ...shown } = p
  return shown
}

// ---------------------------------------------------------------------------------------------
// Documentation (OpenAPI, see http/openapi.ts): what each route is and answers; never used to
// validate or serialize. Answers every /v1 route shares (400, 401, 403, 429, 503, …) are added there.
// ---------------------------------------------------------------------------------------------

/** The point in time a balances answer echoes (persons and pools). */
export const CutDoc = {
  asOf: z.string().optional().meta({ description: 'the instant asked for, echoed' }),
  asOfPeriod: z.string().optional().meta({ description: 'the period asked for, echoed' }),
}

const PersonSchemeDoc = z.looseObject({
  individualAccount: z.string(),
  employerContributed: z.string(),
  employeeContributed: z.string(),
  months: z.number().int().meta({ description: 'distinct recorded periods plus imported months' }),
  regions: z.array(z.string()),
  openingBalance: z.string().optional().meta({ description: 'once legacy history is imported' }),
  paidOut: z.string(),
  interestCredited: z.string().optional().meta({ description: 'pension only' }),
  interestByYear: z.record(z.string(), z.string()).optional().meta({ description: 'pension only' }),
})

const PERSON_BALANCES_DOCS: RouteDocs = {
  summary: "A person's balances",
  description:
    'Per scheme, from the person-balances projection; with `minPosition` it first waits (bounded) for the projections to reach it. ' +
    "With `asOf` (an ISO 8601 instant) or `asOfPeriod` (YYYY-MM) the balances at that point, folded from the person's stream.",
  tags: ['persons'],
  answers: {
    200: {
      description: "the person's balances",
      body: z.looseObject({
        personId: z.string(),
        position: z.string().meta({ description: 'the position the answer reflects' }),
        ...CutDoc,
        schemes: z.record(z.enum(SCHEMES), PersonSchemeDoc),
        pensionAccount: z.object({ heldIn: z.string(), monthsByRegion: z.record(z.string(), z.number().int()) }).optional(),
        pensionInPayment: z.looseObject({}).optional(),
        reversed: z.array(z.unknown()),
      }),
    },
    400: '`asOf` and `asOfPeriod` both given (`validation`)',
    404: 'no events for the person (at that point in time) (`person-not-found`)',
  },
}

const PERSON_EVENTS_DOCS: RouteDocs = {
  summary: "A person's events",
  description: `The events of the person's stream in order, from \`fromRevision\`, at most \`limit\` (${MAX_EVENTS_PER_PAGE} by default and at most); \`nextRevision\` when more follow.`,
  tags: ['persons'],
  answers: {
    200: {
      description: 'a page of events',
      body: z.object({
        personId: z.string(),
        events: z.array(
          z.object({ id: z.string(), type: z.string(), revision: z.string(), position: z.string(), recordedAt: z.string(), data: z.unknown() }),
        ),
        nextRevision: z.string().optional().meta({ description: 'the next page\'s fromRevision' }),
      }),
    },
    404: 'no events for the person (`person-not-found`)',
  },
}
