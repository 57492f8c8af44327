// DOM helpers. Every user-supplied value is inserted as text; never innerHTML.
import { t, language, formatDateTime } from "./i18n.js";

/** h("button", {class: "primary", "data-test": "save", "on:click": fn}, "Save", child, [more]).
 *  Strings/numbers become text nodes; null/false are skipped; arrays are flattened.
 *  Attribute values: true → present, false/null/undefined → absent; "style" is not allowed (CSP):
 *  use classes, or el.style.prop in code. `value`, `checked`, `selected`, `disabled` set properties. */
export function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "g", "path", "rect", "circle", "line", "polyline", "polygon", "text", "tspan", "title"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name.startsWith("on:")) el.addEventListener(name.slice(3), value);
    else if (["value", "checked", "selected", "disabled", "indeterminate"].includes(name) && !svg) el[name] = value ?? "";
    else if (value === true) el.setAttribute(name, "");
    else if (value !== false && value !== null && value !== undefined) el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** table({columns: [{key, label, render?(row) → Node|string, className?}], rows, onRowClick?, empty?, test?})
 *  A real <table>; at phone width CSS shows each row as a card (cells carry data-label). */
export function table({ columns, rows, onRowClick, empty, test } = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.className }, c.label))));
  const body = h("tbody");
  for (const row of rows || []) {
    const tr = h("tr", { "data-id": row.id ?? null });
    for (const c of columns) {
      const value = c.render ? c.render(row) : row[c.key];
      tr.appendChild(h("td", { "data-label": c.label, class: c.className }, value ?? ""));
    }
    if (onRowClick) {
      tr.classList.add("clickable");
      tr.tabIndex = 0;
      tr.addEventListener("click", (e) => { if (!e.target.closest("a,button,input,select,textarea")) onRowClick(row, e); });
      tr.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === tr) onRowClick(row, e); });
    }
    body.appendChild(tr);
  }
  const wrap = h("div", { class: "table-wrap", "data-test": test || null },
    h("table", { class: "data-table" }, head, body));
  if (!rows || rows.length === 0) wrap.appendChild(h("p", { class: "empty", "data-test": "empty" }, empty || t("table.empty")));
  return wrap;
}

const FOCUSABLE = 'a[href],button:not([disabled]),input:not([disabled]),select:not([disabled]),textarea:not([disabled]),[tabindex]:not([tabindex="-1"])';

const openDialogs = []; // the stack of open dialogs: only the top one answers keys

/** dialog({title, body: Node|string, actions: [{label, kind?, test?, onClick(close) }], test?, onClose?})
 *  A modal: focus moves in and is trapped, Escape or the backdrop closes it, focus returns.
 *  Returns {el, close}. An action's onClick returning false keeps the dialog open. */
export function dialog({ title, body, actions = [], test, onClose } = {}) {
  const previous = document.activeElement;
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    openDialogs.splice(openDialogs.indexOf(backdrop), 1);
    backdrop.remove();
    document.removeEventListener("keydown", onKey, true);
    onClose?.();
    if (previous && previous.focus) previous.focus();
  };
  const buttons = actions.map((a) =>
    h("button", {
      type: "button", class: a.kind || "", "data-test": a.test || null,
      "on:click": async () => { const keep = await a.onClick?.(close); if (keep !== false) close(); },
    }, a.label));
  const box = h("div", { class: "dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": titleId, "data-test": test || "dialog" },
    h("div", { class: "dialog-head" },
      h("h2", { id: titleId }, title || ""),
      h("button", { type: "button", class: "icon-button", "aria-label": t("shell.close"), "data-test": "dialog-close", "on:click": close }, "×")),
    h("div", { class: "dialog-body" }, body ?? ""),
    buttons.length ? h("div", { class: "dialog-actions" }, buttons) : null);
  const backdrop = h("div", { class: "backdrop", "on:mousedown": (e) => { if (e.target === backdrop) close(); } }, box);
  function onKey(e) {
    if (!document.body.contains(backdrop) || openDialogs[openDialogs.length - 1] !== backdrop) return;
    if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); close(); return; }
    if (e.key === "Tab") {
      const items = [...box.querySelectorAll(FOCUSABLE)].filter((x) => x.offsetParent !== null);
      if (!items.length) return;
      const first = items[0], last = items[items.length - 1];
      if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
      else if (!box.contains(document.activeElement)) { e.preventDefault(); first.focus(); }
    }
  }
  document.addEventListener("keydown", onKey, true);
  document.body.appendChild(backdrop);
  openDialogs.push(backdrop);
  const first = box.querySelector(".dialog-body " + FOCUSABLE) || box.querySelector(FOCUSABLE);
  first?.focus();
  return { el: box, close };
}

/** toast(text, kind = "info"|"success"|"error"): a short message at the corner (aria-live). */
export function toast(text, kind = "info", ms = 5000) {
  const host = document.getElementById("toasts") || document.body;
  const el = h("div", { class: `toast toast-${kind}`, "data-test": "toast", role: kind === "error" ? "alert" : null }, text);
  host.appendChild(el);
  setTimeout(() => el.remove(), ms);
  return el;
}

