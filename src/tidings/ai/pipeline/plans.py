"""Requests of a few steps: find something, then act on it.

"read the mail about the invoice", "reply to Bob's last mail saying ok", "move the
newsletters to the trash", "summarize my inbox": the user describes *which* thing
(a :class:`~.reading.Reading`) instead of giving its identifier. A :class:`Plan` says
how to get there with the tools in play:

1. **find** with a finder — a tool that declares ``_meta["tidings/finds"]``: which
   argument takes each kind of filter, and under which key its result lists items;
2. **pick** the item: the one the ordinal names ("the latest", "le deuxième"), the
   only one found, every one (moving "the newsletters"), or none yet — then the list
   is shown and the user says which;
3. **then** call the tool the request was for, its target filled from the item by
   that tool's own ``_meta["tidings/context"]`` (``message_id`` ← ``id``), every
   side effect confirmed with its real arguments as for any other call;

or, for the assistant's own abilities, **count** what was found, or **summarize**
it: each item read with the reader (a tool that declares ``_meta["tidings/reads"]``)
and told by :mod:`tidings.ai.digest`.

Nothing here knows a tool by name: finders, readers and targets are what the tools'
metadata say they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from tidings.ai.pipeline.grounding import fold
from tidings.ai.pipeline.reading import Reading, as_arguments, translations
from tidings.ai.pipeline.tools import Tool

FINDS_KEY = "tidings/finds"
READS_KEY = "tidings/reads"
SUMMARY_SIZE = 20
"""How many items a summary reads when the request does not say."""
COUNT_LIMIT = 100
MAX_FALLBACKS = 10
"""Searches tried at most when nothing is found (fewer words, other language...)."""
LIST_LIMIT = 50
"""A list the user asked for shows this many (a month of mail fits)."""
EACH_LIMIT = 20
"""At most this many items are acted on by one request ("move the newsletters")."""


@dataclass(frozen=True)
class Find:
    tool: str
    arguments: dict[str, Any]
    items: str
    """Key of the result's list of items."""
    fallbacks: tuple[dict[str, Any], ...] = ()
    """Arguments to try in turn when nothing is found (fewer topic words)."""
    first: dict[str, Any] = field(default_factory=dict)
    """Where to look before anywhere else ("the INBOX"): each try is made with it,
    then every try without it."""

    wider: Find | None = None
    """Another finder's find, tried when none of these tries finds anything: a
    question naming a person, whose words need not be in that person's mail ("how
    much do I owe Bob?" is Bob's latest mail, which a search for "owe" misses)."""

    def tries(self) -> list[dict[str, Any]]:
        """Each set of arguments where to look first, then everywhere, before the
        next set: the request's own words found in the Archive are a better answer
        than fewer of them (or a translation) found in the INBOX."""
        plain = [self.arguments, *self.fallbacks][: MAX_FALLBACKS + 1]
        if not self.first:
            return plain
        both = [t for a in plain for t in ({**self.first, **a}, a)]
        return list({repr(sorted(t.items())): t for t in both}.values())

    def every_try(self) -> list[tuple[str, dict[str, Any]]]:
        """Each try as (finder, arguments), this find's then the wider one's."""
        wider = self.wider.every_try() if self.wider is not None else []
        return [(self.tool, a) for a in self.tries()] + wider


@dataclass(frozen=True)
class Plan:
    find: Find
    then: str | None = None
    """The tool to call on what is found; None to show it (or count, summarize)."""
    arguments: dict[str, Any] = field(default_factory=dict)
    """``then``'s arguments besides those that come from the item."""
    pick: int | None = None
    """1 is the first item listed (the newest), 2 the second, -1 the last."""
    each: bool = False
    """Act on every item found, not on one."""
    ability: str | None = None
    """``<count>``, ``<summarize>``, or ``<ask>`` (``then`` reads the item, and the
    answer is its sentences that answer the request)."""
    reader: str | None = None
    needs_answer: bool = False
    """A summary of only what waits for the user's answer."""
    probe: tuple[str, ...] | None = None
    """Set when the plan was chosen because of what the request names, not because
    it asked for a tool: it may not be about mail at all ("how much is a Tesla?").
    The find is tried first unseen, and unless something found has one of these
    words (or anything is found, if there are none) the request is answered as one
    without a tool — no search is shown for a question the mailbox knows nothing of."""


