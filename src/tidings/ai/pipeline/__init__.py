"""From a request to one decision, with a model too small to be trusted with it.

Stages, cheapest and surest first (Home Assistant's Assist does the same):

1. :mod:`.intents` — the tools' own sentence templates, matched deterministically;
2. :mod:`.router` — a small classifier trained on those templates picks a tool,
   "no tool" or "clarify" (or, with a capable model, the model's native tool
   calling does, through the same backend interface);
3. :mod:`.arguments` — the model reads the remaining arguments out of the request,
   its decoder held to the tool's input schema;
4. :mod:`.validate` — code checks and normalises every argument (people through the
   address book, days by a date parser) and asks the user when one is missing.

Tools arrive at run time as MCP lists them; nothing here is written for a given tool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import jsonschema

from tidings.ai.backends import Backend, Message, Sampling, ToolSpec
from tidings.ai.pipeline.arguments import fill, preamble
from tidings.ai.pipeline.grounding import AddressBook, Contact
from tidings.ai.pipeline.intents import IntentMatcher
from tidings.ai.pipeline.router import CLARIFY, NO_TOOL, router_for
from tidings.ai.pipeline.tools import IntentRegistry, Tool
from tidings.ai.pipeline.validate import check

__all__ = ["AddressBook", "Contact", "Decision", "IntentRegistry", "Pipeline", "Tool"]

Via = Literal["template", "router", "native"]


@dataclass(frozen=True)
class Decision:
    """``call`` a tool with checked arguments, ``answer`` without a tool, or
    ``clarify``: ask the user ``question`` first."""

    kind: Literal["call", "answer", "clarify"]
    via: Via
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    question: str = ""
    confidence: float = 1.0
    confirm: bool = False
    """Ask the user before running the call: the tool may change or send things."""
    """Ask the user before running the call: the tool may change or send things."""


class Pipeline:
    """Decides what to do with a request, given the tools in play."""

    def __init__(
        self,
        backend: Backend,
        tools: Iterable[Tool | Mapping[str, Any]],
        *,
        registry: IntentRegistry | None = None,
        address_book: AddressBook | None = None,
        min_confidence: float = 0.3,
    ) -> None:
        parsed = [t if isinstance(t, Tool) else Tool.from_mcp(t) for t in tools]
        self.tools = (registry or IntentRegistry()).apply(parsed)
        self.by_name = {t.name: t for t in self.tools}
        self.backend = backend
        self.address_book = address_book or AddressBook()
        self.min_confidence = min_confidence
        self.matcher = IntentMatcher(self.tools)
        self.router = None if backend.native_tools else router_for(self.tools)
        self.preamble = preamble(self.tools)

    @classmethod
    async def create(
        cls,
        backend: Backend,
        tools: Iterable[Tool | Mapping[str, Any]],
        **options: Any,
    ) -> Pipeline:
        """Build the pipeline off the event loop: training the router takes a second
        or so, and a service must keep answering meanwhile."""
        tools = list(tools)
        return await asyncio.to_thread(lambda: cls(backend, tools, **options))

    async def decide(self, text: str, *, now: datetime | None = None) -> Decision:
        now = now or datetime.now()
        match = self.matcher.match(text)
        if match is not None:
            tool = self.by_name[match.tool]
            return await self._complete(tool, text, now, match.arguments, "template", 1.0)
        if self.backend.native_tools:
            return await self._native(text, now)
        assert self.router is not None
        route = self.router.route(text)
        # An unsure router answers without a tool: a wrong call costs more than a
        # reply that does nothing (0.3 is about three times chance among ~9 labels).
        if route.label == NO_TOOL or route.confidence < self.min_confidence:
            return Decision("answer", "router", confidence=route.confidence)
        if route.label == CLARIFY:
            return Decision(
                "clarify",
                "router",
                question="What should I do, and with which message or person?",
                confidence=route.confidence,
            )
        tool = self.by_name[route.label]
        return await self._complete(tool, text, now, {}, "router", route.confidence)

    async def _complete(
        self,
        tool: Tool,
        text: str,
        now: datetime,
        captured: dict[str, Any],
        via: Via,
        confidence: float,
    ) -> Decision:
        # A capture the schema refuses ("41 s'il te plaît" for an id of digits) was
        # a template too loose for this request: the model reads that one instead.
        captured = {k: v for k, v in captured.items() if _fits(tool, k, v)}
        proposed = dict(captured)
        # After a template match, the model is asked only for required arguments the
        # template did not capture; after the router, for everything.
        wanted = tool.required if via == "template" else list(tool.properties)
        missing = [name for name in wanted if name not in captured]
        if missing:
            filled = await fill(
                self.backend, self.tools, tool, text, missing, preamble_text=self.preamble
            )
            proposed.update({k: v for k, v in filled.items() if k in missing})
        return self._checked(tool, text, now, proposed, frozenset(captured), via, confidence)

    def _checked(
        self,
        tool: Tool,
        text: str,
        now: datetime,
        proposed: dict[str, Any],
        trusted: frozenset[str],
        via: Via,
        confidence: float,
    ) -> Decision:
        result = check(
            tool, proposed, text=text, now=now, address_book=self.address_book, trusted=trusted
        )
        if result.problems:
            return Decision(
                "clarify",
                via,
                tool=tool.name,
                arguments=result.arguments,
                question="; ".join(result.problems.values()),
                confidence=confidence,
            )
        return Decision(
            "call",
            via,
            tool=tool.name,
            arguments=result.arguments,
            confidence=confidence,
            confirm=tool.needs_confirmation,
        )

    async def _native(self, text: str, now: datetime) -> Decision:
        specs = [ToolSpec(t.name, t.description, t.input_schema) for t in self.tools]
        call = await self.backend.call_tools(
            [Message("user", text)], specs, Sampling(max_tokens=256)
        )
        if call.name is None or call.name not in self.by_name:
            return Decision("answer", "native")
        tool = self.by_name[call.name]
        return self._checked(tool, text, now, call.arguments, frozenset(), "native", 1.0)


def _fits(tool: Tool, name: str, value: Any) -> bool:
    schema = tool.properties.get(name)
    if schema is None or not isinstance(value, str) or schema.get("type") != "string":
        return True  # numbers and people are normalised later, not refused here
    if schema.get("format") in ("email", "date", "date-time"):
        return True
    return bool(jsonschema.Draft202012Validator(schema).is_valid(value))


def tools_from(items: Sequence[Mapping[str, Any]]) -> list[Tool]:
    """Tools from the JSON of an MCP ``tools/list`` result."""
    return [Tool.from_mcp(item) for item in items]
