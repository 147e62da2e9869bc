// The operator portal end to end: Debian's Chromium against a real
// haoka-server on the real stack. Every test makes its own data through the
// API (staff, roles, depots, numbers, cards) with unique names.
import { test, before, after } from 'node:test'
import { readFileSync, existsSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  BASE, ADMIN, ADMIN_PASSWORD, assert, launch, close, open, shot, login, staff, depot, freshNumbers, intake,
  cards, must, admin, choose, unique,
} from './lib.mjs'

const here = dirname(fileURLToPath(import.meta.url))
// Provinces on different shards (schema/rules.toml): 51 广东, 36 浙江, 81 四川.
const P = '51'
const Q = '36'

before(async () => {
  assert.ok(ADMIN_PASSWORD, 'HAOKA_ADMIN_PASSWORD (or /var/lib/haoka/secrets/admin.password) is needed')
  await launch()
})
after(close)

test('log in: a wrong password shows the server message, then the dashboard, logout, and back to the page after the session ends', async (t) => {
  const { page, done } = await open(t, { expectStatuses: [401] })
  await page.goto(`${BASE}/`)
  await page.waitForSelector('[data-test=login]')
  await shot(page, '01-login')
  await page.fill('[data-test=staff-no]', ADMIN)
  await page.fill('[data-test=password]', 'not-the-password')
  await page.press('[data-test=password]', 'Enter')
  const err = await page.waitForSelector('[data-test=login-error]')
  assert.match(await err.innerText(), /工号或密码错误/)
  await page.fill('[data-test=password]', ADMIN_PASSWORD)
  await page.click('[data-test=login-submit]')
  await page.waitForSelector('[data-test=dashboard-ready]')
  await shot(page, '02-dashboard')
  // The session ends on the server (as after idle time): the next page asks
  // for a login, then comes back to that page.
  const token = await page.evaluate(() => localStorage.getItem('haoka.token'))
  await must(token, 'POST', '/auth/logout', {}, [204])
  await page.goto(`${BASE}/numbers/select?tail=8`)
  await page.waitForSelector('[data-test=login]')
  assert.match(page.url(), /redirect=/)
  await page.fill('[data-test=staff-no]', ADMIN)
  await page.fill('[data-test=password]', ADMIN_PASSWORD)
  await page.press('[data-test=password]', 'Enter')
  await page.waitForURL(/\/numbers\/select\?tail=8/)
  await page.waitForSelector('[data-test=select-table]')
  assert.equal(await page.inputValue('[data-test=filter-tail]'), '8', 'the filter came back from the URL')
  await page.click('[data-test=user-menu]')
  await page.click('[data-test=logout]')
  await page.waitForSelector('[data-test=login]')
  assert.equal(await page.evaluate(() => localStorage.getItem('haoka.token')), null)
  await done()
})

