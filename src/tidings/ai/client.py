"""``tidings ask`` and ``tidings chat``: terminal clients of the assistant.

They are clients like any other: a WebSocket to ``tidings serve ai`` with the user's
token, the events of :mod:`tidings.ai.events` shown as they come — the answer's
tokens on standard output, tool calls and confirmations on standard error (or every
event as a JSON line with ``--json``, for scripts that must see exactly what the
assistant did).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tidings.core.config import Settings, split_endpoint

Answer = Literal["yes", "no", "ask"]


class ClientError(Exception):
    """The assistant could not be reached or refused the token."""


def _read_line(prompt: str) -> str:
    """A line from standard input; the prompt goes to standard error and only to a
    terminal, so standard output carries nothing but the answers (or JSON)."""
    if sys.stdin.isatty():
        print(prompt, end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")


def default_url(settings: Settings) -> str:
    host, port = split_endpoint(settings.listen.ai)
    host = f"[{host}]" if ":" in host else host
    return f"ws://{host}:{port}/v1/ws"


@dataclass
class Terminal:
    """Where a client writes, and how it answers confirmations."""

    answer: Answer
    as_json: bool
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr
    prompt: Callable[[str], str] = field(default_factory=lambda: _read_line)
    refused: bool = False

    def show(self, item: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(item, ensure_ascii=False), file=self.out, flush=True)
            return
        kind = item["type"]
        if kind == "token":
            print(item["text"], end="", file=self.out, flush=True)
        elif kind == "tool_call.started":
            arguments = json.dumps(item["arguments"], ensure_ascii=False)
            print(f"[{item['server']}] {item['tool']} {arguments}", file=self.err, flush=True)
        elif kind == "turn.started":
            self.refused = False
        elif kind == "confirmation.resolved":
            self.refused = not item["approved"]
        elif kind == "tool_call.finished" and not item["ok"] and not self.refused:
            # (a refused confirmation already says why the call did nothing)
            print(f"[{item['tool']} failed] {item['text']}", file=self.err, flush=True)
        elif kind == "confirmation.requested":
            print(f"\n{item['message']}", file=self.err, flush=True)
        elif kind == "error":
            print(f"error: {item['message']}", file=self.err, flush=True)
        elif kind == "done":
            print(file=self.out, flush=True)

    def decide(self, item: dict[str, Any]) -> bool:
        """Approve a confirmation? ``--yes``/``--no`` answer for the user; otherwise
        the user is asked, and anything but yes (or no terminal to ask on) is a no."""
        if self.answer != "ask":
            approved = self.answer == "yes"
            if not self.as_json:
                print("→ yes" if approved else "→ no", file=self.err, flush=True)
            return approved
        if not sys.stdin.isatty():
            print("no terminal to confirm on: refused (use --yes)", file=self.err, flush=True)
            return False
        reply = self.prompt("Confirm? / Confirmer ? [y/N] ").strip().lower()
        return reply in ("y", "yes", "o", "oui")


async def _open(url: str, token: str) -> ClientConnection:
    try:
        return await connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=2**22
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        detail = exc.response.body.decode(errors="replace") if exc.response.body else ""
        with contextlib.suppress(ValueError):
            detail = json.loads(detail).get("detail", detail)
        raise ClientError(f"the assistant refused the connection ({status}): {detail}") from exc
    except OSError as exc:
        raise ClientError(f"cannot reach the assistant at {url}: {exc}") from exc


async def _run_turn(
    ws: ClientConnection, terminal: Terminal, text: str, conversation_id: int | None
) -> tuple[int | None, bool]:
    """Send one request and show its events up to ``done``: (conversation, failed)."""
    message: dict[str, Any] = {"type": "message", "text": text}
    if conversation_id is not None:
        message["conversation_id"] = conversation_id
    await ws.send(json.dumps(message))
    failed = False
    async for raw in ws:
        item = json.loads(raw)
        terminal.show(item)
        kind = item["type"]
        if kind == "turn.started":
            conversation_id = item["conversation_id"]
        elif kind == "confirmation.requested":
            approved = await asyncio.to_thread(terminal.decide, item)
            await ws.send(
                json.dumps(
                    {
                        "type": "confirm",
                        "confirmation_id": item["confirmation_id"],
                        "approve": approved,
                    }
                )
            )
        elif kind == "error":
            failed = True
        elif kind == "done":
            return conversation_id, failed
    raise ClientError("the assistant closed the connection mid-turn")


async def ask(url: str, token: str, text: str, terminal: Terminal) -> int:
    """One request; exit status 0 when it went through, 1 on an error event."""
    ws = await _open(url, token)
    async with ws:
        _, failed = await _run_turn(ws, terminal, text, None)
    return 1 if failed else 0


async def chat(url: str, token: str, terminal: Terminal) -> int:
    """Requests read line by line, in one conversation, until end of input."""
    ws = await _open(url, token)
    conversation: int | None = None
    async with ws:
        while True:
            try:
                line = await asyncio.to_thread(terminal.prompt, "> ")
            except EOFError:
                print(file=terminal.out)
                return 0
            if not line.strip():
                continue
            conversation, _ = await _run_turn(ws, terminal, line, conversation)
