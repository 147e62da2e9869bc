import { createI18n } from 'vue-i18n'
import zhCN from './zh-CN'
import en from './en'

const LOCALE_KEY = 'haoka.locale'
export type Locale = 'zh-CN' | 'en'

export const i18n = createI18n({
  legacy: false,
  locale: (localStorage.getItem(LOCALE_KEY) as Locale | null) ?? 'zh-CN',
  fallbackLocale: 'zh-CN',
  messages: { 'zh-CN': zhCN, en },
})

export function setLocale(l: Locale): void {
  i18n.global.locale.value = l
  localStorage.setItem(LOCALE_KEY, l)
  document.documentElement.lang = l
}
