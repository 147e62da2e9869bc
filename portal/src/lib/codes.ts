// The number and card centers' codes as words (DESIGN.md §6). The words
// themselves live in the i18n messages; this module maps codes to keys.

export const NUMBER_STATUSES = [
  '01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12', '13', '14',
] as const
export type NumberStatus = (typeof NUMBER_STATUSES)[number]

export const CARD_STATUSES = ['01', '02', '03', '04', '05', '06', '07', '08'] as const
export type CardStatus = (typeof CARD_STATUSES)[number]

export const RESULT_CODES = ['0000', '0001', '0002', '0003', '0004', '0005', '0006', '0007'] as const
export type ResultCode = (typeof RESULT_CODES)[number]

export const PREMIUM_LEVELS = [1, 2, 3, 4, 5, 6, 9] as const

type Translate = (key: string, values?: Record<string, unknown>) => string

export function numberStatusWord(t: Translate, code: string): string {
  return (NUMBER_STATUSES as readonly string[]).includes(code) ? t(`numberStatus.${code}`) : code
}

export function cardStatusWord(t: Translate, code: string): string {
  return (CARD_STATUSES as readonly string[]).includes(code) ? t(`cardStatus.${code}`) : code
}

/** A result code as words: "0001 已被占用"; unknown codes are shown as they came. */
export function resultWord(t: Translate, code: string): string {
  return (RESULT_CODES as readonly string[]).includes(code) ? `${code} ${t(`resultCode.${code}`)}` : code
}

export function resultOk(code: string): boolean {
  return code === '0000'
}

/** Element Plus tag colour of a number status. */
export function numberStatusTag(code: string): 'success' | 'warning' | 'info' | 'danger' | 'primary' {
  switch (code) {
    case '03':
      return 'success'
    case '04':
    case '08':
    case '14':
      return 'warning'
    case '09':
    case '10':
      return 'danger'
    case '01':
    case '02':
      return 'primary'
    default:
      return 'info'
  }
}

export function cardStatusTag(code: string): 'success' | 'warning' | 'info' | 'danger' | 'primary' {
  switch (code) {
    case '01':
      return 'success'
    case '02':
    case '03':
      return 'warning'
    case '04':
    case '05':
      return 'danger'
    default:
      return 'info'
  }
}

export function levelWord(t: Translate, level: number): string {
  return level === 9 ? t('level.ordinary') : t('level.premium', { n: level })
}

export interface Transition {
  from: string
  to: string
  action: string
  door: string
}

/** The targets staff may pick for a status change from `from` (the
 * transition table's manual door). */
export function manualTargets(table: Transition[], from: string): Transition[] {
  return table.filter((t) => t.from === from && t.door === 'manual')
}

/** Targets offered for a batch: those allowed from every status of the batch. */
export function commonTargets(table: Transition[], froms: string[]): string[] {
  const distinct = [...new Set(froms)]
  if (distinct.length === 0) return []
  const sets = distinct.map((f) => new Set(manualTargets(table, f).map((t) => t.to)))
  return [...sets[0]].filter((to) => sets.every((s) => s.has(to))).sort()
}
