import { describe, expect, it } from 'vitest'
import type { ReportTemplate, StatTable } from '../src/api/types'
import { cellText, fileName, filtersFor, filtersQuery, isActive, isDailyTime, rollup, splitColumns } from '../src/lib/report'

const numberStatus: ReportTemplate = {
  code: 'number_status',
  name: '号码状态统计',
  shape: 'aggregate',
  columns: [
    { key: 'province_code', title: '省份', kind: 'text' },
    { key: 'premium_level', title: '靓号等级', kind: 'int' },
    { key: 'status', title: '号码状态', kind: 'text' },
    { key: 'numbers', title: '号码数', kind: 'int' },
  ],
  filters: ['city_code', 'pool_id', 'depot_id', 'status', 'level'],
  by_date: false,
}

describe('report filters', () => {
  it('keeps only the filters the template applies, provinces within the scope', () => {
    const f = filtersFor(numberStatus, { provinces: ['51', '36', '11'], status: ' 03 ', channel_id: 7, from: '2026-12-01', pool_id: undefined }, ['51', '36'])
    expect(f).toEqual({ province_code: '36,51', status: '03' })
  })
  it('sends no province when none is picked (the server then uses the whole scope)', () => {
    expect(filtersFor(numberStatus, { provinces: [] }, ['51'])).toEqual({})
  })
  it('takes the days for a dated template', () => {
    const t = { ...numberStatus, by_date: true, filters: ['channel_id'] }
    expect(filtersFor(t, { provinces: ['51'], from: '2026-12-01', to: '2026-12-02', channel_id: 3 }, ['51'])).toEqual({
      province_code: '51',
      channel_id: 3,
      from: '2026-12-01',
      to: '2026-12-02',
    })
    expect(filtersQuery({ province_code: '51', status: '' })).toEqual({ province_code: '51' })
  })
})

describe('statistics', () => {
  const table: StatTable = {
    template: 'number_status',
    name: '号码状态统计',
    columns: numberStatus.columns,
    rows: [
      ['51', 0, '03', 5],
      ['51', 2, '01', 2],
      ['36', 0, '03', 4],
      [null, 0, '03', 1],
    ],
    truncated: false,
  }
  it('tells dimensions from measures, a numeric dimension included', () => {
    const { dims, measures } = splitColumns(numberStatus.columns)
    expect(dims.map((c) => c.key)).toEqual(['province_code', 'premium_level', 'status'])
    expect(measures.map((c) => c.key)).toEqual(['numbers'])
    expect(splitColumns([{ key: 'a', title: 'a', kind: 'text' }]).measures).toEqual([])
  })
  it('sums a measure by one dimension, largest first', () => {
    expect(rollup(table, 'province_code', 'numbers')).toEqual({ labels: ['51', '36', '—'], values: [7, 4, 1] })
    expect(rollup(table, 'status', 'numbers')).toEqual({ labels: ['03', '01'], values: [10, 2] })
    expect(rollup(table, 'nope', 'numbers')).toEqual({ labels: [], values: [] })
  })
  it('shows cells as text', () => {
    expect(cellText(null)).toBe('')
    expect(cellText(0)).toBe('0')
  })
})

describe('tasks', () => {
  it('polls only queued and running tasks', () => {
    expect(isActive('queued')).toBe(true)
    expect(isActive('running')).toBe(true)
    for (const s of ['done', 'failed', 'cancelled', 'expired'] as const) expect(isActive(s)).toBe(false)
  })
  it('names the download as the server does', () => {
    expect(fileName('attachment; filename="report-number_status-12.csv"', 'x.csv')).toBe('report-number_status-12.csv')
    expect(fileName(null, 'x.csv')).toBe('x.csv')
  })
  it('checks a schedule time', () => {
    expect(isDailyTime('07:30')).toBe(true)
    expect(isDailyTime('24:00')).toBe(false)
    expect(isDailyTime('7:30')).toBe(false)
  })
})
