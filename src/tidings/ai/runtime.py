"""One turn of a conversation: from the user's words to a streamed answer.

For each request the runtime opens the configured MCP servers *as the user* (their
own token), lets the pipeline decide with the tools they offer, puts any
confirmation in front of the user, makes the call, and tells the result by the
tool's own templates — emitting the events of :mod:`tidings.ai.events` all along.

Safety rules kept here, whatever the model or the tools say:

- Nothing is sent, moved or changed without the user's explicit yes: a tool that is
  not read-only is confirmed, by the server itself (MCP elicitation) when it says it
  asks, else by the runtime before the call. No answer, a "no", a disconnect or a
  cancelled turn all mean no.
- Tool results (mail subjects, bodies: other people's words) are never put in front
  of the model; the model only ever reads the user's own request. Once a
  conversation holds such results, every call that is not read-only is confirmed,
  even one that would not be otherwise (marking a message read).
- Every argument comes from the user's request or their address book (see
  :mod:`tidings.ai.pipeline.validate`) and is shown in the confirmation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tidings.ai import digest
from tidings.ai.answers import render
from tidings.ai.backends import Backend, BackendError, Message, Sampling
from tidings.ai.conversations import ConversationNotFound, Conversations
from tidings.ai.events import Emit, event
from tidings.ai.language import Language, detect
from tidings.ai.phrases import say
from tidings.ai.pipeline import AddressBook, Decision, Pipeline, plans
from tidings.ai.pipeline.grounding import fold
from tidings.ai.pipeline.plans import Plan
from tidings.ai.pipeline.router import ASK, COUNT, SUMMARIZE
from tidings.ai.pipeline.tools import Tool
from tidings.ai.toolbox import ServerConfig, Toolbox, ToolResult
from tidings.core.config import Settings

log = logging.getLogger(__name__)

CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "title": "Confirm"}},
    "required": ["confirm"],
}
_TITLE_LENGTH = 80
_THANKS = {"merci", "thanks", "thank", "thx", "cheers"}
_GREETINGS = {"hello", "hi", "hey", "bonjour", "salut", "coucou", "bonsoir", "yo"}
_HELP = {"help", "aide", "faire", "do", "who", "qui", "peux", "can", "capable"}
_PIPELINES_KEPT = 8
_PIECE = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class Caller:
    """Who the turn is for: the user and the token they came with."""

    user_id: int
    address: str
    token: str


@dataclass
class _Pending:
    user_id: int
    turn_id: str
    schema: dict[str, Any]
    answer: asyncio.Future[dict[str, Any] | None]


@dataclass
class _Turn:
    id: str
    caller: Caller
    emit: Emit
    language: Language
    call: dict[str, Any] = field(default_factory=dict)
    """The call in progress (``call_id``, ``tool``, ``arguments``), for confirmations."""
    refused: bool = False
    pending: dict[str, Any] | None = None
    """A call waiting for one more value: what the last question asked about."""
    spoken: bool = False
    """The answer already went out as tokens (streamed from the model)."""


class Assistant:
    """The runtime shared by every connection of one ``tidings serve ai`` process."""

    def __init__(
        self,
        settings: Settings,
        backend: Backend,
        conversations: Conversations,
        servers: list[ServerConfig],
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.conversations = conversations
        self.servers = servers
        self._pipelines: OrderedDict[str, Pipeline] = OrderedDict()
        self._pipeline_lock = asyncio.Lock()
        self._pending: dict[str, _Pending] = {}
        self._turns: dict[str, tuple[int, asyncio.Task[Any]]] = {}

    # -- what clients call ---------------------------------------------------------

    async def turn(
        self,
        caller: Caller,
        text: str,
        emit: Emit,
        *,
        conversation_id: int | None = None,
        turn_id: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Run one turn to its ``done`` event (or ``error`` then ``done``)."""
        turn_id = turn_id or uuid.uuid4().hex
        task = asyncio.current_task()
        assert task is not None
        self._turns[turn_id] = (caller.user_id, task)
        conversation: int | None = None
        answer = ""
        try:
            conversation = await self._conversation(caller, text, conversation_id)
            # Also the ownership check: someone else's conversation raises here.
            history = await asyncio.to_thread(
                self.conversations.history, caller.user_id, conversation
            )
            await emit(event("turn.started", turn_id=turn_id, conversation_id=conversation))
            # Every tool result is someone else's words (see the module docstring).
            tainted = any(m.role == "tool" for m in history)
            waiting = history[-1].arguments if history and history[-1].role == "assistant" else None
            last = _last_result(history)
            await self._record(caller, conversation, Message("user", text))
            # The request's language until the pipeline knows better (template match).
            state = _Turn(turn_id, caller, emit, detect(text, self.settings.ai.default_language))
            answer = await self._answer(state, text, conversation, tainted, now, waiting, last)
            if not state.spoken:
                await self._speak(emit, answer)
            stored = await self._record(
                caller,
                conversation,
                Message("assistant", answer, state.pending["tool"] if state.pending else None),
                tool_arguments=state.pending,
            )
            await emit(
                event(
                    "done",
                    turn_id=turn_id,
                    conversation_id=conversation,
                    message_id=stored,
                    cancelled=False,
                    text=answer,
                )
            )
        except asyncio.CancelledError:
            await self._finish_cancelled(
                caller, emit, turn_id, conversation, detect(text, self.settings.ai.default_language)
            )
        except ConversationNotFound:
            await emit(event("error", code="not_found", message="no such conversation"))
            await emit(event("done", turn_id=turn_id, conversation_id=None, cancelled=False))
        except Exception as exc:
            log.exception("turn %s failed", turn_id)
            await emit(event("error", code="internal", message=str(exc) or type(exc).__name__))
            await emit(
                event("done", turn_id=turn_id, conversation_id=conversation, cancelled=False)
            )
        finally:
            self._turns.pop(turn_id, None)
            for key in [k for k, p in self._pending.items() if p.turn_id == turn_id]:
                pending = self._pending.pop(key)
                if not pending.answer.done():
                    pending.answer.set_result(None)

    def confirm(
        self,
        user_id: int,
        confirmation_id: str,
        approve: bool,
        content: Mapping[str, Any] | None = None,
    ) -> bool:
        """The user's answer to a confirmation; False if there is no such question
        waiting for this user (answered already, timed out, or someone else's)."""
        pending = self._pending.get(confirmation_id)
        if pending is None or pending.user_id != user_id or pending.answer.done():
            return False
        pending.answer.set_result(_content(pending.schema, content) if approve else None)
        return True

    def cancel(self, user_id: int, turn_id: str) -> bool:
        found = self._turns.get(turn_id)
        if found is None or found[0] != user_id:
            return False
        found[1].cancel()
        return True

    # -- the turn ------------------------------------------------------------------

    async def _answer(
        self,
        state: _Turn,
        text: str,
        conversation: int,
        tainted: bool,
        now: datetime | None,
        waiting: dict[str, Any] | None = None,
        last: tuple[str, dict[str, Any]] | None = None,
    ) -> str:
        async def elicit(
            server: str, message: str, schema: dict[str, Any]
        ) -> dict[str, Any] | None:
            return await self._ask(state, message, schema, server)

        async with Toolbox.open(
            self.servers,
            state.caller.token,
            elicit,
            wait_seconds=self.settings.ai.confirmation_timeout + 60,
        ) as box:
            if not box.tools:
                return say("no_tools", state.language)
            pipeline = await self._pipeline(box.tools)
            book = AddressBook(loader=box.contacts)
            producer, shown = last if last is not None else ("", None)
            decision = await pipeline.decide(text, now=now, address_book=book, context=shown)
            if (
                decision.via == "context"
                and decision.tool
                and producer in {t.name for t in box.tools}
                and box.server_of(decision.tool) != box.server_of(producer)
            ):
                # "Delete the first one" after a list of mail is about that mail: what
                # was last shown is acted on only by its own server's tools.
                own = [t for t in box.tools if box.server_of(t.name) == box.server_of(producer)]
                decision = await (await self._pipeline(own)).decide(
                    text, now=now, address_book=book, context=shown
                )
            if (
                waiting
                and "ask" in waiting
                and not (decision.kind == "call" and decision.via == "template")
            ):
                # The answer to the last question, unless it is plainly a new request.
                resumed = await pipeline.resume(
                    str(waiting["tool"]),
                    dict(waiting.get("arguments") or {}),
                    str(waiting["ask"]),
                    str(waiting.get("request") or ""),
                    text,
                    now=now,
                    address_book=book,
                    context=shown,
                )
                decision = resumed or decision
            probed: list[ToolResult] = []
            if decision.plan is not None and decision.plan.probe is not None:
                probed = await _probe(box, pipeline, decision.plan)
                if not probed:
                    decision = Decision("answer", decision.via, language=decision.language)
            state.language = decision.language
            await state.emit(
                event(
                    "decision",
                    kind=decision.kind,
                    via=decision.via,
                    tool=decision.tool,
                    arguments=decision.arguments,
                    language=decision.language,
                    confidence=round(decision.confidence, 3),
                )
            )
            if decision.kind == "clarify":
                asked = [name for name in decision.problems if name != "*"]
                if decision.tool is not None and len(asked) == 1:
                    state.pending = {
                        "tool": decision.tool,
                        "arguments": decision.arguments,
                        "ask": asked[0],
                        "request": str((waiting or {}).get("request") or text)
                        if decision.via == "follow-up"
                        else text,
                    }
                return decision.question
            if decision.kind == "answer":
                return decision.text or await self._reply(state, text, box.tools)
            if decision.kind == "plan":
                assert decision.plan is not None
                return await self._plan(state, box, pipeline, decision, text, conversation, probed)
            assert decision.tool is not None
            tool = pipeline.by_name[decision.tool]
            return await self._call(state, box, tool, decision, conversation, tainted)

    async def _plan(
        self,
        state: _Turn,
        box: Toolbox,
        pipeline: Pipeline,
        decision: Decision,
        text: str,
        conversation: int,
        probed: list[ToolResult],
    ) -> str:
        """Find, pick, then act — each call shown as it runs, each side effect
        confirmed with its real arguments (the conversation now holds what was
        found, so every call that is not read-only is confirmed). The finds a
        probe made unseen are shown now, not made again."""
        plan = decision.plan
        assert plan is not None
        lang = state.language
        await state.emit(event("plan", steps=_steps(plan)))
        finder = pipeline.by_name[plan.find.tool]
        made = iter(probed)
        result = None
        for name, arguments in plan.find.every_try():
            finder = pipeline.by_name[name]
            result = await self._run(
                state, box, finder, arguments, conversation, made=next(made, None)
            )
            if result.is_error or plans.listed(result.structured, pipeline.tools):
                break
        assert result is not None
        items = plans.listed(result.structured, pipeline.tools) or []
        if result.is_error:
            return render(finder, result, lang)
        if plan.ability == COUNT:
            if len(items) == 1:
                return say("count_one", lang)
            key = "count_at_least" if len(items) >= plans.COUNT_LIMIT else "count"
            return say(key, lang, count=len(items))
        if plan.ability == SUMMARIZE:
            return await self._summarize(state, box, pipeline, plan, items, conversation)
        if plan.ability == ASK and not items:
            # A question nothing in the mailbox answers ("what's the weather?").
            return await self._reply(state, text, pipeline.tools)
        if plan.then is None or not items:
            return render(finder, result, lang)
        tool = pipeline.by_name[plan.then]
        if plan.ability == ASK:
            return await self._ask_about(state, box, tool, plan, items, text, conversation)
        if plan.each:
            targets = items[: plans.EACH_LIMIT]
        else:
            item = plans.pick(items, plan.pick)
            if item is None:
                # Several match: show them; the answer ("the second one") comes next.
                targets_left = plans.target_arguments(tool)
                state.pending = {
                    "tool": tool.name,
                    "arguments": plan.arguments,
                    "ask": targets_left[0] if targets_left else "",
                    "request": text,
                }
                return "\n".join([render(finder, result, lang), say("which_one", lang)])
            targets = [item]
        answers = []
        for item in targets:
            arguments = {**plan.arguments, **plans.from_item(tool, item, plan.arguments)}
            step = replace(decision, kind="call", tool=tool.name, arguments=arguments, plan=None)
            # Each is its own question: a "no" to one newsletter is not a "no" to all
            # (the user stops the rest by cancelling the turn).
            answers.append(await self._call(state, box, tool, step, conversation, True))
            state.refused = False
        return "\n".join(dict.fromkeys(answers))

    async def _summarize(
        self,
        state: _Turn,
        box: Toolbox,
        pipeline: Pipeline,
        plan: Plan,
        items: list[Mapping[str, Any]],
        conversation: int,
    ) -> str:
        lang = state.language
        opener = pipeline.by_name.get(plan.reader or "")
        if opener is None:
            return say("digest_empty", lang)
        mails = []
        for item in items[: plans.SUMMARY_SIZE]:
            read = await self._run(
                state, box, opener, plans.from_item(opener, item, {}), conversation
            )
            if not read.is_error and isinstance(read.structured, Mapping):
                mails.append(_mail(opener, read.structured))
        if not mails:
            return say("digest_empty", lang)
        if self.backend.native_tools and not plan.needs_answer:
            # A capable model writes it, quarantined: no tools, the mails as data, and
            # its words go to the user only, links and addresses it made up struck out.
            written = await _written(digest.written(self.backend, mails, lang))
            text = digest.strike_foreign(written, mails)
            if text:
                return text
        return digest.extract(mails, lang, needs_answer=plan.needs_answer)

    async def _ask_about(
        self,
        state: _Turn,
        box: Toolbox,
        opener: Tool,
        plan: Plan,
        items: list[Mapping[str, Any]],
        question: str,
        conversation: int,
    ) -> str:
        """A question about a message: the best match read, and answered from its
        own sentences — by a capable model in a quarantined call, else by code."""
        item = plans.pick(items, plan.pick) or items[0]
        read = await self._run(state, box, opener, plans.from_item(opener, item, {}), conversation)
        if read.is_error or not isinstance(read.structured, Mapping):
            return render(opener, read, state.language)
        mail = _mail(opener, read.structured)
        if self.backend.native_tools:
            written = await _written(
                digest.written_answer(self.backend, mail, question, state.language)
            )
            text = digest.strike_foreign(written, [mail])
            if text:
                return text
        return digest.answer(mail, question, state.language)

    async def _run(
        self,
        state: _Turn,
        box: Toolbox,
        tool: Tool,
        arguments: dict[str, Any],
        conversation: int,
        call_id: str | None = None,
        made: ToolResult | None = None,
    ) -> ToolResult:
        """One call, shown as it starts and ends, its result recorded in the
        conversation (a plan's read-only steps, and every confirmed call); ``made``:
        a read-only call already made unseen in this turn, shown with its result."""
        call_id = call_id or uuid.uuid4().hex[:12]
        await state.emit(
            event(
                "tool_call.started",
                call_id=call_id,
                tool=tool.name,
                server=box.server_of(tool.name),
                arguments=arguments,
            )
        )
        result = made if made is not None else await box.call(tool.name, arguments)
        await state.emit(
            event(
                "tool_call.finished",
                call_id=call_id,
                tool=tool.name,
                ok=not result.is_error,
                result=result.structured,
                text=result.text,
            )
        )
        await self._record(
            state.caller,
            conversation,
            Message("tool", _stored(result), tool.name),
            tool_arguments=arguments,
        )
        return result

    async def _call(
        self,
        state: _Turn,
        box: Toolbox,
        tool: Tool,
        decision: Decision,
        conversation: int,
        tainted: bool,
    ) -> str:
        call_id = uuid.uuid4().hex[:12]
        state.call = {"call_id": call_id, "tool": tool.name, "arguments": decision.arguments}
        confirm = decision.confirm or (tainted and not tool.read_only)
        if confirm and not tool.elicits:
            # The server will not ask by itself: the runtime asks before calling.
            message = say(
                "confirm_call",
                state.language,
                action=tool.localized(state.language, "title").lower(),
                arguments=_describe(decision.arguments),
            )
            if await self._ask(state, message, CONFIRM_SCHEMA, box.server_of(tool.name)) is None:
                return say("declined", state.language)
        result = await self._run(state, box, tool, decision.arguments, conversation, call_id)
        if state.refused:
            return say("declined", state.language)
        return render(tool, _said(tool, result), state.language)

    async def _reply(self, state: _Turn, text: str, tools: list[Tool]) -> str:
        """No tool for this request. A capable model answers in its own words (it
        reads only the user's request); the small base model is no conversationalist,
        so it says what it can do instead."""
        if self.backend.native_tools:
            system = (
                "You are the assistant of a private mail and calendar server. Answer in "
                f"{'French' if state.language == 'fr' else 'English'}, in at most three "
                "sentences. You cannot act outside the tools you were given."
            )
            pieces = []
            async for piece in self.backend.stream(
                [Message("system", system), Message("user", text)], Sampling(max_tokens=160)
            ):
                pieces.append(piece)
                await state.emit(event("token", text=piece))
            state.spoken = True
            return "".join(pieces).strip()
        abilities = ", ".join(
            dict.fromkeys(t.localized(state.language, "title").lower() for t in tools)
        )
        words = set(fold(text).split())
        if words & _THANKS:
            return say("welcome", state.language)
        if words & _GREETINGS:
            return say("hello", state.language, abilities=abilities)
        if words & _HELP:
            return say("help", state.language, abilities=abilities)
        return say("out_of_scope", state.language, abilities=abilities)

    async def _ask(
        self, state: _Turn, message: str, schema: dict[str, Any], server: str
    ) -> dict[str, Any] | None:
        """A question to the user, as a ``confirmation.requested`` event; their
        answer (or None: refused, unanswered, cancelled)."""
        confirmation_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._pending[confirmation_id] = _Pending(state.caller.user_id, state.id, schema, future)
        await state.emit(
            event(
                "confirmation.requested",
                confirmation_id=confirmation_id,
                call_id=state.call.get("call_id"),
                tool=state.call.get("tool"),
                server=server,
                arguments=state.call.get("arguments", {}),
                message=message,
                schema=schema,
            )
        )
        try:
            answer = await asyncio.wait_for(future, self.settings.ai.confirmation_timeout)
        except TimeoutError:
            answer = None
        finally:
            self._pending.pop(confirmation_id, None)
        if answer is not None and answer.get("confirm") is False:
            answer = None
        if answer is None:
            state.refused = True
        await state.emit(
            event(
                "confirmation.resolved",
                confirmation_id=confirmation_id,
                approved=answer is not None,
            )
        )
        return answer

    # -- helpers -------------------------------------------------------------------

    async def _pipeline(self, tools: list[Tool]) -> Pipeline:
        """One pipeline per set of tools: the router is trained once per set."""
        key = hashlib.sha256(
            json.dumps(
                [
                    [t.name, t.description, t.input_schema, t.annotations, t.intents, t.meta]
                    for t in tools
                ],
                sort_keys=True,
            ).encode()
        ).hexdigest()
        async with self._pipeline_lock:
            if key in self._pipelines:
                self._pipelines.move_to_end(key)
            else:
                # Tool sets differ by user only when their servers differ; keep a few.
                while len(self._pipelines) >= _PIPELINES_KEPT:
                    self._pipelines.popitem(last=False)
                self._pipelines[key] = await Pipeline.create(
                    self.backend, tools, default_language=self.settings.ai.default_language
                )
            return self._pipelines[key]

    async def _conversation(self, caller: Caller, text: str, conversation_id: int | None) -> int:
        """The conversation to continue, or a new one titled after its first request."""
        if conversation_id is not None:
            return conversation_id
        title = " ".join(text.split())[:_TITLE_LENGTH]
        started = await asyncio.to_thread(self.conversations.start, caller.user_id, title)
        assert started.id is not None
        return started.id

    async def _record(
        self,
        caller: Caller,
        conversation: int,
        message: Message,
        *,
        tool_arguments: dict[str, Any] | None = None,
    ) -> int | None:
        stored = await asyncio.to_thread(
            self.conversations.add,
            caller.user_id,
            conversation,
            message,
            tool_arguments=tool_arguments,
        )
        return stored.id

    async def _speak(self, emit: Emit, text: str) -> None:
        """The answer, a word at a time, as tokens stream from a model."""
        for piece in _PIECE.findall(text):
            await emit(event("token", text=piece))

    async def _finish_cancelled(
        self,
        caller: Caller,
        emit: Emit,
        turn_id: str,
        conversation: int | None,
        language: Language,
    ) -> None:
        text = say("cancelled", language)
        if conversation is not None:
            await asyncio.shield(self._record(caller, conversation, Message("assistant", text)))
        await emit(
            event("done", turn_id=turn_id, conversation_id=conversation, cancelled=True, text=text)
        )


