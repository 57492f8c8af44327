// Admin: customer pool reclaim rules and the claim limits.
import { api } from "../js/api.js";
import { t, registerMessages } from "../js/i18n.js";
import { h, form, toast, errorBox, parseJson, jsonText } from "../js/dom.js";
import { route, nav } from "../js/router.js";
import { crudPage, yesNo } from "../js/desk.js";

registerMessages("en", {
  "nav.admin_pool": "Pool rules", "pool.title": "Customer pool rules", "pool.name": "Name", "pool.description": "Description",
  "pool.active": "Active", "pool.conditions": "Conditions (JSON)", "pool.notice_days": "Notice days",
  "pool.settings": "Claim limits", "pool.max_owned": "Most customers a rep may own (empty: no limit)",
  "pool.max_claims": "Most claims per day (empty: no limit)", "pool.cooldown": "Days before a released customer may be claimed back",
});
registerMessages("zh-CN", {
  "nav.admin_pool": "公海规则", "pool.title": "客户公海规则", "pool.name": "名称", "pool.description": "说明",
  "pool.active": "启用", "pool.conditions": "条件（JSON）", "pool.notice_days": "提前通知天数",
  "pool.settings": "领取限制", "pool.max_owned": "每位销售最多拥有客户数（留空：不限）",
  "pool.max_claims": "每天最多领取数（留空：不限）", "pool.cooldown": "释放后可再次领取的间隔天数",
});

async function renderPool(view) {
  const fields = [
    { name: "name", label: t("pool.name"), required: true },
    { name: "description", label: t("pool.description"), type: "textarea", rows: 2 },
    { name: "active", label: t("pool.active"), type: "checkbox" },
    { name: "conditions", label: t("pool.conditions"), type: "textarea", rows: 4, required: true, placeholder: '{"no_interaction_days": 30}' },
    { name: "notice_days", label: t("pool.notice_days"), type: "number", min: 0 },
  ];
  const toBody = (v) => {
    const body = { name: v.name, description: v.description, active: !!v.active, conditions: parseJson(v, "conditions", {}) };
    if (v.notice_days !== null) body.notice_days = Number(v.notice_days);
    return body;
  };
  const page = crudPage(view, {
    name: "admin-pool", title: t("pool.title"), path: "/pool/rules", fields, toBody,
    toValues: (r) => ({ ...r, conditions: jsonText(r.conditions) }),
    columns: [
      { key: "name", label: t("pool.name") },
      { key: "active", label: t("pool.active"), render: (r) => yesNo(r.active) },
      { key: "conditions", label: t("pool.conditions"), render: (r) => h("code", {}, JSON.stringify(r.conditions || {})) },
      { key: "notice_days", label: t("pool.notice_days") },
    ],
  });
  const box = h("div", { class: "desk-card", "data-test": "pool-settings" }, h("h2", {}, t("pool.settings")));
  page.shell.body.prepend(box);
  try {
    const settings = await api("GET", "/pool/settings");
    let etag = settings._etag;
    const intOrNull = (x) => (x === null ? null : Number(x));
    box.append(form([
      { name: "max_owned_per_rep", label: t("pool.max_owned"), type: "number", min: 0 },
      { name: "max_claims_per_day", label: t("pool.max_claims"), type: "number", min: 0 },
      { name: "reclaim_cooldown_days", label: t("pool.cooldown"), type: "number", min: 0, required: true },
    ], settings, {
      test: "pool-settings-form",
      onSubmit: async (v) => {
        const saved = await api("PATCH", "/pool/settings", { max_owned_per_rep: intOrNull(v.max_owned_per_rep), max_claims_per_day: intOrNull(v.max_claims_per_day), reclaim_cooldown_days: Number(v.reclaim_cooldown_days ?? 0) }, { ifMatch: etag });
        etag = saved._etag;
        toast(t("desk.saved"), "success");
      },
    }));
  } catch (err) { box.append(errorBox(err)); }
}

route("/admin/pool", renderPool, { roles: ["admin"], page: "admin-pool" });
nav({ href: "/admin/pool", label: "nav.admin_pool", section: "admin", order: 40, roles: ["admin"] });
