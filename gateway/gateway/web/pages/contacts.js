// Contacts: the list (filters, sort, saved segments, bulk actions), the customer pool, create and
// edit with duplicate warnings as you type. The code is shared with companies in js/customers.js;
// the 360-degree page is customer.js.
import { route, nav } from "../js/router.js";
import { renderList, renderEdit } from "../js/customers.js";

// ---------- routes ----------
nav({ href: "/contacts", label: "nav.contacts", section: "customers", order: 10, test: "nav-contacts" });
nav({ href: "/pool", label: "nav.pool", section: "customers", order: 30, test: "nav-pool", roles: ["admin", "manager", "sales_rep", "viewer"] });
route("/contacts", (view, params, query) => renderList(view, "contact", query));
route("/pool", (view, params, query) => renderList(view, "contact", query, { pool: true }));
route("/contacts/new", (view) => renderEdit(view, "contact", null), { roles: ["admin", "manager", "sales_rep"] });
route("/contacts/:id/edit", (view, params) => renderEdit(view, "contact", params.id), { roles: ["admin", "manager", "sales_rep"] });
