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
from tidings.ai.language import LANGUAGES, Language, detect
from tidings.ai.phrases import say
from tidings.ai.pipeline.arguments import fill, preamble
from tidings.ai.pipeline.grounding import AddressBook, Contact, appears_in, is_address
from tidings.ai.pipeline.intents import IntentMatcher
from tidings.ai.pipeline.router import CLARIFY, NO_TOOL, router_for
from tidings.ai.pipeline.tools import IntentRegistry, Tool
from tidings.ai.pipeline.validate import Problem, check

__all__ = ["AddressBook", "Contact", "Decision", "IntentRegistry", "Pipeline", "Tool"]

Via = Literal["template", "router", "native", "follow-up", "context"]


@dataclass(frozen=True)
class Decision:
    """``call`` a tool with checked arguments, ``answer`` without a tool, or
    ``clarify``: ask the user ``question`` first."""

    kind: Literal["call", "answer", "clarify"]
    via: Via
    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    question: str = ""
    """The question for the user, in ``language``."""
    confidence: float = 1.0
    confirm: bool = False
    """Ask the user before running the call: the tool may change or send things."""
    language: Language = "en"
    """The request's language: what to answer in."""
    problems: dict[str, Problem] = field(default_factory=dict)


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
        default_language: Language = "en",
    ) -> None:
        parsed = [t if isinstance(t, Tool) else Tool.from_mcp(t) for t in tools]
        self.tools = (registry or IntentRegistry()).apply(parsed)
        self.by_name = {t.name: t for t in self.tools}
        self.backend = backend
        self.address_book = address_book or AddressBook()
        self.min_confidence = min_confidence
        self.default_language: Language = default_language
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

    async def decide(
        self,
        text: str,
        *,
        now: datetime | None = None,
        address_book: AddressBook | None = None,
        language: Language | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """The decision for ``text``. ``address_book`` is the requesting user's (the
        pipeline is shared by users with the same tools); ``language`` forces the
        language of questions, else the request's own is used; ``context`` is the
        structured result the user last saw, what "it" refers to ("move it to the
        archive"), for tools that say which of its keys fills which argument."""
        now = now or datetime.now()
        book = address_book if address_book is not None else self.address_book
        decision = await self._decide(text, now, book, language, context)
        if decision.kind == "clarify" and context:
            decision = await self._with_context(decision, text, context, now, book)
        return decision

    async def _decide(
        self,
        text: str,
        now: datetime,
        book: AddressBook,
        language: Language | None,
        context: Mapping[str, Any] | None,
    ) -> Decision:
        match = self.matcher.match(text)
        if match is not None:
            if language is None and match.language in LANGUAGES:
                language = match.language
            lang = language or detect(text, self.default_language)
            tool = self.by_name[match.tool]
            return await self._complete(
                tool, text, now, match.arguments, "template", 1.0, book, lang, context
            )
        lang = language or detect(text, self.default_language)
        if self.backend.native_tools:
            return await self._native(text, now, book, lang)
        assert self.router is not None
        route = self.router.route(text)
        # An unsure router answers without a tool: a wrong call costs more than a
        # reply that does nothing (0.3 is about three times chance among ~9 labels).
        if route.label == NO_TOOL or route.confidence < self.min_confidence:
            return Decision("answer", "router", confidence=route.confidence, language=lang)
        if route.label == CLARIFY:
            return Decision(
                "clarify",
                "router",
                question=say("vague", lang),
                confidence=route.confidence,
                language=lang,
            )
        tool = self.by_name[route.label]
        return await self._complete(tool, text, now, {}, "router", route.confidence, book, lang)

    async def resume(
        self,
        tool_name: str,
        arguments: dict[str, Any],
        argument: str,
        request: str,
        reply: str,
        *,
        now: datetime | None = None,
        address_book: AddressBook | None = None,
        language: Language | None = None,
    ) -> Decision | None:
        """The user's ``reply`` to the question about ``argument``, asked after
        ``request``: the same call, with that argument now given. None if the tool is
        no longer in play. The reply is checked like the request was (a person must
        be an address or a known name, and so on)."""
        value = reply.strip().rstrip(".!?").strip()
        return await self.supply(
            tool_name,
            arguments,
            {argument: value},
            request,
            reply,
            via="follow-up",
            now=now,
            address_book=address_book,
            language=language,
        )

    async def supply(
        self,
        tool_name: str,
        arguments: dict[str, Any],
        values: dict[str, Any],
        request: str,
        source: str,
        *,
        via: Via,
        now: datetime | None = None,
        address_book: AddressBook | None = None,
        language: Language | None = None,
    ) -> Decision | None:
        """The call decided for ``request``, completed with ``values`` that came from
        ``source`` (the user's reply to a question, or the message they last looked
        at), then checked as a whole again."""
        tool = self.by_name.get(tool_name)
        if tool is None or any(name not in tool.properties for name in values):
            return None
        proposed = {**arguments, **values}
        lang = language or detect(request, self.default_language)
        book = address_book if address_book is not None else self.address_book
        return await self._checked(
            tool,
            f"{request}\n{source}",
            now or datetime.now(),
            proposed,
            frozenset(proposed),
            via,
            1.0,
            book,
            lang,
        )

    async def _complete(
        self,
        tool: Tool,
        text: str,
        now: datetime,
        captured: dict[str, Any],
        via: Via,
        confidence: float,
        book: AddressBook,
        language: Language,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        # A capture the schema refuses ("41 s'il te plaît" for an id of digits) was
        # a template too loose for this request: the model reads that one instead.
        captured = {k: v for k, v in captured.items() if _fits(tool, k, v)}
        grounds = text
        if via == "template" and context:
            # A template that matched with no slot for an argument ("reply that
            # {body}") says the request left it out: "it" is the message last seen.
            taken = _from_context(tool, context, captured)
            if taken:
                captured = {**captured, **taken}
                grounds = f"{text}\n{' '.join(taken.values())}"
                via = "context"
        proposed = dict(captured)
        # After a template match, the model is asked only for required arguments the
        # template did not capture; after the router, for everything.
        wanted = tool.required if via in ("template", "context") else list(tool.properties)
        missing = [name for name in wanted if name not in captured]
        if missing:
            filled = await fill(
                self.backend, self.tools, tool, text, missing, preamble_text=self.preamble
            )
            spoken_for = [v for v in captured.values() if isinstance(v, str)]
            proposed.update(
                {
                    k: v
                    for k, v in filled.items()
                    # Words a template already gave to another argument ("réponds-lui
                    # que {merci}") are not also the person: that one is missing.
                    if k in missing
                    and not (isinstance(v, str) and any(appears_in(v, t) for t in spoken_for))
                }
            )
        return await self._checked(
            tool, grounds, now, proposed, frozenset(captured), via, confidence, book, language
        )

    async def _with_context(
        self,
        decision: Decision,
        text: str,
        context: Mapping[str, Any],
        now: datetime,
        book: AddressBook,
    ) -> Decision:
        """A question about a value the request left out (never one it named) is
        answered from the result last seen, when the tool maps it."""
        tool = self.by_name.get(decision.tool or "")
        if tool is None:
            return decision
        missing = {n for n, p in decision.problems.items() if p.code.startswith("missing")}
        named = set(decision.problems) - missing
        values = {
            k: v
            for k, v in _from_context(tool, context, decision.arguments, force=True).items()
            if k not in named
        }
        if not missing & set(values):
            return decision
        supplied = await self.supply(
            tool.name,
            decision.arguments,
            values,
            text,
            " ".join(values.values()),
            via="context",
            now=now,
            address_book=book,
            language=decision.language,
        )
        return supplied or decision

    async def _checked(
        self,
        tool: Tool,
        text: str,
        now: datetime,
        proposed: dict[str, Any],
        trusted: frozenset[str],
        via: Via,
        confidence: float,
        book: AddressBook,
        language: Language,
    ) -> Decision:
        if any(
            tool.properties.get(name, {}).get("format") == "email" and not is_address(str(value))
            for name, value in proposed.items()
        ):
            await book.load()  # a person named by name: now the address book is needed
        result = check(tool, proposed, text=text, now=now, address_book=book, trusted=trusted)
        if result.problems:
            return Decision(
                "clarify",
                via,
                tool=tool.name,
                arguments=result.arguments,
                question=" ".join(
                    dict.fromkeys(
                        say(p.code, language, **p.values) for p in result.problems.values()
                    )
                ),
                confidence=confidence,
                language=language,
                problems=result.problems,
            )
        return Decision(
            "call",
            via,
            tool=tool.name,
            arguments=result.arguments,
            confidence=confidence,
            confirm=tool.needs_confirmation,
            language=language,
        )

    async def _native(
        self, text: str, now: datetime, book: AddressBook, language: Language
    ) -> Decision:
        specs = [ToolSpec(t.name, t.description, t.input_schema) for t in self.tools]
        call = await self.backend.call_tools(
            [Message("user", text)], specs, Sampling(max_tokens=256)
        )
        if call.name is None or call.name not in self.by_name:
            return Decision("answer", "native", language=language)
        tool = self.by_name[call.name]
        return await self._checked(
            tool, text, now, call.arguments, frozenset(), "native", 1.0, book, language
        )


def _from_context(
    tool: Tool, context: Mapping[str, Any], given: Mapping[str, Any], *, force: bool = False
) -> dict[str, str]:
    """The tool's context arguments not ``given``, from ``context`` — only when a
    required one is missing (unless ``force``): "reply to Bob that ok" names its
    person, and must not be sent to the message last seen instead."""
    if not force and all(name in given for name in tool.required if name in tool.context):
        return {}
    return {
        argument: str(context[key])
        for argument, key in tool.context.items()
        if argument not in given and context.get(key) not in (None, "")
    }


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
