"""Deterministic intent matching, Home Assistant Assist style: a request that matches
one of a tool's sentence templates goes straight to that tool, with the arguments
the template captured. No model is involved, so the common requests ("liste mes
mails", "any new emails from Alice") are answered instantly and always the same way.

Templates are hassil's (alternatives ``(a|b)``, optional words ``[le]``, captures
``{name}``); they come with each tool (see :mod:`.tools`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hassil import Intents, RecognizeResult, recognize_all

from tidings.ai.pipeline.tools import Tool

_CAPTURE = re.compile(r"\{(?:[^}:]+:)?([^}:]+)\}")
_LIST_KEYS = {"lists"}


@dataclass(frozen=True)
class IntentMatch:
    tool: str
    arguments: dict[str, Any]
    free_text: frozenset[str] = field(default_factory=frozenset)
    """Arguments captured as free text (as opposed to a listed value or a fixed one)."""
    language: str = ""
    """The language of the template that matched."""


def _score(result: RecognizeResult, tools: dict[str, Tool]) -> tuple[int, int, int, str]:
    # hassil's own ranking prefers fewer captures first, so "from {sender}" would
    # beat "from {sender} since {since}" and swallow the date into the sender.
    # Prefer the template that explains more of the request with literal words,
    # then the one whose captures are the tool's own arguments ("read the email 12"
    # names a message; "{which}", a description the assistant reads itself, does not).
    wildcard_text = sum(len(e.text or "") for e in result.entities_list if e.is_wildcard)
    tool = tools.get(result.intent.name)
    foreign = sum(
        1 for e in result.entities_list if tool is not None and e.name not in tool.properties
    )
    return (-result.text_chunks_matched, foreign, wildcard_text, result.intent.name)


class IntentMatcher:
    """Matches requests against the templates of the tools in play."""

    def __init__(self, tools: Sequence[Tool]) -> None:
        self.tools = {tool.name: tool for tool in tools}
        self._by_language: dict[str, Intents] = {}
        languages = {lang for tool in tools for lang in tool.intents if lang not in _LIST_KEYS}
        for language in sorted(languages):
            intents = self._compile(language, tools)
            if intents is not None:
                self._by_language[language] = intents

    @staticmethod
    def _compile(language: str, tools: Sequence[Tool]) -> Intents | None:
        spec: dict[str, Any] = {"language": language, "intents": {}, "lists": {}}
        for tool in tools:
            blocks = tool.intents.get(language) or []
            lists = tool.intents.get("lists") or {}
            data = []
            for block in blocks:
                sentences = [str(s) for s in block.get("sentences") or []]
                for sentence in sentences:
                    for name in _CAPTURE.findall(sentence):
                        if name not in lists:
                            spec["lists"][name] = {"wildcard": True}
                data.append(
                    {"sentences": sentences, "slots": dict(block.get("set") or {}), "lists": lists}
                )
            if data:
                spec["intents"][tool.name] = {"data": data}
        return Intents.from_dict(spec) if spec["intents"] else None

    def match(self, text: str) -> IntentMatch | None:
        text = text.strip()
        results: list[tuple[RecognizeResult, str]] = []
        for language, intents in self._by_language.items():
            results.extend((r, language) for r in recognize_all(text, intents, language=language))
        if not results:
            return None
        best, language = min(results, key=lambda pair: _score(pair[0], self.tools))
        arguments: dict[str, Any] = {}
        free_text = set()
        for entity in best.entities_list:
            if entity.is_wildcard:
                # Keep the user's own spelling and punctuation, not hassil's
                # normalised copy ("ok, see you." must not become "ok see you").
                value = entity.text
                if entity.text_span is not None:
                    value = text[entity.text_span[0] : entity.text_span[1]]
                arguments[entity.name] = value.strip()
                free_text.add(entity.name)
            else:
                arguments[entity.name] = entity.value
        return IntentMatch(best.intent.name, arguments, frozenset(free_text), language)


def _group_end(text: str, opening: str, closing: str) -> int:
    depth = 0
    for index, char in enumerate(text):
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return index
    return len(text)


def leading_words(tool: Tool) -> frozenset[str]:
    """The words a tool's templates begin with, past optional words: its verbs
    ("move", "archive", "supprime", "marque"...), as written (not folded)."""
    words: set[str] = set()
    for language, blocks in tool.intents.items():
        if language in _LIST_KEYS:
            continue
        for block in blocks:
            for sentence in block.get("sentences") or []:
                rest = str(sentence).strip()
                while rest.startswith("["):
                    rest = rest[_group_end(rest, "[", "]") + 1 :].strip()
                if rest.startswith("("):
                    group = rest[1 : _group_end(rest, "(", ")")]
                    words.update(a.split()[0] for a in group.split("|") if a.strip())
                elif rest and not rest.startswith("{"):
                    words.add(rest.split()[0])
    return frozenset(words)
