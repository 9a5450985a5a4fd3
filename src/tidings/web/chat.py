"""The conversation pages: the sidebar, a thread, and the WebSocket a tab listens on.

Conversations live in the assistant (``/v1/conversations``); this module reads and
changes them through its API with the session's token, so the assistant's ownership
checks are the ones that apply: another person's conversation is a 404 here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from quart import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
    websocket,
)

from tidings.web.i18n import pick_language, translator
from tidings.web.relay import Relay
from tidings.web.render import parse_stored
from tidings.web.session import Sessions, Visitor, check_websocket_origin, is_secure

log = logging.getLogger("tidings.web")
blueprint = Blueprint("chat", __name__)

MAX_TEXT = 4000


def ai_client(visitor: Visitor) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=current_app.config["AI_HTTP"],
        headers={"Authorization": f"Bearer {visitor.token}"},
        timeout=10,
    )


def relay_for(visitor: Visitor, language: str) -> Relay:
    relays: dict[int, Relay] = current_app.config["RELAYS"]
    relay = relays.get(visitor.token_id)
    if relay is None:
        # Fragments are rendered outside any request (as the assistant's events come),
        # so with the app's Jinja environment directly, in the session's language.
        environment = current_app.jinja_env
        t = translator(language)

        async def render(name: str, context: dict[str, Any]) -> str:
            template = environment.get_template(name)
            return str(await template.render_async(t=t, **context))

        relay = Relay(current_app.config["AI_WS"], visitor.token, render, language)
        relays[visitor.token_id] = relay
    return relay


def _group(conversations: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Sidebar groups: today, yesterday, the week before, older."""
    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    groups: dict[str, list[dict[str, Any]]] = {
        "today": [],
        "yesterday": [],
        "week": [],
        "older": [],
    }
    for item in conversations:
        try:
            when = datetime.fromisoformat(item["updated_at"])
        except (KeyError, ValueError):
            when = now
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if when >= today:
            groups["today"].append(item)
        elif when >= today - timedelta(days=1):
            groups["yesterday"].append(item)
        elif when >= today - timedelta(days=7):
            groups["week"].append(item)
        else:
            groups["older"].append(item)
    return [(name, items) for name, items in groups.items() if items]


async def _conversations(visitor: Visitor, query: str = "") -> list[dict[str, Any]]:
    async with ai_client(visitor) as client:
        try:
            response = await client.get("/v1/conversations")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("web: cannot list conversations: %s", exc)
            return []
    found: list[dict[str, Any]] = response.json().get("conversations", [])
    if query:
        needle = query.casefold()
        found = [c for c in found if needle in (c.get("title") or "").casefold()]
    return found


