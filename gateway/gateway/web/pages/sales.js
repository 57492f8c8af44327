// Sales: the pipeline board (drag-and-drop between stages, with a "Move to stage" select on each card
// for keyboard and touch) and the deal page. Public API only: /pipelines, /deals, /users, /tasks.
import { api, pages, session, etagOf } from "../js/api.js";
import { t, registerMessages, formatDate, formatDateTime } from "../js/i18n.js";
import { h, clear, toast, dialog, form, formDialog, formatMoney, loading, errorBox, table } from "../js/dom.js";
import { route, nav, link, navigate } from "../js/router.js";
import { userNames, nameIn } from "../js/users.js";
import { contactName } from "../js/customers.js";

registerMessages("en", {
  "nav.sales": "Pipeline board",
  "sales.board": "Pipeline board",
  "sales.pipeline": "Pipeline",
  "sales.mine": "Only my deals",
  "sales.deals_count": "{n} deals",
  "sales.more_in_stage": "Only the latest are shown",
  "sales.no_deals": "No deals in this stage",
  "sales.move_to": "Move to stage",
  "sales.owner": "Owner",
  "sales.rotting": "Rotting",
  "sales.rotting_help": "No progress for longer than this stage allows",
  "sales.close_date": "Expected close",
  "sales.moved": "“{title}” moved to {stage}",
  "sales.move_failed": "Could not move “{title}”: {detail}",
  "sales.move_conflict": "“{title}” was changed by someone else; the board was reloaded.",
  "sales.lost_reason": "Why was it lost?",
  "sales.lose_title": "Close “{title}” as lost",
  "sales.lose": "Close as lost",
  "sales.win": "Mark won",
  "sales.reopen": "Reopen",
  "sales.drop_hint": "Drag a card onto another stage, or use its “Move to stage” list.",
  "sales.status.open": "Open", "sales.status.won": "Won", "sales.status.lost": "Lost",
  "deal.title": "Title", "deal.amount": "Amount", "deal.currency": "Currency", "deal.stage": "Stage",
  "deal.status": "Status", "deal.contact": "Contact", "deal.company": "Company",
  "deal.lost_reason": "Lost reason", "deal.created": "Created", "deal.closed": "Closed",
  "deal.history": "Stage history", "deal.line_items": "Line items", "deal.product": "Product",
  "deal.quantity": "Quantity", "deal.unit_price": "Unit price", "deal.edit": "Edit deal",
  "deal.saved": "Deal saved", "deal.back": "Back to the board", "deal.tasks": "Tasks",
  "deal.add_task": "Add task", "deal.task_title": "Task", "deal.due_at": "Due", "deal.task_added": "Task added",
  "deal.no_tasks": "No tasks for this deal.", "deal.probability": "{p}% win probability",
  "deal.stale": "This deal was changed meanwhile; showing the latest version.",
});
registerMessages("zh-CN", {
  "nav.sales": "销售看板",
  "sales.board": "销售看板",
  "sales.pipeline": "销售流程",
  "sales.mine": "只看我的商机",
  "sales.deals_count": "{n} 个商机",
  "sales.more_in_stage": "仅显示最近的商机",
  "sales.no_deals": "此阶段没有商机",
  "sales.move_to": "移到阶段",
  "sales.owner": "负责人",
  "sales.rotting": "停滞",
  "sales.rotting_help": "停留时间超过了此阶段的期限",
  "sales.close_date": "预计成交",
  "sales.moved": "“{title}”已移到{stage}",
  "sales.move_failed": "无法移动“{title}”：{detail}",
  "sales.move_conflict": "“{title}”已被他人修改，看板已刷新。",
  "sales.lost_reason": "丢单原因",
  "sales.lose_title": "将“{title}”标为丢单",
  "sales.lose": "标为丢单",
  "sales.win": "标为赢单",
  "sales.reopen": "重新打开",
  "sales.drop_hint": "把卡片拖到其他阶段，或使用卡片上的“移到阶段”列表。",
  "sales.status.open": "进行中", "sales.status.won": "赢单", "sales.status.lost": "丢单",
  "deal.title": "标题", "deal.amount": "金额", "deal.currency": "币种", "deal.stage": "阶段",
  "deal.status": "状态", "deal.contact": "联系人", "deal.company": "公司",
  "deal.lost_reason": "丢单原因", "deal.created": "创建时间", "deal.closed": "关闭时间",
  "deal.history": "阶段历史", "deal.line_items": "产品明细", "deal.product": "产品",
  "deal.quantity": "数量", "deal.unit_price": "单价", "deal.edit": "编辑商机",
  "deal.saved": "商机已保存", "deal.back": "返回看板", "deal.tasks": "任务",
  "deal.add_task": "添加任务", "deal.task_title": "任务", "deal.due_at": "截止", "deal.task_added": "任务已添加",
  "deal.no_tasks": "此商机没有任务。", "deal.probability": "赢单概率 {p}%",
  "deal.stale": "此商机已被修改，显示的是最新版本。",
});