test('select and hold a number, extend it, sell it and see its history', async (t) => {
  const d = await depot(P)
  const nums = await freshNumbers(P, d.city, 5)
  await intake(nums, d.depot_id)
  const op = await staff(P, ['number:read', 'number:hold'])
  const { page, done } = await open(t)
  await login(page, op.staffNo, op.password)
  const no = nums[2]
  await page.goto(`${BASE}/numbers/select`)
  await page.fill('[data-test=filter-tail]', no.slice(-4))
  await page.press('[data-test=filter-tail]', 'Enter')
  await page.waitForSelector(`[data-test=hold-${no}]`)
  await shot(page, '03-select')
  await page.click(`[data-test=hold-${no}]`)
  await page.waitForSelector('[data-test=hold-dialog]')
  await page.fill('[data-test=hold-key]', `ORD-${no}`)
  await page.press('[data-test=hold-key]', 'Enter') // the keyboard submits the dialog
  await page.waitForSelector('.el-message--success')
  await page.goto(`${BASE}/numbers/${no}`)
  await page.waitForSelector('[data-test=number-status]')
  assert.match(await page.innerText('[data-test=number-status]'), /04 选占/)
  assert.match(await page.innerText('[data-test=hold-deadline]'), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
  await page.click('[data-test=act-extend]')
  assert.equal(await page.inputValue('[data-test=hold-key]'), `ORD-${no}`, 'the key of the hold is offered')
  await page.click('[data-test=hold-submit]')
  await page.waitForSelector('[data-test=history] >> text=续占')
  await page.click('[data-test=act-sell]')
  await page.click('[data-test=hold-submit]')
  await page.waitForFunction(() => /10 占用/.test(document.querySelector('[data-test=number-status]')?.textContent ?? ''))
  const history = await page.innerText('[data-test=history]')
  for (const word of ['入库', '上架', '选占', '续占', '实占']) assert.match(history, new RegExp(word), `history shows ${word}`)
  await shot(page, '04-number-detail')
  await done()
})

test('intake numbers and see the per-number problems; bad input is caught before sending', async (t) => {
  const d = await depot(P)
  const [taken, ...rest] = await freshNumbers(P, d.city, 4)
  await intake([taken], d.depot_id, false)
  const op = await staff(P, ['number:read', 'number:write'])
  const { page, done } = await open(t, { expectStatuses: [409] })
  await login(page, op.staffNo, op.password)
  await page.goto(`${BASE}/numbers/intake`)
  await page.fill('[data-test=intake-list]', `${rest[0]}\n1301234`)
  await choose(page, '[data-test=intake-depot]', d.name)
  await page.click('[data-test=intake-submit]')
  await page.waitForSelector('.el-form-item__error')
  assert.match(await page.innerText('.el-form-item__error'), /1301234.*11 位/)
  await page.fill('[data-test=intake-list]', [taken, ...rest].join('\n'))
  await page.click('[data-test=intake-submit]')
  const rejected = await page.waitForSelector('[data-test=intake-rejected]')
  const text = await rejected.innerText()
  assert.match(text, new RegExp(taken))
  assert.match(text, /号码已存在/)
  await shot(page, '05-intake-problems')
  // Without the duplicate everything goes in.
  await page.fill('[data-test=intake-list]', rest.join('\n'))
  await page.click('[data-test=intake-submit]')
  await page.waitForSelector(`[data-test=intake-result] >> text=入库成功 ${rest.length} 个`)
  await done()
})

test('a cross-province card transfer reaches done', async (t) => {
  const from = await depot(P)
  const to = await depot(Q)
  await cards(P, from.depot_id, 3)
  const { page, done } = await open(t)
  await login(page, ADMIN, ADMIN_PASSWORD)
  await page.evaluate((p) => localStorage.setItem('haoka.province', p), P)
  await page.goto(`${BASE}/cards/transfers`)
  await page.click('[data-test=transfer-create]')
  await choose(page, '[data-test=transfer-from]', `#${from.depot_id}`)
  await choose(page, '[data-test=transfer-target]', `浙江 ${Q}`)
  await choose(page, '[data-test=transfer-to]', `#${to.depot_id}`)
  await page.fill('[data-test=transfer-count] input', '3')
  await page.click('[data-test=dialog-submit]')
  await page.waitForSelector('[data-test=transfer-progress]')
  await page.waitForFunction(() => /已完成/.test(document.querySelector('[data-test=transfer-status]')?.textContent ?? ''), null, { timeout: 60000 })
  await shot(page, '06-transfer-done')
  // The cards are in the target depot now.
  const inTarget = await must(await admin(), 'GET', `/cards?depot_id=${to.depot_id}`)
  assert.equal(inTarget.total, 3)
  await done()
})

test('a waiver is approved by a second user; approving one\'s own shows the server\'s refusal', async (t) => {
  const d = await depot(P)
  const [no] = await freshNumbers(P, d.city, 1, '1122') // AABB: a premium number
  await intake([no], d.depot_id)
  const asker = await staff(P, ['number:read', 'premium:read', 'premium:write', 'premium:approve'])
  const approver = await staff(P, ['number:read', 'premium:read', 'premium:approve'])
  const first = await open(t, { expectStatuses: [409] })
  await login(first.page, asker.staffNo, asker.password)
  await first.page.goto(`${BASE}/numbers/${no}`)
  await first.page.click('[data-test=request-waiver]')
  await first.page.fill('[data-test=waiver-deposit]', '100')
  await first.page.fill('[data-test=waiver-reason]', '大客户')
  await first.page.press('[data-test=waiver-reason]', 'Enter')
  await first.page.waitForSelector('[data-test=waivers] >> text=待审批')
  // The requester may approve in general, but not their own request.
  await first.page.click('[data-test=waivers] >> text=通过')
  const refusal = await first.page.waitForSelector('.el-message--error')
  assert.match(await refusal.innerText(), /someone other than its requester/)
  await shot(first.page, '07-refused-own-waiver')
  await first.done()

  const second = await open(t)
  await login(second.page, approver.staffNo, approver.password)
  const pending = await second.page.waitForSelector('[data-test=pending-waivers]')
  assert.ok(Number((await pending.innerText()).match(/\d+/)[0]) >= 1, 'the dashboard shows pending work')
  await second.page.click('[data-test=pending-waivers]')
  const row = second.page.locator('[data-test=waiver-inbox] tr', { hasText: no })
  await row.locator('text=通过').click()
  await second.page.waitForSelector('.el-message--success')
  await second.page.click('text=已通过')
  await second.page.waitForSelector(`[data-test=waiver-inbox] >> text=${no}`)
  await shot(second.page, '08-waiver-approved')
  const fee = await must(await admin(), 'GET', `/numbers/${no}/fee`)
  assert.equal(fee.waived_deposit_cents, 10000)
  await second.done()
})

test('a province user sees only their province and gets no menu for what they lack', async (t) => {
  const mine = await depot(P)
  const theirs = await depot(Q)
  const ours = await freshNumbers(P, mine.city, 3)
  const other = await freshNumbers(Q, theirs.city, 3)
  await intake(ours, mine.depot_id)
  await intake(other, theirs.depot_id)
  const viewer = await staff(P, ['number:read'])
  const { page, done } = await open(t)
  await login(page, viewer.staffNo, viewer.password)
  const menu = await page.innerText('[data-test=menu]')
  assert.match(menu, /号码库存/)
  for (const lacking of ['号码入库', '员工管理', '成卡库存', '死信队列', '减免审批']) assert.doesNotMatch(menu, new RegExp(lacking))
  assert.match(await page.innerText('[data-test=province]'), /广东/)
  assert.equal(await page.locator('[data-test=province-select]').count(), 0, 'no other province to pick')
  // Their own stock is listed, another province's is not there to find.
  await page.goto(`${BASE}/numbers?prefix=${ours[0].slice(0, 7)}`)
  await page.waitForSelector(`[data-test=stock-table] >> text=${ours[0]}`)
  await shot(page, '09-stock')
  await page.goto(`${BASE}/numbers?prefix=${other[0].slice(0, 7)}`)
  await page.waitForSelector('[data-test=stock-table] >> text=暂无数据')
  // A page they may not use sends them back with a word why.
  await page.goto(`${BASE}/staff`)
  await page.waitForURL(/\/dashboard\?forbidden=/)
  await page.waitForSelector('.el-message--warning')
  await done()
})

test('an analyst requests a CSV report, sees it reach done and downloads it with the BOM and the header row', async (t) => {
  const d = await depot(P)
  await intake(await freshNumbers(P, d.city, 3), d.depot_id)
  const analyst = await staff(P, ['report:read', 'report:export'])
  const { page, done } = await open(t)
  await login(page, analyst.staffNo, analyst.password)
  const menu = await page.innerText('[data-test=menu]')
  assert.match(menu, /报表中心/)
  assert.doesNotMatch(menu, /定时报表/, 'schedules need report:admin')
  await page.goto(`${BASE}/reports`)
  await page.waitForSelector('[data-test=report-templates] >> text=号码明细')
  await page.click('[data-test=request-number_detail]')
  // Only their own province is offered; the depot narrows it to this test's numbers.
  await page.click('[data-test=report-provinces]')
  const items = page.locator('.el-select-dropdown__item:visible')
  await items.first().waitFor() // the dropdown opens with a transition
  const offered = await items.allInnerTexts()
  assert.deepEqual(offered.map((x) => x.trim()), ['广东 51'])
  await items.first().click()
  await page.fill('[data-test=report-depot] input', String(d.depot_id))
  await page.click('[data-test=dialog-submit]')
  await page.waitForSelector('.el-message--success')
  const text = await page.innerText('.el-message--success')
  const id = /#(\d+)/.exec(text)[1]
  // Polled until done, without a reload.
  await page.waitForSelector(`[data-test=task-status-${id}] >> text=已完成`, { timeout: 30000 })
  assert.equal(await page.innerText(`[data-test=task-rows-${id}]`), '3')
  await shot(page, '10-reports')
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`[data-test=task-download-${id}]`)])
  assert.equal(download.suggestedFilename(), `report-number_detail-${id}.csv`)
  const file = readFileSync(await download.path())
  assert.deepEqual([...file.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 BOM')
  const lines = file.subarray(3).toString('utf8').split(/\r?\n/).filter(Boolean)
  assert.match(lines[0], /^号码,/, 'the Chinese header row')
  assert.equal(lines.length, 4, 'header and the three numbers')
  // The statistics page computes now and draws the chart.
  await page.goto(`${BASE}/reports/stats?template=number_status`)
  await page.waitForSelector('[data-test=stats-table] >> text=广东 51')
  await page.waitForSelector('[data-test=stats-chart] canvas')
  await shot(page, '11-report-stats')
  await done()
})

