// Admin: SLA policies (conditions, targets per priority and the escalation ladder, as JSON).
import { t, registerMessages } from "../js/i18n.js";
import { h, parseJson, jsonText, splitList } from "../js/dom.js";
import { route, nav } from "../js/router.js";
import { crudPage, yesNo } from "../js/desk.js";

registerMessages("en", {
  "nav.admin_sla": "SLA policies", "sla.title": "SLA policies", "sla.name": "Name", "sla.position": "Position",
  "sla.active": "Active", "sla.conditions": "Conditions (JSON)", "sla.targets": "Targets per priority (JSON)",
  "sla.calendar": "Business calendar id (empty: 24x7)", "sla.pause": "Pausing statuses", "sla.escalations": "Escalations (JSON)",
  "sla.targets_short": "First response / resolution (min)",
});
registerMessages("zh-CN", {
  "nav.admin_sla": "SLA 策略", "sla.title": "SLA 策略", "sla.name": "名称", "sla.position": "顺序",
  "sla.active": "启用", "sla.conditions": "匹配条件（JSON）", "sla.targets": "各优先级目标（JSON）",
  "sla.calendar": "工作日历编号（留空：7x24）", "sla.pause": "暂停计时的状态", "sla.escalations": "升级规则（JSON）",
  "sla.targets_short": "首次响应 / 解决（分钟）",
});

const EXAMPLE_TARGETS = '{"urgent": {"first_response_minutes": 30, "resolution_minutes": 240}, "normal": {"first_response_minutes": 240, "resolution_minutes": 2880}}';

function renderSla(view) {
  const fields = [
    { name: "name", label: t("sla.name"), required: true },
    { name: "position", label: t("sla.position"), type: "number", min: 0 },
    { name: "active", label: t("sla.active"), type: "checkbox" },
    { name: "conditions", label: t("sla.conditions"), type: "textarea", rows: 3, placeholder: '{"kind": ["complaint"]}' },
    { name: "targets", label: t("sla.targets"), type: "textarea", rows: 6, required: true, placeholder: EXAMPLE_TARGETS },
    { name: "calendar_id", label: t("sla.calendar") },
    { name: "pause_statuses", label: t("sla.pause"), help: "pending, on_hold" },
    { name: "escalations", label: t("sla.escalations"), type: "textarea", rows: 4 },
  ];
  const toBody = (v) => {
    const body = {
      name: v.name, active: !!v.active, conditions: parseJson(v, "conditions", {}), targets: parseJson(v, "targets", {}),
      calendar_id: v.calendar_id || null, pause_statuses: splitList(v.pause_statuses), escalations: parseJson(v, "escalations", []),
    };
    if (v.position !== null) body.position = Number(v.position);
    return body;
  };
  crudPage(view, {
    name: "admin-sla", title: t("sla.title"), path: "/sla-policies", fields, toBody,
    toValues: (r) => ({ ...r, conditions: jsonText(r.conditions), targets: jsonText(r.targets), escalations: jsonText(r.escalations), pause_statuses: (r.pause_statuses || []).join(", ") }),
    columns: [
      { key: "position", label: t("sla.position") },
      { key: "name", label: t("sla.name") },
      { key: "active", label: t("sla.active"), render: (r) => yesNo(r.active) },
      { key: "conditions", label: t("sla.conditions"), render: (r) => h("code", {}, JSON.stringify(r.conditions || {})) },
      { key: "targets", label: t("sla.targets_short"), render: (r) => h("ul", { class: "desk-plain" }, Object.entries(r.targets || {}).map(([p, x]) => h("li", {}, `${t(`priority.${p}`)}: ${x.first_response_minutes ?? "—"} / ${x.resolution_minutes ?? "—"}`))) },
    ],
  });
}

route("/admin/sla-policies", renderSla, { roles: ["admin"], page: "admin-sla" });
nav({ href: "/admin/sla-policies", label: "nav.admin_sla", section: "admin", order: 30, roles: ["admin"] });
