"""Answers rendered from a tool's structured result by its ``tidings/answer`` template.

The format is deliberately tiny so any client can implement it: ``{key}`` names a
top-level key of the result (for a list's ``item``, a key of each element); nothing
else is syntax. A list value is shown joined with ", ". Values are inserted as they
are, never interpreted again, so a subject containing ``{text}`` stays that text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def fill(template: str, values: Mapping[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: _shown(values.get(m.group(1))), template)


def render(answer: Mapping[str, str], result: Mapping[str, Any]) -> str:
    """One language's answer for ``result``."""
    if "list" in answer:
        items = result.get(answer["list"]) or []
        if not items:
            return answer["empty"]
        lines = [fill(answer["header"], result)]
        lines += [fill(answer["item"], item) for item in items]
        return "\n".join(lines)
    return fill(answer["text"], result)
