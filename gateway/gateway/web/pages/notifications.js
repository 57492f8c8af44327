// The notifications inbox: /app/notifications
import { api } from "../js/api.js";
import { t } from "../js/i18n.js";
import { h, clear, loading, errorBox, toast } from "../js/dom.js";
import { route, nav } from "../js/router.js";
import { notificationNode, onNotificationsChanged, markAllRead } from "../js/app.js";

nav({ href: "/notifications", label: "nav.notifications", section: "main", order: 90, test: "nav-notifications" });

route("/notifications", async (view, params, query) => {
  const unreadOnly = query.get("unread") === "true";
  const list = h("ul", { class: "notification-list inbox", "data-test": "inbox-list" });
  const more = h("button", { type: "button", "data-test": "inbox-more", hidden: true }, t("notifications.more"));
  const toggle = h("input", { type: "checkbox", id: "unread-only", checked: unreadOnly, "data-test": "inbox-unread-only" });
  view.appendChild(h("section", { "data-page": "notifications", class: "page" },
    h("div", { class: "page-head" },
      h("h1", {}, t("notifications.title")),
      h("div", { class: "actions" },
        h("label", { for: "unread-only", class: "inline" }, toggle, " ", t("notifications.unread_only")),
        h("button", { type: "button", "data-test": "inbox-mark-all", "on:click": () => markAllRead().then(reload).catch((e) => toast(e.detail || e.message, "error")) }, t("shell.mark_all_read")))),
    list, more));
  let cursor = null;
  async function load(reset) {
    if (reset) { cursor = null; clear(list).appendChild(loading()); }
    try {
      const body = await api("GET", "/notifications", undefined, { query: { limit: 50, cursor, unread: toggle.checked ? "true" : null } });
      if (reset) clear(list);
      for (const n of body.data || []) list.appendChild(notificationNode(n));
      if (!list.childNodes.length) list.appendChild(h("li", { class: "empty", "data-test": "inbox-empty" }, t("shell.no_notifications")));
      cursor = body.next_cursor;
      more.hidden = !cursor;
    } catch (err) {
      clear(list).appendChild(errorBox(err));
    }
  }
  const reload = () => load(true);
  toggle.addEventListener("change", reload);
  more.addEventListener("click", () => load(false));
  const stop = onNotificationsChanged((e) => { if (e.type !== "panel") reload(); });
  await load(true);
  return stop;
});
