// The scaffolding of the service-desk and admin pages: a page shell with a toolbar, small formatters
// and a generic CRUD page (paged list, New / Edit dialogs, Delete with confirmation). Registers no route.
import { api, session } from "./api.js";
import { t, registerMessages, formatNumber } from "./i18n.js";
import { h, toast, formDialog, confirmAction } from "./dom.js";
import { pagedList } from "./lists.js";

registerMessages("en", {
  "desk.new": "New", "desk.edit": "Edit", "desk.delete": "Delete",
  "desk.confirm_delete": "Delete “{name}”? This cannot be undone.",
  "desk.deleted": "Deleted.", "desk.saved": "Saved.", "desk.created": "Created.",
  "desk.yes": "Yes", "desk.no": "No", "desk.refresh": "Refresh", "desk.filter": "Filter",
  "desk.all": "All", "desk.json_help": "JSON",
  "desk.none": "—", "desk.actions": "Actions", "desk.replay": "Replay", "desk.replayed": "Queued again.",
  "desk.show_table": "Show as table", "desk.show_chart": "Show as chart", "desk.comma_list": "Comma-separated",
  "role.admin": "Administrator", "role.manager": "Manager", "role.sales_rep": "Sales rep",
  "role.support_agent": "Support agent", "role.viewer": "Viewer",
});
registerMessages("zh-CN", {
  "desk.new": "新建", "desk.edit": "编辑", "desk.delete": "删除",
  "desk.confirm_delete": "删除“{name}”？此操作无法撤销。",
  "desk.deleted": "已删除。", "desk.saved": "已保存。", "desk.created": "已创建。",
  "desk.yes": "是", "desk.no": "否", "desk.refresh": "刷新", "desk.filter": "筛选",
  "desk.all": "全部", "desk.json_help": "JSON",
  "desk.none": "—", "desk.actions": "操作", "desk.replay": "重新投递", "desk.replayed": "已重新排队。",
  "desk.show_table": "以表格显示", "desk.show_chart": "以图表显示", "desk.comma_list": "用逗号分隔",
  "role.admin": "管理员", "role.manager": "经理", "role.sales_rep": "销售代表",
  "role.support_agent": "客服专员", "role.viewer": "只读用户",
});

export const isAdmin = () => session.hasRole("admin");

export const ROLES = ["admin", "manager", "sales_rep", "support_agent", "viewer"];

export function yesNo(v) { return v ? t("desk.yes") : t("desk.no"); }
export function num(v) { return v === null || v === undefined ? t("desk.none") : formatNumber(v); }
export function pct(v) { return v === null || v === undefined ? t("desk.none") : formatNumber(v, { style: "percent", maximumFractionDigits: 1 }); }
export function badge(text, kind = "") { return h("span", { class: `desk-badge ${kind}` }, text); }

/** A page root: <section data-page=name> with an <h1> and a toolbar; returns {root, toolbar, body}. */
export function pageShell(view, name, title, ...tools) {
  const toolbar = h("div", { class: "desk-toolbar" }, tools);
  const body = h("div", { class: "desk-body" });
  const root = h("section", { class: "desk-page", "data-page": name }, h("div", { class: "desk-head" }, h("h1", {}, title), toolbar), body);
  view.appendChild(root);
  return { root, toolbar, body };
}

/** Generic admin CRUD page: a paged list, New / Edit dialogs and Delete with confirmation. */
export function crudPage(view, { name, title, path, columns, fields, editFields, toBody, toPatch, toValues = (r) => r, canDelete = true, rowName = (r) => r.name || r.id, onRowClick, extraTools = [], query = {}, afterCreate, deleteLabel, confirmText, limit }) {
  const shell = pageShell(view, name, title);
  let list;
  const newButton = h("button", {
    type: "button", class: "primary", "data-test": "new",
    "on:click": () => formDialog({
      title: `${t("desk.new")} — ${title}`, fields, values: {}, toBody,
      onSave: async (body) => {
        const created = await api("POST", path, body);
        toast(t("desk.created"), "success");
        afterCreate?.(created);
        list.reload();
      },
    }),
  }, t("desk.new"));
  shell.toolbar.append(...extraTools, fields ? newButton : null);
  const actions = {
    key: "_actions", label: t("desk.actions"), className: "desk-actions",
    render: (row) => h("span", { class: "desk-row-actions" },
      (editFields || fields) ? h("button", {
        type: "button", "data-test": "edit", "on:click": async () => {
          const fresh = await api("GET", `${path}/${encodeURIComponent(row.id)}`);
          formDialog({
            title: `${t("desk.edit")} — ${rowName(fresh)}`, fields: editFields || fields, values: toValues(fresh),
            toBody: toPatch || toBody,
            onSave: async (body) => {
              await api("PATCH", `${path}/${encodeURIComponent(row.id)}`, body, { ifMatch: fresh._etag });
              toast(t("desk.saved"), "success");
              list.reload();
            },
          });
        },
      }, t("desk.edit")) : null,
      (typeof canDelete === "function" ? canDelete(row) : canDelete) ? h("button", {
        type: "button", class: "danger", "data-test": "delete", "on:click": () => confirmAction({
          text: confirmText ? confirmText(row) : t("desk.confirm_delete", { name: rowName(row) }), label: deleteLabel || t("desk.delete"),
          onConfirm: async () => { await api("DELETE", `${path}/${encodeURIComponent(row.id)}`); toast(t("desk.deleted"), "success"); list.reload(); },
        }),
      }, deleteLabel || t("desk.delete")) : null),
  };
  list = pagedList({ path, query, limit, columns: columns.concat([actions]), onRowClick, test: `${name}-table` });
  shell.body.appendChild(list.el);
  return { shell, list };
}