def _last_result(history: list[Any]) -> tuple[str, dict[str, Any]] | None:
    """The tool and structured result of the conversation's last successful tool
    call (what the user last saw), if it is an object; failed calls showed nothing."""
    for message in reversed(history):
        if message.role != "tool":
            continue
        try:
            found = json.loads(message.content)
        except ValueError:
            continue  # an error text, not a result
        if isinstance(found, dict):
            return str(message.tool_name or ""), found
    return None


def _content(schema: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What an approving answer carries: the client's values, booleans set to yes and
    defaults for the rest; None if a required value is still missing."""
    content: dict[str, Any] = dict(given or {})
    for name, spec in (schema.get("properties") or {}).items():
        if name in content:
            continue
        if spec.get("type") == "boolean":
            content[name] = True
        elif "default" in spec:
            content[name] = spec["default"]
    if any(name not in content for name in schema.get("required") or []):
        return None
    return content


async def _probe(box: Toolbox, pipeline: Pipeline, plan: Plan) -> list[ToolResult]:
    """A probing plan's find, unseen and unrecorded, try after try as the plan would
    run it: the results, if the request was about the mailbox — a failure (the
    plan shows it), or found mail that shows the request's words — else none.
    What the list shows counts, and what the search matched in the mails only when
    it matched two of the request's words at once: one word deep in a body ("temps"
    for "quel temps fait-il ?") is too little to answer a question from mail, two
    ("chalet" and "nuit" for "combien coûte le chalet par nuit ?") are not chance."""
    tried: list[ToolResult] = []
    for name, arguments in plan.find.every_try():
        finder = pipeline.by_name[name]
        topic_argument = plans.filters_of(finder).get("topic")
        result = await box.call(finder.name, arguments)
        tried.append(result)
        if result.is_error:
            return tried
        items = plans.listed(result.structured, pipeline.tools)
        if items:
            searched = str(arguments.get(topic_argument, "")) if topic_argument else ""
            if plans.grounded(items, plan.probe or ()) or plans.matched_together(
                searched, plan.probe or ()
            ):
                return tried
            return []
    return []


async def _written(pieces: AsyncIterator[str]) -> str:
    """A capable model's quarantined text, whole; empty if its endpoint failed, so
    that the extract the code makes is shown instead of an error."""
    try:
        return "".join([piece async for piece in pieces]).strip()
    except BackendError as exc:
        log.warning("the model could not write it (%s): the extract is shown", exc)
        return ""


def _mail(reader: Tool, result: Mapping[str, Any]) -> digest.Mail:
    """A reader's result as a mail, through the keys its ``tidings/reads`` names."""
    keys = {str(k): str(v) for k, v in (reader.meta.get(plans.READS_KEY) or {}).items()}
    return digest.Mail.from_result(result, keys)


