"""The web service's side of a conversation: it talks to the assistant for the person,
and shows every open tab of their session what happens.

The assistant ends a turn — and refuses its confirmation — when the connection that
started it closes. A browser tab is no such connection: it reloads, it has siblings.
So each turn gets its own WebSocket to the assistant (``/v1/ws``, with the session's
short-lived token), held here in the web service, independent of any tab. Its events
are rendered once into HTML fragments (htmx out-of-band swaps) and sent to every tab of
the session that shows the turn's conversation; a tab that opens later, or reloads,
is drawn from the turn's events so far, confirmation card included. A confirmation
answered in one tab is answered for all of them: the assistant's
``confirmation.resolved`` replaces the card everywhere.

Tokens are sent as they come for the first one (what the person waits for), then in
batches every ~50 ms; at ``done`` the bubble is replaced by the server-rendered,
sanitised Markdown of the whole answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from markupsafe import escape
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

log = logging.getLogger("tidings.web.relay")

BATCH_SECONDS = 0.05
Event = dict[str, Any]
Render = Callable[[str, dict[str, Any]], Awaitable[str]]
"""Renders a template (name, context) into an HTML fragment."""


@dataclass(eq=False)
class Tab:
    """One browser tab's WebSocket to the web service."""

    conversation_id: int | None
    outbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


@dataclass(eq=False)
class LiveTurn:
    key: str  # ours: known before the assistant names the turn
    text: str
    conversation_id: int | None
    origin: Tab | None
    events: list[Event] = field(default_factory=list)
    waiting: dict[str, Event] = field(default_factory=dict)  # confirmations without answer
    turn_id: str | None = None
    answer: str = ""
    failed: bool = False
    finished: bool = False
    connection: ClientConnection | None = None
    task: asyncio.Task[None] | None = None
    buffer: str = ""
    flush: asyncio.TimerHandle | None = None
    spoke: bool = False


