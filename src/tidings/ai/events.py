"""The assistant's event protocol: what a client sees of a turn, in order.

Every event is a JSON object with a ``type``; the same objects travel over the
WebSocket (one text frame each) and over SSE (``event: TYPE``, ``data: JSON``), and
``tidings ask --json`` prints them one per line. Documented in docs/assistant.md.

=========================  ==========================================================
``turn.started``           ``turn_id``, ``conversation_id``
``decision``               ``kind`` (call/answer/clarify/plan), ``via``, ``tool``,
                           ``arguments``, ``language``, ``confidence``
``plan``                   ``steps``: what a request of several steps will do, in
                           order (``find`` with its tool and arguments, then ``act``
                           — ``which``: the one found, ``pick`` or ``each`` — or
                           ``count``/``summarize``/``ask``); each step's calls follow
                           as ``tool_call.*`` events
``tool_call.started``      ``call_id``, ``tool``, ``server``, ``arguments``
``confirmation.requested`` ``confirmation_id``, ``call_id``, ``tool``, ``arguments``,
                           ``message``, ``schema`` (what an answer may carry)
``confirmation.resolved``  ``confirmation_id``, ``approved``
``tool_call.finished``     ``call_id``, ``tool``, ``ok``, ``result`` (structured),
                           ``text``
``token``                  ``text``: the next piece of the answer
``error``                  ``code``, ``message``
``done``                   ``turn_id``, ``conversation_id``, ``message_id``,
                           ``cancelled``, ``text`` (the whole answer)
=========================  ==========================================================

From the client: ``{"type": "message", "text", "conversation_id"?}``,
``{"type": "confirm", "confirmation_id", "approve": bool, "content"?}`` and
``{"type": "cancel", "turn_id"}`` (over HTTP: ``POST /v1/turns``,
``POST /v1/confirmations/ID``, ``POST /v1/turns/ID/cancel``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

Event = dict[str, Any]
Emit = Callable[[Event], Awaitable[None]]

TYPES = (
    "turn.started",
    "decision",
    "plan",
    "tool_call.started",
    "confirmation.requested",
    "confirmation.resolved",
    "tool_call.finished",
    "token",
    "error",
    "done",
)


def event(name: str, /, **data: Any) -> Event:
    assert name in TYPES, name
    return {"type": name, **data}


def sse(item: Event) -> bytes:
    """One Server-Sent Event (WHATWG HTML, "server-sent events")."""
    payload = json.dumps(item, ensure_ascii=False)
    return f"event: {item['type']}\ndata: {payload}\n\n".encode()
