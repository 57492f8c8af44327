// Boot: the sign-in gate, the shell (nav per role, search box, bell, language, user menu), page modules.
import { api, session, signIn, signOut, onUnauthorized, liveEvents, ApiError } from "./api.js";
import { t, setLanguage, language, onLanguageChange } from "./i18n.js";
import { h, clear, toast, errorBox, loading, highlighted, formatTime } from "./dom.js";
import { route, nav, navItems, navigate, start, setRenderer, refresh, onNavigate, href, refPath, current } from "./router.js";
import { PAGE_MODULES } from "../pages/index.js";

const view = document.getElementById("view");
const topbar = document.querySelector(".topbar");
const navEl = document.getElementById("nav");
const SECTIONS = ["main", "customers", "sales", "service", "admin"];
let cleanup = null;
let stopStream = null;
let renderSeq = 0;

// ---------- the shell's own translations of static markup ----------
function translateStatic() {
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  const search = document.getElementById("global-search");
  search.placeholder = t("shell.search_placeholder");
  document.querySelector(".skip-link").textContent = t("shell.skip");
  document.getElementById("language").value = language();
  document.getElementById("menu-language").value = language();
  document.title = "CRM";
}

// ---------- nav per role ----------
export function visible(entry) {
  return !entry.roles || session.hasRole(...entry.roles);
}

function renderNav() {
  clear(navEl);
  if (!session.user) return;
  const { path } = current();
  for (const section of SECTIONS.concat([...new Set(navItems().map((e) => e.section))].filter((s) => !SECTIONS.includes(s)))) {
    const items = navItems().filter((e) => e.section === section && visible(e)).sort((a, b) => a.order - b.order);
    if (!items.length) continue;
    navEl.appendChild(h("div", { class: "nav-section", "data-section": section },
      h("h2", {}, t(`nav.section.${section}`)),
      h("ul", {}, items.map((e) => {
        const active = path === e.href || (e.href !== "/" && path.startsWith(e.href + "/"));
        return h("li", {}, h("a", { href: href(e.href), "data-link": true, "data-test": e.test || `nav-${e.href.replace(/^\//, "").replace(/\W+/g, "-") || "home"}`, "aria-current": active ? "page" : null }, t(e.label)));
      }))));
  }
}

// The nav drawer (phone width): opening it moves focus to its first link; closing it while focus is
// inside returns focus to the menu button.
function setMenu(open) {
  const button = document.querySelector(".menu-button");
  const wasOpen = document.body.classList.contains("menu-open");
  document.body.classList.toggle("menu-open", open);
  button.setAttribute("aria-expanded", String(open));
  if (open && !wasOpen && getComputedStyle(button).display !== "none") navEl.querySelector("a")?.focus();
  if (!open && wasOpen && navEl.contains(document.activeElement)) button.focus();
}

// ---------- sign in ----------
function renderSignIn() {
  topbar.hidden = true;
  navEl.hidden = true;
  document.body.classList.add("signed-out");
  clear(view);
  const error = h("p", { class: "form-error", role: "alert", "data-test": "signin-error" });
  const email = h("input", { id: "signin-email", type: "email", name: "email", required: true, autocomplete: "username", "data-test": "signin-email" });
  const password = h("input", { id: "signin-password", type: "password", name: "password", required: true, autocomplete: "current-password", "data-test": "signin-password" });
  const submit = h("button", { type: "submit", class: "primary", "data-test": "signin-submit" }, t("signin.submit"));
  const formEl = h("form", { class: "signin-form", "data-test": "signin-form" },
    h("h1", {}, t("signin.title")),
    h("div", { class: "field" }, h("label", { for: "signin-email" }, t("signin.email")), email),
    h("div", { class: "field" }, h("label", { for: "signin-password" }, t("signin.password")), password),
    error, submit,
    h("div", { class: "signin-language" }, languageSelect()));
  formEl.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      await signIn(email.value.trim(), password.value);
      enterApp();
    } catch (err) {
      error.textContent = err instanceof ApiError && (err.status === 401 || err.status === 422 || err.status === 400)
        ? t("signin.failed") : t("shell.error", { detail: err.detail || err.message });
      submit.disabled = false;
    }
  });
  view.appendChild(h("section", { class: "signin", "data-page": "signin" }, formEl));
  email.focus();
}

function languageSelect() {
  const select = h("select", { "aria-label": t("shell.language"), "data-test": "signin-language", "on:change": (e) => setLanguage(e.target.value) },
    h("option", { value: "en", selected: language() === "en" }, "English"),
    h("option", { value: "zh-CN", selected: language() === "zh-CN" }, "中文"));
  return select;
}