def finders(tools: Sequence[Tool]) -> list[Tool]:
    return [t for t in tools if t.meta.get(FINDS_KEY)]


def reader(tools: Sequence[Tool]) -> Tool | None:
    return next((t for t in tools if t.meta.get(READS_KEY) and t.read_only), None)


def filters_of(tool: Tool) -> dict[str, str]:
    found = (tool.meta.get(FINDS_KEY) or {}).get("filters") or {}
    return {str(k): str(v) for k, v in found.items() if v in tool.properties}


def items_key(tool: Tool) -> str:
    return str((tool.meta.get(FINDS_KEY) or {}).get("items") or "items")


def _kinds(reading: Reading) -> set[str]:
    """The kinds of filter a reading asks for."""
    kinds = set()
    if reading.topic:
        kinds.add("topic")
    if any(m.role != "to" for m in reading.people):
        kinds.add("person")
    if any(m.role == "to" for m in reading.people):
        kinds.add("recipient")
    if reading.since:
        kinds.add("since")
    if reading.until:
        kinds.add("until")
    kinds.update(reading.flags)
    if reading.folder:
        kinds.add("folder")
    if reading.count:
        kinds.add("count")
    return kinds


def choose_finder(
    tools: Sequence[Tool], reading: Reading, preferred: str | None, *, feeds: Tool | None = None
) -> Tool | None:
    """The finder that can apply every filter the reading asks for — the one the
    request was routed to if it can, else the one with the fewest required
    arguments (the most general). ``feeds``: the tool that will act on what is found,
    which only a finder of its own server can find for (a mail's id is no event's)."""
    candidates = [
        t for t in finders(tools) if feeds is None or not feeds.server or t.server == feeds.server
    ]
    if not candidates:
        return None
    wanted = _kinds(reading)

    def rank(tool: Tool) -> tuple[int, int, int, int]:
        covers = set(filters_of(tool))
        # A required argument no filter fills (a search's words) rules a finder out.
        unfilled = [r for r in tool.required if r not in filters_of(tool).values()]
        needs_topic = "topic" in covers and "topic" not in wanted
        return (
            len(wanted - covers),
            int(bool(unfilled) or needs_topic),
            int(tool.name != preferred),
            len(tool.required),
        )

    return min(candidates, key=rank)


def find_arguments(
    finder: Tool, reading: Reading, *, limit: int | None = None, question: bool = False
) -> Find:
    """The finder's arguments for what the reading describes; the topic's words
    dropped one at a time (the least telling, the shortest, first) as fallbacks.

    A ``question``'s day and words may be about what the mail says, not about the
    mail ("what time is dinner on Saturday?" was written on Tuesday): then the
    period is dropped too, and, when a person is named, the topic last ("how much
    do I owe Bob?": Bob's latest mail)."""
    filters = filters_of(finder)
    arguments = _valid(finder, as_arguments(reading, filters))
    count_argument = filters.get("count")
    if limit is not None and count_argument and count_argument not in arguments:
        arguments[count_argument] = limit
    fallbacks: list[dict[str, Any]] = []
    topic_argument = filters.get("topic")
    if topic_argument and reading.topic:
        for words in _fewer_words(reading.topic):
            fallbacks.append({**arguments, topic_argument: " ".join(words)})
        fallbacks = fallbacks[1:]  # the first is the request's own words
        written = [reading.written.get(w, w) for w in reading.topic]
        if written != reading.topic:
            # The words as written, for mail that writes them so ("renouvelé").
            fallbacks.insert(0, {**arguments, topic_argument: " ".join(written)})
    if question:
        period = {filters.get("since"), filters.get("until")} - {None}
        undated = {k: v for k, v in arguments.items() if k not in period}
        loose = [undated] if undated != arguments else []
        if reading.people and topic_argument in undated and topic_argument not in finder.required:
            loose.append({k: v for k, v in undated.items() if k != topic_argument})
        fallbacks = fallbacks[:3] + loose + fallbacks[3:]
    # Mail the user sent is where a recipient is ("when did I last write to Bob?").
    scope = (finder.meta.get(FINDS_KEY) or {}).get("recipient_scope") or {}
    if "recipient" in _kinds(reading):
        arguments = {
            **{k: v for k, v in scope.items() if k in finder.properties}, **arguments
        }  # fmt: skip
        fallbacks = [{**{k: v for k, v in scope.items() if k in finder.properties}, **f}
                     for f in fallbacks]  # fmt: skip
    # Where to look first ("the INBOX"), unless the request says where: then everywhere.
    first = {
        k: v
        for k, v in ((finder.meta.get(FINDS_KEY) or {}).get("first") or {}).items()
        if k in finder.properties and k not in arguments
    }
    return Find(finder.name, arguments, items_key(finder), tuple(fallbacks), first)


