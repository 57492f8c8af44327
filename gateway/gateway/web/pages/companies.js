// Companies: the list (filters, sort, saved segments, bulk actions), create and edit with duplicate
// warnings as you type. The 360-degree page of a company is in customer.js.
import { route, nav } from "../js/router.js";
import { renderList, renderEdit } from "../js/customers.js";

nav({ href: "/companies", label: "nav.companies", section: "customers", order: 20, test: "nav-companies" });
route("/companies", (view, params, query) => renderList(view, "company", query));
route("/companies/new", (view) => renderEdit(view, "company", null), { roles: ["admin", "manager", "sales_rep"] });
route("/companies/:id/edit", (view, params) => renderEdit(view, "company", params.id), { roles: ["admin", "manager", "sales_rep"] });
