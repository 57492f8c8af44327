// Messages in en and zh-CN; each page module registers its own keys with registerMessages().
const LANGS = ["en", "zh-CN"];
const STORE_KEY = "crm.language";
const dictionaries = { en: {}, "zh-CN": {} };
const listeners = new Set();

function initial() {
  const saved = localStorage.getItem(STORE_KEY);
  if (LANGS.includes(saved)) return saved;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}
let current = initial();
document.documentElement.lang = current;

export function registerMessages(lang, dict) {
  if (!dictionaries[lang]) dictionaries[lang] = {};
  Object.assign(dictionaries[lang], dict);
}

/** t("contacts.title") or t("tasks.due_in", {n: 3}); falls back to English, then the key itself. */
export function t(key, vars) {
  let text = dictionaries[current]?.[key] ?? dictionaries.en[key] ?? key;
  if (vars) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  return text;
}

export function language() { return current; }
export function languages() { return LANGS.slice(); }

export function setLanguage(lang) {
  if (!LANGS.includes(lang) || lang === current) return;
  current = lang;
  localStorage.setItem(STORE_KEY, lang);
  document.documentElement.lang = lang;
  listeners.forEach((fn) => fn(lang));
}

/** Called after every language change (app.js re-renders the shell and the current page). */
export function onLanguageChange(fn) { listeners.add(fn); return () => listeners.delete(fn); }

export function formatNumber(n, options) {
  return new Intl.NumberFormat(current, options).format(Number(n));
}

export function formatDate(iso, options = { dateStyle: "medium" }) {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : new Intl.DateTimeFormat(current, options).format(d);
}

export function formatDateTime(iso) {
  return formatDate(iso, { dateStyle: "medium", timeStyle: "short" });
}

registerMessages("en", {
  "shell.menu": "Menu", "shell.search": "Search", "shell.search_placeholder": "Search customers, deals, tickets…",
  "shell.notifications": "Notifications", "shell.language": "Language", "shell.sign_out": "Sign out",
  "shell.skip": "Skip to content", "shell.no_results": "No results", "shell.all_results": "All results for “{q}”",
  "shell.mark_all_read": "Mark all read", "shell.mark_read": "Mark read", "shell.view_all": "View all notifications",
  "shell.no_notifications": "No notifications", "shell.new_notification": "New notification: {title}",
  "shell.not_found": "Page not found", "shell.home": "Home", "shell.loading": "Loading…",
  "shell.error": "Something went wrong: {detail}", "shell.forbidden": "You may not see this page.",
  "shell.close": "Close", "shell.cancel": "Cancel", "shell.save": "Save", "shell.retry": "Retry",
  "shell.none": "—", "shell.confirm": "Confirm", "shell.more": "Load more", "shell.invalid_json": "Not valid JSON: {detail}",
  "shell.welcome": "Welcome, {name}", "shell.offline": "Live updates paused; reconnecting…",
  "signin.title": "Sign in", "signin.email": "Email", "signin.password": "Password", "signin.submit": "Sign in",
  "signin.failed": "Email or password is wrong.",
  "nav.section.main": "Overview", "nav.section.customers": "Customers", "nav.section.sales": "Sales",
  "nav.section.service": "Service", "nav.section.admin": "Administration",
  "nav.notifications": "Notifications", "nav.search": "Search",
  "type.contact": "Contact", "type.company": "Company", "type.interaction": "Interaction", "type.deal": "Deal",
  "type.order": "Order", "type.ticket": "Ticket", "type.task": "Task",
  "search.title": "Search", "search.results": "{n} results", "search.more": "More results", "search.all": "All",
  "search.prompt": "Type to search.",
  "notifications.title": "Notifications", "notifications.unread_only": "Unread only", "notifications.more": "Load more",
  "notifications.read": "Read", "notifications.unread": "Unread", "notifications.open": "Open",
  "time.overdue": "overdue by {d}", "time.in": "in {d}",
  "table.empty": "Nothing here yet.",
});
registerMessages("zh-CN", {
  "shell.menu": "菜单", "shell.search": "搜索", "shell.search_placeholder": "搜索客户、商机、工单…",
  "shell.notifications": "通知", "shell.language": "语言", "shell.sign_out": "退出登录",
  "shell.skip": "跳到内容", "shell.no_results": "没有结果", "shell.all_results": "“{q}”的全部结果",
  "shell.mark_all_read": "全部标为已读", "shell.mark_read": "标为已读", "shell.view_all": "查看全部通知",
  "shell.no_notifications": "没有通知", "shell.new_notification": "新通知：{title}",
  "shell.not_found": "页面不存在", "shell.home": "首页", "shell.loading": "加载中…",
  "shell.error": "出错了：{detail}", "shell.forbidden": "你无权查看此页面。",
  "shell.close": "关闭", "shell.cancel": "取消", "shell.save": "保存", "shell.retry": "重试",
  "shell.none": "—", "shell.confirm": "确认", "shell.more": "加载更多", "shell.invalid_json": "JSON 格式无效：{detail}",
  "shell.welcome": "欢迎，{name}", "shell.offline": "实时更新已暂停，正在重连…",
  "signin.title": "登录", "signin.email": "邮箱", "signin.password": "密码", "signin.submit": "登录",
  "signin.failed": "邮箱或密码错误。",
  "nav.section.main": "概览", "nav.section.customers": "客户", "nav.section.sales": "销售",
  "nav.section.service": "服务", "nav.section.admin": "管理",
  "nav.notifications": "通知", "nav.search": "搜索",
  "type.contact": "联系人", "type.company": "公司", "type.interaction": "互动", "type.deal": "商机",
  "type.order": "订单", "type.ticket": "工单", "type.task": "任务",
  "search.title": "搜索", "search.results": "{n} 条结果", "search.more": "更多结果", "search.all": "全部",
  "search.prompt": "输入关键词开始搜索。",
  "notifications.title": "通知", "notifications.unread_only": "仅未读", "notifications.more": "加载更多",
  "notifications.read": "已读", "notifications.unread": "未读", "notifications.open": "打开",
  "time.overdue": "已超时 {d}", "time.in": "还剩 {d}",
  "table.empty": "暂无数据。",
});
