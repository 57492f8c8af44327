"""Loads a realistic demo data set through the gateway, once: a small sales and support organisation,
companies, contacts with Chinese and Western names, custom fields, interactions, a segment, a pool
reclaim rule, two pipelines with open, won and lost deals, eighteen months of orders (value grades and
churn risk follow), tasks, quotas, and a service desk: a business calendar, SLA policies, a support
roster and tickets, some answered, resolved and rated; notification rules beyond the defaults and a
manager's notification preferences (quiet hours, a daily digest).

`python -m crm_common.demo [gateway-url]` signs in as CRM_ADMIN_EMAIL / CRM_ADMIN_PASSWORD, or as the
gateway's documented development admin when they are not set.
"""

import json
import os
import random
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

COMPANIES = [
    ("上海远景科技有限公司", "software", "201-500"),
    ("北京华信咨询有限公司", "consulting", "51-200"),
    ("深圳前海物流集团", "logistics", "1000+"),
    ("杭州绿源食品有限公司", "food", "51-200"),
    ("广州南方医疗器械", "healthcare", "201-500"),
    ("成都天府文化传媒", "media", "11-50"),
    ("Northwind Traders", "retail", "201-500"),
    ("Contoso Manufacturing", "manufacturing", "1000+"),
    ("Fabrikam Financial", "finance", "501-1000"),
    ("Tailspin Toys", "retail", "11-50"),
    ("Adventure Works Cycles", "manufacturing", "201-500"),
    ("Litware Analytics", "software", "51-200"),
]
REGIONS = ["华东", "华北", "华南", "西南", "North America", "Europe"]
CUSTOM_FIELDS = [
    {"entity": "contact", "key": "region", "label": "Region", "type": "choice", "choices": REGIONS},
    {"entity": "contact", "key": "wechat_id", "label": "WeChat ID", "type": "text", "max_length": 64},
    {"entity": "company", "key": "annual_revenue", "label": "Annual revenue (CNY)", "type": "number"},
]
EAST_VIP_SEGMENT = {
    "name": "华东 VIP",
    "description": "VIP contacts in the East China region",
    "entity": "contact",
    "shared": True,
    "filter": {"and": [{"custom_fields.region": "华东"}, {"tags": {"contains": "vip"}}]},
}
RECLAIM_RULE = {
    "name": "Idle for 30 days",
    "description": "No interaction for 30 days and no open deal: back to the pool after a week's notice",
    "conditions": {"no_activity_days": 30, "no_open_deal": True},
    "notice_days": 7,
}
INTERACTIONS = [
    ("call", "Intro call", "interested"),
    ("call", "Follow-up on pricing", "asked for a proposal"),
    ("email", "Sent the brochure", None),
    ("meeting", "On-site demo", "positive"),
    ("visit", "Quarterly business review", "renewal likely"),
    ("chat", "WeChat questions about delivery", "answered"),
    ("note", "Prefers calls after 14:00", None),
]
CHINESE_FAMILY = ["张", "王", "李", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭"]
CHINESE_GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "建华",
    "志强",
    "晓东",
    "海燕",
    "国庆",
    "丽娟",
    "伟明",
]
WESTERN_FIRST = [
    "Alice",
    "James",
    "Maria",
    "Robert",
    "Linda",
    "Michael",
    "Sarah",
    "David",
    "Emma",
    "Daniel",
    "Olivia",
    "Thomas",
    "Sophie",
    "Lucas",
    "Hannah",
    "Mark",
]
WESTERN_LAST = [
    "Johnson",
    "Smith",
    "Garcia",
    "Miller",
    "Davis",
    "Martinez",
    "Wilson",
    "Anderson",
    "Taylor",
    "Moore",
    "Jackson",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
]
PINYIN = {
    "张": "zhang",
    "王": "wang",
    "李": "li",
    "刘": "liu",
    "陈": "chen",
    "杨": "yang",
    "黄": "huang",
    "赵": "zhao",
    "吴": "wu",
    "周": "zhou",
    "徐": "xu",
    "孙": "sun",
    "马": "ma",
    "朱": "zhu",
    "胡": "hu",
    "郭": "guo",
}
STAGES = ["lead", "lead", "marketing_qualified", "sales_qualified", "opportunity", "customer", "customer", "loyal"]
DEALS = [
    "ERP rollout",
    "CRM licences",
    "Annual support renewal",
    "Cloud migration",
    "Data platform pilot",
    "Warehouse automation",
    "Training package",
    "Security audit",
]
KEY_ACCOUNTS_PIPELINE = {
    "name": "Key accounts",
    "business_line": "Enterprise",
    "stages": [
        {"name": "Discovery", "probability": 10, "rotting_days": 21},
        {"name": "Solution design", "probability": 40, "rotting_days": 30},
        {"name": "Commercial review", "probability": 70, "rotting_days": 21},
        {"name": "Contract signed", "probability": 100},
        {"name": "Lost", "probability": 0},
    ],
}
PRODUCTS = [
    ("CRM licence", "CRM-LIC", 1200),
    ("Onboarding package", "ONB-STD", 8000),
    ("Support plan", "SUP-YR", 15000),
]
LOST_REASONS = ["Chose a competitor", "No budget this year", "Project cancelled"]
TASKS = [
    ("call", "Call about the renewal"),
    ("email", "Send the revised proposal"),
    ("meeting", "Prepare the quarterly review"),
    ("visit", "Visit the head office"),
]
TICKETS = [
    ("Invoice missing for last order", "complaint"),
    ("Cannot log in to the portal", "incident"),
    ("Request for a product demo", "request"),
    ("Delivery arrived damaged", "complaint"),
    ("How do I export my data?", "inquiry"),
    ("发票抬头需要修改", "request"),
    ("系统登录失败", "incident"),
]


