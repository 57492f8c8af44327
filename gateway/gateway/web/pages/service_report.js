// The service report: backlog, volumes, response and resolution times, SLA compliance and CSAT
// (GET /reports/service), as hand-written SVG charts each with a table alternative; and the
// satisfaction results (answered surveys) of the tickets the caller sees.
import { api } from "../js/api.js";
import { t, registerMessages, formatNumber, formatDateTime } from "../js/i18n.js";
import { h, clear, table, errorBox, loading } from "../js/dom.js";
import { route, nav, link } from "../js/router.js";
import { pageShell, num, pct } from "../js/desk.js";
import { pagedList } from "../js/lists.js";

const GROUPS = ["team", "agent", "category", "customer_grade", "priority", "kind", "period"];
const PERIODS = ["day", "week", "month"];

registerMessages("en", {
  "nav.service_report": "Service report", "sr.title": "Service report", "sr.from": "From", "sr.to": "To",
  "sr.group_by": "Group by", "sr.period": "Period", "sr.show": "Show",
  "sr.group.team": "Team", "sr.group.agent": "Agent", "sr.group.category": "Category", "sr.group.customer_grade": "Customer grade",
  "sr.group.priority": "Priority", "sr.group.kind": "Kind", "sr.group.period": "Period",
  "sr.period.day": "Day", "sr.period.week": "Week", "sr.period.month": "Month",
  "sr.backlog": "Backlog now", "sr.created": "Created", "sr.resolved": "Resolved", "sr.compliance": "SLA compliance",
  "sr.met": "Met", "sr.breached": "Breached", "sr.csat_avg": "CSAT average", "sr.satisfied": "Satisfied (4-5)",
  "sr.responses": "Responses", "sr.fr_median": "First response median (min)", "sr.fr_p90": "First response p90 (min)",
  "sr.res_median": "Resolution median (min)", "sr.res_p90": "Resolution p90 (min)", "sr.key": "Group",
  "sr.none_key": "(none)", "sr.chart_volume": "Tickets created and resolved per group",
  "sr.chart_sla": "SLA targets met and breached per group", "sr.chart_csat": "Satisfaction scores: answers per score",
  "sr.chart_times": "Median business minutes to first response and to resolution per group",
  "sr.score": "Score", "sr.answers": "Answers", "sr.results": "Satisfaction results", "sr.ticket": "Ticket",
  "sr.comment": "Comment", "sr.answered_at": "Answered", "sr.generated": "Generated {at}", "sr.minutes": "Minutes",
  "sr.earlier": "earlier", "sr.later": "later",
});
registerMessages("zh-CN", {
  "nav.service_report": "服务报表", "sr.title": "服务报表", "sr.from": "开始", "sr.to": "结束",
  "sr.group_by": "分组", "sr.period": "周期", "sr.show": "查看",
  "sr.group.team": "团队", "sr.group.agent": "客服", "sr.group.category": "分类", "sr.group.customer_grade": "客户等级",
  "sr.group.priority": "优先级", "sr.group.kind": "类型", "sr.group.period": "周期",
  "sr.period.day": "日", "sr.period.week": "周", "sr.period.month": "月",
  "sr.backlog": "当前积压", "sr.created": "新建", "sr.resolved": "已解决", "sr.compliance": "SLA 达成率",
  "sr.met": "达成", "sr.breached": "违约", "sr.csat_avg": "满意度均分", "sr.satisfied": "满意（4-5 分）",
  "sr.responses": "回复数", "sr.fr_median": "首次响应中位数（分钟）", "sr.fr_p90": "首次响应 P90（分钟）",
  "sr.res_median": "解决中位数（分钟）", "sr.res_p90": "解决 P90（分钟）", "sr.key": "分组",
  "sr.none_key": "（无）", "sr.chart_volume": "各分组新建与解决的工单数",
  "sr.chart_sla": "各分组 SLA 达成与违约数", "sr.chart_csat": "满意度评分：各分数的回复数",
  "sr.chart_times": "各分组首次响应与解决的工作时间中位数（分钟）",
  "sr.score": "评分", "sr.answers": "回复数", "sr.results": "满意度结果", "sr.ticket": "工单",
  "sr.comment": "评语", "sr.answered_at": "回复时间", "sr.generated": "生成于 {at}", "sr.minutes": "分钟",
  "sr.earlier": "更早", "sr.later": "更晚",
});

