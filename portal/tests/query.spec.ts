import { describe, expect, it } from 'vitest'
import { apiParams, filtersFromQuery, filtersToQuery, type Schema } from '../src/lib/query'

const schema: Schema = { status: 'string', depot_id: 'number', no4: 'boolean', tail: 'string' }

describe('filters in the URL', () => {
  it('reads typed values and ignores bad or unknown ones', () => {
    expect(filtersFromQuery({ status: '03', depot_id: '17', no4: 'true', other: 'x' }, schema)).toEqual({
      status: '03',
      depot_id: 17,
      no4: true,
    })
    expect(filtersFromQuery({ depot_id: 'abc', no4: 'maybe' }, schema)).toEqual({})
    expect(filtersFromQuery({ status: ['04', '05'] }, schema)).toEqual({ status: '04' })
  })
  it('keeps defaults when the URL says nothing', () => {
    expect(filtersFromQuery({}, { status: 'string' }, { status: 'pending' })).toEqual({ status: 'pending' })
    expect(filtersFromQuery({ status: 'approved' }, { status: 'string' }, { status: 'pending' })).toEqual({ status: 'approved' })
  })
  it('writes only what differs from empty and default', () => {
    expect(filtersToQuery({ status: '03', depot_id: undefined, tail: '', no4: false }, schema)).toEqual({ status: '03', no4: 'false' })
    expect(filtersToQuery({ status: 'pending' }, { status: 'string' }, { status: 'pending' })).toEqual({})
  })
  it('round-trips', () => {
    const f = { status: '11', depot_id: 5, no4: true, tail: '88' }
    const back = filtersFromQuery(filtersToQuery(f, schema), schema)
    expect(back).toEqual(f)
  })
  it('turns filters into API parameters without empty ones', () => {
    expect(apiParams({ a: 1, b: '', c: undefined, d: true })).toEqual({ a: '1', d: 'true' })
  })
})

import { timeText } from '../src/lib/format'

describe('times', () => {
  it('shows the API times to the second, with or without fractions and offsets', () => {
    expect(timeText('2026-12-02T00:42:22.901000')).toBe('2026-12-02 00:42:22')
    expect(timeText('2026-12-01 21:40:55')).toBe('2026-12-01 21:40:55')
    expect(timeText('2026-12-01T21:40:46.508+08:00')).toBe('2026-12-01 21:40:46')
    expect(timeText(null)).toBe('')
    expect(timeText('soon')).toBe('soon')
  })
})
