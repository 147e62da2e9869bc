// Provinces and cities (the operator's codes) from schema/reference, the
// same files up.sh loads into the broadcast tables.
import provincesCsv from '../../../schema/reference/provinces.csv?raw'
import citiesCsv from '../../../schema/reference/cities.csv?raw'

export interface Province {
  code: string
  name: string
}
export interface City {
  code: string
  province: string
  name: string
}

function rows(csv: string): string[][] {
  return csv
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(','))
}

export function parseProvinces(csv: string): Province[] {
  return rows(csv).map(([code, name]) => ({ code, name }))
}

export function parseCities(csv: string): City[] {
  return rows(csv).map(([code, province, name]) => ({ code, province, name }))
}

export const PROVINCES: Province[] = parseProvinces(provincesCsv)
export const CITIES: City[] = parseCities(citiesCsv)

export function provinceName(code: string | null | undefined): string {
  if (!code) return ''
  return PROVINCES.find((p) => p.code === code)?.name ?? code
}

export function cityName(code: string | null | undefined): string {
  if (!code) return ''
  return CITIES.find((c) => c.code === code)?.name ?? code
}

export function citiesOf(province: string | null | undefined): City[] {
  return CITIES.filter((c) => c.province === province)
}

/** The provinces a user may pick: every one for ["all"], else their own list. */
export function provincesInScope(scope: string[]): Province[] {
  if (scope.includes('all')) return PROVINCES
  return PROVINCES.filter((p) => scope.includes(p.code))
}