const CURRENCIES = ["CNY", "USD", "EUR", "GBP", "JPY", "HKD", "SGD"];
const STAGE_LIMIT = 50; // cards loaded per column; the header tells how many more there are
const SALES_ROLES = ["admin", "manager", "sales_rep"];

function mayWriteDeals() {
  return session.hasRole(...SALES_ROLES);
}

function statusLabel(status) {
  return t(`sales.status.${status}`);
}

/** A visually hidden label + select: the keyboard and touch way to move a deal. */
function stageSelect(pipeline, deal, onChange, test = "move-stage") {
  const id = `move-${deal.id}-${Math.random().toString(36).slice(2, 6)}`;
  const select = h("select", { id, "data-test": test },
    pipeline.stages.map((s) => h("option", { value: s.id, selected: s.id === deal.stage_id }, s.name)));
  select.addEventListener("change", () => onChange(select.value, select));
  return h("div", { class: "move-stage" },
    h("label", { for: id, class: "move-stage-label" }, t("sales.move_to")), select);
}

/** Ask for a lost reason (a 0% stage loses the deal and needs one). Resolves to the text or null. */
function askLostReason(deal) {
  return new Promise((resolve) => {
    let answered = false;
    const input = h("textarea", { id: "lost-reason", rows: 3, maxlength: 500, "data-test": "lost-reason", required: true });
    const body = h("div", { class: "field" }, h("label", { for: "lost-reason" }, t("sales.lost_reason")), input);
    dialog({
      title: t("sales.lose_title", { title: deal.title }),
      body,
      test: "lost-dialog",
      actions: [
        { label: t("shell.cancel"), test: "cancel", onClick: () => {} },
        {
          label: t("sales.lose"), kind: "primary", test: "confirm-lost",
          onClick: () => {
            const reason = input.value.trim();
            if (!reason) { input.setAttribute("aria-invalid", "true"); input.focus(); return false; }
            answered = true;
            resolve(reason);
            return true;
          },
        },
      ],
      onClose: () => { if (!answered) resolve(null); },
    });
  });
}

/** PATCH a deal's stage (with its lost reason when the stage is at 0%). Returns the new deal or throws. */
async function moveDeal(deal, stage) {
  const body = { stage_id: stage.id };
  if (Number(stage.probability) === 0) {
    const reason = await askLostReason(deal);
    if (reason === null) return null;
    body.lost_reason = reason;
  }
  return api("PATCH", `/deals/${encodeURIComponent(deal.id)}`, body, { ifMatch: etagOf(deal) });
}

// ---- the board ----

