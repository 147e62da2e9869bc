// Checks a form makes before it sends anything (the server checks again).
// They return an i18n key of the problem, or null when the value is fine.

export const PHONE_RE = /^1\d{10}$/

export function phoneProblem(raw: string): string | null {
  const s = raw.trim()
  if (!/^\d+$/.test(s)) return 'validate.phoneDigits'
  if (s.length !== 11) return 'validate.phoneLength'
  if (!s.startsWith('1')) return 'validate.phoneStart'
  return null
}

/** The Luhn check digit of `payload` (every digit but the check digit). */
export function luhnDigit(payload: string): string {
  let sum = 0
  for (let i = 0; i < payload.length; i++) {
    let d = payload.charCodeAt(payload.length - 1 - i) - 48
    if (i % 2 === 0) {
      d *= 2
      if (d > 9) d -= 9
    }
    sum += d
  }
  return String((10 - (sum % 10)) % 10)
}

export const ICCID_PREFIXES = ['898601', '898606', '898609']

export function iccidProblem(raw: string): string | null {
  const s = raw.trim()
  if (!/^\d+$/.test(s)) return 'validate.iccidDigits'
  if (s.length < 19 || s.length > 20) return 'validate.iccidLength'
  if (!ICCID_PREFIXES.some((p) => s.startsWith(p))) return 'validate.iccidPrefix'
  if (luhnDigit(s.slice(0, -1)) !== s.slice(-1)) return 'validate.iccidLuhn'
  return null
}

export function imsiProblem(raw: string): string | null {
  const s = raw.trim()
  if (!/^\d{15}$/.test(s)) return 'validate.imsiShape'
  if (!s.startsWith('460') || !['01', '06', '09'].includes(s.slice(3, 5))) return 'validate.imsiNetwork'
  return null
}

/** Numbers or ICCIDs typed one per line (or separated by commas/spaces). */
export function splitList(text: string): string[] {
  return text
    .split(/[\s,;，；]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
}

/** The first bad entry of a list and its problem, or null. */
export function firstProblem(
  items: string[],
  check: (s: string) => string | null,
): { item: string; problem: string } | null {
  for (const item of items) {
    const problem = check(item)
    if (problem) return { item, problem }
  }
  return null
}

/** A hold key as the server accepts it. */
export const KEY_RE = /^[A-Za-z0-9_.:-]{1,64}$/

/** A code (staff number, role code...) as the server accepts it. */
export const CODE_RE = /^[A-Za-z0-9_.:-]{1,32}$/

/** Yuan typed by a person to cents; null when not a money amount. */
export function yuanToCents(raw: string | number): number | null {
  const s = String(raw).trim()
  if (!/^\d+(\.\d{1,2})?$/.test(s)) return null
  const [yuan, frac = ''] = s.split('.')
  return Number(yuan) * 100 + Number((frac + '00').slice(0, 2))
}

export function centsToYuan(cents: number): string {
  const sign = cents < 0 ? '-' : ''
  const a = Math.abs(cents)
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`
}
