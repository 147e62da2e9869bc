// Times as people read them: "2026-12-02 00:42:22", whatever the API's
// form (`…T…` with or without fractions and an offset).
export function timeText(raw: unknown): string {
  if (typeof raw !== 'string' || !raw) return ''
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})/.exec(raw)
  return m ? `${m[1]} ${m[2]}` : raw
}

/** An Element Plus table column formatter for time columns. */
export function timeColumn(_row: unknown, _col: unknown, value: unknown): string {
  return timeText(value)
}
