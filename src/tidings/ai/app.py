"""The assistant's API: turns streamed over WebSocket or SSE, conversations as REST.

Every route takes a bearer token with the ``ai`` scope; the assistant then acts with
that same token on the MCP servers, so it can do exactly what the token's owner can.
The event protocol is described in :mod:`tidings.ai.events` and docs/assistant.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from quart import Quart, Response, current_app, g, websocket
from quart_schema import Info, QuartSchema, validate_request

from tidings import __version__
from tidings.ai.conversations import ConversationNotFound
from tidings.ai.events import Event, event, sse
from tidings.ai.runtime import Assistant, Caller
from tidings.core.accounts import Accounts, Principal
from tidings.core.bearer import authenticate, requires
from tidings.core.http import add_health
from tidings.core.problems import Problem, install_problem_handlers, not_found

SCOPE = "ai"
_MAX_TEXT = 4000


@dataclass
class TurnRequest:
    text: str
    conversation_id: int | None = None


@dataclass
class ConfirmationAnswer:
    approve: bool
    content: dict[str, Any] | None = None


@dataclass
class Rename:
    title: str


def _assistant() -> Assistant:
    assistant: Assistant = current_app.config["ASSISTANT"]
    return assistant


def _caller() -> Caller:
    principal: Principal = g.principal
    assert principal.user.id is not None
    return Caller(principal.user.id, principal.user.address, g.bearer_token)


def _checked_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise Problem(400, "Bad Request", "text: say something")
    if len(text) > _MAX_TEXT:
        raise Problem(400, "Bad Request", f"text: at most {_MAX_TEXT} characters")
    return text


def create_app(assistant: Assistant, accounts: Accounts) -> Quart:
    app = Quart("tidings.ai")
    app.config["ASSISTANT"] = assistant
    app.config["ACCOUNTS"] = accounts
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    QuartSchema(
        app,
        swagger_ui_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        info=Info(title="tidings assistant API", version=__version__),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        security=[{"bearer": []}],
    )
    add_health(app, "ai")
    install_problem_handlers(app)

    @app.post("/v1/turns")
    @validate_request(TurnRequest)
    @requires(SCOPE)
    async def start_turn(data: TurnRequest) -> Response:
        """Run one turn; its events come back as Server-Sent Events. Closing the
        stream cancels the turn (and refuses any confirmation it was waiting for)."""
        text = _checked_text(data.text)
        caller = _caller()
        queue: asyncio.Queue[Event | None] = asyncio.Queue()

        async def emit(item: Event) -> None:
            await queue.put(item)

        async def run() -> None:
            try:
                await _assistant().turn(caller, text, emit, conversation_id=data.conversation_id)
            finally:
                await queue.put(None)

        task = asyncio.create_task(run())

        async def stream() -> AsyncIterator[bytes]:
            try:
                while (item := await queue.get()) is not None:
                    yield sse(item)
            finally:
                if not task.done():
                    task.cancel()

        response = Response(stream(), content_type="text/event-stream")
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"  # nginx: pass events through at once
        response.timeout = None
        return response

    @app.post("/v1/confirmations/<confirmation_id>")
    @validate_request(ConfirmationAnswer)
    @requires(SCOPE)
    async def answer_confirmation(confirmation_id: str, data: ConfirmationAnswer) -> Response:
        if not _assistant().confirm(_caller().user_id, confirmation_id, data.approve, data.content):
            raise not_found("confirmation waiting for an answer")
        return Response(status=204)

    @app.post("/v1/turns/<turn_id>/cancel")
    @requires(SCOPE)
    async def cancel_turn(turn_id: str) -> Response:
        if not _assistant().cancel(_caller().user_id, turn_id):
            raise not_found("turn in progress")
        return Response(status=204)

    @app.get("/v1/conversations")
    @requires(SCOPE)
    async def list_conversations() -> dict[str, Any]:
        found = await asyncio.to_thread(_assistant().conversations.recent, _caller().user_id)
        return {
            "conversations": [
                {
                    "id": c.id,
                    "title": c.title,
                    "created_at": c.created_at.isoformat(),
                    "updated_at": c.updated_at.isoformat(),
                }
                for c in found
            ]
        }

    @app.get("/v1/conversations/<int:conversation_id>")
    @requires(SCOPE)
    async def get_conversation(conversation_id: int) -> dict[str, Any]:
        try:
            history = await asyncio.to_thread(
                _assistant().conversations.history, _caller().user_id, conversation_id
            )
        except ConversationNotFound:
            raise not_found("conversation") from None
        return {
            "id": conversation_id,
            "messages": [
                {
                    "id": m.id,
                    "role": m.role,
                    "content": m.content,
                    "tool": m.tool_name,
                    "arguments": m.arguments,
                    "created_at": m.created_at.isoformat(),
                }
                for m in history
            ],
        }

    @app.patch("/v1/conversations/<int:conversation_id>")
    @validate_request(Rename)
    @requires(SCOPE)
    async def rename_conversation(conversation_id: int, data: Rename) -> Response:
        try:
            await asyncio.to_thread(
                _assistant().conversations.rename,
                _caller().user_id,
                conversation_id,
                data.title,
            )
        except ConversationNotFound:
            raise not_found("conversation") from None
        return Response(status=204)

    @app.delete("/v1/conversations/<int:conversation_id>")
    @requires(SCOPE)
    async def delete_conversation(conversation_id: int) -> Response:
        try:
            await asyncio.to_thread(
                _assistant().conversations.delete, _caller().user_id, conversation_id
            )
        except ConversationNotFound:
            raise not_found("conversation") from None
        return Response(status=204)

    @app.websocket("/v1/ws")
    async def socket() -> Response | None:
        """Turns, confirmations and cancels on one connection (see events.py)."""
        try:
            g.principal = await authenticate(SCOPE, websocket_request=True)
        except Problem as problem:
            return problem.response()  # refused before the upgrade: a plain HTTP 401
        await websocket.accept()
        await _converse(_caller())
        return None

    return app


async def _converse(caller: Caller) -> None:
    assistant = _assistant()
    outbox: asyncio.Queue[Event] = asyncio.Queue()
    turns: set[asyncio.Task[None]] = set()

    async def emit(item: Event) -> None:
        await outbox.put(item)

    async def send_all() -> None:
        while True:
            item = await outbox.get()
            await websocket.send(json.dumps(item, ensure_ascii=False))

    sender = asyncio.create_task(send_all())
    try:
        while True:
            raw = await websocket.receive()
            try:
                request = json.loads(raw)
                kind = request["type"]
            except (ValueError, KeyError, TypeError):
                await emit(event("error", code="bad_request", message="expected a JSON event"))
                continue
            if kind == "message":
                try:
                    text = _checked_text(str(request.get("text") or ""))
                except Problem as problem:
                    await emit(event("error", code="bad_request", message=problem.detail))
                    continue
                conversation = request.get("conversation_id")
                task = asyncio.create_task(
                    assistant.turn(
                        caller,
                        text,
                        emit,
                        conversation_id=int(conversation) if conversation is not None else None,
                    )
                )
                turns.add(task)
                task.add_done_callback(turns.discard)
            elif kind == "confirm":
                found = assistant.confirm(
                    caller.user_id,
                    str(request.get("confirmation_id")),
                    bool(request.get("approve")),
                    request.get("content") if isinstance(request.get("content"), dict) else None,
                )
                if not found:
                    await emit(
                        event("error", code="not_found", message="no such confirmation waiting")
                    )
            elif kind == "cancel":
                if not assistant.cancel(caller.user_id, str(request.get("turn_id"))):
                    await emit(event("error", code="not_found", message="no such turn running"))
            else:
                await emit(event("error", code="bad_request", message=f"unknown type {kind!r}"))
    finally:
        # The client went away: its turns stop and their confirmations count as "no".
        for task in list(turns):
            task.cancel()
        await asyncio.gather(*turns, return_exceptions=True)
        sender.cancel()
