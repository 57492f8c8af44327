// Customers (contacts and companies), shared by pages/contacts.js, companies.js, customer.js and
// sales.js: the list (filters, sort, saved segments, bulk actions, the pool), create and edit with
// duplicate warnings as you type, merge, claim and release, names and badges. Registers no route.
import { api, session, etagOf } from "./api.js";
import { t, registerMessages, formatDate, formatDateTime } from "./i18n.js";
import { h, clear, table, dialog, toast, form, formValues, loading, errorBox, splitList } from "./dom.js";
import { navigate, link, href } from "./router.js";
import { users } from "./users.js";

// ---------- messages (for contacts.js, companies.js and customer.js) ----------
registerMessages("en", {
  "nav.contacts": "Contacts", "nav.companies": "Companies", "nav.pool": "Customer pool",
  "cust.contacts": "Contacts", "cust.companies": "Companies", "cust.pool": "Customer pool",
  "cust.search": "Search by name, email or phone", "cust.search_company": "Search by name, email or tax id",
  "cust.filter.stage": "Stage", "cust.filter.grade": "Value grade", "cust.filter.risk": "Churn risk",
  "cust.filter.owner": "Owner", "cust.filter.tag": "Tag", "cust.filter.any": "Any", "cust.filter.mine": "Mine",
  "cust.filter.pool": "In the pool", "cust.filter.industry": "Industry", "cust.sort": "Sort",
  "cust.sort.-created_at": "Newest first", "cust.sort.created_at": "Oldest first", "cust.sort.-updated_at": "Recently updated",
  "cust.sort.last_name": "Last name", "cust.sort.first_name": "First name", "cust.sort.email": "Email",
  "cust.sort.name": "Name", "cust.sort.-last_activity_at": "Recent activity", "cust.sort.-pool.entered_at": "Newest in the pool",
  "cust.segment": "Segment", "cust.segment.none": "All customers", "cust.segment.save": "Save as segment",
  "cust.segment.name": "Segment name", "cust.segment.shared": "Share with everyone", "cust.segment.saved": "Segment “{name}” saved",
  "cust.segment.nothing": "Set a filter first: a segment is a saved filter.", "cust.segment.delete": "Delete segment",
  "cust.segment.deleted": "Segment deleted", "cust.clear": "Clear filters",
  "cust.new_contact": "New contact", "cust.new_company": "New company", "cust.more": "Load more",
  "cust.select": "Select {name}", "cust.select_all": "Select all on this page", "cust.selected": "{n} selected",
  "cust.bulk.assign": "Assign owner", "cust.bulk.tag": "Add tag", "cust.bulk.release": "Release to pool",
  "cust.bulk.claim": "Claim", "cust.bulk.merge": "Merge", "cust.bulk.done": "{ok} done, {failed} failed",
  "cust.bulk.tag_prompt": "Tag to add", "cust.bulk.owner_prompt": "New owner", "cust.bulk.reason": "Reason (optional)",
  "cust.col.name": "Name", "cust.col.email": "Email", "cust.col.phone": "Phone", "cust.col.stage": "Stage",
  "cust.col.grade": "Grade", "cust.col.risk": "Churn risk", "cust.col.owner": "Owner", "cust.col.activity": "Last activity",
  "cust.col.industry": "Industry", "cust.col.deals": "Open deals", "cust.col.entered": "In pool since",
  "cust.no_owner": "Pool", "cust.none": "—",
  "stage.subscriber": "Subscriber", "stage.lead": "Lead", "stage.marketing_qualified": "Marketing qualified",
  "stage.sales_qualified": "Sales qualified", "stage.opportunity": "Opportunity", "stage.customer": "Customer",
  "stage.loyal": "Loyal", "stage.churned": "Churned",
  "risk.low": "Low", "risk.medium": "Medium", "risk.high": "High",
  "field.first_name": "First name", "field.last_name": "Last name", "field.local_name": "Name in own script (e.g. 张伟)",
  "field.email": "Email", "field.phone": "Phone", "field.company_id": "Company", "field.title": "Job title",
  "field.lifecycle_stage": "Lifecycle stage", "field.tags": "Tags (comma separated)", "field.source_channel": "Source",
  "field.preferred_language": "Preferred language", "field.birthday": "Birthday", "field.owner_id": "Owner",
  "field.name": "Company name", "field.tax_id": "Tax id", "field.industry": "Industry", "field.size": "Size",
  "field.website": "Website", "field.credit_rating": "Credit rating", "field.account_number": "Account number",
  "field.interests": "Interests (comma separated)", "field.source_campaign": "Campaign",
  "form.new_contact": "New contact", "form.edit_contact": "Edit contact", "form.new_company": "New company",
  "form.edit_company": "Edit company", "form.created": "Saved", "form.stale": "Someone changed this record meanwhile; reload and apply again.",
  "dup.title": "Possible duplicates", "dup.strong": "Likely duplicate", "dup.weak": "Similar",
  "dup.hidden": "A customer you cannot see has the same {reasons}.", "dup.reason.email": "email",
  "dup.reason.phone": "phone", "dup.reason.tax_id": "tax id", "dup.reason.name": "name",
  "dup.reason.name_and_company": "name at the same company", "dup.reason.company_name": "company name",
  "dup.refused": "This looks like an existing customer. Open it, or create anyway.", "dup.create_anyway": "Create anyway",
  "merge.title": "Merge duplicates", "merge.survivor": "Keep this record", "merge.pick": "Merge into the kept record",
  "merge.confirm": "Merge", "merge.none": "No duplicates found.", "merge.done": "Merged {n} record(s)",
  "merge.explain": "The kept record keeps its values; empty fields are filled from the others, and every timeline, deal, ticket and interaction moves to it. This cannot be undone.",
  "pool.claim": "Claim", "pool.release": "Release to pool", "pool.claimed": "Claimed: now yours",
  "pool.released": "Released to the pool", "pool.reason": "Reason",
});
registerMessages("zh-CN", {
  "nav.contacts": "联系人", "nav.companies": "公司", "nav.pool": "公海客户",
  "cust.contacts": "联系人", "cust.companies": "公司", "cust.pool": "公海客户",
  "cust.search": "按姓名、邮箱或电话搜索", "cust.search_company": "按名称、邮箱或税号搜索",
  "cust.filter.stage": "阶段", "cust.filter.grade": "价值等级", "cust.filter.risk": "流失风险",
  "cust.filter.owner": "负责人", "cust.filter.tag": "标签", "cust.filter.any": "全部", "cust.filter.mine": "我的",
  "cust.filter.pool": "公海中", "cust.filter.industry": "行业", "cust.sort": "排序",
  "cust.sort.-created_at": "最新创建", "cust.sort.created_at": "最早创建", "cust.sort.-updated_at": "最近更新",
  "cust.sort.last_name": "姓", "cust.sort.first_name": "名", "cust.sort.email": "邮箱",
  "cust.sort.name": "名称", "cust.sort.-last_activity_at": "最近互动", "cust.sort.-pool.entered_at": "最新进入公海",
  "cust.segment": "客户分群", "cust.segment.none": "全部客户", "cust.segment.save": "保存为分群",
  "cust.segment.name": "分群名称", "cust.segment.shared": "与所有人共享", "cust.segment.saved": "已保存分群“{name}”",
  "cust.segment.nothing": "请先设置筛选条件：分群就是保存的筛选条件。", "cust.segment.delete": "删除分群",
  "cust.segment.deleted": "分群已删除", "cust.clear": "清除筛选",
  "cust.new_contact": "新建联系人", "cust.new_company": "新建公司", "cust.more": "加载更多",
  "cust.select": "选择 {name}", "cust.select_all": "选择本页全部", "cust.selected": "已选 {n} 项",
  "cust.bulk.assign": "分配负责人", "cust.bulk.tag": "添加标签", "cust.bulk.release": "退回公海",
  "cust.bulk.claim": "领取", "cust.bulk.merge": "合并", "cust.bulk.done": "成功 {ok} 项，失败 {failed} 项",
  "cust.bulk.tag_prompt": "要添加的标签", "cust.bulk.owner_prompt": "新负责人", "cust.bulk.reason": "原因（可选）",
  "cust.col.name": "姓名", "cust.col.email": "邮箱", "cust.col.phone": "电话", "cust.col.stage": "阶段",
  "cust.col.grade": "等级", "cust.col.risk": "流失风险", "cust.col.owner": "负责人", "cust.col.activity": "最近互动",
  "cust.col.industry": "行业", "cust.col.deals": "进行中商机", "cust.col.entered": "进入公海时间",
  "cust.no_owner": "公海", "cust.none": "—",
  "stage.subscriber": "订阅者", "stage.lead": "线索", "stage.marketing_qualified": "市场认可线索",
  "stage.sales_qualified": "销售认可线索", "stage.opportunity": "商机", "stage.customer": "客户",
  "stage.loyal": "忠实客户", "stage.churned": "已流失",
  "risk.low": "低", "risk.medium": "中", "risk.high": "高",
  "field.first_name": "名", "field.last_name": "姓", "field.local_name": "本地文字姓名（如 张伟）",
  "field.email": "邮箱", "field.phone": "电话", "field.company_id": "公司", "field.title": "职位",
  "field.lifecycle_stage": "生命周期阶段", "field.tags": "标签（逗号分隔）", "field.source_channel": "来源",
  "field.preferred_language": "首选语言", "field.birthday": "生日", "field.owner_id": "负责人",
  "field.name": "公司名称", "field.tax_id": "税号", "field.industry": "行业", "field.size": "规模",
  "field.website": "网站", "field.credit_rating": "信用等级", "field.account_number": "账号",
  "field.interests": "兴趣（逗号分隔）", "field.source_campaign": "营销活动",
  "form.new_contact": "新建联系人", "form.edit_contact": "编辑联系人", "form.new_company": "新建公司",
  "form.edit_company": "编辑公司", "form.created": "已保存", "form.stale": "该记录已被他人修改，请刷新后重试。",
  "dup.title": "可能重复", "dup.strong": "很可能重复", "dup.weak": "相似",
  "dup.hidden": "已有一位你无权查看的客户使用相同的{reasons}。", "dup.reason.email": "邮箱",
  "dup.reason.phone": "电话", "dup.reason.tax_id": "税号", "dup.reason.name": "姓名",
  "dup.reason.name_and_company": "同公司同名", "dup.reason.company_name": "公司名称",
  "dup.refused": "这看起来是已有客户。请打开它，或仍然创建。", "dup.create_anyway": "仍然创建",
  "merge.title": "合并重复客户", "merge.survivor": "保留此记录", "merge.pick": "合并到保留的记录",
  "merge.confirm": "合并", "merge.none": "没有发现重复。", "merge.done": "已合并 {n} 条记录",
  "merge.explain": "保留的记录保持原值，空字段由其他记录补齐，所有时间线、商机、工单和互动都将移到它名下。此操作不可撤销。",
  "pool.claim": "领取", "pool.release": "退回公海", "pool.claimed": "已领取，现归你负责",
  "pool.released": "已退回公海", "pool.reason": "原因",
});

