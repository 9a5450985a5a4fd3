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
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import jsonschema

from tidings.ai.backends import Backend, Message, Sampling, ToolSpec
from tidings.ai.language import LANGUAGES, Language, detect
from tidings.ai.phrases import say
from tidings.ai.pipeline import plans
from tidings.ai.pipeline.arguments import fill, preamble
from tidings.ai.pipeline.dates import parse_day
from tidings.ai.pipeline.grounding import AddressBook, Contact, appears_in, fold, is_address
from tidings.ai.pipeline.intents import IntentMatcher, leading_words
from tidings.ai.pipeline.plans import Plan
from tidings.ai.pipeline.reading import (
    Reading,
    Vocabulary,
    candidate_names,
    read,
    translations,
)
from tidings.ai.pipeline.router import (
    ABILITIES,
    ABILITY_FUNCTIONS,
    ADDRESS,
    ASK,
    CLARIFY,
    COUNT,
    NO_TOOL,
    SUMMARIZE,
    abilities_of,
    router_for,
    signalled,
)
from tidings.ai.pipeline.tools import IntentRegistry, Tool
from tidings.ai.pipeline.validate import Problem, check

__all__ = ["AddressBook", "Contact", "Decision", "IntentRegistry", "Pipeline", "Plan", "Tool"]

Via = Literal["template", "router", "native", "follow-up", "context", "plan"]
_PLURAL = {"all", "every", "them", "these", "those", "tous", "toutes", "ces"}
_PLURAL_NOUNS = {"mails", "emails", "messages", "courriels", "mels", "e-mails"}
_MAIL_WORDS = {
    "mail", "mails", "email", "emails", "e-mail", "e-mails", "message", "messages", "courriel",
    "courriels", "inbox", "came", "received", "recu", "recus", "got", "arrive", "arrived",
    "anything", "new", "nouveau", "nouveaux", "quelque",
}  # fmt: skip
_DEFINITION = re.compile(
    r"\b(?:what is an?|what's an?|what are|qu'est-ce qu'une?|qu'est-ce que|c'est quoi|"
    r"how (?:do|does|can|should)|comment (?:faire|on)|write|draft|compose|écri\w*|redige\w*|"
    r"rédige\w*)\b",
    re.IGNORECASE,
)
_SEARCH_WORDS = {"search", "cherche", "recherche", "chercher", "rechercher", "look", "retrouve"}
_SHOW_WORDS = {
    "find", "trouve", "trouver", "show", "montre", "affiche", "list", "liste", "pull",
    "open", "ouvre", "display", "see", "voir",
}  # fmt: skip
_ANSWER_WORDS = {"answer", "reply", "respond", "repondre", "reponse", "reponses", "reponds"}


