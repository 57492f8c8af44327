// A cursor-paged list: the first page in a table, then "Load more" following next_cursor.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { h, clear, table, errorBox, loading } from "./dom.js";

/** pagedList({path, query, columns, onRowClick?, test?, empty?, decorate?(tr, row), limit?, keep?(row)})
 *  → {el, reload(query?), rows()}. */
export function pagedList({ path, query = {}, columns, onRowClick, test, empty, decorate, limit = 50, keep }) {
  const el = h("div", { class: "paged-list desk-list" });
  let rows = [];
  let cursor = null;
  let q = { ...query };
  let seq = 0;
  async function load(more) {
    const mine = more ? seq : ++seq;
    const status = loading();
    if (!more) { clear(el); rows = []; cursor = null; }
    else el.querySelector("[data-test=load-more]")?.remove();
    el.appendChild(status);
    try {
      const body = await api("GET", path, undefined, { query: { limit: limit || undefined, ...q, cursor: more ? cursor : undefined } });
      if (mine !== seq) return; // a newer reload won
      rows = rows.concat((body.data || []).filter((r) => !keep || keep(r)));
      cursor = body.next_cursor || null;
      render();
    } catch (err) {
      if (mine !== seq) return;
      status.remove();
      el.appendChild(errorBox(err));
    }
  }
  function render() {
    clear(el);
    const tbl = table({ columns, rows, onRowClick, test, empty });
    if (decorate) tbl.querySelectorAll("tbody tr").forEach((tr, i) => decorate(tr, rows[i]));
    el.appendChild(tbl);
    if (cursor) el.appendChild(h("button", { type: "button", class: "load-more desk-more", "data-test": "load-more", "on:click": () => load(true) }, t("shell.more")));
  }
  load(false);
  return { el, reload(newQuery) { if (newQuery) q = { ...newQuery }; return load(false); }, rows: () => rows };
}