test('a NUM_INTAKE batch file is checked by name, uploaded, loaded to done and its result downloaded', async (t) => {
  const d = await depot(P)
  const numbers = await freshNumbers(P, d.city, 2)
  const clerk = await staff(P, ['batch:read', 'batch:write', 'number:read'])
  const { page, done } = await open(t)
  await login(page, clerk.staffNo, clerk.password)
  assert.match(await page.innerText('[data-test=menu]'), /批量/)
  await page.goto(`${BASE}/batch`)
  await page.waitForSelector('[data-test=batch-rule] >> text=NUM_INTAKE_51_20261202_001.csv')
  const csv = Buffer.from(`phone_no,depot_id,pool_id\n${numbers.map((n) => `${n},${d.depot_id},`).join('\n')}\n`)
  // A misnamed file and one of another province are refused before sending.
  await page.setInputFiles('[data-test=batch-file]', { name: 'numbers.csv', mimeType: 'text/csv', buffer: csv })
  await page.waitForSelector('[data-test=batch-name-error] >> text=命名规则')
  assert.ok(await page.isDisabled('[data-test=batch-upload]'))
  await page.setInputFiles('[data-test=batch-file]', { name: `NUM_INTAKE_${Q}_20261202_001.csv`, mimeType: 'text/csv', buffer: csv })
  await page.waitForSelector('[data-test=batch-name-error] >> text=权限范围')
  const name = `NUM_INTAKE_${P}_20261202_${unique('e2e')}.csv`
  await page.setInputFiles('[data-test=batch-file]', { name, mimeType: 'text/csv', buffer: csv })
  await page.click('[data-test=batch-upload]')
  await page.waitForSelector('.el-message--success')
  // The shared stack's loader picks it up; the page polls (or is refreshed) until it is listed and done.
  const row = page.locator('[data-test=batch-jobs] tr', { hasText: name })
  const deadline = Date.now() + 60000
  while (!(await row.locator('text=已完成').count())) {
    assert.ok(Date.now() < deadline, `${name} did not reach done: ${await page.innerText('[data-test=batch-jobs]')}`)
    await page.waitForTimeout(1500)
    if (!(await row.count()) || !(await row.locator('text=处理中').count())) await page.click('[data-test=batch-refresh]')
  }
  const jobs = await must(await admin(), 'GET', '/batch/jobs?limit=200')
  const job = jobs.items.find((j) => j.file_name === name)
  assert.equal(job.ok, 2, JSON.stringify(job))
  assert.equal(await page.innerText(`[data-test=job-ok-${job.job_id}]`), '2')
  await shot(page, '12-batch')
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`[data-test=job-download-${job.job_id}]`)])
  assert.equal(download.suggestedFilename(), job.result_file.replace(/^results\//, ''))
  const lines = readFileSync(await download.path(), 'utf8').split(/\r?\n/).filter(Boolean)
  assert.match(lines[0], /^line,key,outcome/)
  assert.equal(lines.filter((l) => l.includes(',ok,')).length, 2, lines.join('\n'))
  await done()
})

