import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { SYSTEM_PRINCIPAL, type Principal, type Role } from '../../src/auth/principal.js'
import {
  employerInScope,
  getPersonBalances,
  postLegacyHistory,
  regionInScope,
  regionsInScope,
  regionsReadingPerson,
  roles,
} from '../../src/http/access.js'
import { personBalances, type PersonBalancesDoc } from '../../projections/index.js'

/**
 * The helpers of src/http/access.ts, and the cases the HTTP role tests (roles.test.ts) cannot reach
 * through the shipped policy table: a person without a pension account.
 */

const principal = (role: Role, scope: { employers?: string[]; regions?: string[] } = {}): Principal => ({
  actor: `test-${role}`,
  role,
  employers: new Set(scope.employers ?? []),
  regions: new Set(scope.regions ?? []),
  via: 'jwt',
})
const request = (parts: { params?: object; body?: object; query?: object }) => parts as unknown as FastifyRequest

t.test('scope helpers: only the scoped role, only its scope', async (t) => {
  const payroll = principal('payroll', { employers: ['E1'] })
  const officer = principal('region-officer', { regions: ['310000', '110000'] })
  t.equal(employerInScope(payroll, 'E1'), true)
  t.equal(employerInScope(payroll, 'E2'), false)
  t.equal(employerInScope(principal('admin', { employers: ['E1'] }), 'E1'), false, 'an employer scope counts for payroll only')
  t.equal(regionInScope(officer, '310000'), true)
  t.equal(regionInScope(officer, '440000'), false)
  t.equal(regionInScope(principal('auditor', { regions: ['310000'] }), '310000'), false, 'a region scope counts for officers only')
  t.equal(regionsInScope(officer, ['310000', '110000']), true)
  t.equal(regionsInScope(officer, ['310000', '440000']), false)
  t.equal(regionsInScope(officer, []), false, 'no region is no scope')
  t.equal(regionInScope(SYSTEM_PRINCIPAL, '310000'), false, 'the system principal is let through by installAuth, not by scope')
})

t.test('roles(...)', async (t) => {
  const rule = roles('auditor', 'admin')
  t.equal(await rule(principal('auditor'), request({})), true)
  t.equal(await rule(principal('admin'), request({})), true)
  t.match(await rule(principal('payroll'), request({})), /only auditor or admin .* payroll/)
})

t.test('legacy history: an officer needs every imported region', async (t) => {
  const body = { years: [{ region: '310000' }, { region: '110000' }, { region: '310000' }] }
  t.equal(await postLegacyHistory(principal('region-officer', { regions: ['310000', '110000'] }), request({ body })), true)
  t.match(await postLegacyHistory(principal('region-officer', { regions: ['310000'] }), request({ body })), /110000/)
  t.equal(await postLegacyHistory(principal('admin'), request({ body })), true)
  t.match(await postLegacyHistory(principal('auditor'), request({ body })), /only admin or region-officer/)
})

t.test('who reads a person', async (t) => {
  const doc = (changes: (d: PersonBalancesDoc) => void): PersonBalancesDoc => {
    const d = structuredClone(personBalances.initial('P'))
    changes(d)
    return d
  }
  const held = doc((d) => {
    d.pensionHeldIn = '110000'
    d.schemes.pension.regions = { '310000': 3 }
    d.schemes.medical.regions = { '310000': 3, '440000': 1 }
  })
  t.same(regionsReadingPerson(held), ['110000'], 'the region holding the pension account only')
  const noPension = doc((d) => {
    d.schemes.medical.regions = { '440000': 2 }
    d.schemes.work_injury.regions = { '310000': 1 }
  })
  t.same(regionsReadingPerson(noPension), ['310000', '440000'], 'without a pension account: every region contributed in')

  const rule = getPersonBalances(async (id) => (id === 'P' ? noPension : undefined))
  const req = (personId: string) => request({ params: { personId } })
  t.equal(await rule(principal('region-officer', { regions: ['440000'] }), req('P')), true)
  t.match(await rule(principal('region-officer', { regions: ['110000'] }), req('P')), /holding the person's account/)
  t.equal(await rule(principal('region-officer', { regions: ['110000'] }), req('Q')), true, 'a person without events: through to the 404')
  t.match(await rule(principal('payroll', { employers: ['E1'] }), req('Q')), /only auditor, admin or region-officer/, 'role first')
})
