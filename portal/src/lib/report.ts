// Report center rules with no UI: which filters a template takes, the
// statistics table split into dimensions and measures and rolled up for a
// chart, when a task is still worth polling, the download's file name.
import type { Cell, ReportColumn, ReportFilters, ReportTemplate, StatTable, TaskStatus } from '../api/types'

/** A task the runner has not finished with: the portal polls it. */
export function isActive(status: TaskStatus): boolean {
  return status === 'queued' || status === 'running'
}

/** What a request form holds: provinces as a list, ids as numbers. */
export interface FilterForm {
  provinces: string[]
  city_code?: string
  pool_id?: number
  depot_id?: number
  channel_id?: number
  status?: string
  level?: number
  from?: string
  to?: string
}

const OPTIONAL = ['city_code', 'pool_id', 'depot_id', 'channel_id', 'status', 'level'] as const

/** The filters to send for `t`: only those it applies (the server refuses
 * none, but one it ignores would be a surprise in the saved task), the
 * provinces limited to the user's scope (the server limits them again). */
export function filtersFor(t: ReportTemplate, form: FilterForm, scope: string[]): ReportFilters {
  const out: ReportFilters = {}
  const provinces = form.provinces.filter((p) => scope.includes(p))
  if (provinces.length) out.province_code = [...new Set(provinces)].sort().join(',')
  for (const k of OPTIONAL) {
    const v = form[k]
    if (!t.filters.includes(k) || v === undefined || v === null || v === '') continue
    ;(out as Record<string, unknown>)[k] = typeof v === 'string' ? v.trim() : v
  }
  if (t.by_date) {
    if (form.from) out.from = form.from
    if (form.to) out.to = form.to
  }
  return out
}

/** Filters as the statistics call's query (the same names). */
export function filtersQuery(f: ReportFilters): Record<string, string | number> {
  return Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined && v !== null && v !== ''))
}

/** Dimensions come first, measures last (templates.rs): the trailing run of
 * counting columns are the measures, everything before them a dimension
 * (a dimension may be a number too, as 靓号等级). */
export function splitColumns(columns: ReportColumn[]): { dims: ReportColumn[]; measures: ReportColumn[] } {
  let i = columns.length
  while (i > 0 && columns[i - 1].kind === 'int') i--
  if (i === columns.length) return { dims: columns, measures: [] }
  return { dims: columns.slice(0, i), measures: columns.slice(i) }
}

export interface Series {
  labels: string[]
  values: number[]
}

/** `measure` summed by one dimension (rows are grouped by all of them),
 * largest first; a missing dimension value is labelled `none`. */
export function rollup(table: StatTable, dim: string, measure: string, none = '—'): Series {
  const di = table.columns.findIndex((c) => c.key === dim)
  const mi = table.columns.findIndex((c) => c.key === measure)
  if (di < 0 || mi < 0) return { labels: [], values: [] }
  const sums = new Map<string, number>()
  for (const row of table.rows) {
    const k = cellText(row[di]) || none
    const v = typeof row[mi] === 'number' ? (row[mi] as number) : Number(row[mi] ?? 0) || 0
    sums.set(k, (sums.get(k) ?? 0) + v)
  }
  const sorted = [...sums.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
  return { labels: sorted.map(([k]) => k), values: sorted.map(([, v]) => v) }
}

export function cellText(c: Cell | undefined): string {
  return c === null || c === undefined ? '' : String(c)
}

/** The name in `Content-Disposition: attachment; filename="…"`, else `fallback`. */
export function fileName(disposition: string | null, fallback: string): string {
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition ?? '')
  return m ? decodeURIComponent(m[1].trim()) : fallback
}

/** `HH:MM` (UTC) as the schedules API wants it. */
export function isDailyTime(s: string): boolean {
  return /^([01]\d|2[0-3]):[0-5]\d$/.test(s)
}
