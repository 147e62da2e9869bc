// The permission center's menus for this user, as a tree. The server
// already leaves out menus whose permission the user lacks; groups come
// without a permission, so a group none of whose pages is left is dropped
// here, and a page is checked once more against the user's permissions.

export interface Menu {
  menu_id: number
  parent_id?: number | null
  title: string
  path?: string | null
  permission?: string | null
  sort_order: number
}

export interface MenuNode {
  id: number
  title: string
  path: string | null
  children: MenuNode[]
}

export function menuTree(menus: Menu[], permissions: string[]): MenuNode[] {
  const allowed = new Set(permissions)
  const visible = menus.filter((m) => !m.permission || allowed.has(m.permission))
  const sorted = [...visible].sort((a, b) => a.sort_order - b.sort_order || a.menu_id - b.menu_id)
  const ids = new Set(sorted.map((m) => m.menu_id))
  const nodes = new Map<number, MenuNode>()
  for (const m of sorted) nodes.set(m.menu_id, { id: m.menu_id, title: m.title, path: m.path ?? null, children: [] })
  const roots: MenuNode[] = []
  for (const m of sorted) {
    const node = nodes.get(m.menu_id)!
    // A page under a group the user cannot see (or that is gone) is not shown.
    if (m.parent_id == null) roots.push(node)
    else if (ids.has(m.parent_id)) nodes.get(m.parent_id)!.children.push(node)
  }
  const prune = (list: MenuNode[]): MenuNode[] =>
    list
      .map((n) => ({ ...n, children: prune(n.children) }))
      .filter((n) => n.path !== null || n.children.length > 0)
  return prune(roots)
}

/** Every route path the menus offer (for the router's guard). */
export function menuPaths(tree: MenuNode[]): string[] {
  return tree.flatMap((n) => [...(n.path ? [n.path] : []), ...menuPaths(n.children)])
}