const NS = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** A grouped bar chart: categories × series, drawn in an SVG viewBox (scales with the width). */
function barChart({ title, categories, series, test }) {
  const W = 640, H = 260, left = 48, bottom = 56, top = 16, right = 12;
  const max = Math.max(1, ...series.flatMap((se) => se.values.map((v) => Number(v) || 0)));
  const plotW = W - left - right, plotH = H - top - bottom;
  const groupW = plotW / Math.max(1, categories.length);
  const barW = Math.max(2, Math.min(28, (groupW - 8) / series.length));
  const y = (v) => top + plotH - (plotH * (Number(v) || 0)) / max;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(max * f));
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart desk-chart", role: "img", "aria-label": title, "data-test": test, preserveAspectRatio: "xMidYMid meet" },
    s("title", {}, title),
    [...new Set(ticks)].map((v) => s("g", { class: "chart-grid" },
      s("line", { x1: left, x2: W - right, y1: y(v), y2: y(v) }),
      s("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "chart-axis" }, formatNumber(v)))),
    categories.map((cat, i) => {
      const x0 = left + i * groupW + (groupW - barW * series.length) / 2;
      return s("g", {},
        series.map((se, j) => {
          const v = Number(se.values[i]) || 0;
          return s("rect", { x: x0 + j * barW, y: y(v), width: barW - 1, height: Math.max(0, top + plotH - y(v)), class: `chart-bar series-${j}` },
            s("title", {}, `${cat} · ${se.label}: ${formatNumber(v)}`));
        }),
        s("text", { x: left + i * groupW + groupW / 2, y: H - bottom + 16, "text-anchor": "middle", class: "chart-axis" },
          String(cat).length > 12 ? String(cat).slice(0, 11) + "…" : String(cat)));
    }),
    s("g", { class: "chart-legend" }, series.map((se, j) => s("g", {},
      s("rect", { x: left + j * 150, y: H - 22, width: 12, height: 12, class: `chart-bar series-${j}` }),
      s("text", { x: left + j * 150 + 18, y: H - 12, class: "chart-axis" }, se.label)))));
  return svg;
}

/** A figure with the chart and a "Show as table" toggle (the same figures as text). */
function chartBlock({ title, categories, series, test }) {
  const chart = barChart({ title, categories, series, test });
  const tbl = table({
    columns: [{ key: "cat", label: t("sr.key") }].concat(series.map((se, j) => ({ key: `s${j}`, label: se.label }))),
    rows: categories.map((cat, i) => Object.fromEntries([["cat", cat]].concat(series.map((se, j) => [`s${j}`, se.values[i] === null || se.values[i] === undefined ? t("desk.none") : formatNumber(se.values[i])])))),
    test: `${test}-table`,
  });
  const chartBox = h("div", { class: "chart-box" }, chart);
  const tableBox = h("div", { class: "chart-table", hidden: true }, tbl);
  const toggle = h("button", {
    type: "button", class: "chart-toggle", "aria-pressed": "false", "data-test": `${test}-toggle`,
    "on:click": () => {
      const showTable = tableBox.hidden;
      tableBox.hidden = !showTable;
      chartBox.hidden = showTable;
      toggle.setAttribute("aria-pressed", String(showTable));
      toggle.textContent = showTable ? t("desk.show_chart") : t("desk.show_table");
    },
  }, t("desk.show_table"));
  return h("figure", { class: "desk-figure" }, h("figcaption", {}, h("span", {}, title), toggle), chartBox, tableBox);
}

function keyLabel(row, groupBy) {
  if (row.key === null || row.key === undefined) return t("sr.none_key");
  if (row.key === "earlier") return t("sr.earlier");
  if (row.key === "later") return t("sr.later");
  if (groupBy === "priority") return t(`priority.${row.key}`);
  if (groupBy === "kind") return t(`kind.${row.key}`);
  return String(row.key);
}

function isoDate(d) { return d.toISOString().slice(0, 10); }

async function renderReport(view, params, query) {
  const today = new Date();
  const from = query.get("from") || isoDate(new Date(today.getTime() - 29 * 86400000));
  const to = query.get("to") || isoDate(today);
  const groupBy = query.get("group_by") || "team";
  const period = query.get("period") || "week";
  const shell = pageShell(view, "service-report", t("sr.title"));
  const fromInput = h("input", { type: "date", id: "sr-from", name: "from", value: from, "data-test": "sr-from" });
  const toInput = h("input", { type: "date", id: "sr-to", name: "to", value: to, "data-test": "sr-to" });
  const groupSel = h("select", { id: "sr-group", name: "group_by", "data-test": "sr-group" }, GROUPS.map((g) => h("option", { value: g, selected: g === groupBy }, t(`sr.group.${g}`))));
  const periodSel = h("select", { id: "sr-period", name: "period", "data-test": "sr-period" }, PERIODS.map((p) => h("option", { value: p, selected: p === period }, t(`sr.period.${p}`))));
  const periodField = h("div", { class: "field" }, h("label", { for: "sr-period" }, t("sr.period")), periodSel);
  periodField.hidden = groupBy !== "period";
  groupSel.addEventListener("change", () => { periodField.hidden = groupSel.value !== "period"; });
  const controls = h("form", { class: "desk-filters", "data-test": "sr-controls" },
    h("div", { class: "field" }, h("label", { for: "sr-from" }, t("sr.from")), fromInput),
    h("div", { class: "field" }, h("label", { for: "sr-to" }, t("sr.to")), toInput),
    h("div", { class: "field" }, h("label", { for: "sr-group" }, t("sr.group_by")), groupSel),
    periodField,
    h("button", { type: "submit", class: "primary", "data-test": "sr-show" }, t("sr.show")));
  const out = h("div", { class: "sr-out" });
  const errorLine = h("p", { class: "form-error", role: "alert" });
  controls.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  shell.body.append(controls, errorLine, out);

  async function load() {
    errorLine.textContent = "";
    clear(out).appendChild(loading());
    const q = { from: fromInput.value, to: toInput.value, group_by: groupSel.value };
    if (q.group_by === "period") q.period = periodSel.value;
    const qs = new URLSearchParams(q);
    history.replaceState({}, "", `/app/service-report?${qs}`);
    let report;
    try { report = await api("GET", "/reports/service", undefined, { query: q }); } catch (err) {
      clear(out).appendChild(errorBox(err));
      return;
    }
    clear(out);
    const tot = report.totals || {};
    const kpi = (label, value, test) => h("div", { class: "kpi", "data-test": test }, h("span", { class: "kpi-label" }, label), h("strong", { class: "kpi-value" }, value));
    out.append(
      h("div", { class: "kpis" },
        kpi(t("sr.backlog"), num(tot.backlog?.total), "kpi-backlog"),
        kpi(t("sr.created"), num(tot.created), "kpi-created"),
        kpi(t("sr.resolved"), num(tot.resolved), "kpi-resolved"),
        kpi(t("sr.compliance"), pct(tot.sla?.compliance), "kpi-compliance"),
        kpi(t("sr.csat_avg"), tot.csat?.average === null || tot.csat?.average === undefined ? t("desk.none") : formatNumber(tot.csat.average, { maximumFractionDigits: 2 }), "kpi-csat"),
        kpi(t("sr.satisfied"), pct(tot.csat?.satisfied_rate), "kpi-satisfied")),
      h("p", { class: "muted" }, t("sr.generated", { at: formatDateTime(report.generated_at) })));
    const rows = report.rows || [];
    const cats = rows.map((r) => keyLabel(r, report.group_by));
    out.append(h("div", { class: "chart-grid-2" },
      chartBlock({ title: t("sr.chart_volume"), categories: cats, test: "chart-volume",
        series: [{ label: t("sr.created"), values: rows.map((r) => r.created) }, { label: t("sr.resolved"), values: rows.map((r) => r.resolved) }] }),
      chartBlock({ title: t("sr.chart_sla"), categories: cats, test: "chart-sla",
        series: [{ label: t("sr.met"), values: rows.map((r) => r.sla?.met) }, { label: t("sr.breached"), values: rows.map((r) => r.sla?.breached) }] }),
      chartBlock({ title: t("sr.chart_times"), categories: cats, test: "chart-times",
        series: [{ label: t("sr.fr_median"), values: rows.map((r) => r.first_response_minutes?.median) }, { label: t("sr.res_median"), values: rows.map((r) => r.resolution_minutes?.median) }] }),
      chartBlock({ title: t("sr.chart_csat"), categories: ["1", "2", "3", "4", "5"], test: "chart-csat",
        series: [{ label: t("sr.answers"), values: ["1", "2", "3", "4", "5"].map((k) => tot.csat?.distribution?.[k] || 0) }] })));
    out.append(h("h2", {}, t("sr.key")), table({
      test: "sr-rows",
      columns: [
        { key: "key", label: t("sr.key"), render: (r) => keyLabel(r, report.group_by) },
        { key: "backlog", label: t("sr.backlog"), render: (r) => num(r.backlog?.total) },
        { key: "created", label: t("sr.created"), render: (r) => num(r.created) },
        { key: "resolved", label: t("sr.resolved"), render: (r) => num(r.resolved) },
        { key: "fr", label: t("sr.fr_median"), render: (r) => num(r.first_response_minutes?.median) },
        { key: "fr90", label: t("sr.fr_p90"), render: (r) => num(r.first_response_minutes?.p90) },
        { key: "res", label: t("sr.res_median"), render: (r) => num(r.resolution_minutes?.median) },
        { key: "res90", label: t("sr.res_p90"), render: (r) => num(r.resolution_minutes?.p90) },
        { key: "sla", label: t("sr.compliance"), render: (r) => pct(r.sla?.compliance) },
        { key: "csat", label: t("sr.csat_avg"), render: (r) => (r.csat?.average === null || r.csat?.average === undefined ? t("desk.none") : formatNumber(r.csat.average, { maximumFractionDigits: 2 })) },
        { key: "resp", label: t("sr.responses"), render: (r) => num(r.csat?.responses) },
      ],
      rows: rows.map((r, i) => ({ ...r, id: `row-${i}` })),
    }));
  }
  load();

  // Satisfaction results: the answered surveys of the tickets the caller sees, newest first.
  shell.body.append(h("h2", {}, t("sr.results")));
  const results = pagedList({
    path: "/tickets",
    query: { filter: JSON.stringify({ status: { in: ["resolved", "closed"] } }), sort: "-updated_at", limit: 200 },
    keep: (r) => r.satisfaction?.status === "answered",
    test: "csat-results",
    columns: [
      { key: "subject", label: t("sr.ticket"), render: (r) => link(`/tickets/${encodeURIComponent(r.id)}`, r.subject) },
      { key: "score", label: t("sr.score"), render: (r) => h("span", { class: `csat-score csat-${r.satisfaction?.score}` }, r.satisfaction?.score ?? t("desk.none")) },
      { key: "comment", label: t("sr.comment"), render: (r) => r.satisfaction?.comment || "" },
      { key: "answered_at", label: t("sr.answered_at"), render: (r) => formatDateTime(r.satisfaction?.answered_at) },
    ],
  });
  shell.body.append(results.el);
}

route("/service-report", renderReport, { page: "service-report" });
nav({ href: "/service-report", label: "nav.service_report", section: "service", order: 20 });
