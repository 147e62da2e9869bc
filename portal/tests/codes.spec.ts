import { describe, expect, it } from 'vitest'
import { commonTargets, manualTargets, resultWord, numberStatusWord, RESULT_CODES, NUMBER_STATUSES, type Transition } from '../src/lib/codes'
import zh from '../src/i18n/zh-CN'
import en from '../src/i18n/en'

// A translator over the real messages (what vue-i18n does for plain keys).
function translator(messages: Record<string, unknown>) {
  return (key: string, values?: Record<string, unknown>) => {
    let v: unknown = messages
    for (const part of key.split('.')) v = (v as Record<string, unknown>)?.[part]
    if (typeof v !== 'string') return key
    return v.replace(/\{(\w+)\}/g, (_, k) => String(values?.[k] ?? ''))
  }
}

describe('result codes as words', () => {
  const t = translator(zh)
  it('words every code 0000-0007 (DESIGN.md §6)', () => {
    expect(resultWord(t, '0000')).toBe('0000 成功')
    expect(resultWord(t, '0001')).toBe('0001 号码已被占用')
    expect(resultWord(t, '0006')).toBe('0006 号码空闲，无法释放')
    expect(resultWord(t, '0007')).toBe('0007 号码已售出，无法释放')
    for (const c of RESULT_CODES) expect(resultWord(t, c)).not.toContain('resultCode.')
  })
  it('shows an unknown code as it came', () => {
    expect(resultWord(t, '0099')).toBe('0099')
  })
  it('words every status in both languages', () => {
    for (const s of NUMBER_STATUSES) {
      expect(numberStatusWord(translator(zh), s)).not.toContain('numberStatus.')
      expect(numberStatusWord(translator(en), s)).not.toContain('numberStatus.')
    }
    expect(numberStatusWord(t, '04')).toBe('选占')
  })
})

describe('status change targets from the transition table', () => {
  const table: Transition[] = [
    { from: '01', to: '03', action: 'shelve', door: 'manual' },
    { from: '01', to: '02', action: 'reserve', door: 'manual' },
    { from: '03', to: '01', action: 'unshelve', door: 'manual' },
    { from: '03', to: '02', action: 'reserve', door: 'manual' },
    { from: '03', to: '04', action: 'hold', door: 'hold' },
    { from: '02', to: '03', action: 'shelve', door: 'manual' },
  ]
  it('offers only what staff may choose (the manual door)', () => {
    expect(manualTargets(table, '03').map((t) => t.to)).toEqual(['01', '02'])
  })
  it('offers a batch only the targets every status allows', () => {
    expect(commonTargets(table, ['01', '03'])).toEqual(['02'])
    expect(commonTargets(table, ['01', '01'])).toEqual(['02', '03'])
    expect(commonTargets(table, ['02', '03'])).toEqual([])
    expect(commonTargets(table, [])).toEqual([])
  })
})
