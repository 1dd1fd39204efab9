import t from 'tap'
import path from 'node:path'
import Database from 'better-sqlite3'
import type { CliContext } from '../../src/cli/context.js'
import { runBalances } from '../../src/cli/balances.js'
import { personBalances, poolBalances } from '../../projections/index.js'
import { maskCitizenId } from '../../src/domain/ids.js'
import { personId } from '../helpers/http.js'
import { caughtUp, openService, seed } from '../helpers/read-side.js'

/**
 * `ledger balances` on the read-model file refuses what HTTP refuses (issue #14): a document marked
 * differing or damaged, or one that is not of its projection's shape, is not shown (exit 1, with the
 * cure). Before, it read the document as stored and showed it.
 */

function cli(db: string) {
  const out: string[] = []
  const err: string[] = []
  const ctx: CliContext = { env: { LEDGER_STORE: 'sqlite', LEDGER_SQLITE_PATH: db, LOG_LEVEL: 'silent' }, out: (l) => out.push(l), err: (l) => err.push(l), setStatus: () => {} }
  return { ctx, out, err }
}

t.test('a marked person document, a `{}` pool document: exit 1 naming the cure; an unmarked person is shown', async (t) => {
  const file = path.join(t.testdir(), 'ledger.sqlite')
  const ledger = await openService(file)
  await seed(ledger, 2, ['2024-07'])
  await caughtUp(ledger)
  const [p1, p2] = [personId(1), personId(2)]
  ledger.readModels.markDocuments([{ projection: personBalances.name, key: p1, kind: 'differs', reason: 'edited by hand', position: 1n }])
  await ledger.close()
  const db = new Database(file)
  db.prepare('UPDATE read_models SET doc = ? WHERE projection = ? AND key = ?').run('{}', poolBalances.name, '310000')
  db.close()

  const marked = cli(file)
  t.equal(await runBalances('person', p1, {}, marked.ctx), 1, 'the marked person: exit 1')
  t.same(marked.out, [], 'nothing shown')
  t.match(marked.err.join('\n'), /different from the fold of the log: edited by hand.*ledger projections rebuild person-balances/, 'why, and the cure')
  t.notMatch(marked.err.join('\n'), p1, 'the person id masked')
  t.match(marked.err.join('\n'), maskCitizenId(p1))

  const pool = cli(file)
  t.equal(await runBalances('pool', '310000', {}, pool.ctx), 1, 'the `{}` pool: exit 1')
  t.same(pool.out, [])
  t.match(pool.err.join('\n'), /pool-balances\/310000 is damaged.*ledger projections rebuild pool-balances/)

  const fine = cli(file)
  t.equal(await runBalances('person', p2, { json: true }, fine.ctx), 0, fine.err.join('\n'))
  t.equal(JSON.parse(fine.out.join('\n')).schemes.pension.individualAccount, '648.00', 'person 2: 8100.00 × 8%')
})
