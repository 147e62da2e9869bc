import { describe, expect, it } from 'vitest'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import zh from '../src/i18n/zh-CN'
import en from '../src/i18n/en'

function keys(o: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null ? keys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`],
  )
}
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n)
    return statSync(p).isDirectory() ? files(p) : /\.(vue|ts)$/.test(n) ? [p] : []
  })
}

describe('messages', () => {
  it('has the same keys in zh-CN and en', () => {
    expect(keys(en).sort()).toEqual(keys(zh).sort())
  })
  it('has every literal key the sources use', () => {
    const known = new Set(keys(zh))
    const missing: string[] = []
    for (const f of files(join(__dirname, '..', 'src'))) {
      const text = readFileSync(f, 'utf8')
      for (const m of text.matchAll(/\bt\('([a-zA-Z0-9_.]+)'/g)) if (!known.has(m[1])) missing.push(`${f}: ${m[1]}`)
    }
    expect(missing).toEqual([])
  })
  it('has a word for every seeded menu path', () => {
    const seed = readFileSync(join(__dirname, '..', '..', 'services', 'permission', 'src', 'menu_seed.rs'), 'utf8')
    const paths = [...seed.matchAll(/\("[^"]+", "(\/[a-z/-]*)"/g)].map((m) => m[1])
    expect(paths.length).toBeGreaterThan(20)
    for (const p of paths) expect(known(p)).toBe(true)
    function known(p: string) {
      return typeof (zh.menu as Record<string, string>)[p] === 'string'
    }
  })
})
