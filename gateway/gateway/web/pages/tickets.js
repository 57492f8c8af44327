// Service desk: the ticket queue (SLA countdowns, breach colours, live every 30 s) and the ticket
// page (conversation, public reply, internal note, status changes, satisfaction).
import { api, session, allPages } from "../js/api.js";
import { t, registerMessages, formatDateTime } from "../js/i18n.js";
import { h, clear, countdown, toast, errorBox, loading, form, showErrors, confirmAction, formDialog } from "../js/dom.js";
import { route, nav, navigate, link } from "../js/router.js";
import { pageShell, badge } from "../js/desk.js";
import { pagedList } from "../js/lists.js";
import { userLabel } from "../js/users.js";

const STATUSES = ["new", "open", "pending", "on_hold", "resolved", "closed", "reopened"];
const WORKING = ["new", "open", "pending", "on_hold", "reopened"];
const PRIORITIES = ["low", "normal", "high", "urgent"];
const KINDS = ["inquiry", "incident", "complaint", "request"];
const CHANNELS = ["email", "phone", "chat", "web", "social", "visit"];
const TICK_MS = 30000;
const WARN_MS = 60 * 60 * 1000; // amber within the last hour before a due time

registerMessages("en", {
  "nav.tickets": "Ticket queue", "tickets.title": "Ticket queue", "tickets.subject": "Subject",
  "tickets.status": "Status", "tickets.priority": "Priority", "tickets.kind": "Kind", "tickets.channel": "Channel",
  "tickets.assignee": "Assignee", "tickets.team": "Team", "tickets.contact": "Customer", "tickets.category": "Category",
  "tickets.first_response": "First response", "tickets.resolution": "Resolution", "tickets.received": "Received",
  "tickets.sla": "SLA", "tickets.breached": "Breached", "tickets.at_risk": "Due soon", "tickets.on_track": "On track",
  "tickets.met": "Met", "tickets.paused": "Paused", "tickets.mine": "Assigned to me", "tickets.only_breached": "Breached only",
  "tickets.sort": "Sort", "tickets.sort.created": "Newest", "tickets.sort.first_due": "First response due",
  "tickets.sort.resolution_due": "Resolution due", "tickets.new": "New ticket", "tickets.description": "Description",
  "tickets.contact_id": "Customer id", "tickets.created": "Ticket created.",
  "tickets.conversation": "Conversation", "tickets.reply_label": "Your message",
  "tickets.send_reply": "Send public reply", "tickets.add_note": "Add internal note",
  "tickets.public": "Public reply", "tickets.internal": "Internal note", "tickets.customer": "Customer",
  "tickets.empty_body": "Write a message first.", "tickets.reply_sent": "Reply sent to the customer.",
  "tickets.note_added": "Internal note added.", "tickets.no_comments": "No messages yet.",
  "tickets.change_status": "Change status", "tickets.apply": "Apply", "tickets.status_changed": "Status changed to {s}.",
  "tickets.confirm_close": "Close this ticket? A closed ticket cannot be reopened.",
  "tickets.details": "Details", "tickets.satisfaction": "Satisfaction", "tickets.csat_none": "Not asked yet (asked when resolved).",
  "tickets.csat_requested": "Asked on {at}; no answer yet.", "tickets.csat_score": "Score {score} / 5",
  "tickets.csat_record": "Record the customer's rating", "tickets.csat_comment": "Comment", "tickets.csat_saved": "Rating recorded.",
  "tickets.score": "Score (1-5)", "tickets.escalation": "Escalation level", "tickets.policy": "Policy",
  "tickets.due": "due {at}", "tickets.merged_into": "Merged into", "tickets.back": "Back to the queue",
  "status.new": "New", "status.open": "Open", "status.pending": "Pending", "status.on_hold": "On hold",
  "status.resolved": "Resolved", "status.closed": "Closed", "status.reopened": "Reopened",
  "priority.low": "Low", "priority.normal": "Normal", "priority.high": "High", "priority.urgent": "Urgent",
  "kind.inquiry": "Inquiry", "kind.incident": "Incident", "kind.complaint": "Complaint", "kind.request": "Request",
  "channel.email": "Email", "channel.phone": "Phone", "channel.chat": "Chat", "channel.web": "Web",
  "channel.social": "Social", "channel.visit": "Visit",
});
registerMessages("zh-CN", {
  "nav.tickets": "工单队列", "tickets.title": "工单队列", "tickets.subject": "主题",
  "tickets.status": "状态", "tickets.priority": "优先级", "tickets.kind": "类型", "tickets.channel": "渠道",
  "tickets.assignee": "处理人", "tickets.team": "团队", "tickets.contact": "客户", "tickets.category": "分类",
  "tickets.first_response": "首次响应", "tickets.resolution": "解决", "tickets.received": "接收时间",
  "tickets.sla": "SLA", "tickets.breached": "已违约", "tickets.at_risk": "即将到期", "tickets.on_track": "正常",
  "tickets.met": "已达成", "tickets.paused": "已暂停", "tickets.mine": "分配给我", "tickets.only_breached": "仅违约",
  "tickets.sort": "排序", "tickets.sort.created": "最新", "tickets.sort.first_due": "首次响应到期",
  "tickets.sort.resolution_due": "解决到期", "tickets.new": "新建工单", "tickets.description": "描述",
  "tickets.contact_id": "客户编号", "tickets.created": "工单已创建。",
  "tickets.conversation": "对话", "tickets.reply_label": "你的消息",
  "tickets.send_reply": "发送公开回复", "tickets.add_note": "添加内部备注",
  "tickets.public": "公开回复", "tickets.internal": "内部备注", "tickets.customer": "客户",
  "tickets.empty_body": "请先输入内容。", "tickets.reply_sent": "已回复客户。",
  "tickets.note_added": "已添加内部备注。", "tickets.no_comments": "暂无消息。",
  "tickets.change_status": "更改状态", "tickets.apply": "应用", "tickets.status_changed": "状态已改为{s}。",
  "tickets.confirm_close": "关闭此工单？关闭后无法重新打开。",
  "tickets.details": "详情", "tickets.satisfaction": "满意度", "tickets.csat_none": "尚未调查（解决后发送）。",
  "tickets.csat_requested": "已于 {at} 发送调查，尚未回复。", "tickets.csat_score": "评分 {score} / 5",
  "tickets.csat_record": "记录客户评分", "tickets.csat_comment": "评语", "tickets.csat_saved": "评分已记录。",
  "tickets.score": "评分（1-5）", "tickets.escalation": "升级级别", "tickets.policy": "策略",
  "tickets.due": "{at} 到期", "tickets.merged_into": "已合并到", "tickets.back": "返回队列",
  "status.new": "新建", "status.open": "处理中", "status.pending": "等待客户", "status.on_hold": "挂起",
  "status.resolved": "已解决", "status.closed": "已关闭", "status.reopened": "已重开",
  "priority.low": "低", "priority.normal": "普通", "priority.high": "高", "priority.urgent": "紧急",
  "kind.inquiry": "咨询", "kind.incident": "故障", "kind.complaint": "投诉", "kind.request": "请求",
  "channel.email": "邮件", "channel.phone": "电话", "channel.chat": "在线聊天", "channel.web": "网站",
  "channel.social": "社交媒体", "channel.visit": "上门",
});