# The demo organisation: everyone signs in with the admin's password (development only).
DEMO_USERS = [
    ("mei.manager@crm.local", "Mei Lin", ["manager"]),
    ("li.rep@crm.local", "李娜", ["sales_rep"]),
    ("tom.rep@crm.local", "Tom Baker", ["sales_rep"]),
    ("sam.support@crm.local", "Sam Ortiz", ["support_agent"]),
    ("fang.support@crm.local", "周芳", ["support_agent"]),
    ("vera.viewer@crm.local", "Vera Stone", ["viewer"]),
]


class Client:
    """The gateway's public API, signed in as one user."""

    def __init__(self, base: str, email: str, password: str):
        self.base = base
        self.token = ""
        self.token = self.call("POST", "/auth/token", {"email": email, "password": password})["access_token"]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json", "X-Request-ID": "demo-data"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base + "/api/v1" + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")


def admin_credentials() -> tuple[str, str]:
    email, password = os.environ.get("CRM_ADMIN_EMAIL"), os.environ.get("CRM_ADMIN_PASSWORD")
    if email and password:
        return email, password
    # Development tooling runs in the platform's own virtualenv, where the gateway is installed.
    from gateway.identity.settings import DEVELOPMENT_ADMIN_EMAIL, DEVELOPMENT_ADMIN_PASSWORD

    return DEVELOPMENT_ADMIN_EMAIL, DEVELOPMENT_ADMIN_PASSWORD


def organisation(admin: Client, password: str) -> dict[str, str]:
    """Create the demo users and teams; returns user ids by email."""
    ids = {}
    for email, name, roles in DEMO_USERS:
        ids[email] = admin.call("POST", "/users", {"email": email, "name": name, "password": password, "roles": roles})[
            "id"
        ]
    admin.call(
        "POST",
        "/teams",
        {
            "name": "East Sales",
            "member_ids": [ids["li.rep@crm.local"], ids["tom.rep@crm.local"], ids["vera.viewer@crm.local"]],
            "manager_ids": [ids["mei.manager@crm.local"]],
        },
    )
    care = {
        "name": "Customer Care",
        "member_ids": [ids["sam.support@crm.local"], ids["fang.support@crm.local"]],
        "manager_ids": [ids["mei.manager@crm.local"]],
    }
    ids["support_team"] = admin.call("POST", "/teams", care)["id"]
    return ids


