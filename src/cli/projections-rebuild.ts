/**
 * `ledger projections rebuild [name]` (issue #6): rebuilds one projection (or, without a name, every
 * projection, one after the other) from the log into a shadow table and swaps it in, while the
 * service keeps answering (see src/projector/rebuild.ts for the protocol). It opens the configured
 * event store and the read-model file LEDGER_SQLITE_PATH, the one the service projects into.
 *
 * Output: a line per {@link DEFAULT_PROGRESS_EVERY} events folded (and documents compared), then per
 * projection a summary: documents, the position they are folded up to, how many the swap replaced
 * (they differed from the rebuilt ones), events folded, milliseconds in all and in the swap (the
 * longest other writers on the file waited for it). Exit status 0 when every
 * projection was rebuilt; 1 when one failed (the ones before it stay rebuilt, the failed one and the
 * ones after it are as they were); 2 for a bad configuration, an unknown projection name or read
 * models of another event store.
 */
import { checkReadModelsAgainstLog } from '../projector/log-binding.js'
import { ConfigError } from '../config.js'
import type { Command } from 'commander'
import type { EventStore } from '../eventstore/port.js'
import { PROJECTIONS } from '../../projections/index.js'
import { configOrReport, EXIT_BAD_CONFIG, openStore, type CliContext } from './context.js'
import { ReadModelMismatchError, ReadModelStore } from '../projector/read-model-store.js'
import { DEFAULT_PROGRESS_EVERY, rebuildProjection } from '../projector/rebuild.js'

/** The live projector's checkpoint row (as in bootstrap.ts). */
const CHECKPOINT_NAME = 'main'
/** Exit status of a rebuild that failed. */
const EXIT_FAILED = 1

/** Registers `rebuild [name]` on the `projections` command group. */
export function registerProjectionsRebuild(group: Command, ctx: CliContext): void {
  const names = PROJECTIONS.map((p) => p.name)
  group
    .command('rebuild')
    .description(`Rebuild a projection from the log and swap it in while the service runs (${names.join(', ')}; all of them without a name).`)
    .argument('[name]', 'the projection to rebuild')
    .action(async (name: string | undefined) => {
      ctx.setStatus(await runRebuild(name, ctx))
    })
}

/** The command: configuration, name, store and read models, the rebuilds; the exit status. */
async function runRebuild(name: string | undefined, ctx: CliContext): Promise<number> {
  const config = configOrReport(ctx)
  if (!config) return EXIT_BAD_CONFIG
  const selected = name === undefined ? PROJECTIONS : PROJECTIONS.filter((p) => p.name === name)
  if (selected.length === 0) {
    ctx.err(`projections rebuild: unknown projection ${JSON.stringify(name)}; the projections are ${PROJECTIONS.map((p) => p.name).join(', ')}`)
    return EXIT_BAD_CONFIG
  }
  let store: EventStore
  try {
    store = await openStore(config)
  } catch (err) {
    ctx.err(`projections rebuild: ${err instanceof Error ? err.message : String(err)}`)
    return err instanceof ConfigError ? EXIT_BAD_CONFIG : EXIT_FAILED
  }
  let readModels: ReadModelStore | undefined
  try {
    readModels = new ReadModelStore(config.LEDGER_SQLITE_PATH)
    readModels.bindToStore(config.LEDGER_STORE)
    // The binding is checked here; recorded (for a file that has none) once every projection is rebuilt.
    const logBinding = await checkReadModelsAgainstLog(readModels, store)
    const where = config.LEDGER_STORE === 'kurrentdb' ? 'kurrentdb' : `sqlite ${config.LEDGER_SQLITE_PATH}`
    ctx.out(`projections rebuild ${selected.map((p) => p.name).join(', ')} from ${where} into ${config.LEDGER_SQLITE_PATH}`)
    for (const projection of selected) {
      try {
        const r = await rebuildProjection({
          store,
          readModels,
          projection,
          checkpointName: CHECKPOINT_NAME,
          progressEvery: DEFAULT_PROGRESS_EVERY,
          onProgress: (p) =>
            ctx.out(
              p.phase === 'fold'
                ? `${p.projection}: ${p.events} events folded (position ${p.position})`
                : `${p.projection}: ${p.documents} documents compared with the live ones, ${p.differing} differ`,
            ),
        })
        ctx.out(
          `${r.projection}: rebuilt ${r.documents} document(s) up to position ${r.position ?? 'none (nothing projected yet)'}, ${r.replaced} replaced; ` +
            `${r.events} event(s) folded, ${r.ms} ms (swap ${r.lockMs} ms)`,
        )
      } catch (err) {
        ctx.err(`projections rebuild: ${projection.name}: ${err instanceof Error ? err.message : String(err)}`)
        ctx.out(`${projection.name}: not rebuilt; its documents are as they were`)
        return EXIT_FAILED
      }
    }
    logBinding.bind()
    return 0
  } catch (err) {
    if (err instanceof ReadModelMismatchError) {
      ctx.err(`projections rebuild: ${err.message}; LEDGER_SQLITE_PATH must name the service's read models`)
      return EXIT_BAD_CONFIG
    }
    ctx.err(`projections rebuild: ${err instanceof Error ? err.message : String(err)}`)
    return EXIT_FAILED
  } finally {
    readModels?.close()
    await store.close()
  }
}
