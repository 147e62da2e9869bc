// Runs a user's action: shows progress while it runs and the server's
// problem message when it fails (the action's own success message is the
// caller's).
import { ref } from 'vue'
import { useI18n } from 'vue-i18n'
import { ElMessage } from 'element-plus'
import { problemMessage } from '../lib/errors'

export function useAction() {
  const { t } = useI18n()
  const busy = ref(false)
  const error = ref<string | null>(null)
  async function run<T>(fn: () => Promise<T>): Promise<T | undefined> {
    busy.value = true
    error.value = null
    try {
      return await fn()
    } catch (e) {
      error.value = problemMessage(t, e)
      ElMessage({ type: 'error', message: error.value, duration: 6000, showClose: true })
      return undefined
    } finally {
      busy.value = false
    }
  }
  return { busy, error, run }
}
