// @vitest-environment jsdom
// The list composable keeps filters and the page in the URL: a reload (a
// fresh mount on the same URL) shows the same filters, a search writes them.
import { describe, expect, it } from 'vitest'
import { defineComponent, h, nextTick } from 'vue'
import { mount, flushPromises } from '@vue/test-utils'
import { createMemoryHistory, createRouter, RouterView } from 'vue-router'
import { useListPage, type ListPage } from '../src/composables/useListPage'

function setup(url: string) {
  const calls: Record<string, string>[] = []
  let api: ListPage<{ n: number }> | null = null
  const Page = defineComponent({
    setup() {
      api = useListPage<{ n: number }>({
        schema: { status: 'string', depot_id: 'number' },
        defaults: { status: '03' },
        load: async (params) => {
          calls.push(params)
          return { items: [{ n: 1 }], total: 41, page: Number(params.page), page_size: Number(params.page_size) }
        },
      })
      return () => h('div')
    },
  })
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/numbers', component: Page }] })
  return { router, calls, api: () => api!, Page, url }
}

describe('useListPage', () => {
  it('reads the filters and page from the URL and sends them to the API', async () => {
    const s = setup('/numbers?depot_id=7&page=3')
    await s.router.push(s.url)
    await s.router.isReady()
    mount(defineComponent({ render: () => h(RouterView) }), { global: { plugins: [s.router] } })
    await flushPromises()
    expect(s.calls.at(-1)).toEqual({ status: '03', depot_id: '7', page: '3', page_size: '20' })
    expect(s.api().filters.depot_id).toBe(7)
    expect(s.api().total.value).toBe(41)
  })

  it('writes a search into the URL (defaults left out) and loads it', async () => {
    const s = setup('/numbers')
    await s.router.push(s.url)
    await s.router.isReady()
    mount(defineComponent({ render: () => h(RouterView) }), { global: { plugins: [s.router] } })
    await flushPromises()
    s.api().filters.status = '11'
    s.api().filters.depot_id = 9
    s.api().search()
    await flushPromises()
    await nextTick()
    expect(s.router.currentRoute.value.query).toEqual({ status: '11', depot_id: '9' })
    expect(s.calls.at(-1)).toMatchObject({ status: '11', depot_id: '9', page: '1' })
    s.api().setPage(2)
    await flushPromises()
    expect(s.router.currentRoute.value.query).toEqual({ status: '11', depot_id: '9', page: '2' })
    s.api().reset()
    await flushPromises()
    expect(s.router.currentRoute.value.query).toEqual({})
    expect(s.calls.at(-1)).toMatchObject({ status: '03', page: '1' })
  })
})