def load(admin: Client, password: str, seed: int = 7) -> dict:
    rng = random.Random(seed)
    people = organisation(admin, password)
    # Most customers belong to a rep; some wait in the pool (owner_id null).
    owners = [people["li.rep@crm.local"]] * 3 + [people["tom.rep@crm.local"]] * 3 + [None]
    counts = {
        "users": len(DEMO_USERS),
        "companies": 0,
        "contacts": 0,
        "interactions": 0,
        "deals": 0,
        "orders": 0,
        "tasks": 0,
        "tickets": 0,
        "ticket replies": 0,
        "satisfaction answers": 0,
    }
    for definition in CUSTOM_FIELDS:
        admin.call("POST", "/custom-fields", definition)
    companies = []
    for name, industry, size in COMPANIES:
        body = {"name": name, "industry": industry, "size": size, "owner_id": rng.choice(owners)}
        companies.append(admin.call("POST", "/companies", body))
        counts["companies"] += 1
    contacts = []
    taken: set[tuple[str, str, str]] = set()  # one name per company: the same name there is a duplicate
    for i in range(120):
        company = rng.choice(companies)
        if any("\u4e00" <= ch <= "\u9fff" for ch in company["name"]):
            family, given = rng.choice(CHINESE_FAMILY), rng.choice(CHINESE_GIVEN)
            while (family, given, company["id"]) in taken:
                family, given = rng.choice(CHINESE_FAMILY), rng.choice(CHINESE_GIVEN)
            taken.add((family, given, company["id"]))
            body = {
                "last_name": family,
                "first_name": given,
                "email": f"{PINYIN[family]}{i}@example.cn",
                "phone": f"+86 13{rng.randint(0, 9)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
            }
        else:
            first, last = rng.choice(WESTERN_FIRST), rng.choice(WESTERN_LAST)
            while (first, last, company["id"]) in taken:
                first, last = rng.choice(WESTERN_FIRST), rng.choice(WESTERN_LAST)
            taken.add((first, last, company["id"]))
            body = {
                "first_name": first,
                "last_name": last,
                "email": f"{first.lower()}.{last.lower()}{i}@example.com",
                "phone": f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
            }
        body.update(
            owner_id=rng.choice(owners),
            company_id=company["id"],
            lifecycle_stage=rng.choice(STAGES),
            tags=rng.sample(["vip", "newsletter", "trade-show", "partner", "referral"], rng.randint(0, 2)),
            source_channel=rng.choice(["web", "referral", "event", "campaign", "cold_call"]),
            custom_fields={"region": rng.choice(REGIONS)},
        )
        contacts.append(admin.call("POST", "/contacts", body))
        counts["contacts"] += 1
    for contact in rng.sample(contacts, 60):
        kind, subject, outcome = rng.choice(INTERACTIONS)
        admin.call(
            "POST",
            "/interactions",
            {"kind": kind, "contact_id": contact["id"], "subject": subject, "outcome": outcome},
        )
        counts["interactions"] += 1
    admin.call("POST", "/segments", EAST_VIP_SEGMENT)
    admin.call("POST", "/pool/rules", RECLAIM_RULE)
    sales_history(admin, people, contacts, rng, counts)
    service_desk(admin, people, contacts, rng, counts)
    notification_settings(admin, people, password, counts)
    return counts


def _month_start(months_ago: int, today: datetime) -> datetime:
    year, month = divmod(today.year * 12 + today.month - 1 - months_ago, 12)
    return datetime(year, month + 1, 1, 10, tzinfo=UTC)


