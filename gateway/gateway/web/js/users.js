// User names: ids shown as names. One directory per session (GET /users, every page followed),
// loaded on first use; a failed read leaves the ids showing.
import { pages, session } from "./api.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";

let cache = null; // {token, promise}

/** Every user (the directory), cached per session token. Resolves to [] when it cannot be read. */
export function users() {
  if (!cache || cache.token !== session.token) {
    const promise = (async () => {
      const out = [];
      try {
        for await (const u of pages("/users", { limit: 200 })) {
          out.push(u);
          if (out.length >= 5000) break;
        }
      } catch { /* names are a nicety: ids are shown instead */ }
      return out;
    })();
    cache = { token: session.token, promise };
  }
  return cache.promise;
}

/** id → display name (name, else email, else id) of every user. */
export async function userNames() {
  return new Map((await users()).map((u) => [u.id, u.name || u.email || u.id]));
}

/** The name of one id in a map from userNames(): synchronous, "" for no id, the id when unknown. */
export function nameIn(names, id) {
  if (!id) return "";
  return names?.get(id) || id;
}

/** The name of one user id (async); null for no id, the id itself when unknown. */
export async function userName(id) {
  if (!id) return null;
  return nameIn(await userNames(), id);
}

/** A <span> showing the id at once and the user's name once known ("—" for no id). */
export function userLabel(id) {
  const span = h("span", { class: "user-name" }, id || t("shell.none"));
  if (id) userName(id).then((n) => { span.textContent = n; });
  return span;
}
