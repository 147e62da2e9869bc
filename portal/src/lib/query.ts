// Filters live in the URL (a refresh or a shared link keeps them). A
// filter set is described by its fields' kinds; values equal to the
// defaults are left out of the URL.

export type FieldKind = 'string' | 'number' | 'boolean'
export type Schema = Record<string, FieldKind>
export type Filters = Record<string, string | number | boolean | undefined>

type QueryValue = string | null | (string | null)[] | undefined

function first(v: QueryValue): string | undefined {
  if (Array.isArray(v)) return first(v[0])
  return v == null ? undefined : v
}

/** The filters a URL query names; unknown keys and bad values are ignored. */
export function filtersFromQuery(query: Record<string, QueryValue>, schema: Schema, defaults: Filters = {}): Filters {
  const out: Filters = { ...defaults }
  for (const [key, kind] of Object.entries(schema)) {
    const raw = first(query[key])
    if (raw === undefined || raw === '') continue
    if (kind === 'number') {
      if (/^-?\d+$/.test(raw)) out[key] = Number(raw)
    } else if (kind === 'boolean') {
      if (raw === 'true' || raw === 'false') out[key] = raw === 'true'
    } else {
      out[key] = raw
    }
  }
  return out
}

/** The URL query of a filter set (empty and default values left out). */
export function filtersToQuery(filters: Filters, schema: Schema, defaults: Filters = {}): Record<string, string> {
  const out: Record<string, string> = {}
  for (const key of Object.keys(schema)) {
    const v = filters[key]
    if (v === undefined || v === '' || v === null) continue
    if (defaults[key] === v) continue
    out[key] = String(v)
  }
  return out
}

/** The filters as API query parameters (empty values left out). */
export function apiParams(filters: Filters): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(filters)) {
    if (v === undefined || v === '' || v === null) continue
    out[k] = String(v)
  }
  return out
}
