"""Browser-test fixtures: the session platform (`stack`, `api` of tests/conftest.py) with demo-like
data seeded through the API, Debian's chromium driven by Playwright, and pages at desktop
(1280x800) and phone (390x844, touch) width.

    def test_x(page_desktop, signed_in, ui_seed):
        signed_in(page_desktop, **ui_seed["users"]["rep"])      # or signed_in(page, email, password)

`ui_page` runs a test once per width (ids desktop, phone). Helpers (goto, open_nav, search,
is_phone, ...) live in tests/ui/helpers.py: `from tests.ui.helpers import goto`.
"""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:  # `tests.ui.helpers` importable however pytest was started
    sys.path.insert(0, ROOT)

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD  # noqa: E402
from tests.ui import helpers, seed  # noqa: E402

# Every page holds a live event stream, and a gateway thread notices a closed one only when it
# next writes: with a 1 s heartbeat (read when the session's platform starts, after collection)
# the streams of closed test pages free their threads at once instead of after 15 s.
os.environ.setdefault("EVENT_STREAM_HEARTBEAT_SECONDS", "1")

# `make test` installs it (make ui-tools): a missing browser is a broken set-up, never a skip.
assert os.access(helpers.CHROMIUM, os.X_OK), f"{helpers.CHROMIUM} is missing: run `make ui-tools`"


@pytest.fixture(scope="session")
def ui_seed(stack, api) -> dict:
    """Demo data, once per session: {"users": {"admin"|"manager"|"rep"|"rep2"|"support"|"support2"|"viewer":
    {"email", "password", "id"}}, "contact": the 邝昊 customer owned by rep, "company", "name": "邝昊"}."""
    return seed.seed(stack.gateway_url, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture(scope="session")
def ui_base_url(stack) -> str:
    return stack.gateway_url


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = helpers.launch(playwright_instance)
    yield browser
    browser.close()


def _page(browser, base_url, width):
    page = helpers.new_page(browser, base_url, width)
    yield page
    errors = list(page.errors)
    page.context.close()
    assert not errors, f"errors in the browser: {errors}"


@pytest.fixture
def page_desktop(browser, ui_base_url, ui_seed):
    yield from _page(browser, ui_base_url, "desktop")


@pytest.fixture
def page_phone(browser, ui_base_url, ui_seed):
    yield from _page(browser, ui_base_url, "phone")


@pytest.fixture(params=["desktop", "phone"])
def ui_page(request, browser, ui_base_url, ui_seed):
    """The same test at desktop and at phone width."""
    yield from _page(browser, ui_base_url, request.param)


@pytest.fixture
def signed_in():
    """signed_in(page, email, password) or signed_in(page, **ui_seed["users"][role]) → the page, signed in."""

    def sign_in(page, email, password, id=None):  # noqa: A002 (the user record's key)
        return helpers.sign_in(page, email, password)

    return sign_in
