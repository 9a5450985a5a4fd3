"""A tool's result, told to the user in their language — by template, not by the model.

A tool says how its results read in ``_meta["tidings/answer"]``, per language::

    {"en": {"text": "Message sent to {to}."}, "fr": {...}}            # one result
    {"en": {"list": "messages", "header": "{count} messages:",         # a list
            "item": "{id}. {date} {from}: {subject}", "empty": "No messages."}}

``{key}`` takes a top-level key of the structured result (of each element, for
``item``). The words inside the results (subjects, senders) are shown to the user
exactly as they are, and never to the model: a mail cannot talk the assistant into
anything by what it says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidings.ai.language import Language
from tidings.ai.phrases import fill, say
from tidings.ai.pipeline.tools import ANSWER_KEY, Tool
from tidings.ai.toolbox import ToolResult

_MAX_ITEMS = 50


def render(tool: Tool, result: ToolResult, language: Language) -> str:
    if result.is_error:
        return say("tool_failed", language, detail=result.text.strip() or tool.name)
    specs = tool.meta.get(ANSWER_KEY) or {}
    spec = specs.get(language) or specs.get("en") or {}
    data = result.structured if isinstance(result.structured, Mapping) else {}
    if spec and data:
        list_key = spec.get("list")
        if isinstance(list_key, str):
            return _render_list(spec, data, data.get(list_key))
        if isinstance(spec.get("text"), str):
            return _one_line(fill(spec["text"], _flat(data)), keep_newlines=True)
    return result.text.strip() or say("done", language)


def _render_list(spec: Mapping[str, Any], data: Mapping[str, Any], items: Any) -> str:
    items = items if isinstance(items, list) else []
    if not items:
        return str(spec.get("empty") or "")
    values = _flat(data)
    values.setdefault("count", str(len(items)))
    lines = [fill(str(spec.get("header") or ""), values)]
    item = str(spec.get("item") or "")
    for entry in items[:_MAX_ITEMS]:
        if isinstance(entry, Mapping):
            lines.append(_one_line(fill(item, _flat(entry))))
    return "\n".join(line for line in lines if line)


def _flat(data: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in data.items():
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "✓" if value else ""
        elif value is None:
            value = ""
        out[str(key)] = str(value)
    return out


def _one_line(text: str, *, keep_newlines: bool = False) -> str:
    """A list item stays on its line whatever a subject contains (a subject with a
    line break must not pass for another entry)."""
    if keep_newlines:
        return text.strip()
    return " ".join(text.split())
