"""The service desk and the admin pages in a real browser: a support agent opens the queue and sees a
breached ticket coloured, opens a ticket, posts a public reply and an internal note and sees both in
the conversation (the reply also through the API); an admin opens the users and webhooks pages. At
desktop and phone width."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.ui.helpers import goto, is_phone, open_nav, wait_until


@pytest.fixture(scope="module")
def breached_ticket(api, ui_seed) -> dict:
    """An urgent ticket of the support team, received three days ago: its SLA is breached at once."""
    support = ui_seed["users"]["support"]
    team_id = api.get(f"/users/{support['id']}").json()["team_ids"][0]
    created = api.post(
        "/tickets",
        {
            "subject": f"Invoice missing {uuid.uuid4().hex[:6]}",
            "description": "The customer never got the invoice.",
            "priority": "urgent",
            "kind": "complaint",
            "channel": "email",
            "contact_id": ui_seed["contact"]["id"],
            "team_id": team_id,
            "assignee_id": support["id"],
            "received_at": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
        },
    )
    assert created.status_code == 201, created.text
    ticket_id = created.json()["id"]

    def breached():
        current = api.get(f"/tickets/{ticket_id}").json()
        return current if current["breached"] else None

    return wait_until(breached, timeout=30, message="the SLA breach")


def test_an_agent_answers_a_breached_ticket_from_the_queue(ui_page, signed_in, ui_seed, api, breached_ticket):
    page = signed_in(ui_page, **ui_seed["users"]["support"])
    open_nav(page, "nav-tickets")
    queue = page.locator("main [data-page=tickets]")
    expect(queue).to_be_visible()
    row = queue.locator(f"[data-test=ticket-queue] tr[data-id='{breached_ticket['id']}']")
    expect(row).to_be_visible()
    # Breach colours: the row is marked breached (red), with a word and an "overdue" countdown.
    expect(row).to_have_attribute("data-sla", "breached")
    expect(row).to_have_class(re.compile(r"sla-row-breached"))
    expect(row.locator(".desk-badge.sla-breached")).to_be_visible()
    expect(row.locator("[data-test=countdown-first_response]")).to_have_text(re.compile(r"overdue"))
    colour = row.evaluate("tr => getComputedStyle(tr).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), colour
    # Only breached ones when asked.
    page.check("[data-test=filter-breached]")
    expect(queue.locator("[data-test=ticket-queue] tbody tr").first).to_have_attribute("data-sla", "breached")

    row.locator("[data-test=ticket-link]").click()
    ticket_page = page.locator("main [data-page=ticket]")
    expect(ticket_page).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/app/tickets/{breached_ticket['id']}$"))
    expect(page.locator("[data-test=ticket-subject]")).to_have_text(breached_ticket["subject"])
    expect(ticket_page).to_have_attribute("data-sla", "breached")

    reply = f"We are sending the invoice again today ({page.width_name})."
    note = f"Finance says the address was wrong ({page.width_name})."
    page.fill("[data-test=reply-body]", reply)
    page.click("[data-test=send-reply]")
    conversation = page.locator("[data-test=conversation]")
    expect(conversation.locator("[data-test=comment][data-kind=public]", has_text=reply)).to_be_visible()
    expect(page.locator("[data-test=reply-body]")).to_have_value("")
    page.fill("[data-test=reply-body]", note)
    page.click("[data-test=add-note]")
    expect(conversation.locator("[data-test=comment][data-kind=internal]", has_text=note)).to_be_visible()
    # Values are text: the note is rendered as text, not markup.
    assert conversation.locator("[data-test=comment] script").count() == 0

    # The reply reached the API as a public staff comment, the note as an internal one.
    comments = api.get(f"/tickets/{breached_ticket['id']}/comments", params={"limit": 200}).json()["data"]
    assert any(c["body"] == reply and c["public"] and c["author_type"] == "staff" for c in comments)
    assert any(c["body"] == note and not c["public"] for c in comments)
    # A reload shows both in the conversation, from the server.
    page.reload()
    expect(page.locator("[data-test=conversation] [data-test=comment]", has_text=reply)).to_be_visible()
    expect(page.locator("[data-test=conversation] [data-test=comment]", has_text=note)).to_be_visible()
    if is_phone(page):  # the composer fits the phone's width
        box = page.locator("[data-test=composer]").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 391, box


def test_an_agent_changes_the_status_and_records_satisfaction(page_desktop, signed_in, ui_seed, api, ui_page_ticket):
    page = signed_in(page_desktop, **ui_seed["users"]["support"])
    goto(page, f"/tickets/{ui_page_ticket['id']}", "ticket")
    page.select_option("[data-test=status-select]", "resolved")
    page.click("[data-test=status-apply]")
    expect(page.locator("main [data-page=ticket]")).to_have_attribute("data-status", "resolved")
    form = page.locator("[data-test=csat-form]")
    expect(form).to_be_visible()
    form.locator("[data-test=score]").select_option("4")
    form.locator("[data-test=submit]").click()
    expect(page.locator("[data-test=csat-score]")).to_have_text(re.compile("4"))
    assert api.get(f"/tickets/{ui_page_ticket['id']}/satisfaction").json()["score"] == 4


@pytest.fixture
def ui_page_ticket(api, ui_seed) -> dict:
    support = ui_seed["users"]["support"]
    team_id = api.get(f"/users/{support['id']}").json()["team_ids"][0]
    return api.create(
        "/tickets",
        {
            "subject": f"Password reset {uuid.uuid4().hex[:6]}",
            "contact_id": ui_seed["contact"]["id"],
            "team_id": team_id,
            "assignee_id": support["id"],
        },
    )


def test_the_service_report_draws_its_charts_with_a_table_alternative(page_desktop, signed_in, ui_seed):
    page = signed_in(page_desktop, **ui_seed["users"]["manager"])
    goto(page, "/service-report", "service-report")
    expect(page.locator("[data-test=kpi-created]")).to_be_visible()
    chart = page.locator("svg[data-test=chart-volume]")
    expect(chart).to_be_visible()
    page.click("[data-test=chart-volume-toggle]")
    expect(page.locator("[data-test=chart-volume-table]")).to_be_visible()
    expect(chart).to_be_hidden()


def test_an_admin_opens_users_and_webhooks(ui_page, signed_in, ui_seed, api):
    page = signed_in(ui_page, **ui_seed["users"]["admin"])
    if is_phone(page):
        page.click("[data-test=menu-button]")
    expect(page.locator("[data-test=nav] [data-section=admin]")).to_be_visible()
    if is_phone(page):
        page.click("[data-test=menu-button]")
    open_nav(page, "nav-admin-users")
    users = page.locator("main [data-page=admin-users]")
    expect(users).to_be_visible()
    support = ui_seed["users"]["support"]
    expect(users.locator(f"tr[data-id='{support['id']}']")).to_contain_text(support["email"])

    # A webhook made through the API shows with its delivery log; deleting asks first.
    hook = api.create(
        "/webhooks",
        {"url": f"https://hooks.example.com/{uuid.uuid4().hex[:8]}", "event_types": ["service_desk.ticket_created"]},
    )
    goto(page, "/admin/webhooks", "admin-webhooks")
    row = page.locator(f"[data-test=admin-webhooks-table] tr[data-id='{hook['id']}']")
    expect(row).to_contain_text(hook["url"])
    row.locator("[data-test=delete]").click()
    expect(page.locator("[data-test=confirm-dialog]")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("[data-test=confirm-dialog]")).to_have_count(0)
    assert api.get(f"/webhooks/{hook['id']}").status_code == 200
    row.locator("[data-test=webhook-link]").click()
    expect(page.locator("main [data-page=admin-webhook]")).to_be_visible()
    expect(page.locator("[data-test=webhook-url]")).to_have_text(hook["url"])
    expect(page.locator("[data-test=webhook-deliveries]")).to_be_visible()


def test_a_support_agent_sees_no_administration(page_phone, signed_in, ui_seed):
    page = signed_in(page_phone, **ui_seed["users"]["support"])
    goto(page, "/admin/users")
    expect(page.locator("main [data-page=forbidden]")).to_be_visible()
    page.click("[data-test=menu-button]")
    expect(page.locator("[data-test=nav] [data-section=admin]")).to_have_count(0)
    expect(page.locator("[data-test=nav-tickets]")).to_be_visible()


ADMIN_PAGES = {
    "/admin": "admin",
    "/admin/users": "admin-users",
    "/admin/teams": "admin-teams",
    "/admin/roles": "admin-roles",
    "/admin/api-keys": "admin-api-keys",
    "/admin/custom-fields": "admin-custom-fields",
    "/admin/pipelines": "admin-pipelines",
    "/admin/sla-policies": "admin-sla",
    "/admin/pool": "admin-pool",
    "/admin/templates": "admin-templates",
    "/admin/webhooks": "admin-webhooks",
    "/admin/dead-letters?service=service_desk": "admin-dead-letters",
    "/service-report": "service-report",
}


def test_every_admin_page_lists_without_errors(page_desktop, signed_in, ui_seed):
    page = signed_in(page_desktop, **ui_seed["users"]["admin"])
    for path, name in ADMIN_PAGES.items():
        goto(page, path, name)
        expect(page.locator("main [data-test=loading]")).to_have_count(0)
        errors = page.locator("main [data-test=error]")
        expect(errors, f"{path}: {errors.all_inner_texts()}").to_have_count(0)
        expect(page.locator("main .form-error:not(:empty)")).to_have_count(0)
