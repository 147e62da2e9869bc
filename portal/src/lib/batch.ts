// The batch loader's file naming convention (batch/README.md), checked in
// the browser so a misnamed file is refused before it is uploaded; the
// server checks the same rule (services/src/batch/mod.rs, province_of).

/** The kinds the loader knows; another kind is uploaded but answered as failed. */
export const BATCH_KINDS = ['NUM_INTAKE', 'CARD_INTAKE', 'NUM_STATUS', 'NUM_DEPOT'] as const

export const BATCH_NAME_RULE = '<KIND>_<province>_<yyyymmdd>_<seq>.csv | .xlsx'
export const BATCH_NAME_EXAMPLE = 'NUM_INTAKE_51_20261202_001.csv'

export interface BatchName {
  kind: string
  province: string
  date: string
  seq: string
  ext: 'csv' | 'xlsx'
}

const NAME = /^([A-Z][A-Z_]*)_(\d{2})_(\d{8})_([A-Za-z0-9]+)\.(csv|xlsx)$/

/** The parts of a name that fits the convention, or null. */
export function parseBatchName(name: string): BatchName | null {
  if (name.length > 200) return null
  const m = NAME.exec(name)
  if (!m) return null
  return { kind: m[1], province: m[2], date: m[3], seq: m[4], ext: m[5] as 'csv' | 'xlsx' }
}

/** Why a file cannot be uploaded (an i18n key under `batch.errors`), or null. */
export function batchNameProblem(name: string, provinces: string[] | null): string | null {
  const n = parseBatchName(name)
  if (!n) return 'name'
  if (!(BATCH_KINDS as readonly string[]).includes(n.kind)) return 'kind'
  // null: every province (a nationwide user).
  if (provinces && !provinces.includes(n.province)) return 'province'
  return null
}

/** Keep polling while any job is still being loaded. */
export const anyRunning = (jobs: { status: string }[]) => jobs.some((j) => j.status === 'running')
