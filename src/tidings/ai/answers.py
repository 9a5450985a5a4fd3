"""A tool's result, told to the user in their language — by template, not by the model.

A tool says how its results read in ``_meta["tidings/answer"]``, per language::

    {"en": {"text": "Message sent to {to}."}, "fr": {...}}            # one result
    {"en": {"list": "messages", "header": "{count} messages:",         # a list
            "item": "#{id} {date} {from}: {subject}", "empty": "No messages."}}

``{key}`` takes a top-level key of the structured result (of each element, for
``item``). The words inside the results (subjects, senders) are shown to the user
exactly as they are, and never to the model: a mail cannot talk the assistant into
anything by what it says.
"""

from __future__ import annotations

from collections.abc import Mapping

from tidings.ai.language import Language
from tidings.ai.phrases import say
from tidings.ai.pipeline.tools import ANSWER_KEY, Tool
from tidings.ai.toolbox import ToolResult
from tidings.core import answers

_MAX_ITEMS = 50


def render(tool: Tool, result: ToolResult, language: Language) -> str:
    if result.is_error:
        return say("tool_failed", language, detail=result.text.strip() or tool.name)
    specs = tool.meta.get(ANSWER_KEY) or {}
    spec = specs.get(language) or specs.get("en") or {}
    data = result.structured if isinstance(result.structured, Mapping) else {}
    if spec and data and ("list" in spec or "text" in spec):
        return answers.render(spec, data, max_items=_MAX_ITEMS)
    return result.text.strip() or say("done", language)
