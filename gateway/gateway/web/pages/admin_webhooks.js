// Admin: webhooks (subscriptions; the signing secret shown once) and each one's delivery log with replay.
import { api } from "../js/api.js";
import { t, registerMessages, formatDateTime } from "../js/i18n.js";
import { h, toast, dialog, errorBox, loading, clear, parseJson, jsonText, splitList, formDialog, jsonBlock, confirmAction } from "../js/dom.js";
import { route, nav, navigate, link } from "../js/router.js";
import { crudPage, pageShell, yesNo, badge } from "../js/desk.js";
import { pagedList } from "../js/lists.js";

const STATUSES = ["queued", "sending", "sent", "retrying", "dead", "cancelled"];
registerMessages("en", {
  "nav.admin_webhooks": "Webhooks", "wh.title": "Webhooks", "wh.url": "URL", "wh.events": "Events",
  "wh.events_help": "Comma-separated, e.g. service_desk.ticket_created, sales.deal_updated", "wh.filters": "Filters (JSON, optional)",
  "wh.description": "Description", "wh.active": "Active", "wh.failures": "Failures in a row", "wh.disabled": "Switched off",
  "wh.secret_title": "Signing secret", "wh.secret_once": "Copy it now: it is shown this once.", "wh.deliveries": "Delivery log",
  "wh.status": "Status", "wh.kind": "Event", "wh.attempts": "Attempts", "wh.replays": "Replays", "wh.last_error": "Last error",
  "wh.sent_at": "Sent", "wh.created_at": "Created", "wh.replay_confirm": "Send this delivery again?", "wh.payload": "Payload",
  "wh.back": "Back to webhooks", "wh.open": "Deliveries",
});
registerMessages("zh-CN", {
  "nav.admin_webhooks": "Webhook", "wh.title": "Webhook", "wh.url": "URL", "wh.events": "事件",
  "wh.events_help": "用逗号分隔，例如 service_desk.ticket_created, sales.deal_updated", "wh.filters": "过滤条件（JSON，可选）",
  "wh.description": "说明", "wh.active": "启用", "wh.failures": "连续失败次数", "wh.disabled": "已停用",
  "wh.secret_title": "签名密钥", "wh.secret_once": "请立即复制：它只显示这一次。", "wh.deliveries": "投递记录",
  "wh.status": "状态", "wh.kind": "事件", "wh.attempts": "尝试次数", "wh.replays": "重投次数", "wh.last_error": "最近错误",
  "wh.sent_at": "发送时间", "wh.created_at": "创建时间", "wh.replay_confirm": "重新发送这次投递？", "wh.payload": "内容",
  "wh.back": "返回 Webhook 列表", "wh.open": "投递记录",
});

function renderWebhooks(view) {
  const fields = [
    { name: "url", label: t("wh.url"), type: "url", required: true },
    { name: "event_types", label: t("wh.events"), required: true, help: t("wh.events_help") },
    { name: "filters", label: t("wh.filters"), type: "textarea", rows: 2 },
    { name: "description", label: t("wh.description") },
    { name: "active", label: t("wh.active"), type: "checkbox" },
  ];
  const toBody = (v) => ({ url: v.url, event_types: splitList(v.event_types), filters: parseJson(v, "filters", {}), description: v.description, active: !!v.active });
  const page = crudPage(view, {
    name: "admin-webhooks", title: t("wh.title"), path: "/webhooks", editFields: fields, toBody, rowName: (r) => r.url,
    toValues: (r) => ({ ...r, event_types: (r.event_types || []).join(", "), filters: Object.keys(r.filters || {}).length ? jsonText(r.filters) : "" }),
    onRowClick: (r) => navigate(`/admin/webhooks/${encodeURIComponent(r.id)}`),
    columns: [
      { key: "url", label: t("wh.url"), render: (r) => link(`/admin/webhooks/${encodeURIComponent(r.id)}`, r.url, { "data-test": "webhook-link" }) },
      { key: "event_types", label: t("wh.events"), render: (r) => (r.event_types || []).join(", ") },
      { key: "active", label: t("wh.active"), render: (r) => (r.active ? yesNo(true) : badge(t("wh.disabled"), "warn")) },
      { key: "consecutive_failures", label: t("wh.failures") },
    ],
  });
  page.shell.toolbar.append(h("button", {
    type: "button", class: "primary", "data-test": "new", "on:click": () => formDialog({
      title: t("wh.title"), fields, values: { active: true }, toBody,
      onSave: async (body) => {
        const created = await api("POST", "/webhooks", body);
        dialog({ title: t("wh.secret_title"), test: "webhook-secret", body: h("div", {}, h("p", {}, t("wh.secret_once")), h("code", { class: "desk-secret", "data-test": "webhook-secret-value" }, created.secret || "")), actions: [{ label: t("shell.close") }] });
        page.list.reload();
      },
    }),
  }, t("desk.new")));
}