const options = (values, prefix) => values.map((v) => ({ value: v, label: t(`${prefix}.${v}`) }));

// ---------- SLA state ----------
/** The state of one clock: breached, warning, ok, met or paused (and its due time). */
function clockState(ticket, which) {
  const clock = ticket.sla?.[which] || null;
  const due = which === "first_response" ? ticket.first_response_due_at : ticket.resolution_due_at;
  if (clock?.breached_at) return { state: "breached", due: clock.due_at || due };
  if (clock?.stopped_at) return { state: "met", due: null };
  if (which === "first_response" && ticket.first_responded_at) return { state: "met", due: null };
  if (!due) return { state: WORKING.includes(ticket.status) ? "paused" : "met", due: null };
  const ms = new Date(due).getTime() - Date.now();
  if (ms < 0) return { state: "breached", due };
  return { state: ms < WARN_MS ? "warning" : "ok", due };
}

function ticketState(ticket) {
  if (!WORKING.includes(ticket.status)) return ticket.breached ? "breached" : "closed";
  const states = [clockState(ticket, "first_response").state, clockState(ticket, "resolution").state];
  if (ticket.breached || states.includes("breached")) return "breached";
  if (states.includes("warning")) return "warning";
  return "ok";
}

const STATE_LABEL = { breached: "tickets.breached", warning: "tickets.at_risk", ok: "tickets.on_track", met: "tickets.met", paused: "tickets.paused", closed: "tickets.met" };

