"""The web UI: plain ES modules and CSS from gateway/web/, served at /app/ (no build step).

Every /app/* path answers index.html (the client routes with history.pushState); the files are
under /app/static/<version>/..., where <version> is a digest of the files' sizes and modification
times, so they can be cached for a year and a changed file still reaches the browser. index.html
itself is never cached. Nothing here needs a credential (the UI signs in through /api/v1/auth/token)
and nothing outside gateway/web/ is ever served. Every answer carries a strict CSP (no inline script
or style) and the usual security headers.
"""

import hashlib
import json
from pathlib import Path

from flask import Blueprint, Response, abort, redirect, send_from_directory

WEB_ROOT = Path(__file__).parent / "web"
STATIC_PREFIX = "/app/static/"
VERSION_MARK = "v-"
LONG_CACHE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

blueprint = Blueprint("web_ui", __name__)


def _files():
    return sorted(
        p for p in WEB_ROOT.rglob("*") if p.is_file() and p.suffix in (".html", ".js", ".css", ".svg", ".png")
    )


def static_version() -> str:
    """A digest of the files' names, sizes and modification times (cheap: a stat per file)."""
    digest = hashlib.sha256()
    for path in _files():
        stat = path.stat()
        digest.update(f"{path.relative_to(WEB_ROOT)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return VERSION_MARK + digest.hexdigest()[:12]


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


@blueprint.after_request
def _headers(response: Response) -> Response:
    return _secure(response)


@blueprint.get("/")
def root():
    return redirect("/app/", code=302)


@blueprint.get("/app")
@blueprint.get("/app/")
@blueprint.get("/app/<path:path>")
def index(path: str = ""):
    if path.startswith("static/"):
        abort(404)
    html = (WEB_ROOT / "index.html").read_text(encoding="utf-8")
    html = html.replace(STATIC_PREFIX, f"{STATIC_PREFIX}{static_version()}/")
    response = Response(html, mimetype="text/html")
    response.headers["Cache-Control"] = NO_CACHE
    return response


@blueprint.get("/app/pages.json")
def page_modules():
    """The page modules present (pages/*.js but index.js): app.js loads these besides its list."""
    names = sorted(p.stem for p in (WEB_ROOT / "pages").glob("*.js") if p.stem != "index")
    response = Response(json.dumps({"modules": names}), mimetype="application/json")
    response.headers["Cache-Control"] = NO_CACHE
    return response


@blueprint.get("/app/static/<path:path>")
def static_file(path: str):
    cache = NO_CACHE
    first, _, rest = path.partition("/")
    if first.startswith(VERSION_MARK) and rest:
        cache = LONG_CACHE if first == static_version() else NO_CACHE
        path = rest
    if Path(path).suffix not in CONTENT_TYPES and Path(path).suffix not in (".svg", ".png", ".html"):
        abort(404)
    response = send_from_directory(WEB_ROOT, path, conditional=True, max_age=None)  # 404 outside WEB_ROOT
    suffix = Path(path).suffix
    if suffix in CONTENT_TYPES:
        response.headers["Content-Type"] = CONTENT_TYPES[suffix]
    response.headers["Cache-Control"] = cache
    return response
