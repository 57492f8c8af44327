// Client-side routing under /app with history.pushState, and the nav registry.
export const BASE = "/app";
const routes = [];
const navEntries = [];
const listeners = new Set();
let renderHook = null;
let currentRoute = null;

/** route("/contacts/:id", (view, params, query) => {...}, {roles?, page?}). Patterns are relative to /app.
 *  render may be async; it gets the cleared <main> and may return a cleanup function. */
export function route(pattern, render, options = {}) {
  const names = [];
  const source = pattern.replace(/\/+$/, "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:(\w+)/g, (m, name) => {
    names.push(name);
    return "([^/]+)";
  });
  routes.push({ pattern, regex: new RegExp(`^${source}/?$`), names, render, ...options });
}

/** nav({href: "/contacts", label: "nav.contacts" (an i18n key), roles?: ["admin", ...], section: "customers", order?, test?}) */
export function nav(entry) {
  navEntries.push({ section: "main", order: 100, ...entry });
  listeners.forEach((fn) => fn("nav"));
}

export function navItems() { return navEntries.slice(); }

export function match(path) {
  for (const r of routes) {
    const m = r.regex.exec(path);
    if (m) {
      const params = {};
      r.names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      return { route: r, params };
    }
  }
  return null;
}

/** The current location relative to /app: {path, query: URLSearchParams}. */
export function current() {
  let path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : location.pathname;
  if (!path) path = "/";
  return { path, query: new URLSearchParams(location.search) };
}

export function href(path) {
  return path.startsWith(BASE + "/") || path === BASE ? path : BASE + (path.startsWith("/") ? path : "/" + path);
}

/** navigate("/contacts/42?tab=timeline", {replace?}) */
export function navigate(path, { replace = false } = {}) {
  const target = href(path);
  if (replace) history.replaceState({}, "", target);
  else history.pushState({}, "", target);
  dispatch();
}

/** Re-render the current route (e.g. after a language change). */
export function refresh() { dispatch(); }

export function onNavigate(fn) { listeners.add(fn); return () => listeners.delete(fn); }

/** app.js sets how a matched route is rendered (sign-in gate, role check, errors). */
export function setRenderer(fn) { renderHook = fn; }

export function currentRouteInfo() { return currentRoute; }

function dispatch() {
  const { path, query } = current();
  const found = match(path);
  currentRoute = found ? { ...found, path, query } : { route: null, params: {}, path, query };
  listeners.forEach((fn) => fn("route", currentRoute));
  renderHook?.(currentRoute);
}

export function start() {
  window.addEventListener("popstate", dispatch);
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-link]");
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || a.target === "_blank") return;
    const url = new URL(a.href, location.origin);
    if (url.origin !== location.origin) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
  dispatch();
}

/** link("/contacts/1", "Zhang Wei", {attrs}) → <a href="/app/contacts/1" data-link> */
export function link(path, text, attrs = {}) {
  const a = document.createElement("a");
  a.href = href(path);
  a.setAttribute("data-link", "");
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) a.setAttribute(k, v === true ? "" : String(v));
  a.textContent = text ?? "";
  return a;
}

// Where a record of a type opens: pages register theirs (e.g. registerRef("deal", (id) => `/deals/${id}`)).
const refPaths = {
  contact: (id) => `/contacts/${encodeURIComponent(id)}`,
  company: (id) => `/companies/${encodeURIComponent(id)}`,
  deal: (id) => `/deals/${encodeURIComponent(id)}`,
  ticket: (id) => `/tickets/${encodeURIComponent(id)}`,
  task: (id) => `/tasks?id=${encodeURIComponent(id)}`,
  // Interactions and orders open their customer (search hits carry it in `fields`).
  interaction: (id, r) => (cid(r) ? `/contacts/${encodeURIComponent(cid(r))}` : null),
  order: (id, r) => (cid(r) ? `/contacts/${encodeURIComponent(cid(r))}` : null),
};
function cid(r) { return r?.contact_id || r?.fields?.contact_id || null; }
export function registerRef(type, toPath) { refPaths[type] = toPath; }

/** refPath({type, id}) or refPath(type, id, record?) → an /app-relative path, or null when nothing opens it. */
export function refPath(type, id, record) {
  if (type && typeof type === "object") { id = type.id; record = type; type = type.type; }
  const fn = refPaths[type];
  return fn && id ? fn(id, record || {}) : null;
}