export const STAGES = ["subscriber", "lead", "marketing_qualified", "sales_qualified", "opportunity", "customer", "loyal", "churned"];
export const GRADES = ["A", "B", "C", "D"];
export const RISKS = ["low", "medium", "high"];
const SOURCES = ["web", "referral", "event", "campaign", "advertising", "social", "cold_call", "partner", "import", "walk_in", "other"];

export const isWriter = () => session.hasRole("admin", "manager", "sales_rep");
export const isManager = () => session.hasRole("admin", "manager");
export function ownerCell(row, directory) {
  if (!row.owner_id) return h("span", { class: "pill pill-pool" }, t("cust.no_owner"));
  const u = directory.find((x) => x.id === row.owner_id);
  return u ? u.name || u.email : row.owner_id;
}
export function gradeBadge(grade) {
  return grade ? h("span", { class: `pill grade grade-${String(grade).toLowerCase()}`, "data-test": "value-grade" }, grade) : t("cust.none");
}
export function riskBadge(risk) {
  return risk ? h("span", { class: `pill risk risk-${risk}`, "data-test": "churn-risk" }, t(`risk.${risk}`)) : t("cust.none");
}
/** "Zhang Wei" / "张伟": a Chinese name family name first, without a space. */
export function personName(c) {
  if (!c) return "";
  const first = c.first_name || "", last = c.last_name || "";
  return /[\u3400-\u9fff]/.test(first + last) ? `${last}${first}` : `${first} ${last}`.trim();
}
export function contactName(c) {
  if (!c) return "";
  const display = c.display_name || personName(c) || c.email || c.id;
  return c.local_name && c.local_name !== display ? `${display} (${c.local_name})` : display;
}
export function companyName(c) {
  return c.local_name && c.local_name !== c.name ? `${c.name} (${c.local_name})` : c.name || c.id;
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

async function each(items, fn) {
  let ok = 0, failed = 0, lastError = null;
  for (const item of items) {
    try { await fn(item); ok += 1; } catch (err) { failed += 1; lastError = err; }
  }
  toast(t("cust.bulk.done", { ok, failed }) + (lastError ? ` — ${lastError.detail || lastError.message}` : ""), failed ? "error" : "success");
}

function labelled(label, control) {
  const id = `c-${Math.random().toString(36).slice(2, 8)}`;
  control.id = id;
  return h("div", { class: "filter" }, h("label", { for: id }, label), control);
}
function select(name, options, value, test) {
  return h("select", { name, "data-test": test },
    options.map((o) => h("option", { value: o.value, selected: String(o.value) === String(value ?? "") }, o.label)));
}

// ---------- the list (contacts or companies) ----------
const ENTITY = {
  contact: {
    path: "/contacts", title: "cust.contacts", page: "contacts", searchHint: "cust.search",
    searchFields: ["local_name", "first_name", "last_name", "email", "phone"],
    sorts: ["-created_at", "created_at", "-updated_at", "-last_activity_at", "last_name", "first_name", "email"],
    newLabel: "cust.new_contact", name: contactName,
  },
  company: {
    path: "/companies", title: "cust.companies", page: "companies", searchHint: "cust.search_company",
    searchFields: ["name", "local_name", "email", "tax_id", "phone"],
    sorts: ["-created_at", "created_at", "-updated_at", "-last_activity_at", "name"],
    newLabel: "cust.new_company", name: companyName,
  },
};

const CJK = /^[\u3400-\u9fff\uf900-\ufaff]+$/;
/** A full name typed in one box: 邝昊 is last name 邝 + first name 昊 (or a two-character family
 *  name: 欧阳娜娜); "Wei Zhang" is a first and a last name in either order. */
function nameSplits(entity, q) {
  if (entity !== "contact") return [];
  const out = [];
  const compact = q.replace(/\s+/g, "");
  if (CJK.test(compact) && compact.length >= 2) {
    for (let i = 1; i <= Math.min(2, compact.length - 1); i += 1) {
      out.push({ and: [{ last_name: compact.slice(0, i) }, { first_name: { contains: compact.slice(i) } }] });
    }
  }
  const words = q.split(/\s+/).filter(Boolean);
  if (words.length === 2) {
    out.push({ and: [{ first_name: { contains: words[0] } }, { last_name: { contains: words[1] } }] });
    out.push({ and: [{ first_name: { contains: words[1] } }, { last_name: { contains: words[0] } }] });
  }
  return out;
}

/** The filter object of the list's controls (null when none is set). */
function buildFilter(entity, state, segmentFilter) {
  const conds = [];
  const q = (state.q || "").trim();
  if (q) conds.push({ or: [...ENTITY[entity].searchFields.map((f) => ({ [f]: { contains: q } })), ...nameSplits(entity, q)] });
  if (state.stage) conds.push({ lifecycle_stage: state.stage });
  if (state.industry) conds.push({ industry: { contains: state.industry } });
  if (state.grade) conds.push({ value_grade: state.grade });
  if (state.risk) conds.push({ churn_risk: state.risk });
  if (state.owner === "me") conds.push({ owner_id: session.user?.id });
  else if (state.owner && state.owner !== "pool") conds.push({ owner_id: state.owner });
  if (state.tag) conds.push({ tags: { contains: state.tag.trim() } });
  if (segmentFilter) conds.push(segmentFilter);
  if (!conds.length) return null;
  return conds.length === 1 ? conds[0] : { and: conds };
}

export async function renderList(view, entity, query, { pool = false } = {}) {
  const E = ENTITY[entity];
  const pageName = pool ? "pool" : E.page;
  const state = {
    q: query.get("q") || "", stage: query.get("stage") || "", grade: query.get("grade") || "",
    risk: query.get("risk") || "", owner: pool ? "pool" : query.get("owner") || "", tag: query.get("tag") || "",
    industry: query.get("industry") || "",
    sort: query.get("sort") || (pool ? "-pool.entered_at" : "-created_at"), segment: query.get("segment") || "",
  };
  const directory = await users();
  let segments = [];
  let rows = [];
  let cursor = null;
  const selected = new Set();

  const root = h("section", { class: "page customers-page", "data-page": pageName });
  const heading = h("div", { class: "page-head" },
    h("h1", {}, t(pool ? "cust.pool" : E.title)),
    !pool && isWriter() ? h("a", { href: href(`${E.path}/new`), "data-link": true, class: "button primary", "data-test": `new-${entity}` }, t(E.newLabel)) : null);

  const search = h("input", { type: "search", name: "q", value: state.q, "data-test": "customer-search", placeholder: t(E.searchHint), maxlength: 200, autocomplete: "off" });
  const filters = h("div", { class: "filters", role: "search", "data-test": "customer-filters" });
  filters.appendChild(labelled(t("shell.search"), search));
  if (entity === "contact") {
    filters.appendChild(labelled(t("cust.filter.stage"), select("stage", [{ value: "", label: t("cust.filter.any") }, ...STAGES.map((s) => ({ value: s, label: t(`stage.${s}`) }))], state.stage, "filter-stage")));
  } else {
    filters.appendChild(labelled(t("cust.filter.industry"), h("input", { type: "text", name: "industry", value: state.industry, "data-test": "filter-industry", maxlength: 100 })));
  }
  filters.appendChild(labelled(t("cust.filter.grade"), select("grade", [{ value: "", label: t("cust.filter.any") }, ...GRADES.map((g) => ({ value: g, label: g }))], state.grade, "filter-grade")));
  filters.appendChild(labelled(t("cust.filter.risk"), select("risk", [{ value: "", label: t("cust.filter.any") }, ...RISKS.map((r) => ({ value: r, label: t(`risk.${r}`) }))], state.risk, "filter-risk")));
  if (!pool) {
    filters.appendChild(labelled(t("cust.filter.owner"), select("owner", [
      { value: "", label: t("cust.filter.any") }, { value: "me", label: t("cust.filter.mine") },
      ...(entity === "contact" ? [{ value: "pool", label: t("cust.filter.pool") }] : []),
      ...directory.map((u) => ({ value: u.id, label: u.name || u.email })),
    ], state.owner, "filter-owner")));
  }
  filters.appendChild(labelled(t("cust.filter.tag"), h("input", { type: "text", name: "tag", value: state.tag, "data-test": "filter-tag", maxlength: 100 })));
  const sorts = pool ? ["-pool.entered_at", ...E.sorts] : E.sorts;
  filters.appendChild(labelled(t("cust.sort"), select("sort", sorts.map((s) => ({ value: s, label: t(`cust.sort.${s}`) })), state.sort, "sort")));

  const segmentSelect = h("select", { name: "segment", "data-test": "segment-select" });
  const segmentBar = h("div", { class: "segment-bar" },
    labelled(t("cust.segment"), segmentSelect),
    h("button", { type: "button", "data-test": "segment-save", "on:click": () => saveSegment() }, t("cust.segment.save")),
    h("button", { type: "button", class: "link-button", "data-test": "segment-delete", hidden: true, "on:click": () => deleteSegment() }, t("cust.segment.delete")),
    h("button", { type: "button", class: "link-button", "data-test": "filters-clear", "on:click": () => navigate(pool ? "/pool" : E.path) }, t("cust.clear")));

  const bulkCount = h("span", { class: "bulk-count", "aria-live": "polite", "data-test": "bulk-count" });
  const bulkActions = [];
  if (pool) {
    if (isWriter()) bulkActions.push(h("button", { type: "button", "data-test": "bulk-claim", "on:click": () => bulkClaim() }, t("cust.bulk.claim")));
  } else if (isWriter()) {
    if (isManager()) bulkActions.push(h("button", { type: "button", "data-test": "bulk-assign", "on:click": () => bulkAssign() }, t("cust.bulk.assign")));
    bulkActions.push(h("button", { type: "button", "data-test": "bulk-tag", "on:click": () => bulkTag() }, t("cust.bulk.tag")));
    if (entity === "contact") bulkActions.push(h("button", { type: "button", "data-test": "bulk-release", "on:click": () => bulkRelease() }, t("pool.release")));
    bulkActions.push(h("button", { type: "button", "data-test": "bulk-merge", "on:click": () => bulkMerge() }, t("cust.bulk.merge")));
  }
  const bulkBar = h("div", { class: "bulk-bar", "data-test": "bulk-bar", hidden: true }, bulkCount, bulkActions);
  const listHost = h("div", { class: "list-host", "data-test": "customer-list", "aria-live": "polite" });
  const more = h("button", { type: "button", "data-test": "load-more", hidden: true, "on:click": () => load(false) }, t("cust.more"));

  root.append(heading, filters, pool ? null : segmentBar, bulkBar, listHost, more);
  view.appendChild(root);

  function syncUrl() {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(state)) if (v && !(pool && k === "owner")) params.set(k, v);
    const defaultSort = pool ? "-pool.entered_at" : "-created_at";
    if (state.sort === defaultSort) params.delete("sort");
    const target = href(`${pool ? "/pool" : E.path}${params.toString() ? "?" + params : ""}`);
    history.replaceState({}, "", target);
  }

  function currentSegment() { return segments.find((s) => s.id === state.segment) || null; }
  function currentFilter() { return buildFilter(entity, state, currentSegment()?.filter || null); }

  function updateBulk() {
    bulkBar.hidden = selected.size === 0 || bulkActions.length === 0;
    bulkCount.textContent = t("cust.selected", { n: selected.size });
  }

  function render() {
    const columns = [];
    if (bulkActions.length) {
      columns.push({
        key: "_select", label: "", className: "col-select",
        render: (row) => h("input", {
          type: "checkbox", checked: selected.has(row.id), "aria-label": t("cust.select", { name: E.name(row) }), "data-test": "row-select",
          "on:change": (e) => { if (e.target.checked) selected.add(row.id); else selected.delete(row.id); updateBulk(); },
        }),
      });
    }
    const base = entity === "contact" ? "/contacts/" : "/companies/";
    columns.push({ key: "name", label: t("cust.col.name"), render: (row) => link(base + encodeURIComponent(row.id), E.name(row), { "data-test": "customer-link" }) });
    if (entity === "contact") {
      columns.push({ key: "email", label: t("cust.col.email") }, { key: "phone", label: t("cust.col.phone") },
        { key: "lifecycle_stage", label: t("cust.col.stage"), render: (row) => (row.lifecycle_stage ? t(`stage.${row.lifecycle_stage}`) : "") });
    } else {
      columns.push({ key: "industry", label: t("cust.col.industry") }, { key: "open_deal_count", label: t("cust.col.deals") });
    }
    columns.push({ key: "value_grade", label: t("cust.col.grade"), render: (row) => gradeBadge(row.value_grade) },
      { key: "churn_risk", label: t("cust.col.risk"), render: (row) => riskBadge(row.churn_risk) });
    if (pool) columns.push({ key: "pool", label: t("cust.col.entered"), render: (row) => formatDateTime(row.pool?.entered_at) });
    else columns.push({ key: "owner_id", label: t("cust.col.owner"), render: (row) => ownerCell(row, directory) });
    columns.push({ key: "last_activity_at", label: t("cust.col.activity"), render: (row) => formatDate(row.last_activity_at) });
    if (pool && isWriter()) {
      columns.push({ key: "_claim", label: "", render: (row) => h("button", { type: "button", "data-test": "claim", "on:click": () => claimContact(row.id).then(() => load(true)).catch((e) => toast(e.detail || e.message, "error")) }, t("pool.claim")) });
    }
    const tableEl = table({ columns, rows, test: `${entity}-table`, onRowClick: (row) => navigate(base + encodeURIComponent(row.id)) });
    if (bulkActions.length && rows.length) {
      const all = h("input", {
        type: "checkbox", "aria-label": t("cust.select_all"), "data-test": "select-all", checked: rows.every((r) => selected.has(r.id)),
        "on:change": (e) => { rows.forEach((r) => (e.target.checked ? selected.add(r.id) : selected.delete(r.id))); render(); },
      });
      const th = tableEl.querySelector("th");
      if (th) th.appendChild(all);
    }
    clear(listHost).appendChild(tableEl);
    more.hidden = !cursor;
    updateBulk();
  }

  let seq = 0;
  async function load(reset = true) {
    const mine = ++seq;
    if (reset) { cursor = null; if (!rows.length) clear(listHost).appendChild(loading()); }
    const filter = currentFilter();
    const q = { limit: 50, sort: state.sort, cursor: reset ? null : cursor };
    if (filter) q.filter = JSON.stringify(filter);
    const path = pool || state.owner === "pool" ? "/pool" : E.path;
    if (path === "/pool" && !state.sort.includes("pool") && !sorts.includes(state.sort)) q.sort = "-pool.entered_at";
    try {
      const body = await api("GET", path, undefined, { query: q });
      if (mine !== seq) return;
      rows = reset ? body.data || [] : rows.concat(body.data || []);
      if (reset) [...selected].forEach((id) => { if (!rows.some((r) => r.id === id)) selected.delete(id); });
      cursor = body.next_cursor;
      render();
    } catch (err) {
      if (mine !== seq) return;
      clear(listHost).appendChild(errorBox(err));
    }
  }

  async function loadSegments() {
    try {
      const body = await api("GET", "/segments", undefined, { query: { entity, limit: 200, sort: "name" } });
      segments = body.data || [];
    } catch { segments = []; }
    clear(segmentSelect).append(
      h("option", { value: "" }, t("cust.segment.none")),
      ...segments.map((s) => h("option", { value: s.id, selected: s.id === state.segment }, s.name)));
    segmentBar.querySelector('[data-test="segment-delete"]').hidden = !currentSegment() || (currentSegment().owner_id !== session.user?.id && !session.hasRole("admin"));
  }

  function saveSegment() {
    const filter = currentFilter();
    if (!filter) { toast(t("cust.segment.nothing"), "error"); return; }
    const f = form([
      { name: "name", label: t("cust.segment.name"), required: true, test: "segment-name" },
      { name: "shared", label: t("cust.segment.shared"), type: "checkbox", test: "segment-shared" },
    ], {}, {
      submitLabel: t("shell.save"),
      onSubmit: async (values) => {
        const saved = await api("POST", "/segments", { name: values.name || "", entity, filter, shared: !!values.shared });
        toast(t("cust.segment.saved", { name: saved.name }), "success");
        dlg.close();
        state.segment = saved.id;
        // The saved filter holds every control: start from it alone.
        Object.assign(state, { q: "", stage: "", grade: "", risk: "", owner: "", tag: "", industry: "" });
        syncUrl();
        navigate(`${E.path}?segment=${encodeURIComponent(saved.id)}`, { replace: true });
      },
    });
    const dlg = dialog({ title: t("cust.segment.save"), body: f, test: "segment-dialog" });
  }

  async function deleteSegment() {
    const seg = currentSegment();
    if (!seg) return;
    try {
      await api("DELETE", `/segments/${encodeURIComponent(seg.id)}`, undefined, { ifMatch: etagOf(seg) });
      toast(t("cust.segment.deleted"), "success");
      navigate(E.path, { replace: true });
    } catch (err) { toast(err.detail || err.message, "error"); }
  }

  function chosenRows() { return rows.filter((r) => selected.has(r.id)); }

  function bulkTag() {
    const f = form([{ name: "tag", label: t("cust.bulk.tag_prompt"), required: true, test: "bulk-tag-input" }], {}, {
      onSubmit: async (values) => {
        const tag = (values.tag || "").trim();
        if (!tag) return;
        dlg.close();
        await each(chosenRows(), (row) => {
          const tags = Array.from(new Set([...(row.tags || []), tag]));
          return api("PATCH", `${E.path}/${encodeURIComponent(row.id)}`, { tags }, { ifMatch: etagOf(row) });
        });
        load(true);
      },
    });
    const dlg = dialog({ title: t("cust.bulk.tag"), body: f, test: "bulk-tag-dialog" });
  }

  function bulkAssign() {
    const f = form([
      { name: "owner_id", label: t("cust.bulk.owner_prompt"), type: "select", required: true, test: "bulk-owner",
        options: directory.filter((u) => u.active !== false).map((u) => ({ value: u.id, label: u.name || u.email })) },
      ...(entity === "contact" ? [{ name: "reason", label: t("cust.bulk.reason"), test: "bulk-reason" }] : []),
    ], {}, {
      onSubmit: async (values) => {
        dlg.close();
        await each(chosenRows(), (row) => (entity === "contact"
          ? api("POST", `/contacts/${encodeURIComponent(row.id)}/assign`, { owner_id: values.owner_id, reason: values.reason || null })
          : api("PATCH", `/companies/${encodeURIComponent(row.id)}`, { owner_id: values.owner_id }, { ifMatch: etagOf(row) })));
        load(true);
      },
    });
    const dlg = dialog({ title: t("cust.bulk.assign"), body: f, test: "bulk-assign-dialog" });
  }

  function bulkRelease() {
    const f = form([{ name: "reason", label: t("cust.bulk.reason"), test: "release-reason" }], {}, {
      submitLabel: t("pool.release"),
      onSubmit: async (values) => {
        dlg.close();
        await each(chosenRows().filter((r) => r.owner_id), (row) => releaseContact(row.id, values.reason));
        load(true);
      },
    });
    const dlg = dialog({ title: t("pool.release"), body: f, test: "release-dialog" });
  }

  async function bulkClaim() {
    await each(chosenRows(), (row) => claimContact(row.id));
    load(true);
  }

  function bulkMerge() {
    const chosen = chosenRows();
    if (chosen.length < 2) { toast(t("merge.pick"), "error"); return; }
    mergeDialog(entity, chosen, () => load(true));
  }

  const reload = debounce(() => { syncUrl(); load(true); }, 300);
  search.addEventListener("input", () => { state.q = search.value; reload(); });
  filters.addEventListener("change", (e) => {
    const name = e.target.name;
    if (!name || name === "q") return;
    state[name] = e.target.value;
    syncUrl();
    load(true);
  });
  filters.querySelector('[name="tag"]').addEventListener("input", (e) => { state.tag = e.target.value; reload(); });
  filters.querySelector('[name="industry"]')?.addEventListener("input", (e) => { state.industry = e.target.value; reload(); });
  segmentSelect.addEventListener("change", () => {
    state.segment = segmentSelect.value;
    syncUrl();
    segmentBar.querySelector('[data-test="segment-delete"]').hidden = !currentSegment();
    load(true);
  });

  if (!pool) await loadSegments();
  await load(true);
}

