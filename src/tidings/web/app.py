"""The web application (Quart): sign-in, the conversation with the assistant, the
devices page, admin pages, and the box's status page.

Every page but the login page (and the machine-readable health and status probes,
which carry no user data) needs a signed-in session; every state-changing request is
checked for CSRF and origin (:mod:`tidings.web.session`). Pages are rendered on the
server; the browser gets htmx, Alpine.js (its CSP build) and our small ``app.js``,
all served from the package, under a Content-Security-Policy that allows no script,
style, frame or connection from anywhere but the box itself.
"""

from __future__ import annotations

import base64
import logging
from importlib.resources import files
from typing import Any

from quart import Quart, Response, g, redirect, render_template, request, session, url_for
from tidings_assets import web_assets

from tidings import __version__
from tidings.core.accounts import Accounts
from tidings.core.config import Settings, split_endpoint
from tidings.core.db import Database
from tidings.core.http import add_health
from tidings.web import admin, auth, chat, devices, mail
from tidings.web.i18n import pick_language, translator
from tidings.web.probes import probe_all
from tidings.web.render import as_text, markdown, oob, result_kind, short_date
from tidings.web.session import (
    COOKIE,
    SessionCookies,
    Sessions,
    check_post,
    csrf_token,
    secret_key,
)

log = logging.getLogger("tidings.web")

#: Endpoints a browser reaches without signing in.
PUBLIC = frozenset(
    {
        "healthz",
        "status",
        "status_json",
        "asset",
        "manifest",
        "auth.login",
        "auth.language",
        "devices.thunderbird_autoconfig",
    }
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)

_STATIC = files("tidings.web") / "static"


def _vendor_asset(name: str) -> bytes | None:
    path = web_assets() / name
    return path.read_bytes() if path.is_file() else None


_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}


def _http_base(settings: Settings, endpoint: str) -> str:
    host, port = split_endpoint(getattr(settings.listen, endpoint))
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def create_app(settings: Settings, accounts: Accounts | None = None) -> Quart:
    app = Quart(__name__)
    accounts = accounts or Accounts(Database(settings))
    key = secret_key(settings)
    app.secret_key = key
    app.session_interface = SessionCookies()
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=settings.web.session_hours * 3600,
        MAX_CONTENT_LENGTH=256 * 1024,
        SETTINGS=settings,
        ACCOUNTS=accounts,
        SESSIONS=Sessions(settings, accounts, key),
        AI_HTTP=_http_base(settings, "ai"),
        AI_WS=_http_base(settings, "ai").replace("http://", "ws://", 1) + "/v1/ws",
        MAIL_API=_http_base(settings, "mail_api"),
        RELAYS={},
    )
    app.jinja_env.filters["markdown"] = markdown
    app.jinja_env.filters["short_date"] = short_date
    app.jinja_env.filters["as_text"] = as_text
    app.jinja_env.filters["oob"] = oob
    app.jinja_env.filters["b64"] = lambda text: base64.b64encode(str(text).encode()).decode()
    app.jinja_env.globals["result_kind"] = result_kind
    app.jinja_env.globals["version"] = __version__
    add_health(app, "web")

    @app.before_request
    async def gate() -> Any:
        g.language = pick_language(request.headers.get("Accept-Language"), session.get("lang"))
        g.t = translator(g.language)
        g.csrf = csrf_token(session)
        sessions: Sessions = app.config["SESSIONS"]
        g.visitor = await sessions.visitor(session) if "tok" in session else None
        if "tok" in session and g.visitor is None:
            session.pop("tok", None)  # expired or revoked: signed out
            relay = app.config["RELAYS"].pop(session.get("tid"), None)
            if relay is not None:
                await relay.close()
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            form = await request.form
            reason = check_post(session, form.get("csrf"))
            if reason is not None:
                log.warning("web: refused %s %s: %s", request.method, request.path, reason)
                return await render_template("refused.html"), 403
        if request.endpoint not in PUBLIC and g.visitor is None:
            target = url_for("auth.login", next=request.full_path.rstrip("?"))
            if request.headers.get("HX-Request"):
                return Response(status=401, headers={"HX-Redirect": target})
            return redirect(target)
        return None

    @app.after_request
    async def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers["X-Content-Type-Options"] = "nosniff"
        # "no-referrer" would make Chromium send "Origin: null" on our own form posts.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        response.vary.add("Cookie")
        return response

    @app.context_processor
    async def page_context() -> dict[str, Any]:
        return {
            "t": g.get("t", translator("en")),
            "lang": g.get("language", "en"),
            "csrf": g.get("csrf", ""),
            "visitor": g.get("visitor"),
        }

    @app.get("/assets/<name>")
    async def asset(name: str) -> Response:
        data = _vendor_asset(name)
        if data is None:
            path = _STATIC / name
            if "/" in name or not path.is_file():
                return Response("not found", status=404)
            data = path.read_bytes()
        suffix = name[name.rfind(".") :]
        response = Response(data, content_type=_TYPES.get(suffix, "application/octet-stream"))
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    @app.get("/manifest.webmanifest")
    async def manifest() -> Response:
        data = (_STATIC / "manifest.webmanifest").read_bytes()
        return Response(data, content_type="application/manifest+json")

    @app.get("/status")
    async def status() -> Response:
        probes = await probe_all(settings)
        page = await render_template(
            "status.html",
            probes=probes,
            settings=settings,
            version=__version__,
            healthy=all(p.ok for p in probes),
        )
        response = Response(page, content_type="text/html; charset=utf-8")
        # Its own small inline stylesheet: it works with nothing else of the app.
        response.headers["Content-Security-Policy"] = CSP.replace(
            "style-src 'self'", "style-src 'self' 'unsafe-inline'"
        )
        return response

    @app.get("/status.json")
    async def status_json() -> dict[str, Any]:
        probes = await probe_all(settings)
        return {
            "version": __version__,
            "healthy": all(p.ok for p in probes),
            "services": [vars(p) for p in probes],
        }

    for blueprint in (auth.blueprint, chat.blueprint, mail.blueprint, devices.blueprint):
        app.register_blueprint(blueprint)
    app.register_blueprint(admin.blueprint)

    @app.after_serving
    async def close_relays() -> None:
        for relay in list(app.config["RELAYS"].values()):
            await relay.close()

    return app
