// Admin: notification templates (email / SMS, en / zh-CN) with a live preview.
import { api } from "../js/api.js";
import { t, registerMessages } from "../js/i18n.js";
import { h, clear, formValues, showErrors, errorBox, parseJson } from "../js/dom.js";
import { route, nav } from "../js/router.js";
import { crudPage } from "../js/desk.js";

const KEYS = ["ticket_acknowledgement", "ticket_reply", "satisfaction_survey", "greeting_holiday", "greeting_birthday", "greeting_anniversary", "staff_notice", "notice_digest"];
registerMessages("en", {
  "nav.admin_templates": "Notification templates", "tpl.title": "Notification templates", "tpl.key": "Message",
  "tpl.channel": "Channel", "tpl.language": "Language", "tpl.subject": "Subject", "tpl.body": "Body",
  "tpl.description": "Description", "tpl.variables": "Variables", "tpl.preview": "Preview", "tpl.preview_vars": "Sample values (JSON, optional)",
  "tpl.catalog": "Messages and their variables", "tpl.preview_title": "Preview",
});
registerMessages("zh-CN", {
  "nav.admin_templates": "通知模板", "tpl.title": "通知模板", "tpl.key": "消息",
  "tpl.channel": "渠道", "tpl.language": "语言", "tpl.subject": "标题", "tpl.body": "正文",
  "tpl.description": "说明", "tpl.variables": "变量", "tpl.preview": "预览", "tpl.preview_vars": "示例值（JSON，可选）",
  "tpl.catalog": "消息及其变量", "tpl.preview_title": "预览",
});

/** A preview panel under a template form: renders the draft with POST /notification-templates/preview. */
function previewPanel() {
  const out = h("div", { class: "tpl-preview", "data-test": "template-preview", "aria-live": "polite" });
  const button = h("button", {
    type: "button", "data-test": "preview", "on:click": async () => {
      const formEl = button.closest(".dialog")?.querySelector("form");
      if (!formEl) return;
      const v = formValues(formEl);
      clear(out);
      try {
        const body = { key: v.key, channel: v.channel, language: v.language, subject: v.subject, body: v.body || "", variables: parseJson(v, "variables") };
        for (const k of Object.keys(body)) if (body[k] === null || body[k] === undefined) delete body[k];
        const r = await api("POST", "/notification-templates/preview", body);
        out.append(h("h3", {}, t("tpl.preview_title")), r.subject ? h("p", { class: "tpl-subject", "data-test": "preview-subject" }, r.subject) : null,
          h("pre", { class: "tpl-body", "data-test": "preview-body" }, r.body));
      } catch (err) { showErrors(formEl, err); }
    },
  }, t("tpl.preview"));
  return h("div", { class: "tpl-preview-box" }, button, out);
}

async function renderTemplates(view) {
  const fields = [
    { name: "key", label: t("tpl.key"), type: "select", required: true, options: KEYS },
    { name: "channel", label: t("tpl.channel"), type: "select", required: true, options: ["email", "sms"] },
    { name: "language", label: t("tpl.language"), type: "select", required: true, options: ["en", "zh-CN"] },
    { name: "subject", label: t("tpl.subject") },
    { name: "body", label: t("tpl.body"), type: "textarea", rows: 8, required: true },
    { name: "description", label: t("tpl.description") },
    { name: "variables", label: t("tpl.preview_vars"), type: "textarea", rows: 2 },
  ];
  const editFields = ["key", "channel", "language"].map((name) => ({ name, type: "hidden" }))
    .concat(fields.filter((f) => !["key", "channel", "language"].includes(f.name)));
  const page = crudPage(view, {
    name: "admin-templates", title: t("tpl.title"), path: "/notification-templates", fields, editFields,
    toBody: (v) => ({ key: v.key, channel: v.channel, language: v.language, subject: v.subject, body: v.body || "", description: v.description }),
    toPatch: (v) => ({ subject: v.subject, body: v.body || "", description: v.description }),
    rowName: (r) => `${r.key} (${r.channel}, ${r.language})`,
    columns: [
      { key: "key", label: t("tpl.key") }, { key: "channel", label: t("tpl.channel") }, { key: "language", label: t("tpl.language") },
      { key: "subject", label: t("tpl.subject") },
      { key: "variables", label: t("tpl.variables"), render: (r) => (r.variables || []).join(", ") },
    ],
  });
  // Each form dialog gets the preview panel (a MutationObserver: dialogs are created by the kit).
  const observer = new MutationObserver(() => {
    document.querySelectorAll('[data-test="form-dialog"] form[data-test="desk-form"]').forEach((f) => {
      if (!f.parentElement.querySelector(".tpl-preview-box")) f.after(previewPanel());
    });
  });
  observer.observe(document.body, { childList: true });
  const catalog = h("details", { class: "desk-card", "data-test": "template-catalog" }, h("summary", {}, t("tpl.catalog")));
  page.shell.body.append(catalog);
  try {
    const c = await api("GET", "/notification-templates/catalog");
    catalog.append(h("ul", {}, (c.data || []).map((e) => h("li", {}, h("code", {}, e.key || ""), " — ",
      (Array.isArray(e.variables) ? e.variables.map((x) => (typeof x === "object" ? x.name : x)) : Object.keys(e.variables || {})).join(", ")))));
  } catch (err) { catalog.append(errorBox(err)); }

  return () => observer.disconnect();
}

route("/admin/templates", renderTemplates, { roles: ["admin", "manager"], page: "admin-templates" });
nav({ href: "/admin/templates", label: "nav.admin_templates", section: "admin", order: 50, roles: ["admin", "manager"] });