function enterApp() {
  document.body.classList.remove("signed-out");
  topbar.hidden = false;
  navEl.hidden = false;
  showUser();
  translateStatic();
  renderNav();
  startBell();
  const { path } = current();
  if (path === "/signin") navigate("/", { replace: true });
  else refresh();
}

/** The user button: the full name (desktop) and initials (phone, where the header is narrow). */
function showUser() {
  const name = session.user?.name || session.user?.email || "";
  const initials = name.includes("@") ? name[0] : name.split(/\s+/).filter(Boolean).map((w) => [...w][0]).slice(0, 2).join("");
  document.querySelector(".user-full").textContent = name;
  document.querySelector(".user-initials").textContent = (initials || "?").toUpperCase();
  document.querySelector(".user-button").setAttribute("aria-label", name);
  document.querySelector("[data-test=user-email]").textContent = session.user?.email || "";
}

function leaveApp() {
  stopStream?.();
  stopStream = null;
  closePanels();
  renderSignIn();
}

// ---------- rendering a route ----------
async function renderRoute(info) {
  if (!session.token || !session.user) { renderSignIn(); return; }
  setMenu(false);
  closePanels();
  renderNav();
  const seq = ++renderSeq;
  if (typeof cleanup === "function") { try { cleanup(); } catch (e) { console.error(e); } }
  cleanup = null;
  clear(view);
  if (!info.route) {
    if (info.path === "/" || info.path === "/signin") return renderHome();
    view.appendChild(h("section", { "data-page": "not-found" }, h("h1", {}, t("shell.not_found")), h("a", { href: href("/"), "data-link": true }, t("shell.home"))));
    return;
  }
  if (info.route.roles && !session.hasRole(...info.route.roles)) {
    view.appendChild(h("section", { "data-page": "forbidden" }, errorBox({ status: 403 })));
    return;
  }
  try {
    const result = await info.route.render(view, info.params, info.query);
    if (seq === renderSeq) cleanup = result;
    else if (typeof result === "function") result();
  } catch (err) {
    console.error(err);
    if (seq === renderSeq && !(err instanceof ApiError && err.status === 401)) view.appendChild(errorBox(err));
  }
}

function renderHome() {
  // The first nav entry the user may see is home; without one, a welcome with the nav's links.
  const first = navItems().filter(visible).sort((a, b) => SECTIONS.indexOf(a.section) - SECTIONS.indexOf(b.section) || a.order - b.order)
    .find((e) => e.home);
  if (first) { navigate(first.href, { replace: true }); return; }
  view.appendChild(h("section", { "data-page": "home", class: "home" },
    h("h1", {}, t("shell.welcome", { name: session.user?.name || "" }))));
}

// ---------- global search box ----------
const searchInput = document.getElementById("global-search");
const dropdown = document.getElementById("search-results");
let searchTimer = null;
let searchAbort = null;

function hideDropdown() {
  dropdown.hidden = true;
  searchInput.setAttribute("aria-expanded", "false");
}

export function hitTitle(hit) {
  const hl = hit.highlights || {};
  const first = Array.isArray(hl) ? hl[0] : (hl.title?.[0] ?? hl.name?.[0] ?? Object.values(hl).flat()[0]);
  return first;
}

export function hitNode(hit, { onOpen } = {}) {
  const path = refPath(hit.type, hit.id, hit);
  let snippet = hitTitle(hit);
  const plain = snippet ? String(snippet).replace(/<\/?mark>/g, "") : "";
  const label = h("span", { class: "hit-title" }, plain && plain === hit.title ? highlighted(snippet) : hit.title || hit.id);
  if (plain && plain === hit.title) snippet = null;
  const body = [h("span", { class: `hit-type type-${hit.type}` }, t(`type.${hit.type}`)), label,
    snippet ? h("span", { class: "hit-snippet" }, highlighted(snippet)) : null];
  return path
    ? h("a", { href: href(path), "data-link": true, class: "hit", "data-test": "search-hit", "data-type": hit.type, "data-id": hit.id, "on:click": () => onOpen?.() }, body)
    : h("div", { class: "hit", "data-test": "search-hit", "data-type": hit.type, "data-id": hit.id }, body);
}