// ---------- pool actions ----------
export function claimContact(id) {
  return api("POST", `/contacts/${encodeURIComponent(id)}/claim`).then((c) => { toast(t("pool.claimed"), "success"); return c; });
}
export function releaseContact(id, reason) {
  return api("POST", `/contacts/${encodeURIComponent(id)}/release`, { reason: reason || null });
}

// ---------- merge ----------
/** A dialog to merge records: pick the kept one (radio) and the duplicates (checkboxes), then confirm.
 *  `records` are the candidates (the first is the default survivor). */
export function mergeDialog(entity, records, onDone) {
  const E = ENTITY[entity];
  const name = `survivor-${Math.random().toString(36).slice(2, 7)}`;
  if (records.length < 2) { toast(t("merge.none"), "info"); return; }
  const items = records.map((r, i) => h("li", { class: "merge-item", "data-test": "merge-item", "data-id": r.id },
    h("label", {}, h("input", { type: "radio", name, value: r.id, checked: i === 0, "data-test": "merge-survivor" }), " ", t("merge.survivor")),
    h("label", {}, h("input", { type: "checkbox", value: r.id, checked: i !== 0, "data-test": "merge-duplicate" }), " ", t("merge.pick")),
    h("strong", {}, E.name(r)), " ",
    h("span", { class: "muted" }, [r.email, r.phone, r.tax_id].filter(Boolean).join(" · "))));
  const list = h("ul", { class: "merge-list" }, items);
  list.addEventListener("change", (e) => {
    if (e.target.type === "radio") {
      list.querySelectorAll('input[type="checkbox"]').forEach((cb) => { if (cb.value === e.target.value) cb.checked = false; });
    }
  });
  const error = h("p", { class: "form-error", role: "alert", "data-test": "merge-error" });
  dialog({
    title: t("merge.title"), test: "merge-dialog",
    body: h("div", {}, h("p", { class: "muted" }, t("merge.explain")), list, error),
    actions: [
      { label: t("shell.cancel"), test: "merge-cancel" },
      {
        label: t("merge.confirm"), kind: "primary danger", test: "merge-confirm",
        onClick: async () => {
          const survivorId = list.querySelector(`input[name="${name}"]:checked`)?.value;
          const ids = [...list.querySelectorAll('input[type="checkbox"]:checked')].map((x) => x.value).filter((x) => x !== survivorId);
          if (!survivorId || !ids.length) { error.textContent = t("merge.pick"); return false; }
          const survivor = records.find((r) => r.id === survivorId);
          try {
            await api("POST", `${E.path}/${encodeURIComponent(survivorId)}/merge`, { duplicate_ids: ids }, { ifMatch: survivor?.version ? etagOf(survivor) : undefined });
          } catch (err) {
            error.textContent = err.detail || err.title || err.message;
            return false;
          }
          toast(t("merge.done", { n: ids.length }), "success");
          onDone?.(survivorId);
          return true;
        },
      },
    ],
  });
}

