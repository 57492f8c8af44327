"""Demo-like data for the browser tests and screenshots, created through the public API only:
crm_common.demo's organisation and records (users, teams, companies, 120 contacts, deals, orders,
tasks, tickets), plus a few records the UI tests look for by name."""

import time
import urllib.parse

from crm_common import demo

PASSWORD = "ui-tests-password-0123"  # every demo user's password in the browser tests
USERS = {
    "manager": "mei.manager@crm.local",
    "rep": "li.rep@crm.local",
    "rep2": "tom.rep@crm.local",
    "support": "sam.support@crm.local",
    "support2": "fang.support@crm.local",
    "viewer": "vera.viewer@crm.local",
}
# A customer with a rare two-character Chinese name (family 邝, given 昊), owned by li.rep.
CHINESE_NAME = ("邝", "昊")


def seed(base_url: str, admin_email: str, admin_password: str) -> dict:
    """Load the demo data once; returns {"users": {role: {email, password, id}}, "contact": {...},
    "company": {...}, "counts": {...}}."""
    admin = demo.Client(base_url, admin_email, admin_password)
    counts = demo.load(admin, PASSWORD)
    users = {"admin": {"email": admin_email, "password": admin_password}}
    directory = {u["email"]: u for u in admin.call("GET", "/users?limit=200")["data"]}
    for role, email in USERS.items():
        users[role] = {"email": email, "password": PASSWORD, "id": directory[email]["id"]}
    users["admin"]["id"] = directory[admin_email]["id"] if admin_email in directory else None
    company = admin.call(
        "POST", "/companies", {"name": "邝氏贸易", "industry": "retail", "owner_id": users["rep"]["id"]}
    )
    family, given = CHINESE_NAME
    contact = admin.call(
        "POST",
        "/contacts",
        {
            "last_name": family,
            "first_name": given,
            "email": "kuang.hao@example.cn",
            "phone": "+86 138 0000 1234",
            "company_id": company["id"],
            "owner_id": users["rep"]["id"],
            "lifecycle_stage": "customer",
        },
    )
    wait_searchable(demo.Client(base_url, users["rep"]["email"], PASSWORD), family + given, contact["id"])
    return {"users": users, "contact": contact, "company": company, "counts": counts, "name": family + given}


def wait_searchable(client: demo.Client, text: str, record_id: str, timeout: float = 60.0) -> None:
    """Search is fed by events: wait until `record_id` is found by `text`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hits = client.call("GET", "/search?" + urllib.parse.urlencode({"q": text}))["data"]
        if any(hit["id"] == record_id for hit in hits):
            return
        time.sleep(0.3)
    raise AssertionError(f"{text} ({record_id}) never became searchable")
