// Admin: API keys (the secret shown once on creation; revoke with confirmation).
import { api } from "../js/api.js";
import { t, registerMessages, formatDateTime } from "../js/i18n.js";
import { h, toast, dialog, parseJson, formDialog } from "../js/dom.js";
import { route, nav } from "../js/router.js";
import { crudPage, ROLES } from "../js/desk.js";
import { userLabel } from "../js/users.js";

registerMessages("en", {
  "nav.admin_api_keys": "API keys", "keys.title": "API keys", "keys.name": "Name", "keys.role": "Role",
  "keys.user": "Acts for", "keys.user_id": "User id (empty: you)", "keys.rate_limit": "Own rate limit (JSON, optional)",
  "keys.last_used": "Last used", "keys.revoked": "Revoked", "keys.created": "Created", "keys.secret_title": "Your new API key",
  "keys.secret_once": "Copy it now: it is shown this once and never again.", "keys.revoke": "Revoke",
  "keys.confirm_revoke": "Revoke the key “{name}”? Integrations using it stop working at once.",
});
registerMessages("zh-CN", {
  "nav.admin_api_keys": "API 密钥", "keys.title": "API 密钥", "keys.name": "名称", "keys.role": "角色",
  "keys.user": "代表用户", "keys.user_id": "用户编号（留空：你自己）", "keys.rate_limit": "独立限流（JSON，可选）",
  "keys.last_used": "最近使用", "keys.revoked": "已吊销", "keys.created": "创建时间", "keys.secret_title": "新的 API 密钥",
  "keys.secret_once": "请立即复制：它只显示这一次。", "keys.revoke": "吊销",
  "keys.confirm_revoke": "吊销密钥“{name}”？使用它的集成将立即失效。",
});

function renderKeys(view) {
  const page = crudPage(view, {
    name: "admin-api-keys", title: t("keys.title"), path: "/api-keys",
    columns: [
      { key: "name", label: t("keys.name") },
      { key: "role", label: t("keys.role"), render: (r) => t(`role.${r.role}`) },
      { key: "user_id", label: t("keys.user"), render: (r) => userLabel(r.user_id) },
      { key: "last_used_at", label: t("keys.last_used"), render: (r) => formatDateTime(r.last_used_at) },
      { key: "created_at", label: t("keys.created"), render: (r) => formatDateTime(r.created_at) },
      { key: "revoked_at", label: t("keys.revoked"), render: (r) => formatDateTime(r.revoked_at) },
    ],
    rowName: (r) => r.name, deleteLabel: t("keys.revoke"), canDelete: (r) => !r.revoked_at,
    confirmText: (r) => t("keys.confirm_revoke", { name: r.name }),
  });
  // Keys are created here (the answer holds the secret once) and revoked, never edited.
  const newButton = page.shell.toolbar.querySelector("[data-test=new]");
  newButton?.remove();
  page.shell.toolbar.append(h("button", {
    type: "button", class: "primary", "data-test": "new", "on:click": () => formDialog({
      title: t("keys.title"),
      fields: [
        { name: "name", label: t("keys.name"), required: true },
        { name: "role", label: t("keys.role"), type: "select", required: true, options: ROLES.map((r) => ({ value: r, label: t(`role.${r}`) })) },
        { name: "user_id", label: t("keys.user_id") },
        { name: "rate_limit", label: t("keys.rate_limit"), type: "textarea", rows: 2, placeholder: '{"per_second": "0.5", "burst": 20}' },
      ],
      values: { role: "viewer" },
      toBody: (v) => ({ name: v.name, role: v.role, user_id: v.user_id || undefined, rate_limit: parseJson(v, "rate_limit") || undefined }),
      onSave: async (body) => {
        const created = await api("POST", "/api-keys", body);
        const secret = created.key || created.api_key || created.secret || "";
        dialog({ title: t("keys.secret_title"), test: "api-key-secret", body: h("div", {}, h("p", {}, t("keys.secret_once")), h("code", { class: "desk-secret", "data-test": "api-key-value" }, secret)), actions: [{ label: t("shell.close") }] });
        toast(t("desk.created"), "success");
        page.list.reload();
      },
    }),
  }, t("desk.new")));
}

route("/admin/api-keys", renderKeys, { roles: ["admin"], page: "admin-api-keys" });
nav({ href: "/admin/api-keys", label: "nav.admin_api_keys", section: "admin", order: 13, roles: ["admin"] });
