import t from 'tap'
import { KurrentDbEventStore } from '../../src/eventstore/kurrentdb/kurrentdb-event-store.js'
import { TransferHandler } from '../../src/usecases/transfers.js'
import { decideRegister } from '../../src/domain/transfer/decide.js'
import { LEGACY_HISTORY_IMPORTED, type LegacyHistoryImportedData } from '../../src/domain/legacy/events.js'
import { FakeKurrentClient } from '../helpers/fake-kurrent-client.js'
import { personId } from '../helpers/http.js'

/**
 * On a KurrentDB without multi-stream appends (before 25.1) a transfer step could be written half
 * (the person's event without the transfer's, or the reverse), leaving the person blocked or money
 * half-moved (found in review). Such a store refuses transfers outright, and writes nothing.
 */
t.test('a store without atomic multi-stream appends refuses transfers, writing nothing', async (t) => {
  const client = new FakeKurrentClient({ serverVersion: '24.10.6', systemEvents: false })
  const store = new KurrentDbEventStore({ client, atomicAppendMany: false })
  t.teardown(() => store.close())
  const P = personId(901)
  const legacy: LegacyHistoryImportedData = {
    importId: 'LEG-901',
    personId: P,
    asOf: '2022-12-31',
    individualAccountBalance: '80000.00',
    years: [{ year: 2020, region: '310000', months: 12, baseTotal: '60000.00' }],
  }
  await store.append(`person-${P}`, [{ type: LEGACY_HISTORY_IMPORTED, data: legacy }], 'no_stream')
  const before = client.events.length
  const handler = new TransferHandler(store, () => new Date('2024-09-02T02:00:00Z'))
  const result = await handler.step('F-1', P, (transfer, pension) =>
    decideRegister({ transferId: 'F-1', personId: P, fromRegion: '310000', toRegion: '110000', today: '2024-09-02' }, transfer, pension),
  )
  t.same(result, { kind: 'refused', decision: { outcome: 'unsupported', detail: 'transfers need atomic multi-stream appends: KurrentDB 25.1+ or the embedded store' } })
  t.equal(client.events.length, before, 'nothing written')
})