class Relay:
    """One signed-in session's conversations in progress, and its open tabs."""

    def __init__(self, ai_url: str, token: str, render: Render, language: str) -> None:
        self.ai_url = ai_url
        self.token = token
        self.render = render
        self.language = language
        self.tabs: set[Tab] = set()
        self.turns: dict[str, LiveTurn] = {}

    # -- tabs ---------------------------------------------------------------------
    def join(self, conversation_id: int | None) -> Tab:
        tab = Tab(conversation_id)
        self.tabs.add(tab)
        return tab

    def leave(self, tab: Tab) -> None:
        self.tabs.discard(tab)
        for turn in self.turns.values():
            if turn.origin is tab:
                turn.origin = None

    def live(self, conversation_id: int | None) -> list[LiveTurn]:
        """Turns still running in this conversation, to draw on a page (re)load."""
        if conversation_id is None:
            return []
        return [
            t
            for t in self.turns.values()
            if t.conversation_id == conversation_id and not t.finished
        ]

    def _audience(self, turn: LiveTurn) -> list[Tab]:
        return [
            tab
            for tab in self.tabs
            if tab is turn.origin
            or (turn.conversation_id is not None and tab.conversation_id == turn.conversation_id)
        ]

    def _send(self, turn: LiveTurn, html: str) -> None:
        if not html.strip():
            return
        for tab in self._audience(turn):
            tab.outbox.put_nowait(html)

    def _send_all(self, html: str) -> None:
        for tab in self.tabs:
            tab.outbox.put_nowait(html)

    async def _fragment(self, name: str, turn: LiveTurn, **extra: Any) -> str:
        return await self.render(name, {"turn": turn, **extra})

    # -- from the browser -----------------------------------------------------------
    async def ask(self, tab: Tab, text: str, conversation_id: int | None) -> LiveTurn:
        turn = LiveTurn("t" + secrets.token_hex(8), text, conversation_id, tab)
        self.turns[turn.key] = turn
        # The person's bubble and the assistant's (busy) one, before anything comes back.
        self._send(turn, await self._fragment("chat/turn_open.html", turn))
        turn.task = asyncio.create_task(self._run(turn))
        return turn

    async def confirm(self, confirmation_id: str, approve: bool) -> bool:
        for turn in self.turns.values():
            if confirmation_id in turn.waiting and turn.connection is not None:
                answer = {"type": "confirm", "confirmation_id": confirmation_id, "approve": approve}
                try:
                    await turn.connection.send(json.dumps(answer))
                except WebSocketException:
                    return False
                return True
        return False

    async def cancel(self, conversation_id: int | None, key: str | None = None) -> None:
        for turn in list(self.turns.values()):
            if turn.finished or (key and turn.key != key):
                continue
            if not key and turn.conversation_id != conversation_id:
                continue
            if turn.connection is not None and turn.turn_id is not None:
                with contextlib.suppress(WebSocketException):
                    await turn.connection.send(
                        json.dumps({"type": "cancel", "turn_id": turn.turn_id})
                    )
            elif turn.task is not None:
                turn.task.cancel()

    async def close(self) -> None:
        """The session ended: its turns stop (their confirmations count as no)."""
        tasks = [t.task for t in self.turns.values() if t.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.turns.clear()

    # -- from the assistant -------------------------------------------------------------
    async def _run(self, turn: LiveTurn) -> None:
        request: Event = {"type": "message", "text": turn.text}
        if turn.conversation_id is not None:
            request["conversation_id"] = turn.conversation_id
        try:
            async with connect(
                self.ai_url,
                additional_headers={"Authorization": f"Bearer {self.token}"},
                open_timeout=10,
                max_size=8 * 1024 * 1024,
            ) as connection:
                turn.connection = connection
                await connection.send(json.dumps(request))
                async for raw in connection:
                    item = json.loads(raw)
                    if not isinstance(item, dict):
                        continue
                    await self._on_event(turn, item)
                    if item.get("type") == "done":
                        break
                else:
                    if not turn.finished:
                        await self._fail(turn, "unreachable", "")
        except asyncio.CancelledError:
            if not turn.finished:
                await self._finish(turn, cancelled=True)
            raise
        except (OSError, WebSocketException, TimeoutError, ValueError) as exc:
            log.warning("assistant unreachable for a web turn: %s", exc)
            await self._fail(turn, "unreachable", "")
        finally:
            turn.connection = None
            turn.waiting.clear()
            self._forget_later(turn)

    def _forget_later(self, turn: LiveTurn) -> None:
        # Keep a finished turn a little, so a tab reloading right now still draws it
        # from the conversation (which the assistant has stored by then).
        asyncio.get_running_loop().call_later(5, self.turns.pop, turn.key, None)

    async def _on_event(self, turn: LiveTurn, item: Event) -> None:
        kind = item.get("type")
        turn.events.append(item)
        if kind == "turn.started":
            turn.turn_id = str(item.get("turn_id"))
            new = turn.conversation_id is None
            turn.conversation_id = int(item["conversation_id"])
            if turn.origin is not None and turn.origin.conversation_id is None:
                turn.origin.conversation_id = turn.conversation_id
            if new:
                self._send(turn, await self._fragment("chat/conversation_started.html", turn))
                self._send_all(await self.render("chat/sidebar_refresh.html", {}))
        elif kind == "token":
            self._token(turn, str(item.get("text", "")))
        elif kind == "confirmation.requested":
            turn.waiting[str(item.get("confirmation_id"))] = item
            self._send(turn, await self._fragment("chat/event.html", turn, event=item))
        elif kind == "confirmation.resolved":
            turn.waiting.pop(str(item.get("confirmation_id")), None)
            self._send(turn, await self._fragment("chat/event.html", turn, event=item))
        elif kind == "error":
            self._flush(turn)
            turn.failed = True
            self._send(turn, await self._fragment("chat/event.html", turn, event=item))
        elif kind == "done":
            await self._finish(turn, cancelled=bool(item.get("cancelled")), text=item.get("text"))
        else:
            # decision, tool calls, and anything newer (a plan, a step): shown generically.
            self._send(turn, await self._fragment("chat/event.html", turn, event=item))

    def _token(self, turn: LiveTurn, text: str) -> None:
        turn.answer += text
        turn.buffer += text
        if not turn.spoke:
            turn.spoke = True
            self._flush(turn)
        elif turn.flush is None:
            turn.flush = asyncio.get_running_loop().call_later(BATCH_SECONDS, self._flush, turn)

    def _flush(self, turn: LiveTurn) -> None:
        if turn.flush is not None:
            turn.flush.cancel()
            turn.flush = None
        if not turn.buffer:
            return
        piece, turn.buffer = turn.buffer, ""
        # Escaped here: a token is text, whatever it looks like.
        self._send(
            turn,
            f'<div hx-swap-oob="beforeend:#{turn.key}-text">{escape(piece)}</div>',
        )

    async def _finish(self, turn: LiveTurn, *, cancelled: bool, text: Any = None) -> None:
        self._flush(turn)
        if isinstance(text, str) and text:
            turn.answer = text
        turn.finished = True
        self._send(turn, await self._fragment("chat/turn_done.html", turn, cancelled=cancelled))

    async def _fail(self, turn: LiveTurn, code: str, message: str) -> None:
        self._flush(turn)
        turn.failed = True
        item: Event = {"type": "error", "code": code, "message": message}
        turn.events.append(item)
        self._send(turn, await self._fragment("chat/event.html", turn, event=item))
        turn.finished = True
        self._send(turn, await self._fragment("chat/turn_done.html", turn, cancelled=False))
