"""Signing in and out (``/login``, ``/logout``) and choosing the language."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from quart import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from tidings.core.accounts import AuthFailed, Throttled
from tidings.web.i18n import LANGUAGES
from tidings.web.session import Sessions

log = logging.getLogger("tidings.web")
blueprint = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@blueprint.route("/login", methods=["GET", "POST"])
async def login() -> Any:
    if request.method == "GET":
        if g.visitor is not None:
            return redirect(_safe_next(request.args.get("next")))
        return await render_template("login.html", next=request.args.get("next", ""))
    form = await request.form
    address = form.get("address", "").strip()
    password = form.get("password", "")
    source = request.remote_addr or ""
    sessions: Sessions = current_app.config["SESSIONS"]
    try:
        user = await sessions.sign_in(address, password, source)
    except Throttled as throttled:
        log.warning("web: sign-in throttled for %r from %s", address[:100], source)
        page = await render_template(
            "login.html",
            next=form.get("next", ""),
            address=address,
            error=g.t("throttled", seconds=throttled.retry_after),
        )
        return page, 429, {"Retry-After": str(throttled.retry_after)}
    except AuthFailed:
        log.warning("web: failed sign-in for %r from %s", address[:100], source)
        page = await render_template(
            "login.html", next=form.get("next", ""), address=address, error=g.t("bad_login")
        )
        return page, 401
    language = session.get("lang")
    session.clear()  # a new session at every sign-in: no fixation
    if language:
        session["lang"] = language
    await sessions.open(user, session)
    log.info("web: %s signed in from %s", user.address, source)
    return redirect(_safe_next(form.get("next")))


@blueprint.post("/logout")
async def logout() -> Any:
    sessions: Sessions = current_app.config["SESSIONS"]
    visitor = g.visitor
    if visitor is not None:
        relay = current_app.config["RELAYS"].pop(visitor.token_id, None)
        if relay is not None:
            await relay.close()
        await sessions.close(visitor)
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    return redirect(url_for("auth.login"))


@blueprint.post("/language")
async def language() -> Any:
    form = await request.form
    chosen = form.get("lang", "")
    if chosen in LANGUAGES:
        session["lang"] = chosen
    return redirect(
        _safe_next(form.get("next") or (request.referrer and urlsplit(request.referrer).path))
    )
