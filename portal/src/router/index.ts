// Every page is its own chunk; a page's `permission` is the one its menu
// carries (permission/menu_seed.rs), so a user who lacks it is never sent
// there. Signed-out users go to the login page and come back afterwards.
import { createRouter, createWebHistory, type RouteComponent, type RouteRecordRaw } from 'vue-router'
import { session, signedIn, loadMe, can } from '../api/session'

declare module 'vue-router' {
  interface RouteMeta {
    permission?: string
    public?: boolean
    title?: string
  }
}

type Lazy = () => Promise<{ default: RouteComponent }>

const page = (path: string, load: Lazy, permission?: string): RouteRecordRaw => ({
  path,
  component: load,
  meta: { permission, title: `menu.${path}` },
})

export const pages: RouteRecordRaw[] = [
  page('/dashboard', () => import('../views/DashboardView.vue')),
  page('/numbers', () => import('../views/numbers/StockView.vue'), 'number:read'),
  page('/numbers/select', () => import('../views/numbers/SelectView.vue'), 'number:read'),
  page('/numbers/intake', () => import('../views/numbers/IntakeView.vue'), 'number:write'),
  page('/numbers/change', () => import('../views/numbers/ChangeView.vue'), 'number:write'),
  page('/numbers/depots', () => import('../views/numbers/DepotsView.vue'), 'number:read'),
  page('/numbers/pools', () => import('../views/numbers/PoolsView.vue'), 'number:read'),
  page('/numbers/premium', () => import('../views/numbers/PremiumView.vue'), 'premium:read'),
  page('/numbers/waivers', () => import('../views/numbers/WaiversView.vue'), 'premium:approve'),
  {
    path: '/numbers/:no(1\\d{10})',
    component: () => import('../views/numbers/NumberDetailView.vue'),
    meta: { permission: 'number:read', title: 'menu.numberDetail' },
  },
  page('/cards', () => import('../views/cards/CardStockView.vue'), 'card:read'),
  page('/cards/lookup', () => import('../views/cards/CardLookupView.vue'), 'card:read'),
  page('/cards/intake', () => import('../views/cards/CardIntakeView.vue'), 'card:write'),
  page('/cards/transfers', () => import('../views/cards/TransfersView.vue'), 'card:transfer'),
  page('/cards/pairing', () => import('../views/cards/PairingView.vue'), 'card:pair'),
  page('/cards/availability', () => import('../views/cards/AvailabilityView.vue'), 'card:read'),
  page('/cards/packages', () => import('../views/cards/PackagesView.vue'), 'card:read'),
  page('/staff', () => import('../views/admin/StaffView.vue'), 'staff:read'),
  page('/departments', () => import('../views/admin/DepartmentsView.vue'), 'department:read'),
  page('/roles', () => import('../views/admin/RolesView.vue'), 'role:read'),
  page('/menus', () => import('../views/admin/MenusView.vue'), 'menu:read'),
  page('/channels', () => import('../views/admin/ChannelsView.vue'), 'channel:read'),
  page('/login-policies', () => import('../views/admin/PoliciesView.vue'), 'policy:read'),
  page('/reports', () => import('../views/reports/ReportsView.vue'), 'report:read'),
  page('/reports/stats', () => import('../views/reports/StatsView.vue'), 'report:read'),
  page('/reports/schedules', () => import('../views/reports/SchedulesView.vue'), 'report:admin'),
  page('/batch', () => import('../views/batch/BatchView.vue'), 'batch:read'),
  page('/logs', () => import('../views/LogsView.vue'), 'log:read'),
  page('/ops/dead-letters', () => import('../views/ops/DeadLettersView.vue'), 'mq:admin'),
  page('/ops/outbox', () => import('../views/ops/OutboxView.vue'), 'mq:admin'),
  page('/ops/shards', () => import('../views/ops/ShardsView.vue'), 'ops:read'),
]

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/login', component: () => import('../views/LoginView.vue'), meta: { public: true, title: 'login.title' } },
    { path: '/password', component: () => import('../views/PasswordView.vue'), meta: { title: 'password.title' } },
    {
      path: '/',
      component: () => import('../layout/MainLayout.vue'),
      children: [{ path: '', redirect: '/dashboard' }, ...pages],
    },
    { path: '/:pathMatch(.*)*', component: () => import('../views/NotFoundView.vue'), meta: { public: true } },
  ],
})

router.beforeEach(async (to) => {
  // Fetch the page's code while the profile loads, not after it.
  for (const r of to.matched) {
    const c = r.components?.default
    if (typeof c === 'function') void (c as () => Promise<unknown>)()
  }
  if (to.meta.public) return true
  if (!signedIn()) return { path: '/login', query: to.fullPath !== '/dashboard' && to.fullPath !== '/' ? { redirect: to.fullPath } : {} }
  if (!session.me) {
    try {
      await loadMe()
    } catch {
      // A 401 ended the session (client.ts): log in, then come back.
      if (!signedIn()) return { path: '/login', query: { redirect: to.fullPath } }
      throw new Error('the profile could not be loaded')
    }
  }
  if (session.mustChangePassword && to.path !== '/password') return { path: '/password' }
  if (!can(to.meta.permission)) return { path: '/dashboard', query: { forbidden: to.path } }
  return true
})
