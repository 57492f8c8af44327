// Sales reports: forecast and funnel, customer value (grades and the 20/80 chart), churn risk.
// Charts are hand-written SVG; each has a "Show as table" toggle with the same figures as text.
import { api } from "../js/api.js";
import { t, registerMessages, formatNumber } from "../js/i18n.js";
import { h, clear, loading, errorBox, table, formatMoney } from "../js/dom.js";
import { route, nav, link, navigate } from "../js/router.js";
import { userNames, nameIn } from "../js/users.js";

registerMessages("en", {
  "nav.reports": "Sales reports",
  "reports.title": "Sales reports",
  "reports.tab.forecast": "Forecast", "reports.tab.funnel": "Funnel", "reports.tab.value": "Customer value", "reports.tab.churn": "Churn risk",
  "reports.period": "Period", "reports.period.month": "Month", "reports.period.quarter": "Quarter",
  "reports.from": "From", "reports.to": "To", "reports.apply": "Apply",
  "reports.show_table": "Show as table", "reports.show_chart": "Show as chart",
  "reports.currency": "Amounts in {currency}",
  "reports.pipeline": "Pipeline", "reports.weighted": "Weighted", "reports.best_case": "Best case",
  "reports.commit": "Commit", "reports.closed_won": "Closed won", "reports.quota": "Quota", "reports.attainment": "Attainment",
  "reports.open_count": "Open deals", "reports.won_count": "Won deals",
  "reports.unscheduled": "Open deals without an expected close date: {n}, {amount} ({weighted} weighted)",
  "reports.forecast_chart": "Forecast by period: pipeline, weighted, best case, commit and closed won",
  "reports.all_pipelines": "All pipelines",
  "reports.stage": "Stage", "reports.reached": "Reached", "reports.conversion": "Conversion to next",
  "reports.funnel_chart": "Funnel of {name}: deals reaching each stage",
  "reports.deals": "Deals created", "reports.win_rate": "Win rate", "reports.avg_size": "Average won deal",
  "reports.avg_cycle": "Average sales cycle", "reports.days": "{n} days", "reports.won": "Won", "reports.lost": "Lost",
  "reports.subject": "Customers", "reports.subject.contact": "Contacts", "reports.subject.company": "Companies",
  "reports.grades": "Value grades", "reports.grade": "Grade", "reports.grade_none": "No orders", "reports.customers": "Customers",
  "reports.grades_chart": "Customers per value grade",
  "reports.pareto": "20/80: who brings the revenue", "reports.pareto_reps": "20/80 by sales rep",
  "reports.pareto_chart": "Revenue share per customer, largest first, with the cumulative share and the 80% line",
  "reports.pareto_head": "{count} of {total} ({share}) bring {revenue} of the revenue",
  "reports.share": "Share", "reports.cumulative": "Cumulative", "reports.in_head": "In the top 80%",
  "reports.name": "Name", "reports.value": "Value", "reports.orders": "Orders", "reports.last_order": "Last order",
  "reports.rfm": "RFM", "reports.churn": "Churn risk", "reports.reason": "Why",
  "reports.level": "Level", "reports.level.all": "Medium and high", "reports.level.medium": "Medium", "reports.level.high": "High",
  "reports.more": "Load more", "reports.window": "Over the last {n} days",
  "reports.rows": "Top customers by value", "reports.yes": "yes", "reports.no": "no",
  "reports.no_data": "No figures for this selection.",
});
registerMessages("zh-CN", {
  "nav.reports": "销售报表",
  "reports.title": "销售报表",
  "reports.tab.forecast": "销售预测", "reports.tab.funnel": "销售漏斗", "reports.tab.value": "客户价值", "reports.tab.churn": "流失风险",
  "reports.period": "周期", "reports.period.month": "月", "reports.period.quarter": "季度",
  "reports.from": "从", "reports.to": "到", "reports.apply": "应用",
  "reports.show_table": "以表格显示", "reports.show_chart": "以图表显示",
  "reports.currency": "金额单位：{currency}",
  "reports.pipeline": "管道金额", "reports.weighted": "加权金额", "reports.best_case": "最佳情况",
  "reports.commit": "承诺", "reports.closed_won": "已赢单", "reports.quota": "配额", "reports.attainment": "完成率",
  "reports.open_count": "进行中商机", "reports.won_count": "赢单数",
  "reports.unscheduled": "没有预计成交日期的商机：{n} 个，{amount}（加权 {weighted}）",
  "reports.forecast_chart": "按周期的销售预测：管道、加权、最佳情况、承诺与已赢单",
  "reports.all_pipelines": "全部销售流程",
  "reports.stage": "阶段", "reports.reached": "到达数", "reports.conversion": "转化到下一阶段",
  "reports.funnel_chart": "{name} 的漏斗：到达各阶段的商机数",
  "reports.deals": "新建商机", "reports.win_rate": "赢单率", "reports.avg_size": "平均赢单金额",
  "reports.avg_cycle": "平均销售周期", "reports.days": "{n} 天", "reports.won": "赢单", "reports.lost": "丢单",
  "reports.subject": "客户", "reports.subject.contact": "联系人", "reports.subject.company": "公司",
  "reports.grades": "价值等级", "reports.grade": "等级", "reports.grade_none": "无订单", "reports.customers": "客户数",
  "reports.grades_chart": "各价值等级的客户数",
  "reports.pareto": "二八分析：收入来自哪些客户", "reports.pareto_reps": "按销售代表的二八分析",
  "reports.pareto_chart": "按客户的收入占比（从大到小）、累计占比与 80% 线",
  "reports.pareto_head": "{total} 个中的 {count} 个（{share}）贡献了 {revenue} 的收入",
  "reports.share": "占比", "reports.cumulative": "累计", "reports.in_head": "属于前 80%",
  "reports.name": "名称", "reports.value": "价值", "reports.orders": "订单数", "reports.last_order": "最近订单",
  "reports.rfm": "RFM", "reports.churn": "流失风险", "reports.reason": "原因",
  "reports.level": "级别", "reports.level.all": "中和高", "reports.level.medium": "中", "reports.level.high": "高",
  "reports.more": "加载更多", "reports.window": "最近 {n} 天",
  "reports.rows": "价值最高的客户", "reports.yes": "是", "reports.no": "否",
  "reports.no_data": "此条件下没有数据。",
});