/** A countdown <span> that the 30-second tick refreshes (data-due). */
function countdownCell(ticket, which) {
  const { state, due } = clockState(ticket, which);
  const span = h("span", { class: `sla-countdown sla-${state}`, "data-test": `countdown-${which}`, "data-due": due || null, "data-state": state });
  fillCountdown(span);
  return span;
}

function fillCountdown(span) {
  const due = span.getAttribute("data-due");
  let state = span.getAttribute("data-state");
  if (due) {
    const c = countdown(due);
    if (state !== "breached" && c.overdue) state = "breached";
    else if (state === "ok" && c.ms < WARN_MS) state = "warning";
    span.textContent = c.text;
    span.setAttribute("title", formatDateTime(due));
  } else span.textContent = t(STATE_LABEL[state] || "tickets.met");
  span.setAttribute("data-state", state);
  span.className = `sla-countdown sla-${state}`;
  return state;
}

/** Re-renders every countdown under root every 30 s and re-colours their rows; returns stop(). */
function startTicking(root) {
  const tick = () => {
    root.querySelectorAll(".sla-countdown[data-due]").forEach((span) => {
      const state = fillCountdown(span);
      const row = span.closest("tr[data-sla]");
      if (row && state === "breached") setRowState(row, "breached");
      else if (row && state === "warning" && row.getAttribute("data-sla") === "ok") setRowState(row, "warning");
    });
  };
  const timer = setInterval(tick, TICK_MS);
  return () => clearInterval(timer);
}

function setRowState(tr, state) {
  tr.classList.remove("sla-row-breached", "sla-row-warning", "sla-row-ok", "sla-row-closed");
  tr.classList.add(`sla-row-${state}`);
  tr.setAttribute("data-sla", state);
}

function stateBadge(ticket) {
  const state = ticketState(ticket);
  return badge(t(STATE_LABEL[state]), `sla-badge sla-${state}`);
}

function statusBadge(status) { return badge(t(`status.${status}`), `status-badge status-${status}`); }
function priorityBadge(p) { return badge(t(`priority.${p}`), `priority-badge priority-${p}`); }