@dataclass(frozen=True)
class Decision:
    """``call`` a tool with checked arguments, ``answer`` without a tool (with
    ``text`` when the pipeline knows the answer), ``clarify``: ask the user
    ``question`` first, or ``plan``: find something, then act on it."""

    kind: Literal["call", "answer", "clarify", "plan"]
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
    plan: Plan | None = None
    text: str = ""


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
        self._verbs: dict[str, set[str]] = {}
        self.router = None if backend.native_tools else router_for(self.tools)
        self.preamble = preamble(self.tools)
        self.vocabulary = Vocabulary(self.tools)
        self.abilities = abilities_of(self.tools)
        # A tool of the same name wins: the model must never confuse the two.
        self.ability_functions = {
            ABILITY_FUNCTIONS[label][0]: label
            for label in self.abilities
            if ABILITY_FUNCTIONS[label][0] not in self.by_name
        }

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
        if match is not None and not _days_fit(self.by_name[match.tool], match.arguments, now):
            # "qu'est-ce que j'ai {date}" took "dans les archives" for a day: a template
            # too loose for this request, which the router reads instead.
            match = None
        if match is not None:
            if language is None and match.language in LANGUAGES:
                language = match.language
            lang = language or detect(text, self.default_language)
            return await self._for(
                match.tool, text, now, match.arguments, "template", 1.0, book, lang, context
            )
        lang = language or detect(text, self.default_language)
        if self.backend.native_tools:
            return await self._native(text, now, book, lang, context)
        assert self.router is not None
        route = self.router.route(text)
        # An unsure router answers without a tool: a wrong call costs more than a
        # reply that does nothing (0.3 is about three times chance among ~9 labels)
        # — unless the request speaks of mail and its likeliest tool acts on one
        # ("please delete that email"): that tool asks for what is missing, and
        # confirms anything it would do, rather than the request going unheard.
        sure = route.confidence >= self.min_confidence or (
            route.label in self.by_name
            and plans.FINDS_KEY not in self.by_name[route.label].meta
            and bool(set(fold(text).split()) & _MAIL_WORDS)
        )
        if sure and route.label in self.by_name and not self._asks_action(text, route.label):
            # A tool that acts, but none of its verbs: "flagged emails", "mails I sent
            # to Bob" describe mail to see, not a mark or a move. If the request says
            # what to look for, the list is the reading — it changes nothing, and
            # acting on it is one request away.
            found = await self._described(text, now, book, lang)
            if found is not None:
                return found
        if route.label == NO_TOOL or not sure:
            found = await self._described(text, now, book, lang)
            if found is None:
                found = await self._grounded(text, now, book, lang)
            if found is not None:
                return found
            return Decision("answer", "router", confidence=route.confidence, language=lang)
        if route.label == CLARIFY:
            # "that one", "the second one": a choice among what the user last saw.
            chosen = await self._choice(text, now, book, lang, context)
            if chosen is not None:
                return chosen
            return Decision(
                "clarify",
                "router",
                question=say("vague", lang),
                confidence=route.confidence,
                language=lang,
            )
        return await self._for(
            route.label, text, now, {}, "router", route.confidence, book, lang, context
        )

    def _asks_action(self, text: str, label: str) -> bool:
        """Whether ``text`` has a verb of the tool ``label`` (always, for a finder:
        looking is what a request without a verb does)."""
        tool = self.by_name[label]
        if plans.FINDS_KEY in tool.meta:
            return True
        verbs = self._verbs.get(label)
        if verbs is None:
            verbs = set()
            for verb in (fold(v) for v in leading_words(tool)):
                # "supprime" is also asked as "supprimer", "supprimez", "archiver"...
                base = verb[:-1] if verb.endswith("e") else verb
                verbs.update({verb, base + "er", base + "ez", verb + "r", verb + "z"})
            self._verbs[label] = verbs
        return bool(verbs & set(re.findall(r"[\w']+", fold(text))))

    async def _for(
        self,
        label: str,
        text: str,
        now: datetime,
        captured: dict[str, Any],
        via: Via,
        confidence: float,
        book: AddressBook,
        lang: Language,
        context: Mapping[str, Any] | None,
    ) -> Decision:
        """The decision once the request's kind is known: a tool, or one of the
        assistant's own abilities."""
        if label in ABILITIES:
            return await self._ability(label, text, now, book, lang, via, confidence)
        tool = self.by_name[label]
        reading = await self.read(text, now, lang, book, tool, captured)
        if plans.FINDS_KEY in tool.meta:
            if via == "router" and not _about_mail(text, reading):
                # "list the newsletters", "find the invoice" — or "list the planets": a
                # finder's verb and no word of mail. What is found decides, unseen.
                if not reading.topic:
                    return Decision("answer", via, confidence=confidence, language=lang)
                return _probing(self._find(tool, reading, captured, via, confidence, lang), reading)
            return self._find(tool, reading, captured, via, confidence, lang)
        return await self._act(
            tool, text, now, captured, via, confidence, book, lang, context, reading
        )

    async def read(
        self,
        text: str,
        now: datetime,
        language: Language,
        book: AddressBook,
        tool: Tool | None = None,
        captured: Mapping[str, Any] | None = None,
    ) -> Reading:
        """What ``text`` says about people, times, flags, which one and its topic,
        for ``tool`` (whose own listed values, like a move's destination folder,
        are not filters: the one a template ``captured``, else any it names)."""
        if candidate_names(text, self.vocabulary):
            await book.load()  # someone may be named: now the address book is needed
        reserved: list[str] = []
        takes_message = False
        if tool is not None and plans.FINDS_KEY not in tool.meta:
            for name, schema in tool.properties.items():
                if "enum" not in schema:
                    continue
                for value, words in tool.synonyms(name).items():
                    if captured and name in captured and captured[name] != value:
                        continue  # "mark my unread mails as read": "unread" is a filter
                    reserved += [w for w in words if appears_in(w, text)]
            takes_message = _text_argument(tool) is not None
        return read(
            text,
            now=now,
            language=language,
            vocabulary=self.vocabulary,
            contacts=book.contacts,
            takes_message=takes_message,
            reserved=reserved,
        )

    def _find(
        self,
        tool: Tool,
        reading: Reading,
        captured: dict[str, Any],
        via: Via,
        confidence: float,
        lang: Language,
    ) -> Decision:
        """A request to see things: the finder that applies every filter asked for.
        One thing named by an ordinal ("show me the latest mail") is opened."""
        ambiguous = _ambiguous(reading, lang)
        if ambiguous is not None:
            return ambiguous
        finder = plans.choose_finder(self.tools, reading, tool.name) or tool
        # What a template captured that the reading does not know (a listed value).
        extra = {
            k: v
            for k, v in captured.items()
            if k in finder.properties
            and k not in plans.filters_of(finder).values()
            and _fits(finder, k, v)
        }
        single = reading.ordinal is not None and reading.count is None
        opener = plans.reader(self.tools)
        # A list narrowed by filters shows all it finds (up to a month of mail).
        limit = plans.LIST_LIMIT if reading.until and not single else None
        find = plans.find_arguments(finder, reading, limit=limit)
        find = replace(find, arguments={**extra, **find.arguments})
        if single and opener is not None:
            return Decision(
                "plan",
                "plan",
                tool=opener.name,
                confidence=confidence,
                language=lang,
                plan=Plan(find, then=opener.name, pick=reading.ordinal),
            )
        if find.fallbacks or find.first:
            return Decision(
                "plan", "plan", tool=finder.name, confidence=confidence, language=lang,
                plan=Plan(find),
            )  # fmt: skip
        return Decision(
            "call",
            via if finder is tool else "plan",
            tool=finder.name,
            arguments=find.arguments,
            confidence=confidence,
            language=lang,
        )

    async def _act(
        self,
        tool: Tool,
        text: str,
        now: datetime,
        captured: dict[str, Any],
        via: Via,
        confidence: float,
        book: AddressBook,
        lang: Language,
        context: Mapping[str, Any] | None,
        reading: Reading,
    ) -> Decision:
        """A request to act on something (read, reply, move, mark) or to write."""
        captured = dict(captured)
        body = _text_argument(tool)
        if body is not None and body not in captured and reading.message:
            captured[body] = reading.message
        people = [n for n, s in tool.properties.items() if s.get("format") == "email"]
        mention = reading.person()
        for name in people:
            if mention is None:
                break
            if name not in captured and via in ("router", "native"):
                captured[name] = mention.words  # code found them: the model need not
            elif (
                isinstance(captured.get(name), str)
                and not is_address(captured[name])
                and not book.lookup(captured[name])
                and appears_in(mention.words, captured[name])
            ):
                # A template took more than the name ("the one from Priya"): the name.
                captured[name] = mention.words
        targets = plans.target_arguments(tool)
        # Which message, when the request describes it, is found by code, not read
        # out of the request by the model ("the latest" holds no identifier).
        described = reading.describes or reading.pronoun
        if described:
            # A template's capture that describes the target instead of naming it
            # ("read the email {message_id}" ← "about the invoice") is not asked of
            # the model either: the plan finds it.
            for name in targets:
                if name in captured and not _fits(tool, name, captured[name]):
                    del captured[name]
        unasked = frozenset(t for t in targets if t not in captured) if described else frozenset()
        decision = await self._complete(
            tool, text, now, captured, via, confidence, book, lang, context, unasked
        )
        if decision.kind != "clarify":
            return decision
        open_targets = [
            n
            for n in targets
            if (
                n in decision.problems
                and decision.problems[n].code in ("missing_id", "missing_person", "missing_value")
            )
            or (
                # A name the model proposed that is nobody ("the invoice") is not a
                # person; one the user wrote where a person goes ("à Zoé") is asked.
                n in decision.problems
                and decision.problems[n].code == "unknown_person"
                and not reading.people
                and not (via == "template" and n in captured)
            )
        ]
        if not open_targets or any(
            p.code == "ambiguous_person" for p in decision.problems.values()
        ):
            return decision
        other_problems = set(decision.problems) - set(open_targets) - {"*"}
        # "the second one", "it", "the one from Alice": the list the user last saw.
        items = plans.listed(context, self.tools) if context else None
        if items and (reading.ordinal is not None or reading.pronoun or reading.describes):
            fitting = plans.matching(items, reading) if reading.people or reading.topic else items
            item = plans.pick(fitting, reading.ordinal) if fitting else None
            if item is not None:
                supplied = await self.supply(
                    tool.name,
                    {k: v for k, v in decision.arguments.items() if k not in targets},
                    plans.from_item(tool, item, {}),
                    text,
                    " ".join(str(v) for v in plans.from_item(tool, item, {}).values()),
                    via="context",
                    now=now,
                    address_book=book,
                    language=lang,
                )
                if supplied is not None:
                    return supplied
        if not reading.describes or other_problems:
            return decision
        finder = plans.choose_finder(self.tools, reading, None, feeds=tool)
        if finder is None:
            return decision
        ambiguous = _ambiguous(reading, lang)
        if ambiguous is not None:
            return ambiguous
        find = plans.find_arguments(finder, reading)
        each = (
            not tool.read_only
            and body is None
            and reading.ordinal is None
            and _plural(text, reading)
        )
        arguments = {k: v for k, v in decision.arguments.items() if k not in targets}
        pick = reading.ordinal
        if pick is None and not each and not reading.topic and reading.people:
            pick = 1  # "Bob's mail", « le mail de Marie »: their latest one
        return Decision(
            "plan",
            "plan",
            tool=tool.name,
            arguments=arguments,
            confidence=confidence,
            confirm=tool.needs_confirmation,
            language=lang,
            plan=Plan(find, then=tool.name, arguments=arguments, pick=pick, each=each),
        )

    async def _described(
        self, text: str, now: datetime, book: AddressBook, lang: Language
    ) -> Decision | None:
        """ "what came in yesterday", "mails reçus la semaine dernière": no verb the
        router knows, but mail and what to look for — a list, which changes nothing."""
        finder = plans.choose_finder(self.tools, Reading(text, lang), None)
        if finder is None or not set(fold(text).split()) & _MAIL_WORDS:
            return None
        if _DEFINITION.search(text):
            return None  # "what is a phishing mail?": knowledge, not the mailbox
        reading = await self.read(text, now, lang, book)
        past = reading.since is None or reading.since <= now.date()
        if not past or not (reading.people or reading.flags or reading.since):
            return None
        return self._find(finder, reading, {}, "router", 0.0, lang)

    async def _grounded(
        self, text: str, now: datetime, book: AddressBook, lang: Language
    ) -> Decision | None:
        """ "how much is the invoice?", "find the invoice", "à quelle heure est le
        concert de la chorale ?": the router saw no request for a tool, yet the
        request names something the mailbox may hold. A plan that looks first,
        unseen (``probe``): a question is answered from what it finds, a request
        to find or show lists it, and nothing found is answered as a request
        without a tool ("what's the weather like?")."""
        finder = plans.choose_finder(self.tools, Reading(text, lang), None)
        if finder is None or _DEFINITION.search(text):
            return None
        words = set(fold(text).split())
        ability = next(
            (a for a in (COUNT, SUMMARIZE, ASK) if a in self.abilities and signalled(text, a)),
            None,
        )
        reading = await self.read(text, now, lang, book)
        # What only mail has: a flag ("unread"), or a sender or recipient ("everything
        # from the bank"), not a name alone ("Alice is my sister").
        correspondent = any(m.role != "any" for m in reading.people)
        if ability is None and not (
            words & (_SEARCH_WORDS | _SHOW_WORDS) or reading.flags or correspondent
        ):
            return None  # neither asked for, nor anything only mail has
        if reading.folder and not (reading.topic or reading.people):
            ability = None  # "what's in the trash?": its list
        elif not (reading.topic or reading.people or reading.flags):
            return None
        if ability is not None:
            return _probing(
                await self._ability(ability, text, now, book, lang, "router", 0.0, reading),
                reading,
            )
        return _probing(self._find(finder, reading, {}, "router", 0.0, lang), reading)

    async def _choice(
        self,
        text: str,
        now: datetime,
        book: AddressBook,
        lang: Language,
        context: Mapping[str, Any] | None,
    ) -> Decision | None:
        """ "the second one" after a list: open it (the reader is the one tool that
        takes an item and changes nothing)."""
        items = plans.listed(context, self.tools) if context else None
        opener = plans.reader(self.tools)
        if not items or opener is None:
            return None
        reading = await self.read(text, now, lang, book)
        if reading.ordinal is None and not reading.pronoun and not reading.people:
            return None
        fitting = plans.matching(items, reading)
        item = plans.pick(fitting, reading.ordinal) if fitting else None
        if item is None:
            return None
        return Decision(
            "call",
            "context",
            tool=opener.name,
            arguments=plans.from_item(opener, item, {}),
            language=lang,
        )

    async def _ability(
        self,
        label: str,
        text: str,
        now: datetime,
        book: AddressBook,
        lang: Language,
        via: Via,
        confidence: float,
        reading: Reading | None = None,
    ) -> Decision:
        """What the assistant does itself: tell an address from the address book,
        count or summarize what a finder finds (``reading``: the request, if it was
        read already)."""
        if reading is None:
            reading = await self.read(text, now, lang, book)
        if label == ADDRESS:
            mention = reading.person()
            if mention is None:
                return Decision("clarify", via, question=say("missing_person", lang), language=lang)
            lines = [f"{c.name} <{c.address}>" if c.name else c.address for c in mention.contacts]
            return Decision(
                "answer",
                via,
                confidence=confidence,
                language=lang,
                text=say("address", lang, name=mention.words, addresses=", ".join(lines)),
            )
        ambiguous = _ambiguous(reading, lang)
        if ambiguous is not None:
            return ambiguous
        finder = plans.choose_finder(self.tools, reading, None)
        assert finder is not None  # abilities exist only with a finder in play
        opener = plans.reader(self.tools)
        if label == ASK and opener is not None:
            # A question about what a message says: the best match (the newest, or
            # the one named), opened and shown.
            find = plans.find_arguments(finder, reading, question=True)
            if reading.people and reading.topic:
                # The person's mail, whatever its words, when the words find nothing.
                loose = replace(reading, topic=[])
                other = plans.choose_finder(self.tools, loose, None)
                if other is not None and other.name != finder.name:
                    find = replace(find, wider=plans.find_arguments(other, loose, question=True))
            return Decision(
                "plan",
                "plan",
                tool=opener.name,
                confidence=confidence,
                language=lang,
                # A question may not be about mail at all ("what's the weather in
                # Paris?"): answered from the mail only if the mail has its words.
                plan=Plan(
                    find,
                    then=opener.name,
                    pick=reading.ordinal or 1,
                    ability=ASK,
                    probe=_probe_words(reading),
                ),
            )
        limit = plans.COUNT_LIMIT if label == COUNT else plans.SUMMARY_SIZE
        find = plans.find_arguments(finder, reading, limit=limit)
        words = set(fold(text).split())
        return Decision(
            "plan",
            "plan",
            tool=finder.name,
            confidence=confidence,
            language=lang,
            plan=Plan(
                find,
                ability=label,
                reader=opener.name if opener is not None and label == SUMMARIZE else None,
                needs_answer=label == SUMMARIZE and bool(words & _ANSWER_WORDS),
            ),
        )

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
        context: Mapping[str, Any] | None = None,
    ) -> Decision | None:
        """The user's ``reply`` to the question about ``argument``, asked after
        ``request``: the same call, with that argument now given. None if the tool is
        no longer in play. The reply is checked like the request was (a person must
        be an address or a known name, and so on). A reply that picks from the list
        last shown ("the second one") fills the call's target from that item."""
        tool = self.by_name.get(tool_name)
        items = plans.listed(context, self.tools) if context else None
        if tool is not None and items and argument in tool.context:
            lang = language or detect(reply, self.default_language)
            book = address_book if address_book is not None else self.address_book
            reading = await self.read(reply, now or datetime.now(), lang, book)
            item = (
                plans.pick(items, reading.ordinal) if reading.ordinal or reading.pronoun else None
            )
            if item is not None:
                values = plans.from_item(tool, item, {})
                return await self.supply(
                    tool_name, arguments, values, request, reply, via="follow-up",
                    now=now, address_book=book, language=language,
                )  # fmt: skip
        value = reply.strip().rstrip(".!?").strip()
        if tool is not None and argument in tool.context and not _fits(tool, argument, value):
            return None  # not a pick from the list: a new request
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
        unasked: frozenset[str] = frozenset(),
    ) -> Decision:
        """``unasked``: arguments the model is not asked for (code will find them)."""
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
        missing = [name for name in wanted if name not in captured and name not in unasked]
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
        self,
        text: str,
        now: datetime,
        book: AddressBook,
        language: Language,
        context: Mapping[str, Any] | None,
    ) -> Decision:
        """A capable model chooses the tool by its own tool calling; what it proposes
        then goes the same way as a routed request: filters read by code, plans,
        validation."""
        specs = [ToolSpec(t.name, t.description, t.input_schema) for t in self.tools]
        specs += [
            ToolSpec(name, ABILITY_FUNCTIONS[label][1], {"type": "object", "properties": {}})
            for name, label in self.ability_functions.items()
        ]
        call = await self.backend.call_tools(
            [Message("user", text)], specs, Sampling(max_tokens=256)
        )
        if call.name in self.ability_functions:
            label = self.ability_functions[call.name]
            return await self._ability(label, text, now, book, language, "native", 1.0)
        if call.name is None or call.name not in self.by_name:
            return Decision("answer", "native", language=language)
        tool = self.by_name[call.name]
        if plans.FINDS_KEY in tool.meta:
            reading = await self.read(text, now, language, book, tool)
            return self._find(tool, reading, {}, "native", 1.0, language)
        decision = await self._checked(
            tool, text, now, call.arguments, frozenset(), "native", 1.0, book, language
        )
        if decision.kind == "clarify":
            reading = await self.read(text, now, language, book, tool)
            return await self._act(
                tool, text, now, {}, "native", 1.0, book, language, context, reading
            )
        return decision


