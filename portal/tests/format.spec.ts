import { describe, expect, it } from 'vitest'
import { timeText } from '../src/lib/format'

describe('times', () => {
  it('shows the API form (RFC 3339 with an offset) as people read it', () => {
    expect(timeText('2026-12-01T21:40:55.508+00:00')).toBe('2026-12-01 21:40:55')
    expect(timeText('2026-12-01T21:40:55+08:00')).toBe('2026-12-01 21:40:55')
    expect(timeText('2026-12-01T21:40:55Z')).toBe('2026-12-01 21:40:55')
  })
  it('leaves nothing for no time', () => {
    expect(timeText(null)).toBe('')
    expect(timeText('')).toBe('')
  })
})