def sales_history(
    admin: Client, people: dict[str, str], contacts: list[dict], rng: random.Random, counts: dict
) -> None:
    """Deals in two pipelines (open, won with line items, lost with a reason), eighteen months of orders
    (some customers buying less lately, so churn risk shows), tasks, quotas for this quarter, and a grading run."""
    today = datetime.now(UTC)
    key_accounts = admin.call("POST", "/pipelines", KEY_ACCOUNTS_PIPELINE)
    owned = [c for c in contacts if c["owner_id"]]
    for n, contact in enumerate(rng.sample(owned, 40)):
        close = (today + timedelta(days=rng.randint(-20, 150))).date().isoformat()
        body = {
            "title": rng.choice(DEALS),
            "currency": "CNY",
            "contact_id": contact["id"],
            "owner_id": contact["owner_id"],
            "expected_close_date": close,
        }
        if n % 4 == 3:
            body.update(pipeline_id=key_accounts["id"], stage_id=rng.choice(key_accounts["stages"][:3])["id"])
        else:
            body["stage_id"] = rng.choice(["qualification", "needs_analysis", "proposal", "negotiation"])
        product, sku, price = rng.choice(PRODUCTS)
        body["line_items"] = [
            {"product": product, "sku": sku, "quantity": str(rng.randint(1, 40)), "unit_price": f"{price}.00"}
        ]
        deal = admin.call("POST", "/deals", body)
        counts["deals"] += 1
        if n % 5 == 0:
            admin.call("PATCH", f"/deals/{deal['id']}", {"status": "won"})
        elif n % 7 == 1:
            admin.call("PATCH", f"/deals/{deal['id']}", {"status": "lost", "lost_reason": rng.choice(LOST_REASONS)})
    orders = []
    for n, contact in enumerate(rng.sample(owned, 45)):
        # Every ninth customer stopped buying three months ago: the churn check flags it.
        stopped = 3 if n % 9 == 0 else 0
        for months_ago in range(18, stopped, -1):
            if rng.random() < (0.8 if stopped else 0.35):
                ordered_at = _month_start(months_ago, today) + timedelta(days=rng.randint(0, 27))
                orders.append(
                    {
                        "contact_id": contact["id"],
                        "owner_id": contact["owner_id"],
                        "ordered_at": ordered_at.isoformat().replace("+00:00", "Z"),
                        "amount": f"{rng.randint(2, 120) * 500}.00",
                        "currency": "CNY",
                        "status": "completed",
                        "payment_method": rng.choice(["bank_transfer", "alipay", "wechat_pay", "card"]),
                    }
                )
    admin.call("POST", "/orders/batch", {"orders": orders})
    counts["orders"] += len(orders)
    for contact in rng.sample(owned, 20):
        kind, title = rng.choice(TASKS)
        due = today + timedelta(days=rng.randint(-3, 14), hours=rng.randint(0, 8))
        admin.call(
            "POST",
            "/tasks",
            {
                "title": title,
                "kind": kind,
                "contact_id": contact["id"],
                "assignee_id": contact["owner_id"],
                "due_at": due.isoformat().replace("+00:00", "Z"),
                "reminder_minutes_before": 60,
            },
        )
        counts["tasks"] += 1
    quarter = f"{today.year}-Q{(today.month - 1) // 3 + 1}"
    for rep in ("li.rep@crm.local", "tom.rep@crm.local"):
        admin.call(
            "POST", "/quotas", {"owner_id": people[rep], "period": quarter, "amount": "1500000.00", "currency": "CNY"}
        )
    admin.call("POST", "/grading-runs", {})


SURVEY_COMMENTS = {2: "It took far too long", 3: "Solved in the end", 4: "Helpful", 5: "Quick and friendly, thank you"}

