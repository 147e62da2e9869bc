// The signed-in staff member: who they are, what they may do, which
// provinces they see, and the province the pages work on (province staff:
// their own; headquarters or multi-province staff pick one, kept across
// reloads).
import { reactive } from 'vue'
import { get, post, request, setToken, getToken } from './client'
import type { LoginResponse, Me } from './types'
import { menuTree, type MenuNode } from '../lib/menu'
import { PROVINCES } from '../lib/reference'

const PROVINCE_KEY = 'haoka.province'

export const session = reactive({
  me: null as Me | null,
  menus: [] as MenuNode[],
  province: localStorage.getItem(PROVINCE_KEY) ?? '',
  mustChangePassword: false,
})

export function signedIn(): boolean {
  return getToken() !== null
}

export function can(permission: string | undefined | null): boolean {
  if (!permission) return true
  return session.me?.permissions.includes(permission) ?? false
}

/** The provinces this user may pick as the working province. */
export function scopeProvinces(): string[] {
  const p = session.me?.provinces ?? []
  return p.includes('all') ? PROVINCES.map((x) => x.code) : p
}

export function setProvince(code: string): void {
  session.province = code
  localStorage.setItem(PROVINCE_KEY, code)
}

export async function loadMe(): Promise<Me> {
  const me = await get<Me>('/auth/me')
  session.me = me
  session.mustChangePassword = me.staff.must_change_password
  session.menus = menuTree(me.menus, me.permissions)
  const scope = scopeProvinces()
  if (!scope.includes(session.province)) {
    setProvince(me.staff.province_code && scope.includes(me.staff.province_code) ? me.staff.province_code : scope[0] ?? '')
  }
  return me
}

export async function login(staffNo: string, password: string): Promise<LoginResponse> {
  const r = await request<LoginResponse>('POST', '/auth/login', {
    body: { staff_no: staffNo, password },
    anonymous: true,
  })
  setToken(r.token)
  session.mustChangePassword = r.must_change_password
  return r
}

/** Ends the session on the server (best effort) and here. */
export async function logout(): Promise<void> {
  try {
    if (getToken()) await post('/auth/logout')
  } catch {
    // The session may already be over; it ends here anyway.
  }
  forget()
}

export function forget(): void {
  setToken(null)
  session.me = null
  session.menus = []
}

// Hold keys this browser used: only the holder may extend, release or sell,
// and the server does not show a hold's key to anyone else.
const KEYS = 'haoka.holdKeys'

export function rememberHoldKey(phone: string, key: string): void {
  const all = JSON.parse(localStorage.getItem(KEYS) ?? '{}') as Record<string, string>
  all[phone] = key
  localStorage.setItem(KEYS, JSON.stringify(all))
}

export function holdKeyOf(phone: string): string {
  const all = JSON.parse(localStorage.getItem(KEYS) ?? '{}') as Record<string, string>
  return all[phone] ?? ''
}
