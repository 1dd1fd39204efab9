import type { FastifyPluginAsync } from 'fastify'
import type { EventStore } from '../eventstore/port.js'
import type { Projector } from '../projector/projector.js'

/** `GET /healthz`: the process answers, the store answers, and how far the projections are. */
export const healthRoutes =
  (deps: { store: EventStore; projector: Projector; storeKind: string }): FastifyPluginAsync =>
  async (app) => {
    app.get('/healthz', async () => {
      const head = await deps.store.headPosition()
      return {
        status: 'ok',
        store: deps.storeKind,
        headPosition: (head ?? 0n).toString(),
        projectionPosition: (deps.projector.position ?? 0n).toString(),
        // Live, and nothing appended that the projections have not applied.
        projectionCaughtUp: deps.projector.caughtUp && (deps.projector.position ?? 0n) >= (head ?? 0n),
      }
    })
  }
