/**
 * Read-model files written by earlier versions keep their documents in WITHOUT ROWID tables; opening
 * one moves the documents into the current (rowid) tables, keeping every document, the checkpoint
 * and the shadow of a rebuild in progress.
 */
import path from 'node:path'
import Database from 'better-sqlite3'
import t from 'tap'
import { ReadModelStore } from '../../src/projector/read-model-store.js'

t.test('a file of the first form is migrated on open, nothing lost', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const old = new Database(file)
  old.pragma('journal_mode = WAL')
  old.exec(`
    CREATE TABLE read_models (projection TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (projection, key)) WITHOUT ROWID;
    CREATE TABLE read_model_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE checkpoints (name TEXT PRIMARY KEY, position TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE read_models_shadow (projection TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (projection, key)) WITHOUT ROWID;
    CREATE TABLE read_models_shadow_keys (projection TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (projection, key)) WITHOUT ROWID;
    INSERT INTO read_models VALUES ('person-balances', 'p2', '{"n":2}'), ('person-balances', 'p1', '{"n":1}'), ('pool-balances', '310000', '{"r":"310000"}');
    INSERT INTO read_models_shadow VALUES ('person-balances', 'p1', '{"n":10}');
    INSERT INTO checkpoints VALUES ('main', '42', '2026-11-30T00:00:00.000Z');`)
  old.close()

  const store = new ReadModelStore(file)
  t.teardown(() => store.close())
  t.same(store.getDocument('person-balances', 'p1'), { n: 1 })
  t.same(store.getDocument('person-balances', 'p2'), { n: 2 })
  t.same(store.getDocument('pool-balances', '310000'), { r: '310000' })
  t.equal(store.getCheckpoint('main'), 42n, 'checkpoint kept')
  t.same(store.listDocuments('person-balances', { limit: 10 }).map((d) => d.key), ['p1', 'p2'], 'key order kept')
  const shadow = store.db.prepare("SELECT doc FROM read_models_shadow WHERE projection = 'person-balances' AND key = 'p1'").get() as { doc: string }
  t.equal(shadow.doc, '{"n":10}', 'shadow rows kept')
  const tables = store.db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ('read_models', 'read_models_shadow')").all() as { name: string; sql: string }[]
  t.equal(tables.length, 2)
  for (const { name, sql } of tables) t.notMatch(sql, /WITHOUT ROWID/i, `${name} is a rowid table now`)
  // a batch written after the migration lands in the new table
  store.commitBatch('main', new Map([['person-balances', new Map([['p1', { n: 11 }]])]]), 43n)
  t.same(store.getDocument('person-balances', 'p1'), { n: 11 })
  t.equal(store.getCheckpoint('main'), 43n)
  store.close()
  const again = new ReadModelStore(file)
  t.same(again.getDocument('person-balances', 'p1'), { n: 11 }, 'reopening migrates nothing twice')
  again.close()
})
