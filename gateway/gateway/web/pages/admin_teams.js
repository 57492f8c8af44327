// Admin: teams (members and managers, chosen by user id; names shown).
import { t, registerMessages } from "../js/i18n.js";
import { h, splitList } from "../js/dom.js";
import { route, nav } from "../js/router.js";
import { crudPage } from "../js/desk.js";
import { userLabel } from "../js/users.js";

registerMessages("en", {
  "nav.admin_teams": "Teams", "teams.title": "Teams", "teams.name": "Name", "teams.members": "Members",
  "teams.managers": "Managers", "teams.ids_help": "User ids, comma-separated",
});
registerMessages("zh-CN", {
  "nav.admin_teams": "团队", "teams.title": "团队", "teams.name": "名称", "teams.members": "成员",
  "teams.managers": "经理", "teams.ids_help": "用户编号，用逗号分隔",
});

const people = (ids) => h("span", { class: "desk-people" }, (ids || []).map((id, i) => [i ? ", " : null, userLabel(id)]));

function renderTeams(view) {
  const fields = [
    { name: "name", label: t("teams.name"), required: true },
    { name: "member_ids", label: t("teams.members"), help: t("teams.ids_help") },
    { name: "manager_ids", label: t("teams.managers"), help: t("teams.ids_help") },
  ];
  const toBody = (v) => ({ name: v.name, member_ids: splitList(v.member_ids), manager_ids: splitList(v.manager_ids) });
  crudPage(view, {
    name: "admin-teams", title: t("teams.title"), path: "/teams", fields, toBody,
    toValues: (r) => ({ ...r, member_ids: (r.member_ids || []).join(", "), manager_ids: (r.manager_ids || []).join(", ") }),
    columns: [
      { key: "name", label: t("teams.name") },
      { key: "member_ids", label: t("teams.members"), render: (r) => people(r.member_ids) },
      { key: "manager_ids", label: t("teams.managers"), render: (r) => people(r.manager_ids) },
    ],
  });
}

route("/admin/teams", renderTeams, { roles: ["admin"], page: "admin-teams" });
nav({ href: "/admin/teams", label: "nav.admin_teams", section: "admin", order: 11, roles: ["admin"] });
