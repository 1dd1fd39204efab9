import { z } from 'zod'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { SCHEMES } from '../domain/schemes.js'
import { poolBalances, type PoolBalancesDoc } from '../../projections/index.js'
import type { ReadModelStore } from '../projector/read-model-store.js'
import type { Projector } from '../projector/projector.js'
import { HttpProblem } from './problem.js'
import { readPosition } from './read-position.js'
import { ReadQuery, Region } from './schemas.js'

export interface PoolRoutesDeps {
  readModels: ReadModelStore
  projector: Projector
  readWaitMs: number
  /** Regions that have a policy row: their pools exist even before the first contribution. */
  knownRegions: ReadonlySet<string>
}

/** Routes of the `pools` resource. A region with a policy but no events has every pool at "0.00";
 * a region with neither is 404. */
export const poolRoutes =
  (deps: PoolRoutesDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.get(
      '/v1/pools/:region/balances',
      { schema: { params: z.strictObject({ region: Region }), querystring: ReadQuery } },
      async (request) => {
        const position = await readPosition(deps.projector, request.query.minPosition, deps.readWaitMs)
        const { region } = request.params
        const stored = deps.readModels.getDocument<PoolBalancesDoc>(poolBalances.name, region)
        if (!stored && !deps.knownRegions.has(region))
          throw new HttpProblem(404, 'pool-not-found', 'No pools for this region', `region ${region} has no policy and no events`)
        const doc = stored ?? poolBalances.initial(region)
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
        return { region, position, schemes }
      },
    )
  }
