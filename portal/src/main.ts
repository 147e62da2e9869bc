import { createApp } from 'vue'
import 'element-plus/theme-chalk/base.css'
import 'element-plus/es/components/message/style/css'
import 'element-plus/es/components/message-box/style/css'
import App from './App.vue'
import { router } from './router'
import { i18n } from './i18n'
import { onAuthEvents } from './api/client'
import { forget, session } from './api/session'
import './style.css'

onAuthEvents(
  () => {
    forget()
    const here = router.currentRoute.value
    if (!here.meta.public) void router.push({ path: '/login', query: { redirect: here.fullPath, expired: '1' } })
  },
  () => {
    session.mustChangePassword = true
    void router.push('/password')
  },
)

createApp(App).use(i18n).use(router).mount('#app')