async function runSearch(q) {
  searchAbort?.abort();
  searchAbort = new AbortController();
  try {
    const body = await api("GET", "/search", undefined, { query: { q, limit: 8 }, signal: searchAbort.signal });
    if (searchInput.value.trim() !== q) return;
    clear(dropdown);
    const hits = body.data || [];
    if (!hits.length) dropdown.appendChild(h("p", { class: "empty", "data-test": "search-empty" }, t("shell.no_results")));
    for (const hit of hits) dropdown.appendChild(hitNode(hit, { onOpen: () => { hideDropdown(); searchInput.value = ""; } }));
    dropdown.appendChild(h("a", { href: href(`/search?q=${encodeURIComponent(q)}`), "data-link": true, class: "all-results", "data-test": "search-all", "on:click": hideDropdown }, t("shell.all_results", { q })));
    dropdown.hidden = false;
    searchInput.setAttribute("aria-expanded", "true");
  } catch (err) {
    if (err.name !== "AbortError") { clear(dropdown).appendChild(errorBox(err)); dropdown.hidden = false; }
  }
}

searchInput.addEventListener("input", () => {
  clearTimeout(searchTimer);
  const q = searchInput.value.trim();
  if (!q) { hideDropdown(); return; }
  searchTimer = setTimeout(() => runSearch(q), 200);
});
searchInput.addEventListener("keydown", (e) => {
  if (e.key === "Enter") {
    e.preventDefault();
    const q = searchInput.value.trim();
    if (q) { hideDropdown(); navigate(`/search?q=${encodeURIComponent(q)}`); }
  } else if (e.key === "Escape") hideDropdown();
  else if (e.key === "ArrowDown" && !dropdown.hidden) { e.preventDefault(); dropdown.querySelector("a")?.focus(); }
});
dropdown.addEventListener("keydown", (e) => {
  const links = [...dropdown.querySelectorAll("a")];
  const i = links.indexOf(document.activeElement);
  if (e.key === "ArrowDown") { e.preventDefault(); links[Math.min(i + 1, links.length - 1)]?.focus(); }
  else if (e.key === "ArrowUp") { e.preventDefault(); (i <= 0 ? searchInput : links[i - 1]).focus(); }
  else if (e.key === "Escape") { hideDropdown(); searchInput.focus(); }
});

// ---------- the bell ----------
const bellButton = document.querySelector(".bell-button");
const bellPanel = document.getElementById("bell-panel");
const badge = document.querySelector("[data-test=bell-badge]");
const bellListeners = new Set();

/** Pages (notifications.js) are told when notifications change: fn(event) */
export function onNotificationsChanged(fn) { bellListeners.add(fn); return () => bellListeners.delete(fn); }

export function setUnread(n) {
  badge.textContent = n > 99 ? "99+" : String(n);
  badge.hidden = !n;
  badge.dataset.count = String(n);
  bellButton.setAttribute("aria-label", `${t("shell.notifications")} (${n})`);
}

async function refreshBell() {
  try {
    const body = await api("GET", "/notifications", undefined, { query: { limit: 10 } });
    setUnread(body.unread_count || 0);
    if (!bellPanel.hidden) renderBellPanel(body.data || []);
    return body;
  } catch (err) {
    console.warn("bell", err);
    return null;
  }
}

export function notificationNode(n, { onChange } = {}) {
  const path = n.ref ? refPath(n.ref) : (n.contact_id ? refPath("contact", n.contact_id) : null);
  const title = path ? h("a", { href: href(path), "data-link": true, class: "n-title" }, n.title) : h("span", { class: "n-title" }, n.title);
  return h("li", { class: `notification ${n.read ? "read" : "unread"}`, "data-test": "notification", "data-id": n.id, "data-read": String(!!n.read) },
    title,
    n.body ? h("p", { class: "n-body" }, n.body) : null,
    h("time", { datetime: n.created_at }, formatTime(n.created_at)),
    n.read ? null : h("button", {
      type: "button", class: "link-button", "data-test": "mark-read",
      "on:click": async () => {
        try {
          const r = await api("POST", `/notifications/${encodeURIComponent(n.id)}/read`);
          if (r && typeof r.unread_count === "number") setUnread(r.unread_count);
          notifyChanged({ type: "read", id: n.id });
          onChange?.();
        } catch (err) { toast(err.detail || err.message, "error"); }
      },
    }, t("shell.mark_read")));
}

export async function markAllRead() {
  await api("POST", "/notifications/read-all");
  setUnread(0);
  notifyChanged({ type: "read-all" });
}

function notifyChanged(event) {
  bellListeners.forEach((fn) => { try { fn(event); } catch (e) { console.error(e); } });
  if (!bellPanel.hidden && event.type !== "panel") refreshBell();
}

