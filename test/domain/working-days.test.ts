import t from 'tap'
import { addWorkingDays, isWorkingDay, shanghaiDate } from '../../src/domain/working-days.js'

const none = new Set<string>()

t.test('15 working days skip weekends (worked out on a calendar)', async (t) => {
  // Monday 2024-09-02 + 15 working days: 3 weeks of 5 → Monday 2024-09-23
  t.equal(addWorkingDays('2024-09-02', 15, none), '2024-09-23')
  // Friday 2024-09-06 + 1 → Monday 2024-09-09
  t.equal(addWorkingDays('2024-09-06', 1, none), '2024-09-09')
  // Saturday 2024-09-07 + 1 → Monday 2024-09-09
  t.equal(addWorkingDays('2024-09-07', 1, none), '2024-09-09')
  t.equal(addWorkingDays('2024-09-02', 0, none), '2024-09-02')
})

t.test('a holiday calendar adds days off', async (t) => {
  // National Day week 2024-10-01..07 off: Monday 2024-09-30 + 1 → Tuesday 2024-10-08
  const golden = new Set(['2024-10-01', '2024-10-02', '2024-10-03', '2024-10-04', '2024-10-07'])
  t.equal(addWorkingDays('2024-09-30', 1, golden), '2024-10-08')
  t.equal(isWorkingDay('2024-10-03', golden), false)
  t.equal(isWorkingDay('2024-10-08', golden), true)
  t.equal(isWorkingDay('2024-10-05', none), false, 'a Saturday')
})

t.test('bad input is refused', async (t) => {
  t.throws(() => addWorkingDays('2024-02-30', 1, none), RangeError)
  t.throws(() => addWorkingDays('2024/02/01', 1, none), RangeError)
  t.throws(() => addWorkingDays('2024-02-01', -1, none), RangeError)
})

t.test('local dates are Asia/Shanghai dates', async (t) => {
  // 2024-07-01T16:30Z is 2024-07-02 00:30 in Shanghai (UTC+8)
  t.equal(shanghaiDate(new Date('2024-07-01T16:30:00Z')), '2024-07-02')
  t.equal(shanghaiDate(new Date('2024-07-01T15:59:59Z')), '2024-07-01')
})
