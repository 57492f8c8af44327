// The 360-degree customer page of a contact or a company: profile, custom fields, value grade,
// churn risk, the timeline of every branch (paged, by kind), logging an interaction, claim from and
// release to the pool, finding duplicates and merging them.
import { api, session } from "../js/api.js";
import { t, registerMessages, formatDate, formatDateTime, formatNumber } from "../js/i18n.js";
import { h, clear, toast, formDialog, loading, errorBox } from "../js/dom.js";
import { route, navigate, link, href, refPath, refresh } from "../js/router.js";
import { users } from "../js/users.js";
import {
  ownerCell, gradeBadge, riskBadge, contactName, companyName, isWriter, isManager, claimContact,
  releaseContact, findDuplicates, mergeDialog, customFieldDefs, renderEdit,
} from "../js/customers.js";

const KINDS = ["interaction", "deal", "order", "ticket", "message", "contact", "company"];
const INTERACTION_KINDS = ["call", "email", "meeting", "chat", "visit", "web", "note"];

registerMessages("en", {
  "c360.profile": "Profile", "c360.custom_fields": "Custom fields", "c360.timeline": "Timeline",
  "c360.contacts": "Contacts at this company", "c360.edit": "Edit", "c360.log": "Log interaction",
  "c360.merge": "Find duplicates and merge", "c360.owner": "Owner", "c360.in_pool": "In the pool since {date}",
  "c360.pool_reason": "Why: {reason}", "c360.value_grade": "Value grade", "c360.churn_risk": "Churn risk",
  "c360.stage": "Stage", "c360.lead_score": "Lead score", "c360.open_deals": "Open deals",
  "c360.last_activity": "Last activity", "c360.created": "Created", "c360.company": "Company",
  "c360.other_emails": "Other emails", "c360.other_phones": "Other phones", "c360.tags": "Tags",
  "c360.interests": "Interests", "c360.source": "Source", "c360.address": "Address",
  "c360.kind_all": "All", "c360.more": "Older entries", "c360.empty": "No entries yet.",
  "c360.no_custom": "No custom fields.", "c360.logged": "Interaction logged", "c360.open": "Open",
  "c360.release_title": "Release to the pool", "c360.grade_hint": "Grades A (best) to D, from purchases (RFM)",
  "tl.interaction": "Interaction", "tl.deal": "Deal", "tl.order": "Order", "tl.ticket": "Ticket",
  "tl.message": "Message", "tl.contact": "Contact", "tl.company": "Company",
  "ix.kind": "Kind", "ix.direction": "Direction", "ix.subject": "Subject", "ix.summary": "Notes",
  "ix.outcome": "Outcome", "ix.duration": "Duration (minutes)", "ix.occurred_at": "When (empty: now)",
  "ix.call": "Call", "ix.email": "Email", "ix.meeting": "Meeting", "ix.chat": "Chat", "ix.visit": "Visit",
  "ix.web": "Web", "ix.note": "Note", "ix.inbound": "Inbound", "ix.outbound": "Outbound",
});
registerMessages("zh-CN", {
  "c360.profile": "资料", "c360.custom_fields": "自定义字段", "c360.timeline": "时间线",
  "c360.contacts": "该公司的联系人", "c360.edit": "编辑", "c360.log": "记录互动",
  "c360.merge": "查找重复并合并", "c360.owner": "负责人", "c360.in_pool": "{date} 起在公海中",
  "c360.pool_reason": "原因：{reason}", "c360.value_grade": "价值等级", "c360.churn_risk": "流失风险",
  "c360.stage": "阶段", "c360.lead_score": "线索评分", "c360.open_deals": "进行中商机",
  "c360.last_activity": "最近互动", "c360.created": "创建时间", "c360.company": "公司",
  "c360.other_emails": "其他邮箱", "c360.other_phones": "其他电话", "c360.tags": "标签",
  "c360.interests": "兴趣", "c360.source": "来源", "c360.address": "地址",
  "c360.kind_all": "全部", "c360.more": "更早的记录", "c360.empty": "暂无记录。",
  "c360.no_custom": "没有自定义字段。", "c360.logged": "已记录互动", "c360.open": "打开",
  "c360.release_title": "退回公海", "c360.grade_hint": "等级 A（最佳）到 D，依据购买记录（RFM）",
  "tl.interaction": "互动", "tl.deal": "商机", "tl.order": "订单", "tl.ticket": "工单",
  "tl.message": "消息", "tl.contact": "联系人", "tl.company": "公司",
  "ix.kind": "类型", "ix.direction": "方向", "ix.subject": "主题", "ix.summary": "记录",
  "ix.outcome": "结果", "ix.duration": "时长（分钟）", "ix.occurred_at": "时间（留空为现在）",
  "ix.call": "电话", "ix.email": "邮件", "ix.meeting": "会议", "ix.chat": "聊天", "ix.visit": "拜访",
  "ix.web": "网页", "ix.note": "备注", "ix.inbound": "呼入", "ix.outbound": "呼出",
});