def _fewer_words(topic: Sequence[str]) -> list[list[str]]:
    """The topic's words, then in the other language, then fewer of them (the
    shortest, least telling, dropped first), then each alone: what to search for
    in turn until something is found. At most eight tries."""

    def other(words: Sequence[str]) -> list[str]:
        return [translations(w)[0] if translations(w) else w for w in words]

    tries: list[list[str]] = [list(topic), other(topic)]
    words = list(topic)
    for dropped in sorted(topic, key=len)[:-1]:
        words = [w for w in words if w != dropped]
        tries += [words, other(words)]
    for word in sorted(topic, key=len, reverse=True):
        tries += [[word], other([word])]
    unique = list(dict.fromkeys(tuple(t) for t in tries if t))
    return [list(t) for t in unique[:8]]


def _valid(tool: Tool, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments that pass their own schema (the rest would be refused anyway)."""
    out = {}
    for name, value in arguments.items():
        schema = tool.properties.get(name)
        if schema is not None and jsonschema.Draft202012Validator(schema).is_valid(value):
            out[name] = value
    return out


def target_arguments(tool: Tool) -> list[str]:
    """``tool``'s arguments that name the thing it acts on (filled from an item)."""
    return [name for name in tool.context if name in tool.properties]


def from_item(tool: Tool, item: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """``tool``'s target arguments taken from ``item``, except those ``given``."""
    return {
        argument: str(item[key])
        for argument, key in tool.context.items()
        if argument not in given and item.get(key) not in (None, "")
    }


def pick(items: Sequence[Any], ordinal: int | None) -> Any | None:
    """The item an ordinal names (1 = first listed, -1 = last), or the only one."""
    if ordinal is None:
        return items[0] if len(items) == 1 else None
    index = ordinal - 1 if ordinal > 0 else ordinal
    if -len(items) <= index < len(items):
        return items[index]
    return None


def listed(result: Any, tools: Sequence[Tool]) -> list[Mapping[str, Any]] | None:
    """The items of a finder's result (None if ``result`` is not a list of items)."""
    if not isinstance(result, Mapping):
        return None
    for tool in finders(tools):
        items = result.get(items_key(tool))
        if isinstance(items, list):
            return [i for i in items if isinstance(i, Mapping)]
    return None


def matching(items: Sequence[Mapping[str, Any]], reading: Reading) -> list[Mapping[str, Any]]:
    """The items of a list the user saw that fit what the request says of the one
    it means ("the one from Alice", "celui sur la facture"): a named person's address
    among the item's values, the topic's words among its text."""
    found = []
    for item in items:
        values = " ".join(str(v) for v in item.values() if isinstance(v, str)).lower()
        folded = fold(values)
        if any(
            not any(c.address.lower() in values for c in mention.contacts)
            for mention in reading.people
        ):
            continue
        if reading.topic and not all(w[: max(4, len(w) - 2)] in folded for w in reading.topic):
            continue
        found.append(item)
    return found


def grounded(items: Sequence[Mapping[str, Any]], words: Sequence[str]) -> bool:
    """Whether one of ``items`` shows one of ``words`` as a word of its own (or a
    form of it: "invoice" in "invoices"), not inside another ("temps" is not in
    "printemps", as a substring search would have it)."""
    if not words:
        return bool(items)
    stems = [re.escape(fold(w)[: max(4, len(fold(w)) - 2)]) for w in words]
    pattern = re.compile(rf"\b(?:{'|'.join(stems)})")
    for item in items:
        text = fold(" ".join(str(v) for v in item.values() if isinstance(v, str)))
        if pattern.search(text):
            return True
    return False


def matched_together(searched: str, words: Sequence[str]) -> bool:
    """Whether a search for ``searched`` (every word must be in a mail for it to be
    found) asked for two or more of ``words``."""
    wanted = {fold(w) for w in words}
    return len({w for w in fold(searched).split() if w in wanted}) >= 2
