import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { EventStore, RecordedEvent } from '../eventstore/port.js'
import { personStream } from '../domain/contribution/events.js'
import { SCHEMES } from '../domain/schemes.js'
import { personBalances, type PersonBalancesDoc } from '../../projections/index.js'
import type { ReadModelStore } from '../projector/read-model-store.js'
import type { Projector } from '../projector/projector.js'
import { HttpProblem } from './problem.js'
import { readPosition } from './read-position.js'
import { CitizenId, Limit, PositionString, ReadQuery, RevisionString } from './schemas.js'

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

/** Routes of the `persons` resource: balances (from the projection) and events (from the log). */
export const personRoutes =
  (deps: PersonRoutesDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const params = z.strictObject({ personId: CitizenId })

    app.get('/v1/persons/:personId/balances', { schema: { params, querystring: ReadQuery } }, async (request) => {
      const position = await readPosition(deps.projector, request.query.minPosition, deps.readWaitMs)
      const doc = deps.readModels.getDocument<PersonBalancesDoc>(personBalances.name, request.params.personId)
      if (!doc) throw notFound(request.params.personId)
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
        schemes,
        ...(pensionAccount ? { pensionAccount } : {}),
        ...(doc.pensionInPayment ? { pensionInPayment: withoutPaidMap(doc.pensionInPayment) } : {}),
        reversed: doc.reversed ?? [],
      }
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
        },
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

async function hasEvents(store: EventStore, personId: string): Promise<boolean> {
  for await (const _ of store.readStream(personStream(personId), { maxCount: 1 })) return true
  return false
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
