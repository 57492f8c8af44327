"""Browser helpers shared by tests/ui/*.py (through conftest's fixtures) and screenshots.py.

Plain functions over Playwright's sync API; the browser is Debian's chromium, never a
`playwright install` download."""

import re
import time

from playwright.sync_api import Browser, Page, expect

CHROMIUM = "/usr/bin/chromium"
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
WIDTHS = {"desktop": DESKTOP, "phone": PHONE}
TIMEOUT_MS = 15_000


def launch(playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
    )


def new_page(browser: Browser, base_url: str, width: str, locale: str = "en-US") -> Page:
    """A fresh context (own sessionStorage) at `width` ("desktop" or "phone"), English unless told.
    page.errors collects uncaught page errors and CSP violations (tests assert it stays empty)."""
    context = browser.new_context(base_url=base_url, locale=locale, **WIDTHS[width])
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    page = context.new_page()
    page.width_name = width
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            page.errors.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    return page


def wait_live(page: Page, timeout_ms: int = 45_000) -> None:
    """Wait until the page's live event stream is connected (body[data-live=open])."""
    page.locator("body[data-live=open]").wait_for(timeout=timeout_ms)


def is_phone(page: Page) -> bool:
    return getattr(page, "width_name", "desktop") == "phone"


def sign_in(page: Page, email: str, password: str) -> Page:
    """Open /app/, sign in through the form, wait for the shell."""
    page.goto("/app/")
    page.locator("body[data-ready=true]").wait_for()
    if page.locator("[data-test=topbar]").is_visible():
        sign_out(page)
    page.fill("[data-test=signin-email]", email)
    page.fill("[data-test=signin-password]", password)
    page.click("[data-test=signin-submit]")
    expect(page.locator("[data-test=topbar]")).to_be_visible()
    return page


def sign_out(page: Page) -> None:
    page.click("[data-test=user-menu]")
    page.click("[data-test=sign-out]")
    expect(page.locator("[data-test=signin-form]")).to_be_visible()


def goto(page: Page, path: str, data_page: str | None = None) -> Page:
    """Load /app<path> (a full page load; the session survives in sessionStorage) and wait for the
    page's root (`[data-page=<data_page>]`, or any [data-page])."""
    page.goto("/app" + path)
    page.locator("body[data-ready=true]").wait_for()
    page.locator(f"main [data-page={data_page}]" if data_page else "main [data-page]").first.wait_for()
    return page


def open_nav(page: Page, test_id: str) -> None:
    """Click a nav link by its data-test (e.g. "nav-notifications"), through the menu button on a phone."""
    if is_phone(page) and not page.locator(f"[data-test={test_id}]").is_visible():
        page.click("[data-test=menu-button]")
    page.click(f"[data-test={test_id}]")


def search(page: Page, text: str) -> None:
    """Type into the global search box and wait for the instant results."""
    box = page.locator("[data-test=global-search]")
    box.fill(text)
    expect(page.locator("[data-test=search-dropdown]")).to_be_visible()


def unread_badge(page: Page) -> int:
    badge = page.locator("[data-test=bell-badge]")
    return int(badge.get_attribute("data-count") or 0) if badge.is_visible() else 0


def wait_until(condition, timeout: float = 30.0, interval: float = 0.3, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "page"
