// The report templates, fetched once per page load (they change only with
// a server release).
import { computed, ref } from 'vue'
import { get } from '../api/client'
import type { ReportTemplate } from '../api/types'

const templates = ref<ReportTemplate[]>([])
let loading: Promise<void> | null = null

export function useReportTemplates() {
  const error = ref<unknown>(null)
  if (!loading) {
    loading = get<ReportTemplate[]>('/reports/templates').then(
      (list) => {
        templates.value = list
      },
      (e) => {
        loading = null
        throw e
      },
    )
  }
  loading.catch((e) => (error.value = e))
  const byCode = (code: string | undefined) => templates.value.find((t) => t.code === code)
  const aggregates = computed(() => templates.value.filter((t) => t.shape === 'aggregate'))
  return { templates, aggregates, byCode, error }
}
