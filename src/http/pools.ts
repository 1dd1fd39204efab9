import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { SCHEMES } from '../domain/schemes.js'
import { poolBalances, type PoolBalancesDoc } from '../../projections/index.js'
import type { ReadModelStore } from '../projector/read-model-store.js'
import type { Projector } from '../projector/projector.js'
import { HttpProblem } from './problem.js'
import { answerOf, servedDocument } from './read-model-problem.js'
import { readPosition } from './read-position.js'
import { Region } from './schemas.js'
import { getPoolBalances } from './access.js'
import { BalancesQuery, CutDoc, cutOf } from './persons.js'
import type { RouteDocs } from './openapi.js'
import { poolBalancesAt, type Cut } from '../audit/point-in-time.js'
import type { EventStore } from '../eventstore/port.js'

export interface PoolRoutesDeps {
  /** The log, for balances at a point in time. */
  store: EventStore
  readModels: ReadModelStore
  projector: Projector
  readWaitMs: number
  /** Regions that have a policy row: their pools exist even before the first contribution. */
  knownRegions: ReadonlySet<string>
}

/** Routes of the `pools` resource. A region with a policy but no events has every pool at "0.00";
 * a region with neither is 404. With `?asOf=` or `?asOfPeriod=` the pools are folded from the log at
 * that point in time, which reads the whole log (see `poolBalancesAt`). */
export const poolRoutes =
  (deps: PoolRoutesDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/pools/:region/balances',
      { schema: { params: z.strictObject({ region: Region }), querystring: BalancesQuery, ...POOL_BALANCES_DOCS }, config: { access: getPoolBalances } },
      async (request) => {
        const { region } = request.params
        const cut = cutOf(request.query)
        if (cut) {
          // Point in time: a scan of the WHOLE LOG (readAll), folding the events that touch the
          // region; minPosition is moot (the log is never behind).
          const { doc, position } = await poolBalancesAt(deps.store, region, cut)
          if (!doc && !deps.knownRegions.has(region)) throw poolNotFound(region)
          return poolBalancesAnswer(doc ?? poolBalances.initial(region), position.toString(), cut)
        }
        const position = await readPosition(deps.projector, request.query.minPosition, deps.readWaitMs)
        // A damaged document, or one the self-check found different (or missing): 503, never served.
        const stored = servedDocument<PoolBalancesDoc>(deps.readModels, poolBalances.name, region)
        if (!stored && !deps.knownRegions.has(region)) throw poolNotFound(region)
        if (!stored) return poolBalancesAnswer(poolBalances.initial(region), position)
        return answerOf(poolBalances.name, region, stored, (d) => poolBalancesAnswer(d, position))
      },
    )
  }

const poolNotFound = (region: string) => new HttpProblem(404, 'pool-not-found', 'No pools for this region', `region ${region} has no policy and no events`)

/** A region's pools as the API answers them, from the read model or from a fold at a point in time
 * (then with `asOf` or `asOfPeriod` echoed). */
export function poolBalancesAnswer(doc: PoolBalancesDoc, position: string, cut?: Cut) {
  const schemes = Object.fromEntries(
    SCHEMES.map((s) => {
      const b = doc.schemes[s]
      // openingBalance once the region's opening balance is imported (legacy-balance).
      return [
        s,
        {
          balance: b.balance,
          contributions: b.contributions,
          payouts: b.payouts ?? '0.00',
          ...(s === 'pension' && b.interestCredited !== undefined ? { interestCredited: b.interestCredited } : {}),
          ...(b.openingBalance !== undefined ? { openingBalance: b.openingBalance } : {}),
          // transfersIn / transfersOut once a pension transfer has touched this pool.
          ...(b.transfersIn !== undefined || b.transfersOut !== undefined
            ? { transfersIn: b.transfersIn ?? '0.00', transfersOut: b.transfersOut ?? '0.00' }
            : {}),
        },
      ]
    }),
  )
  return { region: doc.region, position, ...cut, schemes }
}

// ---------------------------------------------------------------------------------------------
// Documentation (OpenAPI, see http/openapi.ts): what each route is and answers; never used to
// validate or serialize. Answers every /v1 route shares (400, 401, 403, 429, 503, …) are added there.
// ---------------------------------------------------------------------------------------------

const POOL_BALANCES_DOCS: RouteDocs = {
  summary: "A region's pools",
  description:
    'Per scheme, from the pool-balances projection (a region with a policy and no events has every pool at "0.00"); `minPosition` waits (bounded) for the projections. ' +
    'With `asOf` or `asOfPeriod` the pools at that point, folded from the WHOLE log: an audit read whose cost grows with the log.',
  tags: ['pools'],
  answers: {
    200: {
      description: "the region's pools",
      body: z.object({
        region: z.string(),
        position: z.string(),
        ...CutDoc,
        schemes: z.record(
          z.enum(SCHEMES),
          z.looseObject({
            balance: z.string(),
            contributions: z.string(),
            payouts: z.string(),
            interestCredited: z.string().optional(),
            openingBalance: z.string().optional(),
            transfersIn: z.string().optional(),
            transfersOut: z.string().optional(),
          }),
        ),
      }),
    },
    400: '`asOf` and `asOfPeriod` both given (`validation`)',
    404: 'the region has neither a policy nor events (`pool-not-found`)',
  },
}
