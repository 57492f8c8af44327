// Admin: custom fields of contacts and companies (retired with active: false, never deleted).
import { t, registerMessages } from "../js/i18n.js";
import { route, nav } from "../js/router.js";
import { crudPage, yesNo } from "../js/desk.js";
import { splitList } from "../js/dom.js";

const TYPES = ["text", "number", "date", "choice", "multi_choice", "boolean"];
registerMessages("en", {
  "nav.admin_custom_fields": "Custom fields", "cf.title": "Custom fields", "cf.entity": "Record", "cf.key": "Key",
  "cf.label": "Label", "cf.type": "Type", "cf.choices": "Choices", "cf.required": "Required", "cf.active": "Active",
  "cf.description": "Description", "cf.max_length": "Maximum length", "entity.contact": "Contact", "entity.company": "Company",
});
registerMessages("zh-CN", {
  "nav.admin_custom_fields": "自定义字段", "cf.title": "自定义字段", "cf.entity": "记录类型", "cf.key": "键",
  "cf.label": "标签", "cf.type": "类型", "cf.choices": "选项", "cf.required": "必填", "cf.active": "启用",
  "cf.description": "说明", "cf.max_length": "最大长度", "entity.contact": "联系人", "entity.company": "公司",
});

function renderFields(view) {
  const common = [
    { name: "label", label: t("cf.label"), required: true },
    { name: "choices", label: t("cf.choices"), help: t("desk.comma_list") },
    { name: "required", label: t("cf.required"), type: "checkbox" },
    { name: "description", label: t("cf.description"), type: "textarea", rows: 2 },
    { name: "max_length", label: t("cf.max_length"), type: "number", min: 1 },
  ];
  const fields = [
    { name: "entity", label: t("cf.entity"), type: "select", required: true, options: ["contact", "company"].map((v) => ({ value: v, label: t(`entity.${v}`) })) },
    { name: "key", label: t("cf.key"), required: true },
    { name: "type", label: t("cf.type"), type: "select", required: true, options: TYPES },
    ...common,
  ];
  const shared = (v) => ({
    label: v.label, required: !!v.required, description: v.description,
    choices: splitList(v.choices), max_length: v.max_length === null ? null : Number(v.max_length),
  });
  crudPage(view, {
    name: "admin-custom-fields", title: t("cf.title"), path: "/custom-fields", canDelete: false, limit: null,
    fields, editFields: [...common, { name: "active", label: t("cf.active"), type: "checkbox" }],
    toValues: (r) => ({ ...r, choices: (r.choices || []).join(", ") }),
    toBody: (v) => ({ entity: v.entity, key: v.key, type: v.type, ...shared(v) }),
    toPatch: (v) => ({ ...shared(v), active: !!v.active }),
    rowName: (r) => r.label,
    columns: [
      { key: "entity", label: t("cf.entity"), render: (r) => t(`entity.${r.entity}`) },
      { key: "key", label: t("cf.key") },
      { key: "label", label: t("cf.label") },
      { key: "type", label: t("cf.type") },
      { key: "choices", label: t("cf.choices"), render: (r) => (r.choices || []).join(", ") },
      { key: "required", label: t("cf.required"), render: (r) => yesNo(r.required) },
      { key: "active", label: t("cf.active"), render: (r) => yesNo(r.active) },
    ],
  });
}

route("/admin/custom-fields", renderFields, { roles: ["admin"], page: "admin-custom-fields" });
nav({ href: "/admin/custom-fields", label: "nav.admin_custom_fields", section: "admin", order: 20, roles: ["admin"] });
