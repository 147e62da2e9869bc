// A failed API call as a person reads it: the server's problem message,
// after a word for the kind of problem when the code is a known one.

export interface Problem {
  type?: string
  title?: string
  status: number
  code: string
  message?: string
  detail?: string
}

export class ApiProblem extends Error {
  readonly problem: Problem
  constructor(problem: Problem) {
    super(problem.message || problem.detail || problem.title || problem.code)
    this.name = 'ApiProblem'
    this.problem = problem
  }
  get status(): number {
    return this.problem.status
  }
  get code(): string {
    return this.problem.code
  }
}

/** Codes with a word of their own in the messages (`problem.<code>`). */
export const KNOWN_CODES = [
  'invalid_request', 'invalid_body', 'unauthenticated', 'session_invalid', 'bad_credentials',
  'account_locked', 'login_denied', 'permission_denied', 'province_out_of_scope',
  'password_change_required', 'not_allowed', 'wrong_password', 'password_policy', 'not_found',
  'conflict', 'rate_limited', 'backend_unavailable', 'internal_error', 'network',
]

type Translate = (key: string, values?: Record<string, unknown>) => string

/** The problem body of a response that is not a problem (a proxy's HTML
 * error page, a dropped connection). */
export function problemOfStatus(status: number, text: string): Problem {
  return { status, code: status === 0 ? 'network' : `http_${status}`, message: text.slice(0, 200) }
}

export function problemMessage(t: Translate, err: unknown): string {
  if (err instanceof ApiProblem) {
    const p = err.problem
    const said = p.message || p.detail || p.title || ''
    if (KNOWN_CODES.includes(p.code)) {
      const word = t(`problem.${p.code}`)
      return said && said !== word ? `${word}：${said}` : word
    }
    return said || p.code
  }
  if (err instanceof Error) return err.message
  return String(err)
}
