import t from 'tap'
import { CalendarError, loadDaysOff } from '../src/calendar-loader.js'

t.test('a holiday calendar file: days off, or a clear error naming the file and the field', async (t) => {
  const dir = t.testdir({
    'ok.json': JSON.stringify({ note: 'National Day 2024', daysOff: ['2024-10-01', '2024-10-02'] }),
    'bad.json': JSON.stringify({ daysOff: ['2024-13-01'] }),
    'broken.json': '{',
  })
  t.same([...loadDaysOff(`${dir}/ok.json`)], ['2024-10-01', '2024-10-02'])
  t.same([...loadDaysOff(undefined)], [], 'no file: weekends only')
  t.throws(() => loadDaysOff(`${dir}/bad.json`), CalendarError)
  t.throws(() => loadDaysOff(`${dir}/bad.json`), /holiday calendar .*bad\.json is invalid:\n {2}daysOff\.0: a date YYYY-MM-DD/)
  t.throws(() => loadDaysOff(`${dir}/broken.json`), /holiday calendar .*broken\.json: /)
})
