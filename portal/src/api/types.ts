// Shapes of the API's answers the pages read (see /api-docs).

export interface Page<T> {
  items: T[]
  total: number
  page: number
  page_size: number
}

export interface StaffView {
  staff_id: number
  staff_no: string
  name: string
  province_code?: string | null
  department_id?: number | null
  channel_id?: number | null
  status: 'active' | 'disabled'
  must_change_password: boolean
  locked: boolean
  updated_at: string
}

export interface Me {
  staff: StaffView
  permissions: string[]
  provinces: string[]
  menus: import('../lib/menu').Menu[]
}

export interface LoginResponse {
  token: string
  expires_at: string
  idle_timeout_seconds: number
  must_change_password: boolean
}

export interface Depot {
  depot_id: number
  province_code: string
  city_code: string
  name: string
}

export interface Pool {
  pool_id: number
  province_code: string
  city_code?: string | null
  name: string
  status: string
}

export interface StockNumber {
  phone_no: string
  province_code: string
  city_code: string
  status: string
  premium_level: number
  pool_id?: number | null
  depot_id?: number | null
  hold_deadline?: string | null
  frozen_until?: string | null
  updated_at: string
}

export interface StockCounts {
  province_code: string
  total: number
  by_status: { status: string; count: number }[]
}

export interface NumberView {
  phone_no: string
  province_code: string
  city_code: string
  status: string
  premium_level: number
  pool_id?: number | null
  depot_id?: number | null
  hold_key?: string | null
  hold_channel_id?: number | null
  hold_deadline?: string | null
  frozen_until?: string | null
  version: number
}

export interface NumberResult {
  code: string
  message: string
  phone_no: string
  status?: string | null
  hold_key?: string | null
  hold_deadline?: string | null
}

export interface BatchResult {
  applied: boolean
  results: NumberResult[]
}

export interface HistoryRow {
  history_id: number
  phone_no?: string
  iccid?: string
  from_status?: string | null
  to_status: string
  action: string
  staff_id?: number | null
  channel_id?: number | null
  detail?: string | null
  from_depot_id?: number | null
  to_depot_id?: number | null
  created_at: string
}

export interface SelectedNumber {
  phone_no: string
  province_code: string
  city_code: string
  pool_id?: number | null
  premium_level: number
}

export interface IntakeResult {
  accepted: number
  by_level?: Record<string, number>
  rejected: { phone_no?: string; iccid?: string; reason: string; message: string }[]
}

export interface Waiver {
  waiver_id: number
  phone_no: string
  deposit_waived_cents: number
  monthly_waived_cents: number
  reason: string
  status: 'pending' | 'approved' | 'rejected'
  requested_by: number
  decided_by?: number | null
  decision_note?: string | null
}

export interface Fee {
  phone_no: string
  premium_level: number
  level_name: string
  term_months: number
  pre_deposit_cents: number
  min_monthly_spend_cents: number
  waived_deposit_cents: number
  waived_monthly_cents: number
  due_deposit_cents: number
  due_monthly_cents: number
}

export interface Level {
  level: number
  name: string
  pre_deposit_cents: number
  min_monthly_spend_cents: number
  term_months: number
}

export interface Rule {
  rule_id: number
  level: number
  class: string
  pattern: string
  priority: number
  enabled: boolean
  province?: string | null
}

export interface Grant {
  grant_id: number
  pool_id: number
  grantee_kind: 'staff' | 'channel'
  grantee_id: number
  can_view: boolean
  can_use: boolean
  can_operate: boolean
}

export interface Card {
  card_id: number
  iccid: string
  imsi?: string | null
  province_code: string
  city_code: string
  depot_id: number
  card_type: 'made' | 'blank'
  status: string
  package_id?: number | null
  paired_phone_no?: string | null
  transfer_id?: number | null
  version: number
  updated_at: string
}

export interface Transfer {
  transfer_id: number
  province_code: string
  target_province_code: string
  from_depot_id: number
  to_depot_id: number
  card_count: number
  status: 'in_transit' | 'done' | 'refused'
  message_id?: string | null
  created_at: string
  finished_at?: string | null
}

export interface Package {
  package_id: number
  code: string
  name: string
  province_code?: string | null
  monthly_fee_cents: number
}

export interface Verdict {
  iccid: string
  usable: boolean
  reason: string
  message: string
  status?: string
  card_type?: string
}

export interface Role {
  role_id: number
  code: string
  name: string
  status: 'active' | 'disabled'
  permissions: string[]
}

export interface Department {
  department_id: number
  code: string
  name: string
  parent_id?: number | null
  province_code?: string | null
  status: 'active' | 'disabled'
}

export interface DepartmentNode {
  department: Department
  children: DepartmentNode[]
}

export interface Channel {
  channel_id: number
  code: string
  name: string
  channel_type: string
  parent_id?: number | null
  province_code?: string | null
  hold_minutes: number
  rate_limit_per_minute: number
  status: 'active' | 'disabled'
}

// --- report center (services/src/report/routes.rs) ---

export type ReportFormat = 'csv' | 'xlsx'
export type TaskStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'expired'
export type Cell = string | number | null

export interface ReportColumn {
  key: string
  title: string
  kind: 'text' | 'int'
}

export interface ReportTemplate {
  code: string
  name: string
  shape: 'aggregate' | 'detail'
  columns: ReportColumn[]
  /** Filters besides province_code (city_code, pool_id, …). */
  filters: string[]
  by_date: boolean
}

export interface ReportFilters {
  province_code?: string
  city_code?: string
  pool_id?: number
  depot_id?: number
  channel_id?: number
  status?: string
  level?: number
  from?: string
  to?: string
}

export interface StatTable {
  template: string
  name: string
  columns: ReportColumn[]
  rows: Cell[][]
  truncated: boolean
}

export interface ReportTask {
  task_id: number
  template: string
  format: ReportFormat
  status: TaskStatus
  filters: ReportFilters
  requested_by: number
  progress_rows: number
  error?: string | null
  created_at: string
  started_at?: string | null
  finished_at?: string | null
  byte_size?: number | null
  sha256?: string | null
  expires_at?: string | null
  download?: string | null
}

export interface ReportSchedule {
  schedule_id: number
  name: string
  template: string
  format: ReportFormat
  filters: ReportFilters
  daily_at_utc: string
  owner: number
  last_run_day?: string | null
}

/** A batch loader job (GET /batch/jobs): one per dropped file. */
export interface BatchJob {
  job_id: number
  file_name: string
  source: string
  kind?: string | null
  province_code?: string | null
  status: 'running' | 'done' | 'failed'
  lines_done: number
  total_lines?: number | null
  progress_pct?: number | null
  rows_per_second?: number | null
  ok: number
  refused: number
  invalid: number
  failure?: string | null
  result_file?: string | null
  started_at: string
  finished_at?: string | null
}

/** POST /batch/files: where the upload went. */
export interface BatchUploaded {
  path: string
  size: number
  sha256: string
}