def _said(tool: Tool, result: ToolResult) -> ToolResult:
    """What the assistant says of a message it opened: its text without links or
    addresses (a phishing link is not repeated in the assistant's own words); the
    whole message is in the call's result, for the client to show as a message."""
    keys = tool.meta.get(plans.READS_KEY) or {}
    field = str(keys.get("text") or "")
    if not field or not isinstance(result.structured, Mapping):
        return result
    text = result.structured.get(field)
    if not isinstance(text, str):
        return result
    return replace(result, structured={**result.structured, field: digest.scrub(text)})


def _steps(plan: Plan) -> list[dict[str, Any]]:
    """A plan as the client shows it while it runs."""
    steps: list[dict[str, Any]] = [
        {"step": "find", "tool": plan.find.tool, "arguments": plan.find.arguments}
    ]
    if plan.ability is not None:
        steps.append({"step": plan.ability.strip("<>"), "tool": plan.reader})
    elif plan.then is not None:
        which = "each" if plan.each else ("pick" if plan.pick is not None else "the one found")
        steps.append(
            {"step": "act", "tool": plan.then, "arguments": plan.arguments, "which": which}
        )
    return steps


def _describe(arguments: Mapping[str, Any]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in arguments.items()) or "—"


def _stored(result: ToolResult) -> str:
    if result.structured is not None:
        return json.dumps(result.structured, ensure_ascii=False)
    return result.text
