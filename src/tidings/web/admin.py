"""Admin pages (admin accounts only): users, the services' status, the DNS records to
publish and what the resolver finds of them, the outgoing queue. They use the same
small Python interfaces the ``tidings`` command does."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from tidings.core.accounts import AccountError, Accounts, User
from tidings.core.config import Settings
from tidings.web.probes import probe_all

log = logging.getLogger("tidings.web")
blueprint = Blueprint("admin", __name__, url_prefix="/admin")


@blueprint.before_request
async def admins_only() -> None:
    if g.visitor is None or not g.visitor.user.is_admin:
        abort(403)


def _accounts() -> Accounts:
    accounts: Accounts = current_app.config["ACCOUNTS"]
    return accounts


def _zone(settings: Settings) -> str:
    from tidings.mail.dkim import ensure_keys
    from tidings.mail.dnsrecords import zone_text

    return zone_text(settings, ensure_keys(settings))


def _doctor(settings: Settings) -> list[tuple[bool, str]]:
    from tidings.mail.dkim import ensure_keys
    from tidings.mail.dnsrecords import check

    try:
        return [(f.ok, f.message) for f in check(settings, ensure_keys(settings))]
    except Exception as exc:  # an unreachable resolver is a finding, not a crash
        return [(False, f"resolver: {exc}")]


def _queue(settings: Settings) -> list[dict[str, Any]]:
    from tidings.mail.outbound import OutboundQueue

    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")

    return [
        {
            "id": e.message_id,
            "from": e.mail_from,
            "to": e.rcpt,
            "attempts": e.attempts,
            "next": when(e.next_attempt),
            "error": e.last_error,
        }
        for e in OutboundQueue(settings).list()
    ]


async def _user(user_id: int) -> User:
    user = next(
        (u for u in await asyncio.to_thread(_accounts().list_users) if u.id == user_id), None
    )
    if user is None:
        abort(404)
    return user


async def _page(**extra: Any) -> Any:
    settings: Settings = current_app.config["SETTINGS"]
    users, probes, zone, queue = await asyncio.gather(
        asyncio.to_thread(_accounts().list_users),
        probe_all(settings),
        asyncio.to_thread(_zone, settings),
        asyncio.to_thread(_queue, settings),
    )
    return await render_template(
        "admin.html",
        users=users,
        probes=probes,
        zone=zone,
        queue=queue,
        **extra,
    )


@blueprint.get("/")
async def index() -> Any:
    return await _page()


@blueprint.get("/doctor")
async def doctor() -> Any:
    """What ``tidings doctor`` finds (asked on demand: it queries the resolver)."""
    settings: Settings = current_app.config["SETTINGS"]
    findings = await asyncio.to_thread(_doctor, settings)
    return await render_template("admin_doctor.html", findings=findings)


@blueprint.post("/users")
async def add_user() -> Any:
    form = await request.form
    try:
        await asyncio.to_thread(
            _accounts().add_user,
            form.get("address", ""),
            form.get("password", ""),
            admin=form.get("admin") == "on",
        )
    except AccountError as exc:
        return await _page(user_error=str(exc)), 400
    log.info("web: %s added user %s", g.visitor.user.address, form.get("address", ""))
    return redirect(url_for("admin.index"))


@blueprint.post("/users/<int:user_id>/password")
async def reset_password(user_id: int) -> Any:
    form = await request.form
    user = await _user(user_id)
    try:
        await asyncio.to_thread(_accounts().set_password, user.address, form.get("password", ""))
    except AccountError as exc:
        return await _page(user_error=str(exc)), 400
    log.info("web: %s reset the password of %s", g.visitor.user.address, user.address)
    return redirect(url_for("admin.index"))


@blueprint.post("/users/<int:user_id>/disabled")
async def set_disabled(user_id: int) -> Any:
    """Disable or enable an account: sign-ins and tokens refused everywhere, the
    account's web sessions end at their next request; mail and tokens are kept."""
    form = await request.form
    user = await _user(user_id)
    disabled = form.get("disabled") == "1"
    if disabled and user.id == g.visitor.user.id:
        return await _page(user_error="you cannot disable your own account here"), 400
    await asyncio.to_thread(_accounts().set_disabled, user.address, disabled)
    log.info(
        "web: %s %s user %s",
        g.visitor.user.address,
        "disabled" if disabled else "enabled",
        user.address,
    )
    return redirect(url_for("admin.index"))


@blueprint.post("/users/<int:user_id>/delete")
async def delete_user(user_id: int) -> Any:
    user = await _user(user_id)
    if user.id == g.visitor.user.id:
        return await _page(user_error="you cannot delete your own account here"), 400
    await asyncio.to_thread(_accounts().delete_user, user.address)
    log.info("web: %s deleted user %s", g.visitor.user.address, user.address)
    return redirect(url_for("admin.index"))
