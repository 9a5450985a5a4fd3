"""The ``tidings/answer`` format: a tool's structured result told in words.

A tool carries, per language, ``{"text": T}`` for one result or ``{"list": KEY,
"header": T, "item": T, "empty": T}`` for a list under ``KEY``. ``{name}`` in ``T``
is a top-level key of the result (of each element, for ``item``); nothing else is
syntax, so a template from a server cannot reach into Python objects the way
``str.format`` would, and a value containing ``{text}`` stays that text. The MCP
servers use it for their text content, the assistant for what it says: one
implementation, so both always read the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def shown(value: Any) -> str:
    """A value as text: lists joined with ", ", nothing for None."""
    if isinstance(value, list):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def fill(template: str, values: Mapping[str, Any]) -> str:
    """``{name}`` placeholders replaced by ``values`` (missing ones by nothing)."""
    return _PLACEHOLDER.sub(lambda m: shown(values.get(m.group(1))), template)


def render(
    answer: Mapping[str, Any], result: Mapping[str, Any], *, max_items: int | None = None
) -> str:
    """One language's ``answer`` for ``result``. Each list item stays on its own line
    whatever a subject contains: a line break in a subject must not pass for another
    entry."""
    list_key = answer.get("list")
    if not isinstance(list_key, str):
        return fill(str(answer.get("text") or ""), result).strip()
    items = result.get(list_key)
    items = items if isinstance(items, list) else []
    if not items:
        return str(answer.get("empty") or "")
    lines = [fill(str(answer.get("header") or ""), {"count": len(items), **result})]
    item = str(answer.get("item") or "")
    for entry in items[:max_items]:
        if isinstance(entry, Mapping):
            lines.append(" ".join(fill(item, entry).split()))
    return "\n".join(line for line in lines if line)