// ---------- the queue ----------
async function renderQueue(view, params, query) {
  const filters = {
    status: query.get("status") || "",
    priority: query.get("priority") || "",
    breached: query.get("breached") || "",
    mine: query.get("mine") === "1",
    sort: query.get("sort") || "-created_at",
  };
  const canCreate = session.hasRole("admin", "manager", "support_agent", "sales_rep");
  const shell = pageShell(view, "tickets", t("tickets.title"));
  const select = (name, values, prefix, label) => h("label", { class: "desk-filter" }, h("span", {}, label),
    h("select", { name, "data-test": `filter-${name}`, "on:change": apply },
      h("option", { value: "" }, t("desk.all")),
      values.map((v) => h("option", { value: v, selected: filters[name] === v }, t(`${prefix}.${v}`)))));
  const sortSelect = h("label", { class: "desk-filter" }, h("span", {}, t("tickets.sort")),
    h("select", { name: "sort", "data-test": "filter-sort", "on:change": apply },
      [["-created_at", "tickets.sort.created"], ["first_response_due_at", "tickets.sort.first_due"], ["resolution_due_at", "tickets.sort.resolution_due"]]
        .map(([v, k]) => h("option", { value: v, selected: filters.sort === v }, t(k)))));
  const breachedBox = h("label", { class: "desk-check" }, h("input", { type: "checkbox", name: "breached", "data-test": "filter-breached", checked: filters.breached === "true", "on:change": apply }), " ", t("tickets.only_breached"));
  const mineBox = h("label", { class: "desk-check" }, h("input", { type: "checkbox", name: "mine", "data-test": "filter-mine", checked: filters.mine, "on:change": apply }), " ", t("tickets.mine"));
  const filterBar = h("div", { class: "desk-filters", role: "group", "aria-label": t("desk.filter") },
    select("status", STATUSES, "status", t("tickets.status")), select("priority", PRIORITIES, "priority", t("tickets.priority")),
    sortSelect, breachedBox, mineBox);
  shell.toolbar.append(
    h("button", { type: "button", "data-test": "refresh", "on:click": () => list.reload(currentQuery()) }, t("desk.refresh")),
    canCreate ? h("button", { type: "button", class: "primary", "data-test": "new-ticket", "on:click": newTicket }, t("tickets.new")) : null);
  shell.body.appendChild(filterBar);

  function readFilters() {
    return {
      status: filterBar.querySelector('[name="status"]').value,
      priority: filterBar.querySelector('[name="priority"]').value,
      sort: filterBar.querySelector('[name="sort"]').value,
      breached: breachedBox.querySelector("input").checked ? "true" : "",
      mine: mineBox.querySelector("input").checked,
    };
  }
  function currentQuery() {
    const f = readFilters();
    return { status: f.status, priority: f.priority, breached: f.breached, sort: f.sort, assignee_id: f.mine ? session.user?.id : undefined };
  }
  function apply() {
    const f = readFilters();
    const qs = new URLSearchParams();
    for (const k of ["status", "priority", "breached"]) if (f[k]) qs.set(k, f[k]);
    if (f.sort !== "-created_at") qs.set("sort", f.sort);
    if (f.mine) qs.set("mine", "1");
    history.replaceState({}, "", `/app/tickets${qs.toString() ? "?" + qs : ""}`);
    list.reload(currentQuery());
  }

  const columns = [
    { key: "subject", label: t("tickets.subject"), render: (r) => link(`/tickets/${encodeURIComponent(r.id)}`, r.subject, { "data-test": "ticket-link" }) },
    { key: "sla_state", label: t("tickets.sla"), render: stateBadge },
    { key: "first_response_due_at", label: t("tickets.first_response"), render: (r) => countdownCell(r, "first_response") },
    { key: "resolution_due_at", label: t("tickets.resolution"), render: (r) => countdownCell(r, "resolution") },
    { key: "status", label: t("tickets.status"), render: (r) => statusBadge(r.status) },
    { key: "priority", label: t("tickets.priority"), render: (r) => priorityBadge(r.priority) },
    { key: "assignee_id", label: t("tickets.assignee"), render: (r) => userLabel(r.assignee_id) },
    { key: "received_at", label: t("tickets.received"), render: (r) => formatDateTime(r.received_at) },
  ];
  const list = pagedList({
    path: "/tickets", query: currentQuery(), columns, test: "ticket-queue",
    onRowClick: (r) => navigate(`/tickets/${encodeURIComponent(r.id)}`),
    decorate: (tr, r) => { setRowState(tr, ticketState(r)); tr.setAttribute("data-test", "ticket-row"); },
  });
  shell.body.appendChild(list.el);

  function newTicket() {
    formDialog({
      title: t("tickets.new"), test: "new-ticket-dialog",
      fields: [
        { name: "subject", label: t("tickets.subject"), required: true },
        { name: "contact_id", label: t("tickets.contact_id"), required: true },
        { name: "description", label: t("tickets.description"), type: "textarea" },
        { name: "priority", label: t("tickets.priority"), type: "select", options: options(PRIORITIES, "priority"), required: true },
        { name: "kind", label: t("tickets.kind"), type: "select", options: options(KINDS, "kind"), required: true },
        { name: "channel", label: t("tickets.channel"), type: "select", options: options(CHANNELS, "channel"), required: true },
        { name: "category", label: t("tickets.category") },
      ],
      values: { priority: "normal", kind: "inquiry", channel: "email", contact_id: query.get("contact_id") || "" },
      toBody: (v) => Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null)),
      onSave: async (body) => {
        const created = await api("POST", "/tickets", body);
        toast(t("tickets.created"), "success");
        navigate(`/tickets/${encodeURIComponent(created.id)}`);
      },
    });
  }
  return startTicking(shell.root);
}

