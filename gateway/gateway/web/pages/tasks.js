// Tasks due today (and overdue ones), each with a "Mark done" button. Public API: GET/PATCH /tasks.
import { api, pages, session, etagOf } from "../js/api.js";
import { t, registerMessages, formatDateTime, formatDate } from "../js/i18n.js";
import { h, clear, toast, loading, errorBox } from "../js/dom.js";
import { route, nav, link, navigate } from "../js/router.js";
import { userNames, nameIn } from "../js/users.js";

registerMessages("en", {
  "nav.tasks": "Tasks today",
  "tasks.title": "Tasks due today",
  "tasks.overdue": "Overdue",
  "tasks.today": "Due today",
  "tasks.none_today": "Nothing due today.",
  "tasks.none_overdue": "Nothing overdue.",
  "tasks.scope": "Show",
  "tasks.scope.mine": "My tasks",
  "tasks.scope.all": "All tasks I can see",
  "tasks.done": "Mark done",
  "tasks.done_label": "Mark “{title}” done",
  "tasks.marked_done": "“{title}” done",
  "tasks.changed": "“{title}” was changed by someone else; the list was reloaded.",
  "tasks.assignee": "Assignee",
  "tasks.due": "Due {time}",
  "tasks.kind.call": "Call", "tasks.kind.email": "Email", "tasks.kind.meeting": "Meeting",
  "tasks.kind.visit": "Visit", "tasks.kind.return_visit": "Return visit", "tasks.kind.todo": "To-do",
  "tasks.priority.low": "Low priority", "tasks.priority.normal": "Normal priority", "tasks.priority.high": "High priority",
  "tasks.deal": "Deal", "tasks.contact": "Contact",
  "tasks.date": "Today is {date}",
});
registerMessages("zh-CN", {
  "nav.tasks": "今日任务",
  "tasks.title": "今天到期的任务",
  "tasks.overdue": "已逾期",
  "tasks.today": "今天到期",
  "tasks.none_today": "今天没有到期的任务。",
  "tasks.none_overdue": "没有逾期的任务。",
  "tasks.scope": "显示",
  "tasks.scope.mine": "我的任务",
  "tasks.scope.all": "我能看到的全部任务",
  "tasks.done": "标为完成",
  "tasks.done_label": "将“{title}”标为完成",
  "tasks.marked_done": "“{title}”已完成",
  "tasks.changed": "“{title}”已被他人修改，列表已刷新。",
  "tasks.assignee": "执行人",
  "tasks.due": "截止 {time}",
  "tasks.kind.call": "电话", "tasks.kind.email": "邮件", "tasks.kind.meeting": "会议",
  "tasks.kind.visit": "拜访", "tasks.kind.return_visit": "回访", "tasks.kind.todo": "待办",
  "tasks.priority.low": "低优先级", "tasks.priority.normal": "普通优先级", "tasks.priority.high": "高优先级",
  "tasks.deal": "商机", "tasks.contact": "联系人",
  "tasks.date": "今天是 {date}",
});

