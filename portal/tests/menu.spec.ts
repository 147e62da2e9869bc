import { describe, expect, it } from 'vitest'
import { menuPaths, menuTree, type Menu } from '../src/lib/menu'

const menus: Menu[] = [
  { menu_id: 1, title: '工作台', path: '/dashboard', permission: null, sort_order: 100 },
  { menu_id: 2, title: '号码管理', path: null, permission: null, sort_order: 200 },
  { menu_id: 3, parent_id: 2, title: '号码库存', path: '/numbers', permission: 'number:read', sort_order: 200 },
  { menu_id: 4, parent_id: 2, title: '号码入库', path: '/numbers/intake', permission: 'number:write', sort_order: 220 },
  { menu_id: 5, title: '权限管理', path: null, permission: null, sort_order: 400 },
  { menu_id: 6, parent_id: 5, title: '员工管理', path: '/staff', permission: 'staff:read', sort_order: 400 },
  { menu_id: 7, parent_id: 2, title: '选号', path: '/numbers/select', permission: 'number:read', sort_order: 210 },
  { menu_id: 8, parent_id: 99, title: '孤儿', path: '/orphan', permission: null, sort_order: 1 },
]

describe('menus for a user', () => {
  it('keeps only pages whose permission the user holds, in order', () => {
    const tree = menuTree(menus, ['number:read'])
    expect(tree.map((n) => n.title)).toEqual(['工作台', '号码管理'])
    expect(tree[1].children.map((n) => n.path)).toEqual(['/numbers', '/numbers/select'])
  })
  it('drops a group none of whose pages is left', () => {
    const tree = menuTree(menus, ['number:read'])
    expect(tree.find((n) => n.title === '权限管理')).toBeUndefined()
  })
  it('drops pages under a group that is not there', () => {
    expect(menuPaths(menuTree(menus, []))).toEqual(['/dashboard'])
  })
  it('shows everything to a holder of every permission', () => {
    const all = menuPaths(menuTree(menus, ['number:read', 'number:write', 'staff:read']))
    expect(all).toEqual(['/dashboard', '/numbers', '/numbers/select', '/numbers/intake', '/staff'])
  })
})