const REPORT_ROLES = ["admin", "manager", "sales_rep", "viewer"];
const TABS = ["forecast", "funnel", "value", "churn"];

// ---- SVG helpers (local: dom.js's h() knows only a few SVG tags) ----
const NS = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An accessible SVG root: role="img", a <title> and a <desc>. */
function chartSvg(width, height, title, desc, test) {
  const id = `c${Math.random().toString(36).slice(2, 8)}`;
  return s("svg", {
    viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "data-test": test,
    "aria-labelledby": `${id}-t ${id}-d`, preserveAspectRatio: "xMidYMid meet",
  }, s("title", { id: `${id}-t` }, title), s("desc", { id: `${id}-d` }, desc));
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const mag = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * mag >= value) return step * mag;
  return 10 * mag;
}

function compact(n) {
  return formatNumber(n, { notation: "compact", maximumFractionDigits: 1 });
}

function pct(ratio) {
  if (ratio === null || ratio === undefined || ratio === "") return "—";
  return formatNumber(ratio, { style: "percent", maximumFractionDigits: 1 });
}

/** A chart with a "Show as table" toggle: both hold the same figures; the table is the text alternative. */
function chartBlock({ title, chart, tableEl, test }) {
  const chartBox = h("div", { class: "chart-box" }, chart);
  const tableBox = h("div", { class: "chart-table", hidden: true }, tableEl);
  const toggle = h("button", { type: "button", class: "chart-toggle", "aria-pressed": "false", "data-test": `${test}-toggle` }, t("reports.show_table"));
  toggle.addEventListener("click", () => {
    const showTable = toggle.getAttribute("aria-pressed") !== "true";
    toggle.setAttribute("aria-pressed", String(showTable));
    toggle.textContent = showTable ? t("reports.show_chart") : t("reports.show_table");
    chartBox.hidden = showTable;
    tableBox.hidden = !showTable;
  });
  return h("figure", { class: "chart-block", "data-test": test },
    h("figcaption", {}, h("span", { class: "chart-title" }, title), toggle),
    chartBox, tableBox);
}