/** The stored form tasks compare as text: 2030-01-02T09:30:00.000000Z (microseconds). */
function stored(date) {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

const MAX_ROWS = 500;

async function collect(query) {
  const rows = [];
  for await (const task of pages("/tasks", query)) {
    rows.push(task);
    if (rows.length >= MAX_ROWS) break;
  }
  return rows;
}

async function renderTasks(view, params, query) {
  const scope = query.get("scope") === "all" ? "all" : "mine";
  view.appendChild(loading());
  const start = new Date(); start.setHours(0, 0, 0, 0);
  const end = new Date(start); end.setDate(end.getDate() + 1);
  const base = { limit: 200, sort: "due_at", done: "false" };
  if (scope === "mine" && session.user) base.assignee_id = session.user.id;
  const [today, overdue, names] = await Promise.all([
    collect({ ...base, filter: JSON.stringify({ and: [{ due_at: { gte: stored(start) } }, { due_at: { lt: stored(end) } }] }) }),
    collect({ ...base, filter: JSON.stringify({ due_at: { lt: stored(start) } }) }),
    userNames(),
  ]);
  clear(view);

  const scopeSelect = h("select", { id: "tasks-scope", "data-test": "tasks-scope" },
    ["mine", "all"].map((s) => h("option", { value: s, selected: s === scope }, t(`tasks.scope.${s}`))));
  scopeSelect.addEventListener("change", () => navigate(`/tasks?scope=${scopeSelect.value}`, { replace: true }));

  function item(task) {
    const button = h("button", {
      type: "button", class: "task-done-button", "data-test": "task-done", "data-task-id": task.id,
      "aria-label": t("tasks.done_label", { title: task.title }),
    }, t("tasks.done"));
    const li = h("li", { class: `task-item priority-${task.priority || "normal"}`, "data-test": "task-item", "data-task-id": task.id },
      h("div", { class: "task-main" },
        h("p", { class: "task-title", "data-test": "task-title" }, task.title),
        h("p", { class: "task-meta" },
          h("span", { class: "task-kind" }, t(`tasks.kind.${task.kind || "todo"}`)),
          task.priority === "high" ? h("span", { class: "task-priority" }, t("tasks.priority.high")) : null,
          task.due_at ? h("time", { datetime: task.due_at }, t("tasks.due", { time: formatDateTime(task.due_at) })) : null,
          scope === "all" ? h("span", {}, `${t("tasks.assignee")}: ${nameIn(names, task.assignee_id)}`) : null,
          task.deal_id ? link(`/deals/${encodeURIComponent(task.deal_id)}`, t("tasks.deal"), { "data-test": "task-deal" }) : null,
          task.contact_id ? link(`/contacts/${encodeURIComponent(task.contact_id)}`, t("tasks.contact")) : null),
        task.description ? h("p", { class: "task-description" }, task.description) : null),
      button);
    button.addEventListener("click", async () => {
      button.disabled = true;
      li.classList.add("pending");
      try {
        await api("PATCH", `/tasks/${encodeURIComponent(task.id)}`, { done: true }, { ifMatch: etagOf(task) });
        const next = li.nextElementSibling || li.previousElementSibling;
        const list = li.parentElement;
        li.remove();
        if (list && !list.children.length) list.replaceWith(h("p", { class: "empty" }, t("tasks.none_today")));
        toast(t("tasks.marked_done", { title: task.title }), "success", 3000);
        (next?.querySelector("button") || view.querySelector("h1"))?.focus();
      } catch (err) {
        li.classList.remove("pending");
        button.disabled = false;
        if (err.status === 412) {
          toast(t("tasks.changed", { title: task.title }), "error");
          navigate(`/tasks?scope=${scope}`, { replace: true });
        } else toast(err.detail || err.title || err.message, "error");
      }
    });
    return li;
  }

  function section(title, rows, empty, test) {
    const id = `tasks-${test}`;
    return h("section", { class: "task-section", "aria-labelledby": id, "data-test": test },
      h("h2", { id }, title, " ", h("span", { class: "count" }, `(${rows.length})`)),
      rows.length ? h("ul", { class: "task-list" }, rows.map(item)) : h("p", { class: "empty" }, empty));
  }

  view.appendChild(h("section", { class: "tasks-page", "data-page": "tasks" },
    h("div", { class: "page-head" },
      h("h1", { tabindex: "-1" }, t("tasks.title")),
      h("div", { class: "board-controls" }, h("label", { for: "tasks-scope" }, t("tasks.scope")), scopeSelect)),
    h("p", { class: "hint" }, t("tasks.date", { date: formatDate(start.toISOString(), { dateStyle: "full" }) })),
    overdue.length ? section(t("tasks.overdue"), overdue, t("tasks.none_overdue"), "tasks-overdue") : null,
    section(t("tasks.today"), today, t("tasks.none_today"), "tasks-today")));
}

route("/tasks", async (view, params, query) => {
  try { await renderTasks(view, params, query); } catch (err) { clear(view).appendChild(errorBox(err)); }
}, { page: "tasks" });
nav({ href: "/tasks", label: "nav.tasks", section: "sales", order: 20, test: "nav-tasks" });