/** form(fields, values, {onSubmit(values, formEl), submitLabel, test, cancel?: fn}) → <form>.
 *  field: {name, label, type: text|email|tel|number|date|datetime-local|textarea|select|checkbox|password|hidden,
 *          options?: [{value, label}] | [string], required?, placeholder?, step?, min?, max?, help?, test?}
 *  Inputs get data-test = field.test || field.name. formValues(formEl) reads them back (numbers as strings,
 *  checkboxes as booleans, empty optional fields as null). */
export function form(fields, values = {}, { onSubmit, submitLabel, test, cancel } = {}) {
  const el = h("form", { class: "form", novalidate: true, "data-test": test || null });
  for (const f of fields) {
    const id = `f-${f.name}-${Math.random().toString(36).slice(2, 7)}`;
    const value = values?.[f.name];
    let input;
    const common = { id, name: f.name, "data-test": f.test || f.name, required: !!f.required, "aria-describedby": `${id}-err` };
    if (f.type === "textarea") input = h("textarea", { ...common, placeholder: f.placeholder || null, rows: f.rows || 4, value: value ?? "" });
    else if (f.type === "select") {
      input = h("select", common,
        (f.required ? [] : [h("option", { value: "" }, "")]).concat((f.options || []).map((o) => {
          const opt = typeof o === "object" ? o : { value: o, label: o };
          return h("option", { value: opt.value, selected: String(opt.value) === String(value ?? "") }, opt.label);
        })));
    } else if (f.type === "checkbox") input = h("input", { ...common, type: "checkbox", checked: !!value });
    else input = h("input", { ...common, type: f.type || "text", value: value ?? "", placeholder: f.placeholder || null, step: f.step || null, min: f.min ?? null, max: f.max ?? null, autocomplete: f.autocomplete || null });
    if (f.type === "hidden") { el.appendChild(input); continue; }
    const row = h("div", { class: `field field-${f.type || "text"}` },
      f.type === "checkbox" ? h("label", { for: id }, input, " ", f.label) : [h("label", { for: id }, f.label, f.required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null), input],
      f.help ? h("small", { class: "help" }, f.help) : null,
      h("p", { class: "field-error", id: `${id}-err`, "data-error-for": f.name }));
    el.appendChild(row);
  }
  el.appendChild(h("p", { class: "form-error", "data-test": "form-error", role: "alert" }));
  if (onSubmit) {
    el.appendChild(h("div", { class: "form-actions" },
      cancel ? h("button", { type: "button", "data-test": "cancel", "on:click": cancel }, t("shell.cancel")) : null,
      h("button", { type: "submit", class: "primary", "data-test": "submit" }, submitLabel || t("shell.save"))));
    el.addEventListener("submit", async (e) => {
      e.preventDefault();
      clearErrors(el);
      const button = el.querySelector('button[type="submit"]');
      button.disabled = true;
      try { await onSubmit(formValues(el), el); }
      catch (err) { showErrors(el, err); }
      finally { button.disabled = false; }
    });
  }
  return el;
}

export function formValues(formEl) {
  const out = {};
  for (const input of formEl.querySelectorAll("input[name],select[name],textarea[name]")) {
    if (input.type === "checkbox") out[input.name] = input.checked;
    else out[input.name] = input.value === "" ? null : input.value;
  }
  return out;
}

function clearErrors(formEl) {
  formEl.querySelectorAll("[data-error-for]").forEach((p) => { p.textContent = ""; });
  formEl.querySelectorAll("[aria-invalid]").forEach((i) => i.removeAttribute("aria-invalid"));
  const general = formEl.querySelector(".form-error");
  if (general) general.textContent = "";
}

/** Puts an ApiError's errors[].field messages under the matching inputs ("a.b" also matches "b"),
 *  the rest (and the detail) in the form's general error line. */
