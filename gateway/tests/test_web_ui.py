"""The web UI's static files at /app/: no credential, index.html for client routes, cache rules,
the CSP and security headers, and nothing served from outside gateway/web/."""

import re

import pytest

from gateway import web_ui


@pytest.fixture
def anonymous(app):
    return app.test_client()


def test_the_root_redirects_to_the_app(anonymous):
    response = anonymous.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/app/")


@pytest.mark.parametrize("path", ["/app", "/app/", "/app/contacts/c1", "/app/search?q=%E5%BC%A0%E4%BC%9F"])
def test_every_client_route_answers_the_shell_without_a_credential(anonymous, path):
    response = anonymous.get(path)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-cache"
    html = response.get_data(as_text=True)
    assert 'id="view"' in html
    version = web_ui.static_version()
    assert f"/app/static/{version}/js/app.js" in html and f"/app/static/{version}/css/app.css" in html
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_versioned_files_are_cached_long_and_others_revalidated(anonymous):
    version = web_ui.static_version()
    response = anonymous.get(f"/app/static/{version}/js/app.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert "immutable" in response.headers["Cache-Control"]
    assert response.headers["Content-Security-Policy"]
    stale = anonymous.get("/app/static/v-000000000000/js/app.js")
    assert stale.status_code == 200 and stale.headers["Cache-Control"] == "no-cache"
    css = anonymous.get("/app/static/css/app.css")
    assert css.status_code == 200 and css.mimetype == "text/css" and css.headers["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/app/static/js/nothing.js",
        "/app/static/../web_ui.py",
        "/app/static/%2e%2e/web_ui.py",
        "/app/static/..%2fweb_ui.py",
        "/app/static/../../pyproject.toml",
        "/app/static/js/../../app.py",
    ],
)
def test_nothing_outside_the_web_folder_is_served(anonymous, path):
    response = anonymous.get(path)
    assert response.status_code == 404 or (response.status_code == 200 and response.mimetype == "text/html")
    assert "def create_app" not in response.get_data(as_text=True)
    assert "[project]" not in response.get_data(as_text=True)


def test_the_page_list_names_the_page_modules_present(anonymous):
    names = anonymous.get("/app/pages.json").get_json()["modules"]
    assert "search" in names and "notifications" in names and "index" not in names


def test_the_api_still_needs_a_credential(anonymous):
    assert anonymous.get("/api/v1/me").status_code == 401


def test_no_inline_script_or_style_in_the_shell():
    html = (web_ui.WEB_ROOT / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html and " style=" not in html


def test_no_module_writes_html_from_strings():
    for path in web_ui.WEB_ROOT.rglob("*.js"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\.(innerHTML|outerHTML)\s*\+?=|insertAdjacentHTML\(|document\.write|\beval\(", text), (
            path
        )


def test_pages_share_code_through_js_modules_only():
    # A page module registers routes; shared code lives in js/ (one implementation per concern).
    for path in (web_ui.WEB_ROOT / "pages").glob("*.js"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""from\s+["']\./""", text), f"{path.name} imports another page module"


def test_stylesheets_are_linked_by_the_shell_only():
    html = (web_ui.WEB_ROOT / "index.html").read_text(encoding="utf-8")
    for css in (web_ui.WEB_ROOT / "css").glob("*.css"):
        assert f"/css/{css.name}" in html, css.name
    for path in web_ui.WEB_ROOT.rglob("*.js"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(createElement|\bh)\(\s*["']link["']""", text), f"{path.name} injects a <link>"