function renderBellPanel(items) {
  clear(bellPanel);
  bellPanel.appendChild(h("div", { class: "panel-head" },
    h("strong", {}, t("shell.notifications")),
    h("button", { type: "button", class: "link-button", "data-test": "mark-all-read", "on:click": () => markAllRead().catch((e) => toast(e.detail || e.message, "error")) }, t("shell.mark_all_read"))));
  if (!items.length) bellPanel.appendChild(h("p", { class: "empty" }, t("shell.no_notifications")));
  else bellPanel.appendChild(h("ul", { class: "notification-list", "data-test": "bell-list" }, items.map((n) => notificationNode(n))));
  bellPanel.appendChild(h("a", { href: href("/notifications"), "data-link": true, class: "all-results", "data-test": "bell-view-all" }, t("shell.view_all")));
}

bellButton.addEventListener("click", async () => {
  const open = bellPanel.hidden;
  closePanels();
  if (open) {
    bellPanel.hidden = false;
    bellButton.setAttribute("aria-expanded", "true");
    clear(bellPanel).appendChild(loading());
    await refreshBell();
  }
});

function startBell() {
  stopStream?.();
  refreshBell();
  stopStream = liveEvents((type, data) => {
    document.body.dataset.live = type === "reconnecting" ? "reconnecting" : "open";
    if (type === "ready") refreshBell(); // (re)connected: catch up with anything missed
    if (type === "notification_created") {
      toast(t("shell.new_notification", { title: data.title || "" }), "info");
      refreshBell();
      notifyChanged({ type: "created", notification: data });
    }
  });
}

// ---------- panels, menus, language, sign out ----------
function closePanels() {
  bellPanel.hidden = true;
  bellButton.setAttribute("aria-expanded", "false");
  document.getElementById("user-panel").hidden = true;
  document.querySelector(".user-button").setAttribute("aria-expanded", "false");
  hideDropdown();
}

document.querySelector(".user-button").addEventListener("click", () => {
  const panel = document.getElementById("user-panel");
  const open = panel.hidden;
  closePanels();
  panel.hidden = !open;
  document.querySelector(".user-button").setAttribute("aria-expanded", String(open));
});
document.querySelector("[data-test=sign-out]").addEventListener("click", () => {
  signOut();
  leaveApp();
  history.replaceState({}, "", href("/"));
});
document.querySelector(".menu-button").addEventListener("click", () => setMenu(!document.body.classList.contains("menu-open")));
document.getElementById("language").addEventListener("change", (e) => setLanguage(e.target.value));
document.getElementById("menu-language").addEventListener("change", (e) => setLanguage(e.target.value));
document.addEventListener("click", (e) => {
  if (!e.target.closest(".bell, .user-menu, .search")) closePanels();
  if (!e.target.closest(".nav, .menu-button") && document.body.classList.contains("menu-open")) setMenu(false);
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || document.querySelector(".backdrop")) return;
  // Focus goes back to the button of the panel that closes (it would be lost in a hidden panel).
  const opener = document.activeElement?.closest("#bell-panel") ? bellButton
    : document.activeElement?.closest("#user-panel") ? document.querySelector(".user-button") : null;
  closePanels();
  setMenu(false);
  opener?.focus();
});
onLanguageChange(() => {
  translateStatic();
  if (session.user) { renderNav(); refresh(); } else renderSignIn();
});
onUnauthorized(() => leaveApp());
onNavigate((kind) => { if (kind === "nav" && session.user) renderNav(); });

// ---------- boot ----------
async function loadPages() {
  let names = PAGE_MODULES.slice();
  try {
    const r = await fetch(href("/pages.json"), { cache: "no-cache" });
    if (r.ok) for (const n of (await r.json()).modules || []) if (!names.includes(n)) names.push(n);
  } catch { /* the static list is enough */ }
  await Promise.all(names.map((name) => import(`../pages/${name}.js`).catch((err) => console.warn(`page module ${name} not loaded:`, err.message))));
}

async function boot() {
  translateStatic();
  await loadPages();
  setRenderer(renderRoute);
  if (session.token) {
    try {
      session.user = await api("GET", "/me");
      session.save();
    } catch (err) {
      session.clear();
    }
  }
  if (session.user) {
    document.body.classList.remove("signed-out");
    topbar.hidden = false;
    navEl.hidden = false;
    showUser();
    startBell();
  }
  start();
  document.body.dataset.ready = "true";
}

export { route, nav, navigate };
boot();
