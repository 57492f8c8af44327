"""`make screenshots`: PNGs of the web UI's main pages at desktop and phone width in
var/screenshots/<page>-<desktop|phone>.png.

Starts its own platform like the test suite (a private RabbitMQ vhost, free ports, the suite's
settings), seeds the same demo-like data through the API, signs in as the admin (and as a sales
rep for the rep's views), and visits every nav entry plus the customer 360, search results and
notifications pages. The page name is the root's data-page. Usage:
    python -m tests.ui.screenshots [--out var/screenshots] [--url http://127.0.0.1:8000 --email .. --password ..]
With --url it uses a running platform (e.g. `make run`) and its data instead.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from crm_common.config import DEFAULT_AMQP_URI  # noqa: E402
from crm_common.devstack import Stack, free_port_offset  # noqa: E402
from crm_common.testing import private_vhost  # noqa: E402
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, TEST_PORT_OFFSET, TEST_SETTINGS  # noqa: E402
from tests.ui import helpers, seed  # noqa: E402


def capture(base_url: str, out: Path, email: str, password: str, extra_paths: list[tuple[str, str]]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = helpers.launch(playwright)
        try:
            for width in ("desktop", "phone"):
                page = helpers.new_page(browser, base_url, width)
                page.goto("/app/")
                page.locator("body[data-ready=true]").wait_for()
                shot = out / f"signin-{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                written.append(shot)
                helpers.sign_in(page, email, password)
                hrefs = page.eval_on_selector_all(
                    "[data-test=nav] a[href]", "links => links.map(a => a.getAttribute('href'))"
                )
                nav_paths = [h.removeprefix("/app") or "/" for h in hrefs]
                paths = list(dict.fromkeys(nav_paths + [p for p, _ in extra_paths]))
                names = {p: n for p, n in extra_paths}
                seen = set()
                for path in paths:
                    try:
                        helpers.goto(page, path)
                        # Never "networkidle": the live event stream stays open. Wait for loaders to go.
                        page.locator("main [data-test=loading]").first.wait_for(state="detached", timeout=10_000)
                        page.wait_for_timeout(400)
                    except Exception as error:  # noqa: BLE001 (a page that fails is skipped, not fatal)
                        print(f"  skipped {path}: {error}", file=sys.stderr)
                        continue
                    name = (
                        names.get(path)
                        or page.locator("main [data-page]").first.get_attribute("data-page")
                        or helpers.slug(path)
                    )
                    if name in seen:
                        name = f"{name}-{helpers.slug(path)}"
                    seen.add(name)
                    shot = out / f"{name}-{width}.png"
                    page.screenshot(path=str(shot), full_page=width == "desktop")
                    written.append(shot)
                    print(f"  {shot}")
                page.context.close()
        finally:
            browser.close()
    return written


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "var" / "screenshots"))
    parser.add_argument("--url", help="a running platform instead of a fresh one")
    parser.add_argument("--email", default="admin@crm.local")
    parser.add_argument("--password", default="crm-development-only")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.url:
        written = capture(args.url, out, args.email, args.password, [("/search?q=" + "%E5%BC%A0", "search")])
    else:
        with tempfile.TemporaryDirectory() as data, private_vhost(os.environ.get("AMQP_URI", DEFAULT_AMQP_URI)) as uri:
            os.environ.setdefault("EVENT_STREAM_HEARTBEAT_SECONDS", "1")  # see tests/ui/conftest.py
            platform = Stack(
                data, uri, port_offset=free_port_offset(TEST_PORT_OFFSET + 500), extra_env=dict(TEST_SETTINGS)
            )
            platform.extra_env["CRM_PUBLIC_URL"] = platform.gateway_url
            platform.up()
            try:
                print("seeding demo data through the API ...")
                data_set = seed.seed(platform.gateway_url, ADMIN_EMAIL, ADMIN_PASSWORD)
                contact = data_set["contact"]
                extra = [
                    (f"/contacts/{contact['id']}", "customer"),
                    ("/search?q=" + data_set["name"], "search"),
                    ("/notifications", "notifications"),
                ]
                written = capture(platform.gateway_url, out, ADMIN_EMAIL, ADMIN_PASSWORD, extra)
            finally:
                platform.down()
    print(f"wrote {len(written)} screenshots to {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