/** The candidates POST /<entity>/duplicates finds for a record (excluding itself). */
export async function findDuplicates(entity, data, selfId) {
  const fields = entity === "contact"
    ? ["first_name", "last_name", "local_name", "email", "phone", "company_id"]
    : ["name", "local_name", "tax_id", "email", "phone"];
  const body = {};
  for (const f of fields) if (typeof data[f] === "string" && data[f].trim()) body[f] = data[f].trim();
  if (!Object.keys(body).length) return [];
  const answer = await api("POST", `${ENTITY[entity].path}/duplicates`, body);
  return (answer.data || []).filter((c) => c.id !== selfId);
}

/** The "possible duplicates" panel: each visible candidate links to its record. */
export function duplicatePanel(entity, candidates) {
  const E = ENTITY[entity];
  const panel = h("div", { class: "duplicate-warning", role: "status", "data-test": "duplicate-warning" });
  if (!candidates.length) { panel.hidden = true; return panel; }
  panel.appendChild(h("strong", {}, t("dup.title")));
  panel.appendChild(h("ul", {}, candidates.map((c) => {
    const reasons = (c.reasons || []).map((r) => t(`dup.reason.${r}`)).join(", ");
    if (!c.record) return h("li", { "data-test": "duplicate-hidden" }, t("dup.hidden", { reasons }));
    return h("li", { "data-test": "duplicate-candidate", "data-id": c.id },
      h("span", { class: `pill ${c.strong ? "risk-high" : "risk-medium"}` }, t(c.strong ? "dup.strong" : "dup.weak")), " ",
      link(`${E.path}/${encodeURIComponent(c.id)}`, E.name(c.record), { target: "_blank" }), " ",
      h("span", { class: "muted" }, reasons));
  })));
  return panel;
}