function legend(items) {
  return h("ul", { class: "chart-legend" }, items.map(([cls, label]) =>
    h("li", {}, h("span", { class: `swatch ${cls}`, "aria-hidden": "true" }), label)));
}

// ---- the page shell with its tabs ----

function monthString(d) { return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}`; }
function addMonths(d, n) { return new Date(d.getFullYear(), d.getMonth() + n, 1); }

async function renderReports(view, params, query) {
  const tab = TABS.includes(params.tab) ? params.tab : "forecast";
  const root = h("section", { class: "reports-page", "data-page": "reports", "data-tab": tab });
  const tabs = h("nav", { class: "tabs", "aria-label": t("reports.title") },
    TABS.map((name) => link(`/reports/${name}`, t(`reports.tab.${name}`), {
      class: `tab${name === tab ? " active" : ""}`, "aria-current": name === tab ? "page" : null, "data-test": `report-tab-${name}`,
    })));
  const body = h("div", { class: "report-body" }, loading());
  root.append(h("h1", {}, t("reports.title")), tabs, body);
  view.appendChild(root);
  const render = { forecast, funnel, value, churn }[tab];
  try {
    await render(body, query);
  } catch (err) {
    clear(body).appendChild(errorBox(err));
  }
}

function rangeForm(query, tab, { withPipeline, pipelines } = {}) {
  const now = new Date();
  const period = query.get("period") || "month";
  const from = query.get("from") || monthString(addMonths(now, -2));
  const to = query.get("to") || monthString(addMonths(now, 3));
  const periodSel = h("select", { id: "r-period", name: "period", "data-test": "report-period" },
    ["month", "quarter"].map((p) => h("option", { value: p, selected: p === period }, t(`reports.period.${p}`))));
  const fromIn = h("input", { id: "r-from", name: "from", type: "month", value: from, "data-test": "report-from", pattern: "[0-9]{4}-[0-9]{2}" });
  const toIn = h("input", { id: "r-to", name: "to", type: "month", value: to, "data-test": "report-to", pattern: "[0-9]{4}-[0-9]{2}" });
  const pipeSel = withPipeline ? h("select", { id: "r-pipeline", name: "pipeline_id", "data-test": "report-pipeline" },
    h("option", { value: "" }, t("reports.all_pipelines")),
    pipelines.map((p) => h("option", { value: p.id, selected: p.id === query.get("pipeline_id") }, p.name))) : null;
  const el = h("form", { class: "report-filters", "data-test": "report-filters" },
    h("div", { class: "field" }, h("label", { for: "r-period" }, t("reports.period")), periodSel),
    h("div", { class: "field" }, h("label", { for: "r-from" }, t("reports.from")), fromIn),
    h("div", { class: "field" }, h("label", { for: "r-to" }, t("reports.to")), toIn),
    pipeSel ? h("div", { class: "field" }, h("label", { for: "r-pipeline" }, t("reports.pipeline")), pipeSel) : null,
    h("button", { type: "submit", class: "primary", "data-test": "report-apply" }, t("reports.apply")));
  el.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams({ period: periodSel.value, from: fromIn.value, to: toIn.value });
    if (pipeSel?.value) q.set("pipeline_id", pipeSel.value);
    navigate(`/reports/${tab}?${q}`, { replace: true });
  });
  return { el, params: { period, from, to, pipeline_id: withPipeline ? query.get("pipeline_id") || undefined : undefined } };
}

async function pipelineList() {
  const body = await api("GET", "/pipelines", undefined, { query: { limit: 200 } });
  return body.data || [];
}

// ---- forecast ----

const FORECAST_SERIES = [
  ["pipeline", "s-pipeline"], ["weighted", "s-weighted"], ["best_case", "s-best"], ["commit", "s-commit"], ["closed_won", "s-won"],
];

function forecastChart(rows, currency) {
  const W = 720, H = 320, left = 64, right = 12, top = 16, bottom = 40;
  const max = niceMax(Math.max(0, ...rows.flatMap((r) => FORECAST_SERIES.map(([k]) => Number(r[k] || 0)).concat(Number(r.quota || 0)))));
  const svg = chartSvg(W, H, t("reports.forecast_chart"), t("reports.currency", { currency }), "forecast-chart");
  const plotH = H - top - bottom, plotW = W - left - right;
  const y = (v) => top + plotH - (Number(v) / max) * plotH;
  for (let i = 0; i <= 4; i += 1) {
    const v = (max / 4) * i;
    svg.append(s("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: left - 6, y: y(v) + 4, class: "axis-label", "text-anchor": "end" }, compact(v)));
  }
  const groupW = plotW / Math.max(rows.length, 1);
  const barW = Math.min(18, (groupW - 12) / FORECAST_SERIES.length);
  rows.forEach((r, i) => {
    const gx = left + i * groupW + (groupW - barW * FORECAST_SERIES.length) / 2;
    const g = s("g", { class: "bar-group", "data-period": r.period });
    FORECAST_SERIES.forEach(([key, cls], j) => {
      const v = Number(r[key] || 0);
      g.append(s("rect", { x: gx + j * barW, y: y(v), width: Math.max(barW - 2, 1), height: Math.max(y(0) - y(v), 0), class: `bar ${cls}` },
        s("title", {}, `${r.period} · ${t(`reports.${key}`)}: ${formatMoney(r[key], currency)}`)));
    });
    if (r.quota !== null && r.quota !== undefined) {
      g.append(s("line", { x1: gx - 3, x2: gx + barW * FORECAST_SERIES.length + 3, y1: y(r.quota), y2: y(r.quota), class: "quota-line" },
        s("title", {}, `${r.period} · ${t("reports.quota")}: ${formatMoney(r.quota, currency)}`)));
    }
    g.append(s("text", { x: left + i * groupW + groupW / 2, y: H - bottom + 18, class: "axis-label", "text-anchor": "middle" }, r.period));
    svg.append(g);
  });
  svg.append(s("line", { x1: left, x2: W - right, y1: y(0), y2: y(0), class: "axis" }));
  return svg;
}

async function forecast(body, query) {
  const pipelines = await pipelineList();
  const { el, params } = rangeForm(query, "forecast", { withPipeline: true, pipelines });
  const data = await api("GET", "/reports/forecast", undefined, { query: { ...params, group_by: "period" } });
  const currency = data.currency;
  const rows = data.rows || [];
  const money = (k) => (r) => formatMoney(r[k], currency);
  const tableEl = table({
    test: "forecast-table",
    rows,
    columns: [
      { key: "period", label: t("reports.period") },
      ...FORECAST_SERIES.map(([k]) => ({ key: k, label: t(`reports.${k}`), render: money(k), className: "num" })),
      { key: "quota", label: t("reports.quota"), render: (r) => (r.quota == null ? "—" : formatMoney(r.quota, currency)), className: "num" },
      { key: "attainment", label: t("reports.attainment"), render: (r) => pct(r.attainment), className: "num" },
      { key: "open_count", label: t("reports.open_count"), className: "num" },
      { key: "won_count", label: t("reports.won_count"), className: "num" },
    ],
  });
  // `totals` is one row per period; the cards show the whole range (display only: summed in cents).
  const cents = (k, list) => list.reduce((sum, r) => sum + Math.round(Number(r[k] || 0) * 100), 0);
  const periodTotals = Array.isArray(data.totals) ? data.totals : rows;
  const totals = Object.fromEntries(FORECAST_SERIES.map(([k]) => [k, (cents(k, periodTotals) / 100).toFixed(2)]));
  const withQuota = periodTotals.filter((r) => r.quota !== null && r.quota !== undefined);
  const quotaCents = cents("quota", withQuota);
  totals.attainment = quotaCents > 0 ? cents("closed_won", withQuota) / quotaCents : null;
  const un = data.unscheduled || {};
  clear(body).append(
    el,
    h("p", { class: "hint" }, t("reports.currency", { currency })),
    h("dl", { class: "kpis", "data-test": "forecast-totals" },
      FORECAST_SERIES.map(([k]) => h("div", { class: "kpi" }, h("dt", {}, t(`reports.${k}`)), h("dd", {}, formatMoney(totals[k] ?? "0", currency)))),
      h("div", { class: "kpi" }, h("dt", {}, t("reports.attainment")), h("dd", {}, pct(totals.attainment)))),
    chartBlock({
      title: t("reports.forecast_chart"),
      chart: [forecastChart(rows, currency), legend(FORECAST_SERIES.map(([k, cls]) => [cls, t(`reports.${k}`)]).concat([["s-quota", t("reports.quota")]]))],
      tableEl,
      test: "forecast",
    }),
    un.open_count ? h("p", { class: "hint", "data-test": "unscheduled" }, t("reports.unscheduled", {
      n: un.open_count, amount: formatMoney(un.pipeline, currency), weighted: formatMoney(un.weighted, currency),
    })) : null);
}

// ---- funnel ----

function funnelChart(p) {
  const stages = p.stages || [];
  const W = 720, rowH = 34, left = 170, right = 90, H = Math.max(rowH * stages.length + 10, 60);
  const max = Math.max(1, ...stages.map((st) => Number(st.reached || 0)));
  const svg = chartSvg(W, H, t("reports.funnel_chart", { name: p.name || "" }), stages.map((st) => `${st.name}: ${st.reached}`).join("; "), "funnel-chart");
  const plotW = W - left - right;
  stages.forEach((st, i) => {
    const w = (Number(st.reached || 0) / max) * plotW;
    const yy = 5 + i * rowH;
    svg.append(s("g", { class: "funnel-row" },
      s("text", { x: left - 8, y: yy + rowH / 2 + 4, "text-anchor": "end", class: "axis-label" }, st.name),
      s("rect", { x: left + (plotW - w) / 2, y: yy + 3, width: Math.max(w, 1), height: rowH - 8, class: "bar s-pipeline" },
        s("title", {}, `${st.name}: ${st.reached}`)),
      s("text", { x: W - right + 6, y: yy + rowH / 2 + 4, class: "axis-label" },
        `${st.reached}${st.conversion_to_next != null ? ` → ${pct(st.conversion_to_next)}` : ""}`)));
  });
  return svg;
}

function funnelKpis(p, currency) {
  return h("dl", { class: "kpis" },
    [[t("reports.deals"), p.deals], [t("reports.won"), p.won_count], [t("reports.lost"), p.lost_count],
      [t("reports.win_rate"), pct(p.win_rate)],
      [t("reports.avg_size"), p.average_deal_size == null ? "—" : formatMoney(p.average_deal_size, currency)],
      [t("reports.avg_cycle"), p.average_cycle_days == null ? "—" : t("reports.days", { n: p.average_cycle_days })]]
      .map(([k, v]) => h("div", { class: "kpi" }, h("dt", {}, k), h("dd", {}, v ?? "0"))));
}

async function funnel(body, query) {
  const pipelines = await pipelineList();
  const { el, params } = rangeForm(query, "funnel", { withPipeline: true, pipelines });
  const data = await api("GET", "/reports/funnel", undefined, { query: params });
  const currency = data.currency;
  clear(body).append(el, h("p", { class: "hint" }, t("reports.currency", { currency })));
  const list = data.pipelines || [];
  if (!list.length) { body.appendChild(h("p", { class: "empty" }, t("reports.no_data"))); return; }
  for (const p of list) {
    const name = p.name || pipelines.find((x) => x.id === p.pipeline_id)?.name || p.pipeline_id;
    body.append(h("section", { class: "funnel-pipeline", "data-test": "funnel-pipeline" },
      h("h2", {}, name),
      funnelKpis(p, currency),
      chartBlock({
        title: t("reports.funnel_chart", { name }),
        chart: funnelChart({ ...p, name }),
        tableEl: table({
          test: "funnel-table",
          rows: p.stages || [],
          columns: [
            { key: "name", label: t("reports.stage") },
            { key: "reached", label: t("reports.reached"), className: "num" },
            { key: "conversion_to_next", label: t("reports.conversion"), render: (r) => pct(r.conversion_to_next), className: "num" },
          ],
        }),
        test: "funnel",
      })));
  }
}

// ---- customer value ----

const GRADES = ["A", "B", "C", "D", "none"];

function gradesChart(grades) {
  const W = 480, H = 220, left = 40, bottom = 30, top = 14;
  const max = niceMax(Math.max(0, ...GRADES.map((g) => Number(grades[g] || 0))));
  const svg = chartSvg(W, H, t("reports.grades_chart"), GRADES.map((g) => `${g === "none" ? t("reports.grade_none") : g}: ${grades[g] || 0}`).join("; "), "grades-chart");
  const plotH = H - top - bottom, bw = (W - left) / GRADES.length;
  GRADES.forEach((g, i) => {
    const v = Number(grades[g] || 0), hgt = (v / max) * plotH;
    const label = g === "none" ? t("reports.grade_none") : g;
    svg.append(s("g", {},
      s("rect", { x: left + i * bw + bw * 0.2, y: top + plotH - hgt, width: bw * 0.6, height: Math.max(hgt, 0), class: `bar grade-${g}` },
        s("title", {}, `${label}: ${v}`)),
      s("text", { x: left + i * bw + bw / 2, y: top + plotH - hgt - 4, "text-anchor": "middle", class: "axis-label" }, formatNumber(v)),
      s("text", { x: left + i * bw + bw / 2, y: H - 10, "text-anchor": "middle", class: "axis-label" }, label)));
  });
  svg.append(s("line", { x1: left, x2: W, y1: top + plotH, y2: top + plotH, class: "axis" }));
  return svg;
}

function paretoChart(view, testName) {
  const rows = view.rows || [];
  const W = 720, H = 280, left = 48, right = 48, top = 14, bottom = 30;
  const plotW = W - left - right, plotH = H - top - bottom;
  const head = view.head || {};
  const svg = chartSvg(W, H, t("reports.pareto_chart"), t("reports.pareto_head", {
    count: head.count ?? 0, total: view.count ?? 0, share: pct(head.share_of_count), revenue: pct(head.revenue_share),
  }), testName);
  const maxShare = Math.max(0.0001, ...rows.map((r) => Number(r.share || 0)));
  const bw = plotW / Math.max(rows.length, 1);
  const yShare = (v) => top + plotH - (Number(v) / maxShare) * plotH;
  const yCum = (v) => top + plotH - Number(v) * plotH;
  svg.append(s("line", { x1: left, x2: W - right, y1: yCum(0.8), y2: yCum(0.8), class: "ref-line" }),
    s("text", { x: W - right + 4, y: yCum(0.8) + 4, class: "axis-label" }, "80%"),
    s("text", { x: W - right + 4, y: yCum(1) + 4, class: "axis-label" }, "100%"),
    s("text", { x: left - 4, y: yShare(maxShare) + 4, class: "axis-label", "text-anchor": "end" }, pct(maxShare)));
  rows.forEach((r, i) => {
    svg.append(s("rect", { x: left + i * bw + 1, y: yShare(r.share), width: Math.max(bw - 2, 1), height: Math.max(yShare(0) - yShare(r.share), 0), class: `bar ${r.in_head ? "s-head" : "s-tail"}` },
      s("title", {}, `${r.display_name || r.id}: ${pct(r.share)} (${t("reports.cumulative")} ${pct(r.cumulative_share)})`)));
  });
  if (rows.length) {
    const points = rows.map((r, i) => `${left + i * bw + bw / 2},${yCum(r.cumulative_share)}`).join(" ");
    svg.append(s("polyline", { points, class: "cum-line" }));
  }
  svg.append(s("line", { x1: left, x2: W - right, y1: top + plotH, y2: top + plotH, class: "axis" }));
  return svg;
}

function paretoBlock(view, currency, names, { title, test, nameOf }) {
  const head = view.head || {};
  return h("section", { class: "pareto", "data-test": test },
    h("h2", {}, title),
    h("p", { class: "pareto-summary", "data-test": `${test}-summary` }, t("reports.pareto_head", {
      count: head.count ?? 0, total: view.count ?? 0, share: pct(head.share_of_count), revenue: pct(head.revenue_share),
    })),
    chartBlock({
      title: t("reports.pareto_chart"),
      chart: [paretoChart(view, `${test}-chart`), legend([["s-head", t("reports.in_head")], ["cum-swatch", t("reports.cumulative")]])],
      tableEl: table({
        test: `${test}-table`,
        rows: view.rows || [],
        columns: [
          { key: "name", label: t("reports.name"), render: nameOf },
          { key: "amount", label: t("reports.value"), render: (r) => formatMoney(r.amount, currency), className: "num" },
          { key: "share", label: t("reports.share"), render: (r) => pct(r.share), className: "num" },
          { key: "cumulative_share", label: t("reports.cumulative"), render: (r) => pct(r.cumulative_share), className: "num" },
          { key: "in_head", label: t("reports.in_head"), render: (r) => (r.in_head ? t("reports.yes") : t("reports.no")) },
        ],
      }),
      test: `${test}-block`,
    }));
}

function customerLink(row) {
  const type = row.subject_type === "company" ? "companies" : "contacts";
  return link(`/${type}/${encodeURIComponent(row.subject_id)}`, row.display_name || row.subject_id);
}

function subjectSelect(tab, query) {
  const subject = query.get("subject_type") === "company" ? "company" : "contact";
  const sel = h("select", { id: "r-subject", "data-test": "report-subject" },
    ["contact", "company"].map((v) => h("option", { value: v, selected: v === subject }, t(`reports.subject.${v}`))));
  sel.addEventListener("change", () => {
    const q = new URLSearchParams(query); q.set("subject_type", sel.value);
    navigate(`/reports/${tab}?${q}`, { replace: true });
  });
  return { subject, el: h("div", { class: "field" }, h("label", { for: "r-subject" }, t("reports.subject")), sel) };
}

async function value(body, query) {
  const { subject, el } = subjectSelect("value", query);
  const [data, names] = await Promise.all([
    api("GET", "/reports/customer-value", undefined, { query: { subject_type: subject, limit: 50, pareto_rows: 50 } }),
    userNames(),
  ]);
  const currency = data.currency;
  const grades = data.grades || {};
  const rowsTable = (rows) => table({
    test: "value-rows",
    rows,
    columns: [
      { key: "display_name", label: t("reports.name"), render: customerLink },
      { key: "value_grade", label: t("reports.grade"), render: (r) => r.value_grade || "—" },
      { key: "monetary", label: t("reports.value"), render: (r) => formatMoney(r.monetary, currency), className: "num" },
      { key: "order_count", label: t("reports.orders"), className: "num" },
      { key: "rfm", label: t("reports.rfm"), render: (r) => (r.rfm ? `R${r.rfm.r} F${r.rfm.f} M${r.rfm.m} = ${r.rfm.score}` : "—") },
      { key: "churn_risk", label: t("reports.churn"), render: (r) => (r.churn_risk ? t(`reports.level.${r.churn_risk}`) : "—") },
      { key: "owner_id", label: t("sales.owner"), render: (r) => nameIn(names, r.owner_id) },
    ],
  });
  const rowsBox = h("div", {}, rowsTable(data.customers?.data || []));
  let cursor = data.customers?.next_cursor;
  let all = (data.customers?.data || []).slice();
  const more = h("button", { type: "button", "data-test": "value-more", hidden: !cursor }, t("reports.more"));
  more.addEventListener("click", async () => {
    more.disabled = true;
    const next = await api("GET", "/reports/customer-value", undefined, { query: { subject_type: subject, limit: 50, cursor, pareto_rows: 1 } });
    all = all.concat(next.customers?.data || []);
    cursor = next.customers?.next_cursor;
    clear(rowsBox).appendChild(rowsTable(all));
    more.hidden = !cursor; more.disabled = false;
  });
  clear(body).append(
    h("div", { class: "report-filters" }, el),
    h("p", { class: "hint" }, [t("reports.currency", { currency }), data.window_days ? ` · ${t("reports.window", { n: data.window_days })}` : ""]),
    h("section", { class: "grades", "data-test": "grades" },
      h("h2", {}, t("reports.grades")),
      chartBlock({
        title: t("reports.grades_chart"),
        chart: gradesChart(grades),
        tableEl: table({
          test: "grades-table",
          rows: GRADES.map((g) => ({ id: g, grade: g === "none" ? t("reports.grade_none") : g, count: grades[g] || 0 })),
          columns: [{ key: "grade", label: t("reports.grade") }, { key: "count", label: t("reports.customers"), className: "num" }],
        }),
        test: "grades-block",
      })),
    paretoBlock(data.pareto?.customers || {}, currency, names, {
      title: t("reports.pareto"), test: "pareto-customers", nameOf: (r) => r.display_name || r.id,
    }),
    paretoBlock(data.pareto?.reps || {}, currency, names, {
      title: t("reports.pareto_reps"), test: "pareto-reps", nameOf: (r) => nameIn(names, r.id),
    }),
    h("section", {}, h("h2", {}, t("reports.rows")), rowsBox, more));
}

// ---- churn risk ----

async function churn(body, query) {
  const { subject, el } = subjectSelect("churn", query);
  const level = ["medium", "high"].includes(query.get("churn_risk")) ? query.get("churn_risk") : "";
  const levelSel = h("select", { id: "r-level", "data-test": "churn-level" },
    ["", "high", "medium"].map((v) => h("option", { value: v, selected: v === level }, t(`reports.level.${v || "all"}`))));
  levelSel.addEventListener("change", () => {
    const q = new URLSearchParams(query);
    if (levelSel.value) q.set("churn_risk", levelSel.value); else q.delete("churn_risk");
    navigate(`/reports/churn?${q}`, { replace: true });
  });
  const names = await userNames();
  const q = { subject_type: subject, limit: 50, churn_risk: level || undefined };
  const data = await api("GET", "/reports/churn-risk", undefined, { query: q });
  const currency = data.currency;
  let rows = (data.data || []).slice();
  let cursor = data.next_cursor;
  const render = () => table({
    test: "churn-table",
    rows,
    columns: [
      { key: "display_name", label: t("reports.name"), render: customerLink },
      { key: "churn_risk", label: t("reports.level"), render: (r) => h("span", { class: `risk risk-${r.churn_risk}` }, t(`reports.level.${r.churn_risk}`)) },
      { key: "value_grade", label: t("reports.grade"), render: (r) => r.value_grade || "—" },
      { key: "monetary", label: t("reports.value"), render: (r) => formatMoney(r.monetary, currency), className: "num" },
      { key: "churn_reason", label: t("reports.reason"), render: (r) => r.churn_reason || "" },
      { key: "owner_id", label: t("sales.owner"), render: (r) => nameIn(names, r.owner_id) },
    ],
  });
  const box = h("div", {}, render());
  const more = h("button", { type: "button", "data-test": "churn-more", hidden: !cursor }, t("reports.more"));
  more.addEventListener("click", async () => {
    more.disabled = true;
    const next = await api("GET", "/reports/churn-risk", undefined, { query: { ...q, cursor } });
    rows = rows.concat(next.data || []);
    cursor = next.next_cursor;
    clear(box).appendChild(render());
    more.hidden = !cursor; more.disabled = false;
  });
  clear(body).append(
    h("div", { class: "report-filters" }, el,
      h("div", { class: "field" }, h("label", { for: "r-level" }, t("reports.level")), levelSel)),
    h("p", { class: "hint" }, t("reports.currency", { currency })),
    box, more);
}

route("/reports", (view, params, query) => renderReports(view, { tab: "forecast" }, query), { page: "reports", roles: REPORT_ROLES });
// Explicit paths (not "/reports/:tab"): other pages own other /reports/... routes.
for (const tab of TABS) route(`/reports/${tab}`, (view, params, query) => renderReports(view, { tab }, query), { page: "reports", roles: REPORT_ROLES });
nav({ href: "/reports", label: "nav.reports", section: "sales", order: 30, test: "nav-reports", roles: REPORT_ROLES });

