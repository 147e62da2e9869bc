// The one way the portal talks to haoka-server: /api/v1 with the session's
// bearer token; every failure becomes an ApiProblem carrying the server's
// problem body. A 401 on a signed-in call ends the session (the router
// then asks for a login and comes back to the page).
import { ApiProblem, problemOfStatus, type Problem } from '../lib/errors'

const TOKEN_KEY = 'haoka.token'

let token: string | null = localStorage.getItem(TOKEN_KEY)
let onSessionEnd: ((reason: string) => void) | null = null
let onPasswordChange: (() => void) | null = null

export function getToken(): string | null {
  return token
}

export function setToken(t: string | null): void {
  token = t
  if (t) localStorage.setItem(TOKEN_KEY, t)
  else localStorage.removeItem(TOKEN_KEY)
}

/** What to do when the server says the session is over, or that the
 * password must be changed first. */
export function onAuthEvents(sessionEnd: (reason: string) => void, passwordChange: () => void): void {
  onSessionEnd = sessionEnd
  onPasswordChange = passwordChange
}

export type Query = Record<string, string | number | boolean | undefined | null>

export interface RequestOptions {
  query?: Query
  body?: unknown
  /** Sent without the token (login). */
  anonymous?: boolean
  /** Statuses whose plain JSON body is an answer, not a problem: a batch
   * that nothing of was applied (409/422 with per-item results). */
  answerStatuses?: number[]
  /** A file's bytes sent as they are (an upload), instead of a JSON body. */
  file?: Blob
}

export function buildUrl(path: string, query?: Query): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null || v === '') continue
    params.set(k, String(v))
  }
  const qs = params.toString()
  return `/api/v1${path}${qs ? `?${qs}` : ''}`
}

/** The server's problem body, or one made of the status for any other body. */
function problemOf(status: number, text: string): Problem {
  try {
    const p = JSON.parse(text) as Problem
    return typeof p.code === 'string' ? p : problemOfStatus(status, text)
  } catch {
    return problemOfStatus(status, text)
  }
}

/** A signed-in call's problem that ends the session or asks for a new password. */
function noticeAuth(problem: Problem): void {
  if (problem.code === 'session_invalid' || problem.code === 'unauthenticated') {
    setToken(null)
    onSessionEnd?.(problem.code)
  } else if (problem.code === 'password_change_required') {
    onPasswordChange?.()
  }
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (opts.file !== undefined) headers['Content-Type'] = 'application/octet-stream'
  else if (opts.body !== undefined) headers['Content-Type'] = 'application/json'
  if (token && !opts.anonymous) headers.Authorization = `Bearer ${token}`
  let resp: Response
  try {
    resp = await fetch(buildUrl(path, opts.query), {
      method,
      headers,
      body: opts.file ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
    })
  } catch (e) {
    throw new ApiProblem(problemOfStatus(0, e instanceof Error ? e.message : String(e)))
  }
  if (resp.status === 204) return undefined as T
  const text = await resp.text()
  const isProblem = (resp.headers.get('content-type') ?? '').includes('problem')
  if (!resp.ok && !isProblem && opts.answerStatuses?.includes(resp.status)) {
    return JSON.parse(text) as T
  }
  if (!resp.ok) {
    const problem = problemOf(resp.status, text)
    if (!opts.anonymous) noticeAuth(problem)
    else if (problem.code === 'password_change_required') onPasswordChange?.()
    throw new ApiProblem(problem)
  }
  return (text ? JSON.parse(text) : undefined) as T
}

export const get = <T>(path: string, query?: Query) => request<T>('GET', path, { query })
export const post = <T>(path: string, body?: unknown, query?: Query) =>
  request<T>('POST', path, { body: body ?? {}, query })
export const put = <T>(path: string, body: unknown) => request<T>('PUT', path, { body })
export const patch = <T>(path: string, body: unknown) => request<T>('PATCH', path, { body })
export const del = <T>(path: string) => request<T>('DELETE', path)
/** A file upload: the bytes as the body, its name in the query. */
export const postFile = <T>(path: string, file: Blob, query?: Query) => request<T>('POST', path, { file, query })
/** A batch POST: per-item results come back with 200/201, 409 or 422. */
export const postBatch = <T>(path: string, body: unknown) =>
  request<T>('POST', path, { body, answerStatuses: [409, 422] })

/** A file the API streams (a report's export): fetched with the token, as
 * a link cannot carry it, and failures as problems like every other call. */
export async function getBlob(path: string): Promise<{ blob: Blob; disposition: string | null }> {
  const headers: Record<string, string> = {}
  if (token) headers.Authorization = `Bearer ${token}`
  let resp: Response
  try {
    resp = await fetch(buildUrl(path), { headers })
  } catch (e) {
    throw new ApiProblem(problemOfStatus(0, e instanceof Error ? e.message : String(e)))
  }
  if (!resp.ok) {
    const text = await resp.text()
    const problem = problemOf(resp.status, text)
    noticeAuth(problem)
    throw new ApiProblem(problem)
  }
  return { blob: await resp.blob(), disposition: resp.headers.get('content-disposition') }
}