// ---------- create and edit ----------
async function customFieldDefs(entity) {
  try {
    const body = await api("GET", "/custom-fields", undefined, { query: { entity, active: "true", limit: 200 } });
    return (body.data || []).filter((d) => d.active !== false && d.entity === entity);
  } catch { return []; }
}
export { customFieldDefs };

function cfField(def) {
  const base = { name: `cf.${def.key}`, label: def.label, required: !!def.required, test: `cf-${def.key}`, help: def.description || null };
  switch (def.type) {
    case "number": return { ...base, type: "number", step: "any" };
    case "date": return { ...base, type: "date" };
    case "boolean": return { ...base, type: "checkbox" };
    case "choice": return { ...base, type: "select", options: def.choices || [] };
    case "multi_choice": return { ...base, help: (def.choices || []).join(", ") };
    default: return { ...base, type: def.max_length && def.max_length > 500 ? "textarea" : "text" };
  }
}
function cfValue(def, raw) {
  if (def.type === "boolean") return !!raw;
  if (raw === null || raw === undefined || raw === "") return null;
  if (def.type === "number") return Number(raw);
  if (def.type === "multi_choice") return splitList(raw);
  return raw;
}
function cfDisplay(def, value) {
  if (def.type === "multi_choice" && Array.isArray(value)) return value.join(", ");
  return value;
}

