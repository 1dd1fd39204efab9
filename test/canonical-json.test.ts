/**
 * canonicalJson is RFC 8785: it must give the bytes the reference implementation (json-canonicalize)
 * gives for every JSON value, since hash chains and seals written before it are verified with it.
 */
import t from 'tap'
import fc from 'fast-check'
import { canonicalize } from 'json-canonicalize'
import { MAX_CANONICAL_DEPTH, canonicalJson } from '../src/canonical-json.js'

t.test('equals json-canonicalize on arbitrary JSON values', async (t) => {
  // fc.check reports the first counterexample (if any) instead of throwing.
  const values = fc.check(fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => canonicalJson(value) === canonicalize(value)), { numRuns: 3_000, seed: 20261130 })
  t.equal(values.failed, false, `3,000 JSON values agree${values.failed ? `; counterexample ${JSON.stringify(values.counterexample)}` : ''}`)
  t.equal(values.numRuns, 3_000)
  const keys = fc.check(
    fc.property(fc.dictionary(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })), (value) => canonicalJson(value) === canonicalize(value)),
    { numRuns: 1_000, seed: 7 },
  )
  t.equal(keys.failed, false, `1,000 objects with any keys agree${keys.failed ? `; counterexample ${JSON.stringify(keys.counterexample)}` : ''}`)
})

t.test('examples worked by hand (RFC 8785 §3.2)', async (t) => {
  t.equal(canonicalJson({ b: 1, a: [true, null, 'x'], 'é': 0.5, A: -0 }), '{"A":0,"a":[true,null,"x"],"b":1,"é":0.5}')
  t.equal(canonicalJson({ '\u20ac': 1, '\r': 2, '1': 3 }), '{"\\r":2,"1":3,"€":1}', 'keys sorted by UTF-16 code units')
  t.equal(canonicalJson({ a: undefined, b: [undefined, () => 1] }), '{"b":[null,null]}', 'undefined left out, as JSON.stringify does')
  t.equal(canonicalJson(1e21), '1e+21')
  t.equal(canonicalJson({ at: new Date('2026-11-30T00:00:00.000Z') }), '{"at":"2026-11-30T00:00:00.000Z"}', 'toJSON honoured')
})

t.test('refuses what JSON cannot hold', async (t) => {
  t.throws(() => canonicalJson({ a: 1n }), TypeError)
  t.throws(() => canonicalJson({ a: Number.NaN }), TypeError)
  t.throws(() => canonicalJson([Infinity]), TypeError)
  t.throws(() => canonicalJson(undefined), TypeError)
  const circular: Record<string, unknown> = {}
  circular.self = circular
  t.throws(() => canonicalJson(circular), TypeError, 'circular')
  let deep: unknown = 0
  for (let i = 0; i < MAX_CANONICAL_DEPTH + 1; i++) deep = [deep]
  t.throws(() => canonicalJson(deep), TypeError, 'too deep')
})
