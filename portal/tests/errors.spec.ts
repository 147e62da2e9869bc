import { describe, expect, it } from 'vitest'
import { ApiProblem, problemMessage, problemOfStatus } from '../src/lib/errors'
import zh from '../src/i18n/zh-CN'
import en from '../src/i18n/en'

function translator(messages: Record<string, unknown>) {
  return (key: string) => {
    let v: unknown = messages
    for (const part of key.split('.')) v = (v as Record<string, unknown>)?.[part]
    return typeof v === 'string' ? v : key
  }
}

describe('API errors as a person reads them', () => {
  const t = translator(zh)
  it('puts a word before the server message of a known code', () => {
    const e = new ApiProblem({ status: 423, code: 'account_locked', message: 'the account is locked until 2026-12-01 10:00:00' })
    expect(problemMessage(t, e)).toBe('账号已锁定：the account is locked until 2026-12-01 10:00:00')
  })
  it('shows the server message alone for a code without a word', () => {
    const e = new ApiProblem({ status: 409, code: 'not_in_stock', message: 'card 8986… is occupied' })
    expect(problemMessage(t, e)).toBe('card 8986… is occupied')
  })
  it('falls back to detail, title and code', () => {
    expect(problemMessage(t, new ApiProblem({ status: 400, code: 'x', detail: 'bad thing' }))).toBe('bad thing')
    expect(problemMessage(t, new ApiProblem({ status: 400, code: 'weird' }))).toBe('weird')
  })
  it('words a network failure and a non-problem answer', () => {
    expect(problemMessage(t, new ApiProblem(problemOfStatus(0, 'Failed to fetch')))).toBe('网络错误，服务器无法连接：Failed to fetch')
    expect(problemOfStatus(502, '<html>bad gateway</html>').code).toBe('http_502')
  })
  it('has a word for every known code in both languages', () => {
    for (const code of ['permission_denied', 'province_out_of_scope', 'bad_credentials', 'network']) {
      expect(problemMessage(translator(en), new ApiProblem({ status: 403, code }))).not.toContain('problem.')
    }
  })
})