def _probing(decision: Decision, reading: Reading) -> Decision:
    """``decision``'s plan made a probe (see :attr:`Plan.probe`)."""
    if decision.plan is None:
        return decision
    return replace(decision, plan=replace(decision.plan, probe=_probe_words(reading)))


def _probe_words(reading: Reading) -> tuple[str, ...]:
    """What found mail must show for a probing plan to go on: nothing more when the
    request names a person the address book knows (grounded already), else one of
    the topic's words or what the glossary makes of them."""
    if reading.people:
        return ()
    return tuple(dict.fromkeys(w for word in reading.topic for w in (word, *translations(word))))


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


def _about_mail(text: str, reading: Reading) -> bool:
    """The request speaks of mail: a mail word, a search verb, a correspondent, a
    period, a flag or a folder."""
    words = set(fold(text).split())
    return bool(
        words & (_MAIL_WORDS | _SEARCH_WORDS)
        or reading.people
        or reading.since
        or reading.until
        or reading.flags
        or reading.folder
    )


def _text_argument(tool: Tool) -> str | None:
    """The tool's required free-text argument (what a message says), if it has one."""
    for name in tool.required:
        schema = tool.properties.get(name, {})
        if schema.get("type") == "string" and not (
            {"format", "enum", "pattern"} & set(schema) or name in tool.context
        ):
            return name
    return None