async function renderBoard(view, params, query) {
  view.appendChild(loading());
  const pipelines = [];
  for await (const p of pages("/pipelines", { limit: 200 })) pipelines.push(p);
  const pipelineId = query.get("pipeline") || (pipelines.find((p) => p.id === "default") || pipelines[0])?.id;
  const mine = query.get("mine") === "1";
  const pipeline = pipelines.find((p) => p.id === pipelineId) || pipelines[0];
  const names = await userNames();
  clear(view);

  const setQuery = (changes) => {
    const q = new URLSearchParams({ pipeline: pipeline.id, ...(mine ? { mine: "1" } : {}) });
    for (const [k, v] of Object.entries(changes)) { if (v === null) q.delete(k); else q.set(k, v); }
    navigate(`/sales?${q}`, { replace: true });
  };

  const pipelineSelect = h("select", { id: "board-pipeline", "data-test": "pipeline-select" },
    pipelines.map((p) => h("option", { value: p.id, selected: p.id === pipeline.id }, p.name)));
  pipelineSelect.addEventListener("change", () => setQuery({ pipeline: pipelineSelect.value }));
  const mineBox = h("input", { type: "checkbox", id: "board-mine", "data-test": "only-mine", checked: mine });
  mineBox.addEventListener("change", () => setQuery({ mine: mineBox.checked ? "1" : null }));

  const board = h("div", { class: "board", "data-test": "board", role: "list", "aria-label": t("sales.board") });
  const live = h("p", { class: "visually-hidden", "aria-live": "polite", "data-test": "board-live" });
  view.appendChild(h("section", { class: "sales-board-page", "data-page": "sales-board" },
    h("div", { class: "page-head" },
      h("h1", {}, t("sales.board")),
      h("div", { class: "board-controls" },
        h("label", { for: "board-pipeline" }, t("sales.pipeline")), pipelineSelect,
        h("label", { for: "board-mine", class: "checkbox" }, mineBox, " ", t("sales.mine")))),
    h("p", { class: "hint" }, t("sales.drop_hint")),
    live,
    board));

  // One request per stage, in parallel: each column shows its newest STAGE_LIMIT deals.
  const columns = new Map(); // stage id → {stage, el, list, count, deals: Map}
  const writable = mayWriteDeals();
  let dragged = null;

  function cardFor(deal) {
    const stage = pipeline.stages.find((s) => s.id === deal.stage_id);
    const card = h("article", {
      class: `deal-card${deal.rotting ? " rotting" : ""} status-${deal.status}`,
      "data-test": "deal-card", "data-deal-id": deal.id, "data-stage-id": deal.stage_id,
      draggable: writable ? "true" : null, role: "listitem",
    },
    h("h3", { class: "deal-card-title" }, link(`/deals/${encodeURIComponent(deal.id)}`, deal.title, { "data-test": "deal-link" })),
    h("p", { class: "deal-amount", "data-test": "deal-amount" }, formatMoney(deal.amount, deal.currency)),
    h("p", { class: "deal-meta" },
      h("span", { class: "deal-owner" }, h("span", { class: "visually-hidden" }, `${t("sales.owner")}: `), nameIn(names, deal.owner_id)),
      deal.expected_close_date ? h("span", { class: "deal-close" }, `${t("sales.close_date")}: ${formatDate(deal.expected_close_date)}`) : null),
    deal.rotting ? h("p", { class: "rotting-mark", "data-test": "rotting", title: t("sales.rotting_help") }, t("sales.rotting")) : null,
    writable && stage ? stageSelect(pipeline, deal, (stageId, select) => {
      const target = pipeline.stages.find((s) => s.id === stageId);
      select.value = deal.stage_id; // the move itself re-renders the card
      move(deal.id, target, true);
    }) : null);
    if (writable) {
      card.addEventListener("dragstart", (e) => {
        dragged = deal.id;
        e.dataTransfer.setData("text/plain", deal.id);
        e.dataTransfer.effectAllowed = "move";
        card.classList.add("dragging");
      });
      card.addEventListener("dragend", () => {
        dragged = null;
        card.classList.remove("dragging");
        board.querySelectorAll(".drop-target").forEach((c) => c.classList.remove("drop-target"));
      });
    }
    return card;
  }

  function renderColumnHead(col) {
    const shown = col.deals.size;
    const totals = {};
    for (const d of col.deals.values()) totals[d.currency] = (totals[d.currency] || 0) + Number(d.amount || 0);
    clear(col.summary).append(
      t("sales.deals_count", { n: col.hasMore ? `${shown}+` : shown }),
      ...Object.entries(totals).map(([cur, sum]) => h("span", { class: "stage-sum" }, formatMoney(sum.toFixed(2), cur))));
    col.more.textContent = col.hasMore ? t("sales.more_in_stage") : "";
    col.empty.hidden = shown > 0;
  }

  function place(deal, { top = true } = {}) {
    const col = columns.get(deal.stage_id);
    if (!col) return;
    col.deals.set(deal.id, deal);
    const card = cardFor(deal);
    if (top) col.list.prepend(card); else col.list.appendChild(card);
  }

  function removeCard(dealId) {
    board.querySelector(`.deal-card[data-deal-id="${CSS.escape(dealId)}"]`)?.remove();
  }

  function findDeal(dealId) {
    for (const col of columns.values()) if (col.deals.has(dealId)) return { col, deal: col.deals.get(dealId) };
    return null;
  }

  async function move(dealId, target, fromSelect = false) {
    const found = findDeal(dealId);
    if (!found || !target || found.deal.stage_id === target.id) return;
    const { col: from, deal } = found;
    const to = columns.get(target.id);
    // Optimistic: the card moves now; a refusal puts it back.
    from.deals.delete(deal.id);
    removeCard(deal.id);
    place({ ...deal, stage_id: target.id });
    renderColumnHead(from); renderColumnHead(to);
    const rollback = () => {
      to.deals.delete(deal.id);
      removeCard(deal.id);
      place(deal);
      renderColumnHead(from); renderColumnHead(to);
    };
    try {
      const updated = await moveDeal(deal, target);
      if (!updated) { rollback(); focusSelect(deal.id, fromSelect); return; }
      to.deals.set(updated.id, updated);
      const old = board.querySelector(`.deal-card[data-deal-id="${CSS.escape(updated.id)}"]`);
      old?.replaceWith(cardFor(updated));
      renderColumnHead(to);
      const message = t("sales.moved", { title: updated.title, stage: target.name });
      live.textContent = message;
      toast(message, "success", 3000);
      focusSelect(updated.id, fromSelect);
    } catch (err) {
      rollback();
      if (err.status === 412) {
        toast(t("sales.move_conflict", { title: deal.title }), "error");
        await reloadColumns([from, to]);
      } else {
        toast(t("sales.move_failed", { title: deal.title, detail: err.detail || err.title || err.message }), "error");
      }
      focusSelect(deal.id, fromSelect);
    }
  }

  function focusSelect(dealId, yes) {
    if (!yes) return;
    board.querySelector(`.deal-card[data-deal-id="${CSS.escape(dealId)}"] select`)?.focus();
  }

  async function loadColumn(col) {
    const q = { pipeline_id: pipeline.id, stage_id: col.stage.id, limit: STAGE_LIMIT, sort: "-updated_at" };
    if (mine && session.user) q.owner_id = session.user.id;
    const body = await api("GET", "/deals", undefined, { query: q });
    clear(col.list);
    col.deals.clear();
    for (const d of body.data || []) place(d, { top: false });
    // The API pages by cursor without totals: that there are more is known, not how many.
    col.hasMore = !!body.next_cursor;
    renderColumnHead(col);
  }

  async function reloadColumns(cols) {
    try { await Promise.all(cols.map(loadColumn)); } catch (err) { toast(err.message, "error"); }
  }

  for (const stage of pipeline.stages) {
    const headingId = `stage-${stage.id}-${Math.random().toString(36).slice(2, 6)}`;
    const list = h("div", { class: "stage-cards" });
    const summary = h("p", { class: "stage-summary", "data-test": "stage-summary" });
    const more = h("p", { class: "stage-more" });
    const empty = h("p", { class: "stage-empty" }, t("sales.no_deals"));
    const el = h("section", {
      class: `stage-column prob-${Number(stage.probability) === 100 ? "won" : Number(stage.probability) === 0 ? "lost" : "open"}`,
      "data-test": "stage-column", "data-stage-id": stage.id, "aria-labelledby": headingId, role: "listitem",
    },
    h("header", { class: "stage-head" },
      h("h2", { id: headingId }, stage.name),
      h("p", { class: "stage-prob" }, t("deal.probability", { p: stage.probability })),
      summary),
    list, empty, more);
    const col = { stage, el, list, summary, more, empty, deals: new Map(), hasMore: false };
    columns.set(stage.id, col);
    if (writable) {
      el.addEventListener("dragover", (e) => {
        if (!dragged) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = "move";
        el.classList.add("drop-target");
      });
      el.addEventListener("dragleave", (e) => { if (!el.contains(e.relatedTarget)) el.classList.remove("drop-target"); });
      el.addEventListener("drop", (e) => {
        e.preventDefault();
        el.classList.remove("drop-target");
        const id = e.dataTransfer.getData("text/plain") || dragged;
        if (id) move(id, stage);
      });
    }
    board.appendChild(el);
  }
  try {
    await Promise.all([...columns.values()].map(loadColumn));
  } catch (err) {
    board.replaceWith(errorBox(err));
  }
}