/** A delivery log with replay (used by the webhook page). */
export function deliveryLog({ path, replayPath, query = {}, test = "deliveries" }) {
  let list;
  const statusSel = h("select", { "data-test": "delivery-status", "aria-label": t("wh.status"), "on:change": () => list.reload({ ...query, status: statusSel.value }) },
    h("option", { value: "" }, t("desk.all")), STATUSES.map((s) => h("option", { value: s }, s)));
  list = pagedList({
    path, query, test,
    columns: [
      { key: "created_at", label: t("wh.created_at"), render: (r) => formatDateTime(r.created_at) },
      { key: "kind", label: t("wh.kind") },
      { key: "status", label: t("wh.status"), render: (r) => badge(r.status, `delivery-${r.status}`) },
      { key: "attempts", label: t("wh.attempts") },
      { key: "replays", label: t("wh.replays") },
      { key: "last_error", label: t("wh.last_error"), render: (r) => r.last_error || "" },
      { key: "sent_at", label: t("wh.sent_at"), render: (r) => formatDateTime(r.sent_at) },
      { key: "_a", label: t("desk.actions"), render: (r) => h("span", { class: "desk-row-actions" },
        h("button", { type: "button", "data-test": "payload", "on:click": () => dialog({ title: t("wh.payload"), body: jsonBlock(r.payload), actions: [{ label: t("shell.close") }] }) }, t("wh.payload")),
        ["sent", "dead"].includes(r.status) ? h("button", {
          type: "button", "data-test": "replay", "on:click": () => confirmAction({
            text: t("wh.replay_confirm"), label: t("desk.replay"),
            onConfirm: async () => { await api("POST", replayPath(r)); toast(t("desk.replayed"), "success"); list.reload(); },
          }),
        }, t("desk.replay")) : null) },
    ],
  });
  return h("div", { class: "delivery-log" }, h("div", { class: "desk-filters" }, statusSel), list.el);
}

async function renderWebhook(view, params) {
  const id = encodeURIComponent(params.id);
  const shell = pageShell(view, "admin-webhook", t("wh.deliveries"));
  shell.body.append(h("p", { class: "desk-back" }, link("/admin/webhooks", `← ${t("wh.back")}`)));
  const head = h("div", { class: "desk-card" }, loading());
  shell.body.append(head);
  try {
    const w = await api("GET", `/webhooks/${id}`);
    clear(head).append(h("dl", { class: "desk-dl" },
      h("dt", {}, t("wh.url")), h("dd", { "data-test": "webhook-url" }, w.url),
      h("dt", {}, t("wh.events")), h("dd", {}, (w.event_types || []).join(", ")),
      h("dt", {}, t("wh.active")), h("dd", {}, yesNo(w.active), w.disabled_reason ? ` — ${w.disabled_reason}` : ""),
      h("dt", {}, t("wh.failures")), h("dd", {}, String(w.consecutive_failures))));
  } catch (err) { clear(head).append(errorBox(err)); return; }
  shell.body.append(deliveryLog({
    path: `/webhooks/${id}/deliveries`, test: "webhook-deliveries",
    replayPath: (r) => `/webhooks/${id}/deliveries/${encodeURIComponent(r.id)}/replay`,
  }));
}

route("/admin/webhooks", renderWebhooks, { roles: ["admin"], page: "admin-webhooks" });
route("/admin/webhooks/:id", renderWebhook, { roles: ["admin"], page: "admin-webhook" });
nav({ href: "/admin/webhooks", label: "nav.admin_webhooks", section: "admin", order: 60, roles: ["admin"] });
