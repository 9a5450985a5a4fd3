"""Argument filling by the model, constrained by the chosen tool's input schema.

The model only copies values out of the request; code does the rest (see
:mod:`.validate`). So the schema the decoder is held to is the tool's, reduced to
what the model is good for: no dates (code finds them), no booleans (only a
template may imply one), no ``format`` (a person is asked for as written, a name
or an address), and only the arguments still missing.

The prompt is built to be cache-friendly: a preamble that depends only on the tools
in play (their descriptions and a few worked examples, sampled from their own
templates) comes first, byte-identical from one request to the next, so llama.cpp
evaluates it once; each request only adds its own few tokens.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from typing import Any

from tidings.ai.backends import Backend, InvalidOutput, Message, Sampling
from tidings.ai.pipeline.intents import IntentMatcher
from tidings.ai.pipeline.router import template_examples
from tidings.ai.pipeline.tools import Tool

_EXAMPLES_PER_TOOL = 2
_MAX_STRING = 200


_WORD = re.compile(r"\w[\w@'’.+-]*\w|\w")
_REGEX_SPECIAL = set("[]()|{}*+?")
_MAX_WORDS = 48


def _literal(text: str) -> str:
    """``text`` as a literal in the regex dialect llama.cpp's schema converter reads."""
    return "".join("[.]" if c == "." else ("\\" + c if c in _REGEX_SPECIAL else c) for c in text)


def span_pattern(text: str) -> str | None:
    """A regex matching exactly the runs of consecutive words of ``text``, as written.

    Written as one chain per starting word (``w1( w2( w3)?)?``) rather than a list of
    every run: the grammar stays linear in the request's length, and after the first
    word the decoder has a single path to follow, which keeps sampling fast.
    """
    if '"' in text or "\\" in text:
        return None
    words = list(_WORD.finditer(text))
    if not words or len(words) > _MAX_WORDS:
        return None
    chains: list[str] = []
    tail = ""
    for index in range(len(words) - 1, -1, -1):
        word = _literal(words[index].group())
        if index + 1 < len(words):
            gap = _literal(text[words[index].end() : words[index + 1].start()])
            tail = f"{word}({gap}{tail})?"
        else:
            tail = word
        chains.append(tail)
    return "^(" + "|".join(reversed(chains)) + ")$"


def model_schema(
    tool: Tool, missing: Sequence[str], text: str | None = None
) -> dict[str, Any] | None:
    """The part of the tool's schema the model is asked to fill, or None if nothing.

    With the request ``text``, free-text values are further held to runs of the
    request's own words, and numbers to the numbers it contains: a base model otherwise
    copies values from the prompt's examples. The model then only chooses *which*
    words answer each argument, which it does well.
    """
    properties: dict[str, Any] = {}
    pattern = span_pattern(text) if text is not None else None
    numbers = sorted({int(n) for n in re.findall(r"\b\d{1,9}\b", text or "")})
    for name in missing:
        schema = tool.properties.get(name)
        if schema is None or schema.get("format") in ("date", "date-time"):
            continue
        if schema.get("type") == "boolean":
            continue
        reduced = {k: v for k, v in schema.items() if k not in ("format", "description")}
        if reduced.get("type") == "string" and "enum" not in reduced:
            if "pattern" in reduced:
                pass  # the tool's own pattern (an id's digits) says more than the request
            elif pattern is not None:
                reduced = {"type": "string", "pattern": pattern}
            else:
                reduced["maxLength"] = _MAX_STRING
        elif reduced.get("type") == "integer" and text is not None:
            allowed = [
                n for n in numbers if reduced.get("minimum", n) <= n <= reduced.get("maximum", n)
            ]
            if not allowed:
                continue
            reduced = {"type": "integer", "enum": allowed}
        if "enum" in reduced and not reduced["enum"]:
            continue
        properties[name] = reduced
    if not properties:
        return None
    required = [n for n in tool.required if n in properties]
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _describe(tool: Tool) -> str:
    args = []
    for name, schema in tool.properties.items():
        kind = "one of " + "/".join(map(str, schema["enum"])) if "enum" in schema else None
        kind = kind or ("a person, as written" if schema.get("format") == "email" else None)
        kind = kind or str(schema.get("type", "value"))
        args.append(f"{name} ({kind})")
    return f"- {tool.name}: {tool.description} Arguments: {', '.join(args) or 'none'}."


def preamble(tools: Sequence[Tool], seed: int = 0) -> str:
    """The fixed start of every argument-filling prompt for this set of tools."""
    rng = random.Random(seed)  # noqa: S311  (reproducible sampling, not secrets)
    lines = [
        "You fill in the arguments of a tool call from a user's request.",
        "Copy values exactly as the request writes them. Leave out anything the "
        "request does not say.",
        "",
        "Tools:",
        *(_describe(t) for t in tools),
        "",
        "Examples:",
    ]
    for tool in tools:
        matcher = IntentMatcher([tool])
        for text, _ in template_examples(tool, _EXAMPLES_PER_TOOL, rng):
            # Read the example back through the templates: that also yields the
            # listed values ("corbeille" → Trash) the sampled text spelled out.
            match = matcher.match(text)
            arguments = match.arguments if match is not None else {}
            asked = model_schema(tool, list(arguments)) or {"properties": {}}
            shown = {k: v for k, v in arguments.items() if k in asked["properties"]}
            lines.append(f"{request_prompt(text, tool)} {json.dumps(shown, ensure_ascii=False)}")
    return "\n".join(lines)


def request_prompt(text: str, tool: Tool) -> str:
    return f"Request: {text}\nTool: {tool.name}\nArguments:"


async def fill(
    backend: Backend,
    tools: Sequence[Tool],
    tool: Tool,
    text: str,
    missing: Sequence[str],
    *,
    preamble_text: str | None = None,
) -> dict[str, Any]:
    """Values the model reads out of ``text`` for the ``missing`` arguments of ``tool``.

    Unchecked: the caller passes them through :func:`.validate.check`.
    """
    text = re.sub(r"\s+", " ", text).strip()
    schema = model_schema(tool, missing, text)
    if schema is None:
        return {}
    messages = [
        Message("system", preamble_text if preamble_text is not None else preamble(tools)),
        Message("user", request_prompt(text, tool)),
    ]
    try:
        value = await backend.complete_json(messages, schema, Sampling(max_tokens=160))
    except InvalidOutput:
        return {}  # as if the model had found nothing: validation then asks the user
    return dict(value) if isinstance(value, dict) else {}