// ---- the deal page ----

async function renderDeal(view, params) {
  view.appendChild(loading());
  const id = encodeURIComponent(params.id);
  let deal = await api("GET", `/deals/${id}`);
  const [pipeline, names] = await Promise.all([api("GET", `/pipelines/${encodeURIComponent(deal.pipeline_id)}`), userNames()]);
  // The customer's names (best effort: ids are shown when a read fails).
  const [contact, company] = await Promise.allSettled([
    deal.contact_id ? api("GET", `/contacts/${encodeURIComponent(deal.contact_id)}`) : null,
    deal.company_id ? api("GET", `/companies/${encodeURIComponent(deal.company_id)}`) : null,
  ]).then((results) => results.map((r) => (r.status === "fulfilled" ? r.value : null)));
  const writable = mayWriteDeals();
  const page = h("section", { class: "deal-page", "data-page": "deal" });
  clear(view).appendChild(page);

  const stageName = (sid) => pipeline.stages.find((s) => s.id === sid)?.name || sid;

  async function patch(body) {
    try {
      deal = await api("PATCH", `/deals/${id}`, body, { ifMatch: etagOf(deal) });
      toast(t("deal.saved"), "success", 3000);
    } catch (err) {
      if (err.status === 412) {
        deal = await api("GET", `/deals/${id}`);
        toast(t("deal.stale"), "error");
      } else throw err;
    }
    draw();
  }

  async function act(fn) {
    try { await fn(); } catch (err) { toast(err.detail || err.title || err.message, "error"); draw(); }
  }

  function progress() {
    return h("ol", { class: "stage-progress", "aria-label": t("deal.stage") },
      pipeline.stages.map((s) => h("li", {
        class: s.id === deal.stage_id ? "current" : "",
        "aria-current": s.id === deal.stage_id ? "step" : null,
      }, s.name)));
  }

  function facts() {
    const rows = [
      [t("deal.amount"), formatMoney(deal.amount, deal.currency)],
      [t("deal.status"), statusLabel(deal.status)],
      [t("deal.stage"), stageName(deal.stage_id)],
      [t("sales.owner"), nameIn(names, deal.owner_id)],
      [t("deal.contact"), deal.contact_id ? link(`/contacts/${encodeURIComponent(deal.contact_id)}`, contactName(contact) || deal.contact_id, { "data-test": "deal-contact" }) : ""],
      [t("deal.company"), deal.company_id ? link(`/companies/${encodeURIComponent(deal.company_id)}`, company?.name || deal.company_id) : ""],
      [t("sales.close_date"), deal.expected_close_date ? formatDate(deal.expected_close_date) : ""],
      [t("deal.created"), formatDateTime(deal.created_at)],
      deal.closed_at ? [t("deal.closed"), formatDateTime(deal.closed_at)] : null,
      deal.lost_reason ? [t("deal.lost_reason"), deal.lost_reason] : null,
    ].filter(Boolean);
    return h("dl", { class: "facts", "data-test": "deal-facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }

  function actions() {
    if (!writable) return null;
    const box = h("div", { class: "deal-actions" },
      stageSelect(pipeline, deal, (stageId) => act(async () => {
        const updated = await moveDeal(deal, pipeline.stages.find((s) => s.id === stageId));
        if (updated) { deal = updated; toast(t("sales.moved", { title: deal.title, stage: stageName(deal.stage_id) }), "success", 3000); }
        draw();
      }), "deal-stage"));
    if (deal.status === "open") {
      box.append(
        h("button", { type: "button", class: "primary", "data-test": "deal-win", "on:click": () => act(() => patch({ status: "won" })) }, t("sales.win")),
        h("button", { type: "button", "data-test": "deal-lose", "on:click": () => act(async () => {
          const reason = await askLostReason(deal);
          if (reason) await patch({ status: "lost", lost_reason: reason });
        }) }, t("sales.lose")));
    } else {
      box.append(h("button", { type: "button", "data-test": "deal-reopen", "on:click": () => act(() => patch({ status: "open" })) }, t("sales.reopen")));
    }
    box.append(h("button", { type: "button", "data-test": "deal-edit", "on:click": editDialog }, t("deal.edit")));
    return box;
  }

  function editDialog() {
    const hasItems = (deal.line_items || []).length > 0;
    const fields = [
      { name: "title", label: t("deal.title"), required: true },
      hasItems ? null : { name: "amount", label: t("deal.amount"), type: "text", placeholder: "1234.50" },
      { name: "currency", label: t("deal.currency"), type: "select", options: CURRENCIES, required: true },
      { name: "expected_close_date", label: t("sales.close_date"), type: "date" },
    ].filter(Boolean);
    formDialog({
      title: t("deal.edit"), test: "deal-edit-dialog", formTest: "deal-form", submitLabel: t("shell.save"),
      fields, values: deal,
      onSave: async (values) => {
        const body = {};
        for (const k of Object.keys(values)) if ((values[k] ?? null) !== (deal[k] ?? null)) body[k] = values[k];
        if (Object.keys(body).length) {
          deal = await api("PATCH", `/deals/${id}`, body, { ifMatch: etagOf(deal) });
          toast(t("deal.saved"), "success", 3000);
        }
        draw();
      },
    });
  }

  const taskBox = h("section", { class: "deal-tasks", "aria-labelledby": "deal-tasks-h" });
  async function loadTasks() {
    clear(taskBox).append(h("h2", { id: "deal-tasks-h" }, t("deal.tasks")), loading());
    try {
      const body = await api("GET", "/tasks", undefined, { query: { deal_id: deal.id, sort: "due_at", limit: 50 } });
      taskBox.lastChild.remove();
      taskBox.appendChild(table({
        test: "deal-tasks",
        empty: t("deal.no_tasks"),
        rows: body.data,
        columns: [
          { key: "title", label: t("deal.task_title"), render: (r) => h("span", { class: r.done ? "done" : "" }, r.title) },
          { key: "due_at", label: t("deal.due_at"), render: (r) => (r.due_at ? formatDateTime(r.due_at) : "") },
          { key: "assignee_id", label: t("sales.owner"), render: (r) => nameIn(names, r.assignee_id) },
        ],
      }));
      if (session.hasRole("admin", "manager", "sales_rep", "support_agent")) {
        taskBox.appendChild(form(
          [{ name: "title", label: t("deal.task_title"), required: true, test: "task-title" },
            { name: "due_at", label: t("deal.due_at"), type: "datetime-local", test: "task-due" }],
          {},
          {
            test: "deal-task-form",
            submitLabel: t("deal.add_task"),
            onSubmit: async (values) => {
              const body = { title: values.title, deal_id: deal.id };
              if (values.due_at) body.due_at = new Date(values.due_at).toISOString();
              await api("POST", "/tasks", body);
              toast(t("deal.task_added"), "success", 3000);
              loadTasks();
            },
          }));
      }
    } catch (err) {
      taskBox.lastChild.replaceWith(errorBox(err));
    }
  }

  function draw() {
    clear(page).append(
      h("p", { class: "breadcrumb" }, link(`/sales?pipeline=${encodeURIComponent(pipeline.id)}`, `← ${t("deal.back")}`)),
      h("div", { class: "page-head" },
        h("h1", { "data-test": "deal-title" }, deal.title),
        h("span", { class: `status-badge status-${deal.status}`, "data-test": "deal-status" }, statusLabel(deal.status)),
        deal.rotting ? h("span", { class: "rotting-mark", "data-test": "rotting", title: t("sales.rotting_help") }, t("sales.rotting")) : null),
      progress(),
      actions(),
      h("div", { class: "deal-grid" },
        h("section", { "aria-label": t("deal.status") }, facts()),
        h("section", { class: "deal-history", "aria-labelledby": "deal-history-h" },
          h("h2", { id: "deal-history-h" }, t("deal.history")),
          h("ol", { "data-test": "stage-history" }, (deal.stage_history || []).slice().reverse().map((e) =>
            h("li", {}, h("span", {}, stageName(e.stage_id)), " ", h("time", { datetime: e.at }, formatDateTime(e.at))))))),
      (deal.line_items || []).length ? h("section", { "aria-labelledby": "deal-items-h" },
        h("h2", { id: "deal-items-h" }, t("deal.line_items")),
        table({
          test: "line-items",
          rows: deal.line_items,
          columns: [
            { key: "product", label: t("deal.product") },
            { key: "quantity", label: t("deal.quantity") },
            { key: "unit_price", label: t("deal.unit_price"), render: (r) => formatMoney(r.unit_price, deal.currency) },
          ],
        })) : null,
      taskBox);
  }
  draw();
  loadTasks();
}

function guarded(render) {
  return async (view, params, query) => {
    try {
      await render(view, params, query);
    } catch (err) {
      clear(view).appendChild(errorBox(err));
    }
  };
}

route("/sales", guarded(renderBoard), { page: "sales-board" });
route("/deals/:id", guarded(renderDeal), { page: "deal" });
nav({ href: "/sales", label: "nav.sales", section: "sales", order: 10, test: "nav-sales", roles: ["admin", "manager", "sales_rep", "viewer"] });