def _ambiguous(reading: Reading, language: Language) -> Decision | None:
    """A question when a name fits several people ("Marie": two Maries)."""
    for mention in reading.people:
        if len(mention.contacts) > 1:
            names = ", ".join(f"{c.name} <{c.address}>" for c in mention.contacts)
            problem = Problem("ambiguous_person", {"value": mention.words, "names": names})
            return Decision(
                "clarify",
                "plan",
                question=say(problem.code, language, **problem.values),
                language=language,
                problems={"person": problem},
            )
    return None


def _plural(text: str, reading: Reading) -> bool:
    """Whether the request is about several things: "all", "them", or its nouns in
    the plural ("the newsletters", "les mails de la banque")."""
    words = fold(text).split()
    return bool(set(words) & _PLURAL) or any(
        w in _PLURAL_NOUNS or (w != t and w.startswith(t) and w.endswith(("s", "x")))
        for w in words
        for t in reading.topic or [""]
    )


def _days_fit(tool: Tool, captured: Mapping[str, Any], now: datetime) -> bool:
    """Whether every day a template captured names a day."""
    ahead = tool.meta.get("tidings/dates") == "ahead"
    return all(
        parse_day(value, now, ahead=ahead) is not None
        for name, value in captured.items()
        if isinstance(value, str)
        and tool.properties.get(name, {}).get("format") in ("date", "date-time")
    )


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
