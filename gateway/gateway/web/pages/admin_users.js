// Admin: users (create, edit roles, deactivate) and the roles with who holds them.
import { api, allPages } from "../js/api.js";
import { t, registerMessages } from "../js/i18n.js";
import { h, table, toast, errorBox, splitList, FieldError, confirmAction } from "../js/dom.js";
import { route, nav } from "../js/router.js";
import { crudPage, pageShell, ROLES, yesNo, badge } from "../js/desk.js";

registerMessages("en", {
  "nav.admin_users": "Users", "nav.admin_roles": "Roles", "users.title": "Users", "users.name": "Name", "users.email": "Email",
  "users.roles": "Roles", "users.active": "Active", "users.password": "Password (12+ characters)", "users.teams": "Teams",
  "users.roles_help": "Comma-separated: admin, manager, sales_rep, support_agent, viewer", "users.created_at": "Created",
  "users.deactivate": "Deactivate", "users.activate": "Activate", "users.confirm_deactivate": "Deactivate {name}? Their sessions end at once.",
  "users.unknown_role": "Unknown role: {r}", "roles.title": "Roles", "roles.role": "Role", "roles.holders": "Users",
  "roles.can": "Sees and changes",
  "roles.about.admin": "Everything; users, teams, roles, API keys, custom fields, SLA policies, pool rules.",
  "roles.about.manager": "Records of the members of the teams they manage, the customer pool; reassigns ownership; team reports.",
  "roles.about.sales_rep": "Records they own or that are shared with them, the customer pool (read and claim).",
  "roles.about.support_agent": "Tickets of their teams; reads the contacts and companies linked to them.",
  "roles.about.viewer": "Read-only, the same scope as their team's sales reps.",
  "roles.fixed": "Roles are fixed; give or take them on a user (Users → Edit).",
});
registerMessages("zh-CN", {
  "nav.admin_users": "用户", "nav.admin_roles": "角色", "users.title": "用户", "users.name": "姓名", "users.email": "邮箱",
  "users.roles": "角色", "users.active": "启用", "users.password": "密码（至少 12 个字符）", "users.teams": "团队",
  "users.roles_help": "用逗号分隔：admin, manager, sales_rep, support_agent, viewer", "users.created_at": "创建时间",
  "users.deactivate": "停用", "users.activate": "启用", "users.confirm_deactivate": "停用 {name}？其会话将立即结束。",
  "users.unknown_role": "未知角色：{r}", "roles.title": "角色", "roles.role": "角色", "roles.holders": "用户",
  "roles.can": "可查看和修改",
  "roles.about.admin": "全部数据；用户、团队、角色、API 密钥、自定义字段、SLA 策略、公海规则。",
  "roles.about.manager": "所管理团队成员的记录、客户公海；可重新分配负责人；团队报表。",
  "roles.about.sales_rep": "自己负责或共享给自己的记录，客户公海（查看和领取）。",
  "roles.about.support_agent": "所在团队的工单；可查看工单关联的联系人和公司。",
  "roles.about.viewer": "只读，范围与所在团队的销售代表相同。",
  "roles.fixed": "角色是固定的；在用户上授予或收回（用户 → 编辑）。",
});

function roles(v) {
  const list = splitList(v.roles);
  const bad = list.find((r) => !ROLES.includes(r));
  if (bad) throw new FieldError("roles", t("users.unknown_role", { r: bad }));
  return list;
}

function renderUsers(view) {
  const fields = [
    { name: "name", label: t("users.name"), required: true },
    { name: "email", label: t("users.email"), type: "email", required: true },
    { name: "roles", label: t("users.roles"), required: true, help: t("users.roles_help") },
    { name: "password", label: t("users.password"), type: "password", required: true, autocomplete: "new-password" },
    { name: "active", label: t("users.active"), type: "checkbox" },
  ];
  const editFields = fields.map((f) => (f.name === "password" ? { ...f, required: false } : f));
  const page = crudPage(view, {
    name: "admin-users", title: t("users.title"), path: "/users", canDelete: false,
    columns: [
      { key: "name", label: t("users.name") },
      { key: "email", label: t("users.email") },
      { key: "roles", label: t("users.roles"), render: (r) => h("span", {}, (r.roles || []).map((x) => badge(t(`role.${x}`), `role-${x}`))) },
      { key: "active", label: t("users.active"), render: (r) => yesNo(r.active) },
      { key: "toggle", label: "", render: (r) => h("button", {
        type: "button", class: r.active ? "danger" : "", "data-test": r.active ? "deactivate" : "activate",
        "on:click": () => (r.active
          ? confirmAction({ text: t("users.confirm_deactivate", { name: r.name }), label: t("users.deactivate"), onConfirm: () => setActive(r, false) })
          : setActive(r, true)),
      }, r.active ? t("users.deactivate") : t("users.activate")) },
    ],
    fields, editFields,
    toValues: (u) => ({ ...u, roles: (u.roles || []).join(", "), password: "" }),
    toBody: (v) => ({ name: v.name, email: v.email, roles: roles(v), password: v.password, active: v.active }),
    toPatch: (v) => {
      const body = { name: v.name, email: v.email, roles: roles(v), active: v.active };
      if (v.password) body.password = v.password;
      return body;
    },
  });
  async function setActive(user, active) {
    const fresh = await api("GET", `/users/${encodeURIComponent(user.id)}`);
    await api("PATCH", `/users/${encodeURIComponent(user.id)}`, { active }, { ifMatch: fresh._etag });
    toast(t("desk.saved"), "success");
    page.list.reload();
  }
}

async function renderRoles(view) {
  const shell = pageShell(view, "admin-roles", t("roles.title"));
  shell.body.append(h("p", { class: "muted" }, t("roles.fixed")));
  let users = [];
  try { users = await allPages("/users"); } catch (err) { shell.body.append(errorBox(err)); }
  shell.body.append(table({
    test: "roles-table",
    columns: [
      { key: "role", label: t("roles.role"), render: (r) => h("strong", {}, t(`role.${r.id}`), " ", h("code", {}, r.id)) },
      { key: "about", label: t("roles.can"), render: (r) => t(`roles.about.${r.id}`) },
      { key: "holders", label: t("roles.holders"), render: (r) => users.filter((u) => (u.roles || []).includes(r.id)).map((u) => u.name).join(", ") },
    ],
    rows: ROLES.map((id) => ({ id })),
  }));
}

route("/admin/users", renderUsers, { roles: ["admin"], page: "admin-users" });
route("/admin/roles", renderRoles, { roles: ["admin"], page: "admin-roles" });
nav({ href: "/admin/users", label: "nav.admin_users", section: "admin", order: 10, roles: ["admin"] });
nav({ href: "/admin/roles", label: "nav.admin_roles", section: "admin", order: 12, roles: ["admin"] });