test('measure: initial bundle size and dashboard navigation to interactive', async (t) => {
  const { page, done } = await open(t)
  await login(page, ADMIN, ADMIN_PASSWORD)
  const runs = []
  for (let i = 0; i < 5; i++) {
    // A fresh load of the page each time; the first also has an empty cache.
    const cdp = await page.context().newCDPSession(page)
    if (i === 0) await cdp.send('Network.clearBrowserCache')
    await page.goto(`${BASE}/dashboard`, { waitUntil: 'commit' })
    await page.waitForSelector('[data-test=dashboard-ready]')
    const m = await page.evaluate(() => {
      const res = performance.getEntriesByType('resource').filter((r) => /\.(js|css)$/.test(new URL(r.name).pathname))
      return { ms: performance.now(), bytes: res.reduce((s, r) => s + (r.encodedBodySize || 0), 0), files: res.length }
    })
    runs.push(m)
  }
  const cold = runs[0]
  const warm = runs.slice(1).map((r) => r.ms).sort((a, b) => a - b)
  const built = join(here, '..', 'dist', 'bundle-size.json')
  const initial = existsSync(built) ? JSON.parse(readFileSync(built, 'utf8')).initial_gzip_bytes : null
  console.log(
    `portal: initial JS+CSS ${initial === null ? '?' : (initial / 1024).toFixed(1)} KiB gzipped (index.html); ` +
      `dashboard load fetched ${(cold.bytes / 1024).toFixed(1)} KiB of JS+CSS compressed in ${cold.files} files`,
  )
  console.log(
    `portal: dashboard navigation to interactive ${cold.ms.toFixed(0)} ms cold cache, ` +
      `${warm[Math.floor(warm.length / 2)].toFixed(0)} ms median of ${warm.length} warm loads`,
  )
  assert.ok(initial === null || initial < 500 * 1024, 'initial JS+CSS under 500 KiB gzipped')
  assert.ok(cold.bytes < 500 * 1024, 'the dashboard needs under 500 KiB of compressed JS+CSS')
  assert.ok(cold.ms < 5000, `the dashboard is usable within 5 s (took ${cold.ms} ms)`)
  await done()
})

