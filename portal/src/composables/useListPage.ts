// A server-paged list whose filters and page live in the URL: a refresh,
// back/forward or a shared link shows the same rows.
import { reactive, ref, watch, onMounted, type Ref } from 'vue'
import { useRoute, useRouter } from 'vue-router'
import { filtersFromQuery, filtersToQuery, apiParams, type Filters, type Schema } from '../lib/query'
import type { Page } from '../api/types'

export interface ListPage<T> {
  filters: Filters
  items: Ref<T[]>
  total: Ref<number>
  loading: Ref<boolean>
  error: Ref<unknown>
  page: Ref<number>
  pageSize: Ref<number>
  search: () => void
  reset: () => void
  setPage: (p: number) => void
  setPageSize: (s: number) => void
  reload: () => Promise<void>
}

const PAGING: Schema = { page: 'number', page_size: 'number' }

export function useListPage<T>(opts: {
  schema: Schema
  defaults?: Filters
  pageSize?: number
  load: (params: Record<string, string>) => Promise<Page<T>>
  /** Load only when this says the filters are complete. */
  ready?: (filters: Filters) => boolean
  /** Reload when the working province changes. */
}): ListPage<T> {
  const route = useRoute()
  const router = useRouter()
  const defaults = opts.defaults ?? {}
  const size0 = opts.pageSize ?? 20
  const filters = reactive<Filters>(filtersFromQuery(route.query, opts.schema, defaults))
  const items = ref<T[]>([]) as Ref<T[]>
  const total = ref(0)
  const loading = ref(false)
  const error = ref<unknown>(null)
  const page = ref(1)
  const pageSize = ref(size0)

  const fromRoute = () => {
    const f = filtersFromQuery(route.query, opts.schema, defaults)
    for (const k of Object.keys(opts.schema)) filters[k] = f[k]
    const p = filtersFromQuery(route.query, PAGING)
    page.value = typeof p.page === 'number' && p.page > 0 ? p.page : 1
    pageSize.value = typeof p.page_size === 'number' && p.page_size > 0 ? p.page_size : size0
  }

  let seq = 0
  const reload = async () => {
    if (opts.ready && !opts.ready(filters)) {
      items.value = []
      total.value = 0
      return
    }
    const mine = ++seq
    loading.value = true
    error.value = null
    try {
      const r = await opts.load({ ...apiParams(filters), page: String(page.value), page_size: String(pageSize.value) })
      if (mine !== seq) return
      items.value = r.items
      total.value = r.total
    } catch (e) {
      if (mine !== seq) return
      error.value = e
      items.value = []
      total.value = 0
    } finally {
      if (mine === seq) loading.value = false
    }
  }

  const push = () => {
    const query: Record<string, string> = filtersToQuery(filters, opts.schema, defaults)
    if (page.value !== 1) query.page = String(page.value)
    if (pageSize.value !== size0) query.page_size = String(pageSize.value)
    const same = JSON.stringify(query) === JSON.stringify(route.query)
    if (same) void reload()
    else void router.replace({ query })
  }

  // Only this page's own query: leaving the page changes the route too.
  const path = route.path
  watch(
    () => route.query,
    () => {
      if (route.path !== path) return
      fromRoute()
      void reload()
    },
  )
  onMounted(() => {
    fromRoute()
    void reload()
  })

  return {
    filters,
    items,
    total,
    loading,
    error,
    page,
    pageSize,
    reload,
    search: () => {
      page.value = 1
      push()
    },
    reset: () => {
      for (const k of Object.keys(opts.schema)) filters[k] = defaults[k]
      page.value = 1
      push()
    },
    setPage: (p: number) => {
      page.value = p
      push()
    },
    setPageSize: (s: number) => {
      pageSize.value = s
      page.value = 1
      push()
    },
  }
}
