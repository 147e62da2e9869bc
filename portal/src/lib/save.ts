// A fetched file (getBlob: it needs the token, so no plain link) handed to
// the browser's download, under the server's name or a fallback.
import { fileName } from './report'

export function saveBlob(file: { blob: Blob; disposition: string | null }, fallback: string): void {
  const url = URL.createObjectURL(file.blob)
  const a = document.createElement('a')
  a.href = url
  a.download = fileName(file.disposition, fallback)
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}