test('screens of the main pages render without console errors', async (t) => {
  const { page, done } = await open(t)
  await login(page, ADMIN, ADMIN_PASSWORD)
  await page.evaluate((p) => localStorage.setItem('haoka.province', p), P)
  const pages = ['/numbers', '/numbers/change', '/numbers/pools', '/numbers/premium', '/numbers/waivers', '/cards', '/cards/lookup', '/cards/intake', '/cards/pairing', '/cards/availability', '/cards/packages', '/staff', '/departments', '/roles', '/menus', '/channels', '/login-policies', '/logs', '/ops/outbox', '/ops/dead-letters', '/ops/shards', '/numbers/depots', '/cards/transfers', '/reports', '/reports/stats', '/reports/schedules']
  for (const p of pages) {
    await page.goto(`${BASE}${p}`)
    await page.waitForSelector('.page')
    await page.waitForLoadState('networkidle')
    await shot(page, `screen${p.replaceAll('/', '-')}`)
  }
  // 分片状态 lists the proxy's backends, all up on the local stack.
  await page.goto(`${BASE}/ops/shards`)
  await page.waitForSelector('[data-test=shard-table] >> text=up')
  assert.ok(Number(await page.innerText('[data-test=shard-count]')) > 0, 'the proxy lists shard backends')
  assert.equal((await page.innerText('[data-test=shard-unhealthy]')).trim(), '0')
  // The API document opens in Swagger UI.
  await page.goto(`${BASE}/api-docs/`)
  await page.waitForSelector('.swagger-ui .info .title', { timeout: 30000 })
  await shot(page, 'screen-api-docs')
  void unique
  await done()
})
