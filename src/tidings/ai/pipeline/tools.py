"""Tools as MCP lists them, and the intent patterns that travel with them.

The runtime learns its tools at run time from ``tools/list``: a name, a description,
an ``inputSchema`` and ``annotations``. A tool's sentence patterns (see
:mod:`.intents`) are data belonging to the tool, supplied in one of two ways:

- in the tool's own metadata, under ``_meta["tidings/intents"]``: an MCP server that
  knows its tools declares how people ask for them;
- in an :class:`IntentRegistry`, keyed by tool name, for servers that do not (for
  instance loaded from a YAML file next to that server's configuration).

Pattern data format: per language, blocks of Home Assistant (hassil) sentence
templates, with the fixed argument values a block implies, and the value lists of
arguments that take one of a few values::

    {"fr": [{"sentences": ["(liste|montre) [moi] mes (mails|courriels)",
                           "[est-ce que] j'ai (des|de) nouveaux mails de {sender}"]},
            {"sentences": ["(montre|liste) [moi] mes mails non lus"],
             "set": {"unread_only": true}}],
     "en": [{"sentences": ["any new (emails|mail) from {sender}"]}],
     "lists": {"folder": {"values": [{"in": "corbeille", "out": "Trash"}]}}}

``{name}`` in a sentence captures the argument ``name``: free text, unless ``lists``
gives its values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

META_KEY = "tidings/intents"
I18N_KEY = "tidings/i18n"
ANSWER_KEY = "tidings/answer"
ELICITS_KEY = "tidings/elicits"
CONTEXT_KEY = "tidings/context"


@dataclass(frozen=True)
class Tool:
    """One tool in play, as the MCP ``Tool`` object describes it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any] = field(default_factory=dict)
    intents: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    """The tool's other ``_meta`` (wording of its results, titles per language)."""
    title: str = ""
    server: str = ""
    """The MCP server that offers it (set by the toolbox): a plan acts with a tool
    only on what a finder of the same server found."""

    @classmethod
    def from_mcp(cls, tool: Any) -> Tool:
        """From an ``mcp.types.Tool`` or its JSON form (``tools/list`` result item)."""
        if not isinstance(tool, Mapping):
            tool = tool.model_dump(by_alias=True, exclude_none=True)
        meta = tool.get("_meta") or tool.get("meta") or {}
        return cls(
            name=str(tool["name"]),
            description=str(tool.get("description") or ""),
            input_schema=dict(tool.get("inputSchema") or {"type": "object", "properties": {}}),
            annotations=dict(tool.get("annotations") or {}),
            intents=dict(meta.get(META_KEY) or {}),
            meta={k: v for k, v in meta.items() if k != META_KEY},
            title=str(tool.get("title") or (tool.get("annotations") or {}).get("title") or ""),
        )

    @property
    def properties(self) -> dict[str, dict[str, Any]]:
        props: dict[str, dict[str, Any]] = self.input_schema.get("properties") or {}
        return props

    @property
    def required(self) -> list[str]:
        return list(self.input_schema.get("required") or [])

    @property
    def needs_confirmation(self) -> bool:
        """MCP's defaults: a tool not declared read-only may be destructive unless it
        says ``destructiveHint: false``; only those that cannot harm run unasked."""
        if self.annotations.get("readOnlyHint", False):
            return False
        return bool(self.annotations.get("destructiveHint", True))

    @property
    def read_only(self) -> bool:
        return bool(self.annotations.get("readOnlyHint", False))

    @property
    def elicits(self) -> bool:
        """The server asks the user itself (MCP elicitation) before acting."""
        return bool(self.meta.get(ELICITS_KEY, False))

    @property
    def context(self) -> dict[str, str]:
        """Argument → key of the last result shown: what "it" stands for."""
        found = self.meta.get(CONTEXT_KEY) or {}
        return {str(k): str(v) for k, v in found.items() if k in self.properties}

    def localized(self, language: str, key: str) -> str:
        """The tool's ``title`` or ``description`` in ``language``, if it gives one."""
        texts = (self.meta.get(I18N_KEY) or {}).get(language) or {}
        fallback = self.title or self.name if key == "title" else self.description
        return str(texts.get(key) or fallback)

    def synonyms(self, argument: str) -> dict[str, list[str]]:
        """Value → the words people use for it, from the pattern lists."""
        out: dict[str, list[str]] = {}
        values = (self.intents.get("lists") or {}).get(argument, {}).get("values") or []
        for item in values:
            if isinstance(item, Mapping):
                out.setdefault(str(item["out"]), []).append(str(item["in"]))
            else:
                out.setdefault(str(item), []).append(str(item))
        return out


class IntentRegistry:
    """Intent patterns keyed by tool name, for tools whose server supplies none."""

    def __init__(self, patterns: Mapping[str, dict[str, Any]] | None = None) -> None:
        self._patterns: dict[str, dict[str, Any]] = dict(patterns or {})

    def supply(self, tool_name: str, patterns: dict[str, Any]) -> None:
        self._patterns[tool_name] = patterns

    def apply(self, tools: Iterable[Tool]) -> list[Tool]:
        """The tools, each with its patterns: its own metadata wins over the registry."""
        out = []
        for tool in tools:
            if not tool.intents and tool.name in self._patterns:
                tool = dataclasses.replace(tool, intents=self._patterns[tool.name])
            out.append(tool)
        return out