export function showErrors(formEl, err) {
  clearErrors(formEl);
  const general = [];
  const errors = err?.errors || [];
  for (const e of errors) {
    const field = String(e.field || "");
    const candidates = [field, field.split(".").pop(), field.split(/[.[]/)[0]];
    const name = candidates.find((n) => n && formEl.querySelector(`[data-error-for="${CSS.escape(n)}"]`));
    if (name) {
      formEl.querySelector(`[data-error-for="${CSS.escape(name)}"]`).textContent = e.message || "";
      formEl.querySelector(`[name="${CSS.escape(name)}"]`)?.setAttribute("aria-invalid", "true");
    } else general.push(field ? `${field}: ${e.message}` : e.message);
  }
  if (!errors.length || general.length) general.unshift(err?.detail || err?.title || err?.message || String(err));
  const line = formEl.querySelector(".form-error");
  if (line) line.textContent = general.filter(Boolean).join(" ");
  formEl.querySelector('[aria-invalid="true"]')?.focus();
}

/** formatMoney("1234.5", "CNY") or formatMoney({amount, currency}). Decimal strings are never floats in the API;
 *  they are formatted through Intl for display only. */
export function formatMoney(amount, currency) {
  if (amount && typeof amount === "object") { currency = amount.currency; amount = amount.amount; }
  if (amount === null || amount === undefined || amount === "") return "";
  try {
    return new Intl.NumberFormat(language(), { style: "currency", currency: currency || "CNY" }).format(Number(amount));
  } catch {
    return `${amount} ${currency || ""}`.trim();
  }
}

export function formatTime(iso) { return formatDateTime(iso); }

/** countdown(iso) → {text, overdue, ms}: "in 3h 20m" / "overdue by 2d 4h" (localised). */
export function countdown(iso) {
  if (!iso) return { text: "", overdue: false, ms: 0 };
  const ms = new Date(iso).getTime() - Date.now();
  const abs = Math.abs(ms);
  const d = Math.floor(abs / 86400000), hr = Math.floor((abs % 86400000) / 3600000), m = Math.floor((abs % 3600000) / 60000);
  const zh = language() === "zh-CN";
  const parts = zh
    ? [d && `${d}天`, hr && `${hr}小时`, !d && `${m}分钟`].filter(Boolean).join("")
    : [d && `${d}d`, hr && `${hr}h`, !d && `${m}m`].filter(Boolean).join(" ");
  return { text: ms < 0 ? t("time.overdue", { d: parts }) : t("time.in", { d: parts }), overdue: ms < 0, ms };
}

/** A view's standard loading/error states. */
export function loading() { return h("p", { class: "loading", "data-test": "loading" }, t("shell.loading")); }
export function errorBox(err) {
  const text = err?.status === 403 ? t("shell.forbidden") : t("shell.error", { detail: err?.detail || err?.title || err?.message || String(err) });
  return h("p", { class: "error-box", role: "alert", "data-test": "error" }, text);
}

/** Safe rendering of a server highlight: the text is escaped, then only <mark>…</mark> is kept. */
export function highlighted(text) {
  const frag = document.createDocumentFragment();
  const parts = String(text ?? "").split(/(<mark>|<\/mark>)/);
  let mark = null;
  for (const part of parts) {
    if (part === "<mark>") { mark = document.createElement("mark"); continue; }
    if (part === "</mark>") { if (mark) frag.appendChild(mark); mark = null; continue; }
    if (!part) continue;
    (mark || frag).appendChild(document.createTextNode(part));
  }
  if (mark) frag.appendChild(mark);
  return frag;
}

/** confirmAction({title, text, label, onConfirm, test}): a confirmation dialog; onConfirm runs only on
 *  "OK" and keeps the dialog open (with its error shown) when it throws. */
export function confirmAction({ title, text, label, onConfirm, test = "confirm-dialog" }) {
  const line = h("p", { class: "form-error", role: "alert" });
  return dialog({
    title: title || t("shell.confirm"),
    test,
    body: h("div", {}, h("p", {}, text), line),
    actions: [
      { label: t("shell.cancel"), test: "confirm-cancel" },
      {
        label: label || t("shell.confirm"), kind: "danger", test: "confirm-ok",
        onClick: async () => {
          try { await onConfirm(); return true; } catch (err) { line.textContent = err.detail || err.title || err.message; return false; }
        },
      },
    ],
  });
}

/** formDialog({title, fields, values, toBody?, onSave(body), test?, submitLabel?, extra?}): form() in a dialog.
 *  toBody(values) may throw FieldError; an ApiError from onSave is shown on the form (showErrors). */
export function formDialog({ title, fields, values = {}, toBody = (v) => v, onSave, test = "form-dialog", submitLabel, extra, formTest = "desk-form" }) {
  let closeIt = null;
  const formEl = form(fields, values, {
    submitLabel,
    test: formTest,
    cancel: () => closeIt?.(),
    onSubmit: async (v, el) => {
      let body;
      try { body = toBody(v); } catch (err) { showErrors(el, err); return; }
      await onSave(body);
      closeIt?.();
    },
  });
  const d = dialog({ title, test, body: h("div", {}, extra || null, formEl) });
  closeIt = d.close;
  return d;
}

/** An error shaped like ApiError for one field (client-side validation), for showErrors(). */
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.errors = [{ field, message }];
    this.detail = "";
  }
}

/** A JSON textarea's value parsed (fallback when empty); throws FieldError when it is not JSON. */
export function parseJson(values, name, fallback = null) {
  const raw = values[name];
  if (raw === null || raw === undefined || String(raw).trim() === "") return fallback;
  try { return JSON.parse(raw); } catch (err) { throw new FieldError(name, t("shell.invalid_json", { detail: err.message })); }
}

/** "a, b，c" → ["a", "b", "c"] (ASCII or full-width commas). */
export function splitList(raw) {
  return String(raw ?? "").split(/[,，]/).map((s) => s.trim()).filter(Boolean);
}

export function jsonText(value) { return value === null || value === undefined ? "" : JSON.stringify(value, null, 2); }

/** A <pre> with JSON as text. */
export function jsonBlock(value) { return h("pre", { class: "json-block desk-json" }, jsonText(value)); }