// ---------- the ticket page ----------
async function renderTicket(view, params) {
  const id = params.id;
  const root = h("section", { class: "desk-page ticket-page", "data-page": "ticket" }, loading());
  view.appendChild(root);
  let ticket = await api("GET", `/tickets/${encodeURIComponent(id)}`);
  const canChange = session.hasRole("admin", "manager", "support_agent");
  const canNote = session.hasRole("admin", "manager", "support_agent", "sales_rep");

  const header = h("div", { class: "ticket-header" });
  const details = h("div", { class: "ticket-details desk-card", "data-test": "ticket-details" });
  const slaBox = h("div", { class: "ticket-sla desk-card", "data-test": "ticket-sla" });
  const conversation = h("ol", { class: "conversation", "data-test": "conversation", "aria-live": "polite" });
  const csatBox = h("div", { class: "ticket-csat desk-card", "data-test": "satisfaction" });
  const statusBox = h("div", { class: "ticket-status desk-card" });

  const bodyInput = h("textarea", { id: "ticket-reply", name: "body", rows: 4, "data-test": "reply-body", maxlength: 20000 });
  const composerError = h("p", { class: "form-error", role: "alert", "data-test": "reply-error" });
  const sendButton = h("button", { type: "button", class: "primary", "data-test": "send-reply", "on:click": () => post(true) }, t("tickets.send_reply"));
  const noteButton = h("button", { type: "button", "data-test": "add-note", "on:click": () => post(false) }, t("tickets.add_note"));
  const composer = h("div", { class: "composer desk-card", "data-test": "composer" },
    h("label", { for: "ticket-reply" }, t("tickets.reply_label")), bodyInput, composerError,
    h("div", { class: "form-actions" }, canNote ? noteButton : null, canChange ? sendButton : null));

  clear(root);
  root.append(
    h("p", { class: "desk-back" }, link("/tickets", `← ${t("tickets.back")}`, { "data-test": "back-to-queue" })),
    header,
    h("div", { class: "ticket-grid" },
      h("div", { class: "ticket-main" },
        h("h2", {}, t("tickets.conversation")), conversation, (canNote || canChange) ? composer : null),
      h("aside", { class: "ticket-side" }, slaBox, statusBox, details, csatBox)));

  function renderHeader() {
    clear(header);
    header.append(
      h("h1", { "data-test": "ticket-subject" }, ticket.subject),
      h("div", { class: "ticket-badges" }, statusBadge(ticket.status), priorityBadge(ticket.priority), stateBadge(ticket)),
      ticket.description ? h("p", { class: "ticket-description", "data-test": "ticket-description" }, ticket.description) : null);
    root.setAttribute("data-status", ticket.status);
    root.setAttribute("data-sla", ticketState(ticket));
  }

  function renderSla() {
    clear(slaBox);
    const row = (label, which) => h("div", { class: "sla-line" }, h("dt", {}, label), h("dd", {}, countdownCell(ticket, which)));
    slaBox.append(h("h2", {}, t("tickets.sla")),
      h("dl", {}, row(t("tickets.first_response"), "first_response"), row(t("tickets.resolution"), "resolution"),
        h("div", { class: "sla-line" }, h("dt", {}, t("tickets.policy")), h("dd", {}, ticket.sla?.policy_name || t("desk.none"))),
        h("div", { class: "sla-line" }, h("dt", {}, t("tickets.escalation")), h("dd", {}, String(ticket.escalation_level ?? 0)))));
  }

  function renderDetails() {
    clear(details);
    const dd = (label, value) => h("div", { class: "detail" }, h("dt", {}, label), h("dd", {}, value ?? t("desk.none")));
    const contact = ticket.contact_id ? link(`/contacts/${encodeURIComponent(ticket.contact_id)}`, ticket.contact_id, { "data-test": "ticket-contact" }) : null;
    if (ticket.contact_id) {
      api("GET", `/contacts/${encodeURIComponent(ticket.contact_id)}`).then((c) => {
        const name = [c.last_name, c.first_name].filter(Boolean).join(" ") || c.email || c.id;
        if (contact) contact.textContent = name;
      }).catch(() => {});
    }
    details.append(h("h2", {}, t("tickets.details")), h("dl", {},
      dd(t("tickets.contact"), contact),
      dd(t("tickets.assignee"), userLabel(ticket.assignee_id)),
      dd(t("tickets.kind"), t(`kind.${ticket.kind}`)),
      dd(t("tickets.channel"), t(`channel.${ticket.channel}`)),
      dd(t("tickets.category"), ticket.category),
      dd(t("tickets.received"), formatDateTime(ticket.received_at)),
      ticket.merged_into ? dd(t("tickets.merged_into"), link(`/tickets/${encodeURIComponent(ticket.merged_into)}`, ticket.merged_into)) : null));
  }

  function allowedMoves(status) {
    if (status === "closed") return [];
    if (status === "resolved") return ["closed", "reopened"];
    return ["open", "pending", "on_hold", "resolved", "closed"].filter((s) => s !== status);
  }

  function renderStatus() {
    clear(statusBox);
    const moves = allowedMoves(ticket.status);
    if (!canChange || !moves.length) { statusBox.hidden = true; return; }
    statusBox.hidden = false;
    const sel = h("select", { id: "ticket-status", "data-test": "status-select" }, moves.map((s) => h("option", { value: s }, t(`status.${s}`))));
    const err = h("p", { class: "form-error", role: "alert", "data-test": "status-error" });
    const change = async () => {
      err.textContent = "";
      try {
        ticket = await api("PATCH", `/tickets/${encodeURIComponent(id)}`, { status: sel.value }, { ifMatch: ticket._etag || `"${ticket.version}"` });
        toast(t("tickets.status_changed", { s: t(`status.${ticket.status}`) }), "success");
        renderAll();
        loadSatisfaction();
      } catch (e) { err.textContent = e.detail || e.title || e.message; if (e.status === 412) reloadTicket(); }
    };
    statusBox.append(h("h2", {}, t("tickets.change_status")),
      h("div", { class: "inline-form" }, h("label", { for: "ticket-status", class: "visually-hidden" }, t("tickets.change_status")), sel,
        h("button", {
          type: "button", "data-test": "status-apply",
          "on:click": () => (sel.value === "closed" ? confirmAction({ text: t("tickets.confirm_close"), label: t("status.closed"), onConfirm: change }) : change()),
        }, t("tickets.apply"))), err);
  }

  function commentItem(c) {
    const kind = c.author_type === "customer" ? "customer" : c.public ? "public" : "internal";
    const label = kind === "customer" ? t("tickets.customer") : kind === "public" ? t("tickets.public") : t("tickets.internal");
    return h("li", { class: `comment comment-${kind}`, "data-test": "comment", "data-kind": kind, "data-id": c.id },
      h("div", { class: "comment-meta" }, badge(label, `comment-badge comment-${kind}`), " ",
        c.author_type === "customer" ? null : userLabel(c.author_id), " ",
        h("time", { datetime: c.created_at }, formatDateTime(c.created_at))),
      h("p", { class: "comment-body", "data-test": "comment-body" }, c.body));
  }

  async function loadComments() {
    clear(conversation);
    try {
      const comments = await allPages(`/tickets/${encodeURIComponent(id)}/comments`);
      if (!comments.length) conversation.appendChild(h("li", { class: "empty", "data-test": "no-comments" }, t("tickets.no_comments")));
      comments.forEach((c) => conversation.appendChild(commentItem(c)));
    } catch (e) { conversation.appendChild(h("li", {}, errorBox(e))); }
  }

  async function post(isPublic) {
    composerError.textContent = "";
    const text = bodyInput.value.trim();
    if (!text) { composerError.textContent = t("tickets.empty_body"); bodyInput.focus(); return; }
    sendButton.disabled = noteButton.disabled = true;
    try {
      const c = await api("POST", `/tickets/${encodeURIComponent(id)}/comments`, { body: text, public: isPublic });
      conversation.querySelector("[data-test=no-comments]")?.remove();
      conversation.appendChild(commentItem(c));
      bodyInput.value = "";
      toast(isPublic ? t("tickets.reply_sent") : t("tickets.note_added"), "success");
      if (isPublic) reloadTicket();
    } catch (e) {
      const fieldMsg = (e.errors || []).map((x) => x.message).join(" ");
      composerError.textContent = fieldMsg || e.detail || e.title || e.message;
    } finally { sendButton.disabled = noteButton.disabled = false; }
  }

  async function loadSatisfaction() {
    clear(csatBox);
    csatBox.appendChild(h("h2", {}, t("tickets.satisfaction")));
    let s;
    try { s = await api("GET", `/tickets/${encodeURIComponent(id)}/satisfaction`); } catch (e) { csatBox.appendChild(errorBox(e)); return; }
    if (s.status === "answered") {
      csatBox.append(h("p", { class: `csat-score csat-${s.score}`, "data-test": "csat-score" }, t("tickets.csat_score", { score: s.score })),
        s.comment ? h("blockquote", { class: "csat-comment" }, s.comment) : null,
        h("p", { class: "muted" }, formatDateTime(s.answered_at)));
      return;
    }
    csatBox.appendChild(h("p", { class: "muted", "data-test": "csat-status" },
      s.status === "requested" ? t("tickets.csat_requested", { at: formatDateTime(s.requested_at) }) : t("tickets.csat_none")));
    if (canChange && ["resolved", "closed"].includes(ticket.status)) {
      csatBox.appendChild(form([
        { name: "score", label: t("tickets.score"), type: "select", required: true, options: ["5", "4", "3", "2", "1"] },
        { name: "comment", label: t("tickets.csat_comment"), type: "textarea", rows: 2 },
      ], { score: "5" }, {
        test: "csat-form", submitLabel: t("tickets.csat_record"),
        onSubmit: async (v, el) => {
          try {
            await api("POST", `/tickets/${encodeURIComponent(id)}/satisfaction`, { score: Number(v.score), comment: v.comment });
            toast(t("tickets.csat_saved"), "success");
            loadSatisfaction();
          } catch (e) { showErrors(el, e); }
        },
      }));
    }
  }

  async function reloadTicket() {
    try { ticket = await api("GET", `/tickets/${encodeURIComponent(id)}`); renderAll(); } catch { /* keep what is shown */ }
  }

  function renderAll() { renderHeader(); renderSla(); renderStatus(); renderDetails(); }
  renderAll();
  await Promise.all([loadComments(), loadSatisfaction()]);
  return startTicking(root);
}

route("/tickets", renderQueue, { page: "tickets" });
route("/tickets/:id", renderTicket, { page: "ticket" });
nav({ href: "/tickets", label: "nav.tickets", section: "service", order: 10, home: true, roles: ["admin", "manager", "support_agent", "sales_rep", "viewer"] });
