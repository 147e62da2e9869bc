// Shared parts of the end-to-end tests: Debian's Chromium driven by
// playwright-core against a real haoka-server (HAOKA_URL), data made
// through the same API with unique names, console watching, screenshots.
import { chromium } from 'playwright-core'
import { readFileSync, mkdirSync, existsSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import assert from 'node:assert/strict'

const here = dirname(fileURLToPath(import.meta.url))
export const BASE = process.env.HAOKA_URL ?? 'http://127.0.0.1:8080'
export const ADMIN = process.env.HAOKA_ADMIN ?? 'admin'
export const ADMIN_PASSWORD =
  process.env.HAOKA_ADMIN_PASSWORD ??
  (existsSync('/var/lib/haoka/secrets/admin.password') ? readFileSync('/var/lib/haoka/secrets/admin.password', 'utf8').trim() : '')
export const ARTIFACTS = process.env.HAOKA_E2E_ARTIFACTS ?? join(here, '..', '..', 'target', 'portal-e2e')
export const CHROMIUM = process.env.HAOKA_CHROMIUM ?? '/usr/bin/chromium'
mkdirSync(ARTIFACTS, { recursive: true })

export const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
]

let browser = null
export async function launch() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium (deploy/local/up.sh does)`)
  }
  // launch() gives every run a fresh temporary --user-data-dir of its own.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS })
  return browser
}
export async function close() {
  await browser?.close()
}

/** A fresh browser context (own storage) and page whose console is watched:
 * any error, page exception or failed request the test did not expect fails
 * the test at `done()`. */
export async function open(t, { expectStatuses = [] } = {}) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN' })
  const page = await context.newPage()
  const problems = []
  const allowed = new Set(expectStatuses)
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() !== 'error') return
    // Chromium logs every 4xx/5xx answer of a fetch as a console error; an
    // answer the test provokes on purpose (a refused action) is expected.
    const status = /status of (\d{3})/.exec(m.text())
    if (status && allowed.has(Number(status[1])) && m.location().url.includes('/api/v1/')) return
    problems.push(`console error: ${m.text()} (${m.location().url})`)
  })
  page.on('response', (r) => {
    if (r.status() >= 500) problems.push(`server error ${r.status()} on ${r.url()}`)
  })
  return {
    page,
    context,
    async done() {
      await context.close()
      assert.deepEqual(problems, [], `browser console of "${t.name}"`)
    },
  }
}

export async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true })
}

export function unique(prefix) {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
}

// --- the API, as every client uses it --------------------------------------

export async function api(token, method, path, body) {
  const r = await fetch(`${BASE}/api/v1${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await r.text()
  const json = text ? JSON.parse(text) : null
  return { status: r.status, body: json }
}

export async function must(token, method, path, body, ok = [200, 201, 202, 204]) {
  const r = await api(token, method, path, body)
  assert.ok(ok.includes(r.status), `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body
}

export async function token(staffNo, password) {
  return (await must(null, 'POST', '/auth/login', { staff_no: staffNo, password })).token
}

let adminToken = null
export async function admin() {
  if (!adminToken) adminToken = await token(ADMIN, ADMIN_PASSWORD)
  return adminToken
}

/** A staff member of `province` holding a new role with `perms`, the first
 * password already changed; returns their staff number and password. */
export async function staff(province, perms, extraProvince = null) {
  const a = await admin()
  const role = await must(a, 'POST', '/roles', { code: unique('e2e'), name: `e2e ${perms.join(' ')}`.slice(0, 60) })
  await must(a, 'PUT', `/roles/${role.role_id}/permissions`, { permissions: perms })
  const staffNo = unique('e2e')
  const created = await must(a, 'POST', '/staff', { staff_no: staffNo, name: '测试员', province_code: province })
  await must(a, 'PUT', `/staff/${created.staff.staff_id}/roles`, { roles: [{ role_id: role.role_id, extra_province: extraProvince }] })
  const first = await token(staffNo, created.initial_password)
  const password = `Pw-${unique('x')}-9a`
  await must(first, 'POST', '/auth/password', { old_password: created.initial_password, new_password: password }, [204])
  return { staffNo, password, staffId: created.staff.staff_id }
}

const segments = readFileSync(join(here, '..', '..', 'schema', 'reference', 'segments.csv'), 'utf8')
  .split('\n')
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => l.split(','))

/** A depot of the province's capital city. */
export async function depot(province) {
  const city = segments.find((s) => s[2] === province)[3]
  const d = await must(await admin(), 'POST', '/numbers/depots', { province_code: province, city_code: city, name: unique('e2e库位') })
  return { ...d, city }
}

/** `n` consecutive numbers of an unused segment of the city (the upper half
 * of its segments: the benchmarks load the lower one). */
export async function freshNumbers(province, city, n, tail = null) {
  const segs = []
  for (const [from, to, p, c] of segments) {
    if (p !== province || c !== city) continue
    for (let s = Number(from); s <= Number(to); s++) segs.push(String(s))
  }
  const a = await admin()
  for (;;) {
    const seg = segs[Math.floor(segs.length / 2 + Math.random() * (segs.length / 2))]
    const used = await must(a, 'GET', `/numbers/counts?province_code=${province}&prefix=${seg}`)
    if (used.total > 0) continue
    if (tail) return [`${seg}${tail}`]
    const start = Math.floor(Math.random() * (10000 - n))
    return Array.from({ length: n }, (_, i) => `${seg}${String(start + i).padStart(4, '0')}`)
  }
}

export async function intake(numbers, depotId, onShelf = true) {
  const a = await admin()
  await must(a, 'POST', '/numbers/intake', { numbers, depot_id: depotId }, [201])
  if (onShelf) await must(a, 'POST', '/numbers/status', { numbers, to: '03' })
}

export function luhn(payload) {
  let sum = 0
  for (let i = 0; i < payload.length; i++) {
    let d = Number(payload[payload.length - 1 - i])
    if (i % 2 === 0) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
  }
  return String((10 - (sum % 10)) % 10)
}

export function iccid() {
  let p = '898601'
  while (p.length < 18) p += Math.floor(Math.random() * 10)
  return p + luhn(p)
}

export async function cards(province, depotId, n) {
  const list = Array.from({ length: n }, () => iccid())
  const imsi = () => `46001${String(Math.floor(Math.random() * 1e10)).padStart(10, '0')}`
  await must(await admin(), 'POST', '/cards/intake', {
    province_code: province,
    depot_id: depotId,
    cards: list.map((i) => ({ iccid: i, imsi: imsi(), card_type: 'made' })),
  }, [201])
  return list
}

// --- the portal, as a person uses it ---------------------------------------

export async function login(page, staffNo, password) {
  await page.goto(`${BASE}/login`)
  await page.fill('[data-test=staff-no]', staffNo)
  await page.fill('[data-test=password]', password)
  await page.press('[data-test=password]', 'Enter')
  await page.waitForSelector('[data-test=dashboard-ready]')
}

/** Picks `label` in an Element Plus select opened by clicking `trigger`. */
export async function choose(page, trigger, label) {
  await page.click(trigger)
  await page.locator('.el-select-dropdown__item:visible', { hasText: label }).first().click()
}

export { assert }
