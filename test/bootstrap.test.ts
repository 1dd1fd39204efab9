import t from 'tap'
import path from 'node:path'
import { createLedger } from '../src/bootstrap.js'
import { loadConfig } from '../src/config.js'
import { ReadModelMismatchError, ReadModelStore } from '../src/projector/read-model-store.js'

const configFor = (file: string) => loadConfig({ LEDGER_SQLITE_PATH: file, LOG_LEVEL: 'silent' })

t.test('read models built from another event store are refused, with what to do', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const foreign = new ReadModelStore(file)
  foreign.bindToStore('kurrentdb')
  foreign.close()
  const err = await createLedger(configFor(file)).catch((e: unknown) => e)
  t.type(err, ReadModelMismatchError)
  t.match((err as Error).message, /built from the kurrentdb event store, not sqlite; point LEDGER_SQLITE_PATH at another file, or delete .*ledger\.sqlite to rebuild/)
})

t.test('a checkpoint beyond the log head (the log was replaced) is refused', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const rm = new ReadModelStore(file)
  rm.bindToStore('sqlite')
  rm.commitBatch('main', new Map(), 99n)
  rm.close()
  const err = await createLedger(configFor(file)).catch((e: unknown) => e)
  t.type(err, ReadModelMismatchError)
  t.match((err as Error).message, /checkpoint \(99\) is beyond the log's head \(empty log\)/)
})

t.test('the same store again opens, and binds on first use', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const first = await createLedger(configFor(file))
  await first.close()
  const second = await createLedger(configFor(file))
  t.teardown(() => second.close())
  const res = await second.app.inject({ method: 'GET', url: '/healthz' })
  t.equal(res.statusCode, 200)
})