const LIST_FIELDS = new Set(["tags", "interests"]);
function same(a, b) {
  const norm = (v) => (v === undefined || v === "" || (Array.isArray(v) && !v.length) ? null : v);
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b));
}

/** The create/edit page of a contact or a company, with duplicate warnings as you type. */
export async function renderEdit(view, entity, id) {
  const E = ENTITY[entity];
  const pageName = `${entity}-edit`;
  const root = h("section", { class: "page customer-edit", "data-page": pageName });
  view.appendChild(root);
  root.appendChild(loading());
  let record = null;
  let defs = [];
  let companies = [];
  try {
    [record, defs, companies] = await Promise.all([
      id ? api("GET", `${E.path}/${encodeURIComponent(id)}`) : null,
      customFieldDefs(entity),
      entity === "contact" ? api("GET", "/companies", undefined, { query: { limit: 200, sort: "name" } }).then((b) => b.data || []).catch(() => []) : [],
    ]);
  } catch (err) {
    clear(root).appendChild(errorBox(err));
    return;
  }
  const directory = await users();
  clear(root);
  const title = t(id ? (entity === "contact" ? "form.edit_contact" : "form.edit_company") : (entity === "contact" ? "form.new_contact" : "form.new_company"));
  root.appendChild(h("h1", {}, title));
  const fields = entity === "contact"
    ? [
      { name: "last_name", label: t("field.last_name"), autocomplete: "family-name" },
      { name: "first_name", label: t("field.first_name"), autocomplete: "given-name" },
      { name: "local_name", label: t("field.local_name") },
      { name: "email", label: t("field.email"), type: "email", autocomplete: "off" },
      { name: "phone", label: t("field.phone"), type: "tel", autocomplete: "off" },
      { name: "company_id", label: t("field.company_id"), type: "select", options: companies.map((c) => ({ value: c.id, label: companyName(c) })) },
      { name: "title", label: t("field.title") },
      { name: "lifecycle_stage", label: t("field.lifecycle_stage"), type: "select", options: STAGES.map((s) => ({ value: s, label: t(`stage.${s}`) })) },
      { name: "tags", label: t("field.tags") },
      { name: "interests", label: t("field.interests") },
      { name: "source_channel", label: t("field.source_channel"), type: "select", options: SOURCES },
      { name: "birthday", label: t("field.birthday"), type: "date" },
      { name: "preferred_language", label: t("field.preferred_language") },
    ]
    : [
      { name: "name", label: t("field.name"), required: true },
      { name: "local_name", label: t("field.local_name") },
      { name: "tax_id", label: t("field.tax_id") },
      { name: "email", label: t("field.email"), type: "email" },
      { name: "phone", label: t("field.phone"), type: "tel" },
      { name: "industry", label: t("field.industry") },
      { name: "size", label: t("field.size") },
      { name: "website", label: t("field.website") },
      { name: "credit_rating", label: t("field.credit_rating") },
      { name: "tags", label: t("field.tags") },
      { name: "source_channel", label: t("field.source_channel"), type: "select", options: SOURCES },
    ];
  if (isManager()) {
    fields.push({ name: "owner_id", label: t("field.owner_id"), type: "select", options: directory.filter((u) => u.active !== false).map((u) => ({ value: u.id, label: u.name || u.email })) });
  }
  // A contact's company that is not among the first 200 still shows as an option.
  if (record?.company_id && !companies.some((c) => c.id === record.company_id)) {
    fields.find((f) => f.name === "company_id")?.options.unshift({ value: record.company_id, label: record.company_id });
  }
  fields.push(...defs.map(cfField));
  const initial = {};
  if (record) {
    for (const f of fields) {
      if (f.name.startsWith("cf.")) {
        const def = defs.find((d) => `cf.${d.key}` === f.name);
        initial[f.name] = cfDisplay(def, record.custom_fields?.[def.key]);
      } else initial[f.name] = LIST_FIELDS.has(f.name) ? (record[f.name] || []).join(", ") : record[f.name];
    }
  } else if (isManager()) initial.owner_id = session.user?.id;
  const dupHost = h("div", { class: "duplicate-host", "aria-live": "polite" });
  let allowDuplicate = false;

  function toBody(values) {
    const body = {};
    const custom = {};
    for (const [k, v] of Object.entries(values)) {
      if (k.startsWith("cf.")) {
        const def = defs.find((d) => `cf.${d.key}` === k);
        custom[def.key] = cfValue(def, v);
      } else if (LIST_FIELDS.has(k)) body[k] = splitList(v);
      else body[k] = typeof v === "string" ? v.trim() || null : v;
    }
    if (record) {
      const changes = {};
      for (const [k, v] of Object.entries(body)) if (!same(v, record[k])) changes[k] = v;
      const cfChanges = {};
      for (const [k, v] of Object.entries(custom)) if (!same(v, record.custom_fields?.[k])) cfChanges[k] = v;
      if (Object.keys(cfChanges).length) changes.custom_fields = cfChanges;
      return changes;
    }
    for (const k of Object.keys(body)) if (body[k] === null || (Array.isArray(body[k]) && !body[k].length)) delete body[k];
    const cf = Object.fromEntries(Object.entries(custom).filter(([, v]) => v !== null && v !== false));
    if (Object.keys(cf).length) body.custom_fields = cf;
    return body;
  }

  const formEl = form(fields, initial, {
    test: `${entity}-form`,
    cancel: () => history.back(),
    onSubmit: async (values) => {
      const body = toBody(values);
      if (record) {
        if (!Object.keys(body).length) { navigate(`${E.path}/${encodeURIComponent(record.id)}`); return; }
        try {
          await api("PATCH", `${E.path}/${encodeURIComponent(record.id)}`, body, { ifMatch: etagOf(record) });
        } catch (err) {
          if (err.status === 412) err.detail = t("form.stale");
          throw err;
        }
        toast(t("form.created"), "success");
        navigate(`${E.path}/${encodeURIComponent(record.id)}`);
        return;
      }
      try {
        const created = await api("POST", E.path, body, { query: allowDuplicate ? { allow_duplicate: "true" } : {} });
        toast(t("form.created"), "success");
        navigate(`${E.path}/${encodeURIComponent(created.id)}`);
      } catch (err) {
        if (err.status === 409 && Array.isArray(err.body?.matches)) {
          clear(dupHost).appendChild(duplicatePanel(entity, err.body.matches));
          dupHost.appendChild(h("p", { class: "form-error", role: "alert" }, t("dup.refused"),
            " ", h("button", { type: "button", "data-test": "create-anyway", "on:click": () => { allowDuplicate = true; formEl.requestSubmit(); } }, t("dup.create_anyway"))));
          dupHost.querySelector("button")?.focus();
          return;
        }
        throw err;
      }
    },
  });
  // Duplicate warnings as you type (debounced): what POST /<entity>/duplicates finds for the form so far.
  let checkSeq = 0;
  const check = debounce(async () => {
    const mine = ++checkSeq;
    try {
      const values = formValues(formEl);
      const candidates = await findDuplicates(entity, values, record?.id);
      if (mine !== checkSeq) return;
      clear(dupHost).appendChild(duplicatePanel(entity, candidates));
    } catch { /* a check that fails never blocks typing */ }
  }, 400);
  const watched = entity === "contact" ? ["first_name", "last_name", "local_name", "email", "phone", "company_id"] : ["name", "local_name", "tax_id", "email", "phone"];
  formEl.addEventListener("input", (e) => { if (watched.includes(e.target.name)) { allowDuplicate = false; check(); } });
  formEl.addEventListener("change", (e) => { if (e.target.name === "company_id") check(); });
  root.append(dupHost, formEl);
  formEl.querySelector("input")?.focus();
}

