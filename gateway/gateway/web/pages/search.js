// The full search results page: /app/search?q=&types=
import { api } from "../js/api.js";
import { t, registerMessages, formatNumber } from "../js/i18n.js";
import { h, clear, loading, errorBox } from "../js/dom.js";
import { route, navigate } from "../js/router.js";
import { hitNode } from "../js/app.js";

const TYPES = ["contact", "company", "interaction", "deal", "order", "ticket"];
registerMessages("en", { "search.facet_type": "Type", "search.submit": "Search" });
registerMessages("zh-CN", { "search.facet_type": "类型", "search.submit": "搜索" });

route("/search", async (view, params, query) => {
  const q = query.get("q") || "";
  const types = (query.get("types") || "").split(",").filter((x) => TYPES.includes(x));
  const input = h("input", { type: "search", name: "q", value: q, "data-test": "search-page-input", "aria-label": t("search.title"), maxlength: 200 });
  const go = (nextTypes = types) => {
    const params = new URLSearchParams();
    if (input.value.trim()) params.set("q", input.value.trim());
    if (nextTypes.length) params.set("types", nextTypes.join(","));
    navigate(`/search?${params}`);
  };
  const formEl = h("form", { class: "search-page-form", role: "search", "on:submit": (e) => { e.preventDefault(); go(); } },
    input, h("button", { type: "submit", class: "primary", "data-test": "search-page-submit" }, t("search.submit")));
  const facets = h("div", { class: "facets", "data-test": "search-facets" });
  const summary = h("p", { class: "muted", "data-test": "search-summary" });
  const list = h("div", { class: "hits", "data-test": "search-results" });
  const more = h("button", { type: "button", "data-test": "search-more", hidden: true }, t("search.more"));
  view.appendChild(h("section", { "data-page": "search", class: "page" },
    h("h1", {}, t("search.title")), formEl, facets, summary, list, more));
  if (!q && !types.length) { summary.textContent = t("search.prompt"); return; }
  list.appendChild(loading());
  let cursor = null;
  let first = true;
  async function load() {
    try {
      const body = await api("GET", "/search", undefined, { query: { q, types: types.length ? types : null, limit: 20, cursor } });
      if (first) {
        clear(list);
        summary.textContent = t("search.results", { n: (body.total_relation === "gte" ? "≥" : "") + formatNumber(body.total ?? body.data.length) });
        const counts = body.facets?.type || {};
        clear(facets).appendChild(h("div", { class: "chips", role: "group", "aria-label": t("search.facet_type") },
          h("button", { type: "button", class: types.length ? "chip" : "chip active", "aria-pressed": String(!types.length), "data-test": "facet-all", "on:click": () => go([]) }, t("search.all")),
          TYPES.filter((ty) => counts[ty] || types.includes(ty)).map((ty) => h("button", {
            type: "button", class: types.includes(ty) ? "chip active" : "chip", "aria-pressed": String(types.includes(ty)), "data-test": `facet-${ty}`,
            "on:click": () => go(types.includes(ty) ? types.filter((x) => x !== ty) : [...types, ty]),
          }, `${t(`type.${ty}`)} (${formatNumber(counts[ty] || 0)})`))));
        first = false;
      }
      for (const hit of body.data || []) list.appendChild(hitNode(hit));
      if (!list.childNodes.length) list.appendChild(h("p", { class: "empty", "data-test": "search-empty" }, t("shell.no_results")));
      cursor = body.next_cursor;
      more.hidden = !cursor;
    } catch (err) {
      clear(list).appendChild(errorBox(err));
    }
  }
  more.addEventListener("click", load);
  input.focus();
  await load();
});