function row(label, value, test) {
  if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) return null;
  return [h("dt", {}, label), h("dd", { "data-test": test || null }, Array.isArray(value) ? value.join(", ") : value)];
}

function addressText(a) {
  return [a.line1, a.line2, a.city, a.region, a.postal_code, a.country].filter(Boolean).join(", ");
}

async function render360(view, entity, id) {
  const path = entity === "contact" ? "/contacts" : "/companies";
  const root = h("section", { class: "page customer-360", "data-page": "customer", "data-entity": entity });
  view.appendChild(root);
  root.appendChild(loading());
  let record, defs, directory;
  try {
    [record, defs, directory] = await Promise.all([
      api("GET", `${path}/${encodeURIComponent(id)}`), customFieldDefs(entity), users(),
    ]);
  } catch (err) {
    clear(root).appendChild(errorBox(err));
    return;
  }
  clear(root);
  const name = entity === "contact" ? contactName(record) : companyName(record);
  const inPool = entity === "contact" && !record.owner_id;
  const me = session.user?.id;
  const mayChange = isWriter() && (isManager() || record.owner_id === me || (record.shared_with || []).includes(me));

  // ----- header -----
  const actions = h("div", { class: "actions", role: "toolbar", "aria-label": name });
  if (mayChange && !inPool) actions.appendChild(h("a", { href: href(`${path}/${encodeURIComponent(id)}/edit`), "data-link": true, class: "button", "data-test": "edit" }, t("c360.edit")));
  if (isWriter() && (!inPool || isManager())) actions.appendChild(h("button", { type: "button", class: "primary", "data-test": "log-interaction", "on:click": () => logInteraction() }, t("c360.log")));
  if (inPool && isWriter()) {
    actions.appendChild(h("button", { type: "button", class: "primary", "data-test": "claim", "on:click": async () => {
      try { await claimContact(id); refresh(); } catch (err) { toast(err.detail || err.message, "error"); }
    } }, t("pool.claim")));
  }
  if (entity === "contact" && !inPool && isWriter() && (isManager() || record.owner_id === me)) {
    actions.appendChild(h("button", { type: "button", "data-test": "release", "on:click": () => release() }, t("pool.release")));
  }
  if (mayChange) actions.appendChild(h("button", { type: "button", "data-test": "find-duplicates", "on:click": () => merge() }, t("c360.merge")));

  const badges = h("div", { class: "pills" },
    entity === "contact" && record.lifecycle_stage ? h("span", { class: "pill stage", "data-test": "lifecycle-stage" }, t(`stage.${record.lifecycle_stage}`)) : null,
    h("span", { class: "pill-label" }, t("c360.value_grade"), " ", gradeBadge(record.value_grade)),
    h("span", { class: "pill-label" }, t("c360.churn_risk"), " ", riskBadge(record.churn_risk)),
    h("span", { class: "pill-label", "data-test": "owner" }, t("c360.owner"), " ", ownerCell(record, directory)));
  root.appendChild(h("header", { class: "customer-head" },
    h("div", {}, h("h1", { "data-test": "customer-name" }, name),
      entity === "contact" && record.title ? h("p", { class: "muted" }, record.title) : null, badges,
      inPool && record.pool ? h("p", { class: "muted", "data-test": "pool-info" }, t("c360.in_pool", { date: formatDateTime(record.pool.entered_at) }),
        record.pool.reason ? [" · ", t("c360.pool_reason", { reason: record.pool.reason })] : null) : null),
    actions));

  // ----- profile -----
  const companyHost = h("span", {});
  if (entity === "contact" && record.company_id) {
    companyHost.appendChild(link(`/companies/${encodeURIComponent(record.company_id)}`, record.company_id, { "data-test": "company-link" }));
    api("GET", `/companies/${encodeURIComponent(record.company_id)}`).then((c) => { companyHost.querySelector("a").textContent = companyName(c); }).catch(() => {});
  }
  const profile = entity === "contact"
    ? [
      row(t("field.email"), record.email, "profile-email"), row(t("field.phone"), record.phone, "profile-phone"),
      row(t("c360.other_emails"), record.other_emails), row(t("c360.other_phones"), record.other_phones),
      record.company_id ? [h("dt", {}, t("c360.company")), h("dd", {}, companyHost)] : null,
      row(t("c360.lead_score"), record.lead_score === null || record.lead_score === undefined ? null : formatNumber(record.lead_score), "lead-score"),
      row(t("c360.open_deals"), record.open_deal_count ? formatNumber(record.open_deal_count) : null),
      row(t("c360.tags"), record.tags, "profile-tags"), row(t("c360.interests"), record.interests),
      row(t("c360.source"), [record.source_channel, record.source_campaign].filter(Boolean).join(" · ")),
      row(t("field.birthday"), record.birthday ? formatDate(record.birthday) : null),
      row(t("field.preferred_language"), record.preferred_language),
      (record.addresses || []).map((a) => row(`${t("c360.address")} (${a.kind || ""})`, addressText(a))),
      row(t("c360.last_activity"), record.last_activity_at ? formatDateTime(record.last_activity_at) : null),
      row(t("c360.created"), formatDateTime(record.created_at)),
    ]
    : [
      row(t("field.tax_id"), record.tax_id), row(t("field.industry"), record.industry), row(t("field.size"), record.size),
      row(t("field.email"), record.email, "profile-email"), row(t("field.phone"), record.phone, "profile-phone"),
      row(t("field.website"), record.website), row(t("field.credit_rating"), record.credit_rating),
      row(t("c360.open_deals"), record.open_deal_count ? formatNumber(record.open_deal_count) : null),
      row(t("c360.tags"), record.tags, "profile-tags"),
      row(t("c360.source"), [record.source_channel, record.source_campaign].filter(Boolean).join(" · ")),
      (record.addresses || []).map((a) => row(`${t("c360.address")} (${a.kind || ""})`, addressText(a))),
      row(t("c360.last_activity"), record.last_activity_at ? formatDateTime(record.last_activity_at) : null),
      row(t("c360.created"), formatDateTime(record.created_at)),
    ];
  const custom = record.custom_fields || {};
  const known = new Set(defs.map((d) => d.key));
  const customRows = [
    ...defs.map((d) => row(d.label, custom[d.key] === true ? "✓" : custom[d.key] === false ? "✗" : custom[d.key], `cf-${d.key}`)),
    ...Object.keys(custom).filter((k) => !known.has(k)).map((k) => row(k, typeof custom[k] === "object" ? JSON.stringify(custom[k]) : custom[k], `cf-${k}`)),
  ].filter(Boolean);
  const side = h("div", { class: "customer-side" },
    h("section", { class: "card", "data-test": "profile", "aria-labelledby": "c360-profile" },
      h("h2", { id: "c360-profile" }, t("c360.profile")), h("dl", { class: "facts" }, profile)),
    h("section", { class: "card", "data-test": "custom-fields", "aria-labelledby": "c360-cf" },
      h("h2", { id: "c360-cf" }, t("c360.custom_fields")),
      customRows.length ? h("dl", { class: "facts" }, customRows) : h("p", { class: "muted" }, t("c360.no_custom"))));
  if (entity === "company") {
    const people = h("ul", { class: "plain-list", "data-test": "company-contacts" }, h("li", {}, loading()));
    side.appendChild(h("section", { class: "card", "aria-labelledby": "c360-people" }, h("h2", { id: "c360-people" }, t("c360.contacts")), people));
    api("GET", "/contacts", undefined, { query: { company_id: id, limit: 50, sort: "last_name" } }).then((body) => {
      clear(people);
      if (!body.data.length) people.appendChild(h("li", { class: "muted" }, t("table.empty")));
      for (const c of body.data) people.appendChild(h("li", {}, link(`/contacts/${encodeURIComponent(c.id)}`, contactName(c)), c.title ? h("span", { class: "muted" }, ` · ${c.title}`) : null));
    }).catch((err) => clear(people).appendChild(h("li", {}, errorBox(err))));
  }

  // ----- timeline -----
  let kind = "";
  let cursor = null;
  const kindBar = h("div", { class: "chips", role: "group", "aria-label": t("c360.timeline"), "data-test": "timeline-kinds" });
  const list = h("ol", { class: "timeline", "data-test": "timeline" });
  const more = h("button", { type: "button", "data-test": "timeline-more", hidden: true, "on:click": () => loadTimeline(false) }, t("c360.more"));
  const status = h("div", { "aria-live": "polite" });
  function kindButtons() {
    clear(kindBar);
    for (const k of ["", ...KINDS]) {
      kindBar.appendChild(h("button", {
        type: "button", class: k === kind ? "chip active" : "chip", "aria-pressed": String(k === kind), "data-test": `timeline-kind-${k || "all"}`,
        "on:click": () => { kind = k; kindButtons(); loadTimeline(true); },
      }, k ? t(`tl.${k}`) : t("c360.kind_all")));
    }
  }
  function entryNode(e) {
    const target = e.ref && e.ref.type !== entity ? refPath(e.ref) : null;
    return h("li", { class: `tl-entry tl-${e.kind}`, "data-test": "timeline-entry", "data-kind": e.kind, "data-id": e.id },
      h("span", { class: `pill tl-kind kind-${e.kind}` }, t(`tl.${e.kind}`)),
      h("time", { datetime: e.occurred_at }, formatDateTime(e.occurred_at)),
      h("p", { class: "tl-summary" }, e.summary || ""),
      target ? link(target, t("c360.open"), { class: "tl-open" }) : null);
  }
  let seq = 0;
  async function loadTimeline(reset) {
    const mine = ++seq;
    if (reset) { cursor = null; clear(list); clear(status).appendChild(loading()); }
    try {
      const body = await api("GET", `${path}/${encodeURIComponent(id)}/timeline`, undefined, { query: { limit: 25, cursor: reset ? null : cursor, kind: kind || null } });
      if (mine !== seq) return;
      clear(status);
      for (const e of body.data || []) list.appendChild(entryNode(e));
      if (!list.childNodes.length) status.appendChild(h("p", { class: "empty", "data-test": "timeline-empty" }, t("c360.empty")));
      cursor = body.next_cursor;
      more.hidden = !cursor;
    } catch (err) {
      if (mine !== seq) return;
      clear(status).appendChild(errorBox(err));
    }
  }
  kindButtons();
  const main = h("section", { class: "card customer-timeline", "aria-labelledby": "c360-tl" },
    h("h2", { id: "c360-tl" }, t("c360.timeline")), kindBar, list, status, more);
  root.appendChild(h("div", { class: "customer-grid" }, side, main));
  await loadTimeline(true);

  // ----- actions -----
  function logInteraction() {
    formDialog({
      title: t("c360.log"), test: "interaction-dialog", formTest: "interaction-form", submitLabel: t("c360.log"),
      fields: [
        { name: "kind", label: t("ix.kind"), type: "select", required: true, test: "ix-kind", options: INTERACTION_KINDS.map((k) => ({ value: k, label: t(`ix.${k}`) })) },
        { name: "direction", label: t("ix.direction"), type: "select", test: "ix-direction", options: ["outbound", "inbound"].map((d) => ({ value: d, label: t(`ix.${d}`) })) },
        { name: "subject", label: t("ix.subject"), test: "ix-subject" },
        { name: "summary", label: t("ix.summary"), type: "textarea", test: "ix-summary" },
        { name: "outcome", label: t("ix.outcome"), test: "ix-outcome" },
        { name: "duration", label: t("ix.duration"), type: "number", min: 0, step: 1, test: "ix-duration" },
        { name: "occurred_at", label: t("ix.occurred_at"), type: "datetime-local", test: "ix-occurred-at" },
      ],
      values: { kind: "call" },
      onSave: async (values) => {
        const body = { kind: values.kind, [entity === "contact" ? "contact_id" : "company_id"]: id };
        if (values.kind !== "note" && values.direction) body.direction = values.direction;
        for (const f of ["subject", "summary", "outcome"]) if (values[f] && values[f].trim()) body[f] = values[f].trim();
        if (values.duration) body.duration_seconds = Math.round(Number(values.duration) * 60);
        if (values.occurred_at) body.occurred_at = new Date(values.occurred_at).toISOString();
        await api("POST", "/interactions", body);
        toast(t("c360.logged"), "success");
        kind = kind === "interaction" ? kind : "";
        kindButtons();
        loadTimeline(true);
      },
    });
  }

  function release() {
    formDialog({
      title: t("c360.release_title"), test: "release-dialog", formTest: null, submitLabel: t("pool.release"),
      fields: [{ name: "reason", label: t("pool.reason"), test: "release-reason" }],
      onSave: async (values) => {
        await releaseContact(id, values.reason);
        toast(t("pool.released"), "success");
        refresh();
      },
    });
  }

  async function merge() {
    try {
      const candidates = await findDuplicates(entity, record, id);
      const visible = candidates.filter((c) => c.record);
      if (!visible.length) { toast(t("merge.none"), "info"); return; }
      mergeDialog(entity, [record, ...visible.map((c) => c.record)], (survivorId) => {
        if (survivorId === id) refresh();
        else navigate(`${path}/${encodeURIComponent(survivorId)}`);
      });
    } catch (err) { toast(err.detail || err.message, "error"); }
  }
}

// "/contacts/new" is registered by contacts.js; page modules load in parallel, so this route also
// hands "new" over in case it was registered first.
route("/contacts/:id", (view, params) => (params.id === "new" ? renderEdit(view, "contact", null) : render360(view, "contact", params.id)));
route("/companies/:id", (view, params) => (params.id === "new" ? renderEdit(view, "company", null) : render360(view, "company", params.id)));
