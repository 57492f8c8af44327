"""The shell of the web UI in a real browser: sign in, the nav per role, the global search box
(a customer found by a two-character Chinese name, then opened), the bell updated live over the
event stream, the inbox, the language switch, and sign out; at desktop and phone width."""

import re

from playwright.sync_api import expect

from tests.ui.helpers import goto, is_phone, open_nav, search


def test_sign_in_shows_the_shell_and_the_nav_for_the_role(ui_page, signed_in, ui_seed):
    page = ui_page
    page.goto("/app/")
    expect(page.locator("[data-page=signin]")).to_be_visible()
    page.fill("[data-test=signin-email]", ui_seed["users"]["rep"]["email"])
    page.fill("[data-test=signin-password]", "wrong-password")
    page.click("[data-test=signin-submit]")
    expect(page.locator("[data-test=signin-error]")).not_to_be_empty()
    signed_in(page, **ui_seed["users"]["rep"])
    expect(page.locator("[data-test=user-menu]")).to_have_text(re.compile(r"\S"))
    nav = page.locator("[data-test=nav]")
    if is_phone(page):
        expect(nav).to_be_hidden()  # behind the menu button
        page.click("[data-test=menu-button]")
    expect(nav).to_be_visible()
    expect(nav.locator("[data-test=nav-notifications]")).to_be_visible()
    expect(nav.locator("[data-section=admin]")).to_have_count(0)  # a sales rep sees no administration
    # The session survives a reload (sessionStorage), and signing out ends it.
    page.reload()
    expect(page.locator("[data-test=topbar]")).to_be_visible()
    page.click("[data-test=user-menu]")
    page.click("[data-test=sign-out]")
    expect(page.locator("[data-test=signin-form]")).to_be_visible()
    page.reload()
    expect(page.locator("[data-test=signin-form]")).to_be_visible()


def test_a_customer_is_found_by_a_two_character_chinese_name_and_opened(ui_page, signed_in, ui_seed):
    page = signed_in(ui_page, **ui_seed["users"]["rep"])
    contact = ui_seed["contact"]
    search(page, ui_seed["name"])
    hit = page.locator(f"[data-test=search-dropdown] [data-test=search-hit][data-id='{contact['id']}']")
    expect(hit).to_be_visible()
    expect(hit.locator("mark").first).to_be_visible()  # the server's highlight, rendered as <mark> only
    hit.click()
    expect(page).to_have_url(re.compile(rf"/app/contacts/{contact['id']}$"))
    expect(page.locator("[data-test=search-dropdown]")).to_be_hidden()
    # Enter opens the full results page with the type facets.
    search(page, ui_seed["name"])
    page.press("[data-test=global-search]", "Enter")
    expect(page.locator("main [data-page=search]")).to_be_visible()
    expect(page.locator(f"[data-test=search-results] [data-id='{contact['id']}']")).to_be_visible()
    expect(page.locator("[data-test=facet-contact]")).to_be_visible()


def test_a_notification_arrives_live_in_the_bell(ui_page, signed_in, ui_seed, api):
    rep = ui_seed["users"]["rep2"]
    page = signed_in(ui_page, **rep)
    goto(page, "/notifications", "notifications")
    page.locator("body[data-live=open]").wait_for(timeout=45_000)  # the event stream is connected
    # The unread count is known once the badge carries it (other tests notify this user too).
    page.locator("[data-test=bell-badge][data-count]").wait_for(state="attached", timeout=30_000)
    before = int(page.locator("[data-test=bell-badge]").get_attribute("data-count"))
    title = f"Call back {page.width_name}"
    api.create("/tasks", {"title": title, "assignee_id": rep["id"], "due_at": "2030-01-01T09:00:00Z"})
    badge = page.locator("[data-test=bell-badge]")
    expect(badge).to_have_attribute("data-count", str(before + 1), timeout=30_000)
    expect(badge).to_be_visible()
    expect(page.locator("[data-test=toast]").first).to_be_visible()
    inbox = page.locator("[data-test=inbox-list] [data-test=notification]").filter(has_text=title)
    expect(inbox).to_have_attribute("data-read", "false")  # the open inbox page refreshed too
    # The bell's panel lists it; mark it read there, and the inbox follows.
    page.click("[data-test=bell]")
    item = page.locator("[data-test=bell-list] [data-test=notification]").filter(has_text=title)
    expect(item).to_be_visible()
    item.locator("[data-test=mark-read]").click()
    expect(badge).to_have_attribute("data-count", str(before))
    page.keyboard.press("Escape")
    expect(page.locator("[data-test=bell-panel]")).to_be_hidden()
    expect(inbox).to_have_attribute("data-read", "true")


def test_the_language_switch_translates_the_shell(page_desktop, signed_in, ui_seed):
    page = signed_in(page_desktop, **ui_seed["users"]["manager"])
    page.select_option("[data-test=language]", "zh-CN")
    expect(page.locator("[data-test=sign-out]")).to_have_text("退出登录")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    open_nav(page, "nav-notifications")
    expect(page.locator("main [data-page=notifications] h1")).to_have_text("通知")
    page.reload()  # the choice is remembered
    expect(page.locator("main [data-page=notifications] h1")).to_have_text("通知")
    page.select_option("[data-test=language]", "en")
    expect(page.locator("main [data-page=notifications] h1")).to_have_text("Notifications")


def test_an_unknown_page_and_the_csp(page_desktop, signed_in, ui_seed):
    page = signed_in(page_desktop, **ui_seed["users"]["rep"])
    response = page.goto("/app/no/such/page")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("main [data-page=not-found]")).to_be_visible()
