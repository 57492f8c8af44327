// The one way pages talk to the gateway: public /api/v1 routes, Bearer token, problem+json errors.
const BASE = "/api/v1";
const STORE_KEY = "crm.session";

export class ApiError extends Error {
  constructor(status, body) {
    const problem = body && typeof body === "object" ? body : {};
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.title = problem.title || "";
    this.detail = problem.detail || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.body = body;
  }
}

// {token, refreshToken, user}; persisted in sessionStorage (gone when the tab closes).
export const session = {
  token: null,
  refreshToken: null,
  user: null,
  load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
      if (saved) Object.assign(this, saved);
    } catch { /* corrupt storage: start signed out */ }
    return this;
  },
  save() {
    sessionStorage.setItem(STORE_KEY, JSON.stringify({ token: this.token, refreshToken: this.refreshToken, user: this.user }));
  },
  clear() {
    this.token = this.refreshToken = this.user = null;
    sessionStorage.removeItem(STORE_KEY);
  },
  hasRole(...roles) {
    return !!this.user && (this.user.roles || []).some((r) => roles.includes(r));
  },
};
session.load();

function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function buildUrl(path, query) {
  const url = new URL(BASE + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === "") continue;
    url.searchParams.set(k, Array.isArray(v) ? v.join(",") : String(v));
  }
  return url.pathname + url.search;
}

async function parse(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return text; }
}

let refreshing = null;
async function refresh() {
  if (!session.refreshToken) return false;
  refreshing ||= (async () => {
    try {
      const r = await fetch(BASE + "/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ refresh_token: session.refreshToken }),
      });
      if (!r.ok) return false;
      const body = await r.json();
      session.token = body.access_token;
      session.refreshToken = body.refresh_token || session.refreshToken;
      session.save();
      return true;
    } catch { return false; } finally { setTimeout(() => { refreshing = null; }, 0); }
  })();
  return refreshing;
}

// Listeners told when the session is no longer valid (app.js shows the sign-in page).
const unauthorizedListeners = new Set();
export function onUnauthorized(fn) { unauthorizedListeners.add(fn); return () => unauthorizedListeners.delete(fn); }

/** api(method, path, body?, {ifMatch, query, headers, raw}) → parsed JSON (null for 204).
 *  `raw: true` returns the Response itself (e.g. to read ETag). Throws ApiError. */
export async function api(method, path, body, { ifMatch, query, headers = {}, raw = false, signal } = {}, retried = false) {
  const init = { method, headers: { Accept: "application/json, application/problem+json", ...headers }, signal };
  if (session.token) init.headers.Authorization = `Bearer ${session.token}`;
  if (method === "POST" && !init.headers["Idempotency-Key"]) init.headers["Idempotency-Key"] = newKey();
  if (ifMatch) init.headers["If-Match"] = ifMatch;
  if (body instanceof FormData || body instanceof Blob) init.body = body;
  else if (body !== undefined && body !== null) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(buildUrl(path, query), init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { title: "Network error", detail: String(err.message || err) });
  }
  if (response.status === 401 && session.token && !path.startsWith("/auth/")) {
    if (!retried && (await refresh())) return api(method, path, body, { ifMatch, query, headers, raw, signal }, true);
    session.clear();
    unauthorizedListeners.forEach((fn) => fn());
  }
  if (!response.ok) throw new ApiError(response.status, await parse(response));
  if (raw) return response;
  const data = await parse(response);
  const etag = response.headers.get("ETag");
  if (etag && data && typeof data === "object" && !Array.isArray(data)) {
    Object.defineProperty(data, "_etag", { value: etag, enumerable: false });
  }
  return data;
}

/** The If-Match value for a record: the ETag api() read with it (`_etag`), else its version. */
export function etagOf(record) {
  return record?._etag || (record?.version !== undefined && record?.version !== null ? `"${record.version}"` : undefined);
}

/** Every item of a cursor-paged list: `for await (const item of pages("/contacts", {limit: 200}))`. */
export async function* pages(path, query = {}) {
  let cursor = null;
  do {
    const body = await api("GET", path, undefined, { query: { ...query, cursor } });
    for (const item of body.data || []) yield item;
    cursor = body.next_cursor;
  } while (cursor);
}

/** Every item of a cursor-paged list as an array (at most `max`). */
export async function allPages(path, query = {}, max = 2000) {
  const out = [];
  for await (const item of pages(path, { limit: 200, ...query })) {
    out.push(item);
    if (out.length >= max) break;
  }
  return out;
}

export async function signIn(email, password) {
  const tokens = await api("POST", "/auth/token", { email, password });
  session.token = tokens.access_token;
  session.refreshToken = tokens.refresh_token || null;
  session.user = null;
  session.save();
  session.user = await api("GET", "/me");
  session.save();
  return session.user;
}

export function signOut() {
  session.clear();
}

/** The live event stream (SSE) read with fetch so the Bearer token goes in a header, never in the
 *  URL. onEvent(type, data). Reconnects by itself; returns a stop() function. */
export function liveEvents(onEvent) {
  let stopped = false;
  let controller = null;
  let retryMs = 3000;
  async function connect() {
    while (!stopped && session.token) {
      controller = new AbortController();
      try {
        const response = await fetch(BASE + "/events/stream", {
          headers: { Authorization: `Bearer ${session.token}`, Accept: "text/event-stream" },
          signal: controller.signal,
          cache: "no-store",
        });
        if (response.status === 401) { if (!(await refresh())) { stopped = true; session.clear(); unauthorizedListeners.forEach((fn) => fn()); return; } continue; }
        if (!response.ok || !response.body) throw new Error(`stream ${response.status}`);
        onEvent("open", {});
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value.replace(/\r\n?/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let type = "message";
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) continue;
              const i = line.indexOf(":");
              const field = i < 0 ? line : line.slice(0, i);
              const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
              if (field === "event") type = val;
              else if (field === "data") data.push(val);
              else if (field === "retry" && /^\d+$/.test(val)) retryMs = Number(val);
            }
            if (data.length) {
              let parsed = data.join("\n");
              try { parsed = JSON.parse(parsed); } catch { /* plain text */ }
              onEvent(type, parsed);
            }
          }
        }
      } catch (err) {
        if (stopped) return;
      }
      if (stopped) return;
      onEvent("reconnecting", {});
      await new Promise((r) => setTimeout(r, retryMs));
    }
  }
  connect();
  return () => { stopped = true; controller?.abort(); };
}