def _exchanges(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stored conversation as the thread shows it."""
    shown = []
    for message in messages:
        role = message.get("role")
        if role == "user":
            shown.append({"kind": "user", "text": message.get("content", "")})
        elif role == "tool":
            shown.append(
                {
                    "kind": "tool",
                    "id": f"m{message.get('id')}",
                    "tool": message.get("tool") or "",
                    "arguments": message.get("arguments") or {},
                    "result": parse_stored(message.get("content", "")),
                }
            )
        elif role == "assistant":
            shown.append({"kind": "assistant", "text": message.get("content", "")})
    return shown


async def _page(conversation_id: int | None) -> Any:
    visitor: Visitor = g.visitor
    messages: list[dict[str, Any]] = []
    title = ""
    if conversation_id is not None:
        async with ai_client(visitor) as client:
            try:
                response = await client.get(f"/v1/conversations/{conversation_id}")
            except httpx.HTTPError:
                response = None
        if response is not None and response.status_code == 404:
            abort(404)
        if response is not None and response.status_code == 200:
            messages = response.json().get("messages", [])
    conversations = await _conversations(visitor)
    for item in conversations:
        if item.get("id") == conversation_id:
            title = item.get("title") or ""
    relay = relay_for(visitor, g.language)
    return await render_template(
        "chat/page.html",
        conversation_id=conversation_id,
        title=title,
        exchanges=_exchanges(messages),
        live=relay.live(conversation_id),
        groups=_group(conversations),
    )


@blueprint.get("/")
async def new_conversation() -> Any:
    return await _page(None)


@blueprint.get("/c/<int:conversation_id>")
async def conversation(conversation_id: int) -> Any:
    return await _page(conversation_id)


@blueprint.get("/conversations")
async def sidebar() -> Any:
    query = request.args.get("q", "")[:200]
    current = request.args.get("current", type=int)
    return await render_template(
        "chat/sidebar_list.html",
        groups=_group(await _conversations(g.visitor, query)),
        conversation_id=current,
        query=query,
    )


@blueprint.post("/c/<int:conversation_id>/rename")
async def rename(conversation_id: int) -> Any:
    form = await request.form
    title = form.get("title", "").strip()[:200]
    async with ai_client(g.visitor) as client:
        response = await client.patch(f"/v1/conversations/{conversation_id}", json={"title": title})
    if response.status_code == 404:
        abort(404)
    if request.headers.get("HX-Request"):
        return Response(status=204, headers={"HX-Trigger": "conversations-changed"})
    return redirect(url_for("chat.conversation", conversation_id=conversation_id))


@blueprint.post("/c/<int:conversation_id>/delete")
async def delete(conversation_id: int) -> Any:
    async with ai_client(g.visitor) as client:
        response = await client.delete(f"/v1/conversations/{conversation_id}")
    if response.status_code == 404:
        abort(404)
    if request.headers.get("HX-Request"):
        return Response(status=204, headers={"HX-Redirect": url_for("chat.new_conversation")})
    return redirect(url_for("chat.new_conversation"))


_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


@blueprint.websocket("/ws")
async def socket() -> Any:
    """A tab's live channel: its messages in, the session's events out (HTML)."""
    reason = check_websocket_origin(websocket.headers, is_secure())
    if reason is not None:
        log.warning("web: refused a WebSocket: %s", reason)
        return Response(reason, status=403)
    sessions: Sessions = current_app.config["SESSIONS"]
    visitor = await sessions.visitor(session)
    if visitor is None:
        return Response("sign in first", status=401)
    language = pick_language(websocket.headers.get("Accept-Language"), session.get("lang"))
    raw_conversation = websocket.args.get("c", "")
    conversation_id = int(raw_conversation) if raw_conversation.isdigit() else None
    relay = relay_for(visitor, language)
    tab = relay.join(conversation_id)
    await websocket.accept()

    async def forward() -> None:
        while True:
            html = await tab.outbox.get()
            await websocket.send(html)

    sender = asyncio.create_task(forward())
    try:
        while True:
            raw = await websocket.receive()
            try:
                data = json.loads(raw)
                action = str(data.get("action", ""))
                token = str((data.get("HEADERS") or {}).get("X-CSRF-Token", ""))
            except (ValueError, AttributeError):
                continue
            # The handshake's Origin was checked; every message carries the page's
            # CSRF token as well (htmx sends hx-headers along).
            if not hmac.compare_digest(token.encode(), visitor.csrf.encode()):
                log.warning("web: dropped a WebSocket message without the CSRF token")
                continue
            if action == "message":
                text = str(data.get("text", "")).strip()[:MAX_TEXT]
                if not text:
                    continue
                given = str(data.get("conversation_id") or "")
                target = int(given) if given.isdigit() else tab.conversation_id
                if tab.conversation_id is None and target is not None:
                    tab.conversation_id = target
                await relay.ask(tab, text, target)
            elif action == "confirm":
                await relay.confirm(
                    str(data.get("confirmation_id", "")), str(data.get("approve")) == "true"
                )
            elif action == "cancel":
                key = _SAFE_ID.sub("", str(data.get("turn", "")))
                await relay.cancel(tab.conversation_id, key or None)
    finally:
        relay.leave(tab)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    return None