# Office hours in Shanghai with a lunch break, closed on the official Chinese public holidays.
CHINA_OFFICE_HOURS = {
    "name": "China office hours",
    "time_zone": "Asia/Shanghai",
    "working_hours": {day: [["09:00", "12:00"], ["13:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holiday_preset": "CN",
}


def _targets(*minutes: tuple[int, int]) -> dict:
    return {
        priority: {"first_response_minutes": first, "resolution_minutes": resolution}
        for priority, (first, resolution) in zip(("urgent", "high", "normal", "low"), minutes, strict=True)
    }


def sla_policies(calendar_id: str) -> list[dict]:
    """Complaints of A-grade customers round the clock with a tight ladder; everything else in office hours."""
    return [
        {
            "name": "VIP complaints",
            "position": 10,
            "conditions": {"kind": ["complaint"], "customer_grade": ["A"]},
            "targets": _targets((30, 240), (60, 480), (120, 960), (240, 1440)),
            "escalations": [
                {
                    "metric": "resolution",
                    "when": "before",
                    "minutes": 60,
                    "actions": [{"type": "notify", "recipients": ["assignee"]}],
                },
                {
                    "metric": "first_response",
                    "when": "after",
                    "minutes": 0,
                    "actions": [
                        {"type": "notify", "recipients": ["team_managers"]},
                        {"type": "reassign", "to": "least_loaded"},
                    ],
                },
                {
                    "metric": "resolution",
                    "when": "after",
                    "minutes": 0,
                    "actions": [
                        {"type": "notify", "recipients": ["team_managers", "contact_owner"]},
                        {"type": "raise_priority"},
                    ],
                },
            ],
        },
        {
            "name": "Office hours",
            "position": 20,
            "calendar_id": calendar_id,
            "targets": _targets((60, 480), (240, 1440), (480, 2880), (960, 4800)),
            "escalations": [
                {
                    "metric": "resolution",
                    "when": "before",
                    "minutes": 60,
                    "actions": [{"type": "notify", "recipients": ["assignee"]}],
                },
                {
                    "metric": "resolution",
                    "when": "after",
                    "minutes": 0,
                    "actions": [{"type": "notify", "recipients": ["assignee", "team_managers"]}],
                },
            ],
        },
    ]


def service_desk(admin: Client, people: dict, contacts: list[dict], rng: random.Random, counts: dict) -> None:
    """SLA policies on a business calendar, the Customer Care roster (least-loaded assignment), and
    tickets of the last three weeks: some answered, some resolved and rated, some breached."""
    calendar = admin.call("POST", "/business-calendars", CHINA_OFFICE_HOURS)
    for policy in sla_policies(calendar["id"]):
        admin.call("POST", "/sla-policies", policy)
    agents = [people["sam.support@crm.local"], people["fang.support@crm.local"]]
    admin.call(
        "PUT",
        f"/service-teams/{people['support_team']}",
        {
            "assignment": "least_loaded",
            "agents": [{"user_id": agent, "available": True} for agent in agents],
            "manager_ids": [people["mei.manager@crm.local"]],
        },
    )
    now = datetime.now(UTC)
    for contact in rng.sample(contacts, 25):
        subject, kind = rng.choice(TICKETS)
        received = now - timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 23))
        ticket = admin.call(
            "POST",
            "/tickets",
            {
                "subject": subject,
                "kind": kind,
                "contact_id": contact["id"],
                "team_id": people["support_team"],
                "priority": rng.choice(["low", "normal", "normal", "high", "urgent"]),
                "channel": rng.choice(["email", "phone", "web", "chat"]),
                "received_at": received.isoformat().replace("+00:00", "Z"),
            },
        )
        counts["tickets"] += 1
        outcome = rng.random()
        if outcome < 0.25:
            continue  # still waiting for a first answer
        path = f"/tickets/{ticket['id']}"
        admin.call("POST", f"{path}/comments", {"body": "Thank you, we are looking into it.", "public": True})
        counts["ticket replies"] += 1
        if outcome < 0.5:
            continue
        admin.call("PATCH", path, {"status": "resolved"})
        if outcome < 0.8:
            score = rng.choice([2, 3, 4, 5, 5])
            admin.call("POST", f"{path}/satisfaction", {"score": score, "comment": SURVEY_COMMENTS[score]})
            counts["satisfaction answers"] += 1


def notification_settings(admin: Client, people: dict, password: str, counts: dict) -> None:
    """Who hears what beyond the defaults: escalated tickets also by email, every won deal told to
    the sales manager; the support manager in Shanghai keeps quiet nights and reads a daily digest."""
    manager = people["mei.manager@crm.local"]
    admin.call("PATCH", "/notification-rules/sla_escalated", {"channels": ["in_app", "email"]})
    admin.call("PATCH", "/notification-rules/deal_won", {"user_ids": [manager]})
    counts["notification rules"] = 2
    support_manager = Client(admin.base, "mei.manager@crm.local", password)
    support_manager.call(
        "PATCH",
        "/notification-preferences",
        {"time_zone": "Asia/Shanghai", "quiet_hours": {"start": "22:00", "end": "08:00"}, "digest": "daily"},
    )
    counts["notification preferences"] = 1


def main(argv: list[str]) -> None:
    base = argv[0] if argv else "http://127.0.0.1:8000"
    email, password = admin_credentials()
    try:
        admin = Client(base, email, password)
        existing = admin.call("GET", "/contacts?limit=1")["data"]
    except urllib.error.HTTPError as exc:
        sys.exit(f"the gateway at {base} refused the demo sign-in as {email}: {exc}")
    except urllib.error.URLError as exc:
        sys.exit(f"the gateway at {base} does not answer: {exc}")
    if existing:
        print("demo data: already loaded")
        return
    counts = load(admin, password)
    print("demo data loaded: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
