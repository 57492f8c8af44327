// The page modules app.js loads (each registers its routes and nav entries when imported).
// A name without a file is skipped (logged to the console); the gateway also lists the files it
// really has at /app/pages.json, and app.js loads those too.
export const PAGE_MODULES = [
  "contacts", "companies", "customer",
  "sales", "tasks", "reports",
  "tickets", "service_report",
  "admin_users", "admin_teams", "admin_api_keys", "admin_custom_fields", "admin_sla", "admin_webhooks",
  "admin_templates", "admin_campaigns", "admin_imports", "admin_pool", "admin",
  "search", "notifications",
];
