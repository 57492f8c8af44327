// Admin: the overview of the admin pages, pipelines (stages as JSON) and the dead letters of every
// service with replay.
import { api } from "../js/api.js";
import { t, registerMessages, formatDateTime } from "../js/i18n.js";
import { h, toast, dialog, parseJson, jsonText, jsonBlock, confirmAction } from "../js/dom.js";
import { route, nav, navItems, link, navigate } from "../js/router.js";
import { crudPage, pageShell, badge } from "../js/desk.js";
import { pagedList } from "../js/lists.js";

const SERVICES = ["contacts", "sales", "service_desk", "notifications", "search"];
registerMessages("en", {
  "nav.admin": "Administration", "admin.title": "Administration", "nav.admin_pipelines": "Pipelines", "nav.admin_dead_letters": "Dead letters",
  "pl.title": "Pipelines", "pl.name": "Name", "pl.business_line": "Business line", "pl.stages": "Stages (JSON, in order)",
  "pl.stages_help": "Exactly one stage at 100 (won), at least one at 0 (lost).", "pl.stage_list": "Stages",
  "dl.title": "Dead letters", "dl.service": "Service", "dl.handler": "Handler", "dl.status": "Status", "dl.attempts": "Attempts",
  "dl.last_error": "Last error", "dl.first_failed": "First failed", "dl.last_failed": "Last failed", "dl.event": "Event",
  "dl.replay_confirm": "Retry this event now?",
  "svc.contacts": "Contacts", "svc.sales": "Sales", "svc.service_desk": "Service desk", "svc.notifications": "Notifications", "svc.search": "Search",
});
registerMessages("zh-CN", {
  "nav.admin": "系统管理", "admin.title": "系统管理", "nav.admin_pipelines": "销售管道", "nav.admin_dead_letters": "死信",
  "pl.title": "销售管道", "pl.name": "名称", "pl.business_line": "业务线", "pl.stages": "阶段（JSON，按顺序）",
  "pl.stages_help": "恰有一个阶段为 100（赢单），至少一个为 0（输单）。", "pl.stage_list": "阶段",
  "dl.title": "死信", "dl.service": "服务", "dl.handler": "处理器", "dl.status": "状态", "dl.attempts": "尝试次数",
  "dl.last_error": "最近错误", "dl.first_failed": "首次失败", "dl.last_failed": "最近失败", "dl.event": "事件",
  "dl.replay_confirm": "立即重试这个事件？",
  "svc.contacts": "联系人", "svc.sales": "销售", "svc.service_desk": "服务台", "svc.notifications": "通知", "svc.search": "搜索",
});

function renderOverview(view) {
  const shell = pageShell(view, "admin", t("admin.title"));
  const items = navItems().filter((e) => e.section === "admin" && e.href !== "/admin").sort((a, b) => a.order - b.order);
  shell.body.append(h("ul", { class: "admin-links", "data-test": "admin-links" }, items.map((e) => h("li", {}, link(e.href, t(e.label))))));
}

function renderPipelines(view) {
  const fields = [
    { name: "name", label: t("pl.name"), required: true },
    { name: "business_line", label: t("pl.business_line") },
    { name: "stages", label: t("pl.stages"), type: "textarea", rows: 10, required: true, help: t("pl.stages_help"),
      placeholder: '[{"name": "Qualify", "probability": 10}, {"name": "Won", "probability": 100}, {"name": "Lost", "probability": 0}]' },
  ];
  crudPage(view, {
    name: "admin-pipelines", title: t("pl.title"), path: "/pipelines", fields,
    toBody: (v) => ({ name: v.name, business_line: v.business_line, stages: parseJson(v, "stages", []) }),
    toValues: (r) => ({ ...r, stages: jsonText(r.stages) }),
    columns: [
      { key: "name", label: t("pl.name") },
      { key: "business_line", label: t("pl.business_line"), render: (r) => r.business_line || "" },
      { key: "stages", label: t("pl.stage_list"), render: (r) => h("ol", { class: "desk-stages" }, (r.stages || []).map((s) => h("li", {}, `${s.name} (${s.probability}%)`))) },
    ],
  });
}

function renderDeadLetters(view, params, query) {
  const service = SERVICES.includes(query.get("service")) ? query.get("service") : "contacts";
  const shell = pageShell(view, "admin-dead-letters", t("dl.title"));
  const tabs = h("div", { class: "desk-tabs", role: "tablist", "aria-label": t("dl.service") }, SERVICES.map((s) =>
    h("button", {
      type: "button", role: "tab", "aria-selected": String(s === service), "data-test": `dl-service-${s}`,
      "on:click": () => navigate(`/admin/dead-letters?service=${s}`, { replace: true }),
    }, t(`svc.${s}`))));
  shell.body.append(tabs);
  let list;
  list = pagedList({
    path: `/dead-letters/${service}`, test: "dead-letters",
    columns: [
      { key: "handler", label: t("dl.handler") },
      { key: "status", label: t("dl.status"), render: (r) => badge(r.status, `delivery-${r.status}`) },
      { key: "attempts", label: t("dl.attempts") },
      { key: "last_error", label: t("dl.last_error"), render: (r) => r.last_error || "" },
      { key: "first_failed_at", label: t("dl.first_failed"), render: (r) => formatDateTime(r.first_failed_at) },
      { key: "last_failed_at", label: t("dl.last_failed"), render: (r) => formatDateTime(r.last_failed_at) },
      { key: "_a", label: t("desk.actions"), render: (r) => h("span", { class: "desk-row-actions" },
        h("button", { type: "button", "data-test": "event", "on:click": () => dialog({ title: t("dl.event"), body: jsonBlock(r.event), actions: [{ label: t("shell.close") }] }) }, t("dl.event")),
        h("button", {
          type: "button", "data-test": "replay", "on:click": () => confirmAction({
            text: t("dl.replay_confirm"), label: t("desk.replay"),
            onConfirm: async () => { await api("POST", `/dead-letters/${service}/${encodeURIComponent(r.id)}/replay`); toast(t("desk.replayed"), "success"); list.reload(); },
          }),
        }, t("desk.replay"))) },
    ],
  });
  shell.body.append(list.el);
}

route("/admin", renderOverview, { roles: ["admin"], page: "admin" });
route("/admin/pipelines", renderPipelines, { roles: ["admin"], page: "admin-pipelines" });
route("/admin/dead-letters", renderDeadLetters, { roles: ["admin"], page: "admin-dead-letters" });
nav({ href: "/admin", label: "nav.admin", section: "admin", order: 1, roles: ["admin"] });
nav({ href: "/admin/pipelines", label: "nav.admin_pipelines", section: "admin", order: 25, roles: ["admin"] });
nav({ href: "/admin/dead-letters", label: "nav.admin_dead_letters", section: "admin", order: 90, roles: ["admin"] });
