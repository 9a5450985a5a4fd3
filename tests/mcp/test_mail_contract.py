"""What the running server lists is what the assistant's evaluation measures
(tests/eval/mail_tools.json), and its tidings metadata is complete and usable."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.conftest import ROOT
from tests.mcp.conftest import McpBox
from tidings.ai.pipeline.tools import Tool

CONTRACT = json.loads((ROOT / "tests" / "eval" / "mail_tools.json").read_text("utf-8"))["tools"]
ELICITING = {"send_email", "reply_email", "move_email"}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _walk(schema: Any) -> list[dict[str, Any]]:
    if isinstance(schema, dict):
        return [schema, *[n for v in schema.values() for n in _walk(v)]]
    if isinstance(schema, list):
        return [n for v in schema for n in _walk(v)]
    return []


def _keys(schema: dict[str, Any], path: str | None = None) -> set[str]:
    """Property names of an output schema (or of its list ``path``'s items)."""
    if path is not None:
        items = schema["properties"][path]["items"]
        if "$ref" in items:
            items = schema["$defs"][items["$ref"].rsplit("/", 1)[1]]
        schema = items
    return set(schema["properties"])


async def test_tools_list_is_the_evaluated_contract(mcp_box: McpBox) -> None:
    async with mcp_box.http_client("alice") as client:
        listed = await client.list_tools()
    served = [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in listed.tools]

    assert [t["name"] for t in served] == [t["name"] for t in CONTRACT]
    for tool, expected in zip(served, CONTRACT, strict=True):
        name = tool["name"]
        for key in ("description", "inputSchema", "annotations"):
            assert tool[key] == expected[key], (name, key)
        intents = tool["_meta"]["tidings/intents"]
        assert intents == expected["_meta"]["tidings/intents"], name
        # What "it" stands for ("move it to the archive"), evaluated too.
        assert tool["_meta"].get("tidings/context") == expected["_meta"].get("tidings/context")
        # Which argument takes each filter, and which keys a reader's result has.
        for key in ("tidings/finds", "tidings/reads"):
            assert tool["_meta"].get(key) == expected["_meta"].get(key), (name, key)
        # The runtime reads type/format/enum directly: no optional-as-nullable unions.
        assert not [n for n in _walk(tool["inputSchema"]) if "anyOf" in n or "oneOf" in n]
        assert Tool.from_mcp(tool).intents == intents


async def test_every_tool_carries_titles_answers_and_its_confirmation_flag(
    mcp_box: McpBox,
) -> None:
    async with mcp_box.http_client("alice") as client:
        listed = await client.list_tools()
    for mcp_tool in listed.tools:
        tool = mcp_tool.model_dump(by_alias=True, exclude_none=True, mode="json")
        name, meta = tool["name"], tool["_meta"]
        assert tool["title"] == meta["tidings/i18n"]["en"]["title"]
        assert meta["tidings/i18n"]["en"]["description"] == tool["description"]
        for language in ("en", "fr"):
            texts = meta["tidings/i18n"][language]
            assert texts["title"] and texts["description"], (name, language)
        assert meta["tidings/i18n"]["fr"]["title"] != meta["tidings/i18n"]["en"]["title"]
        assert meta.get("tidings/elicits", False) is (name in ELICITING)

        output = tool["outputSchema"]
        assert output["type"] == "object"
        for language in ("en", "fr"):
            answer = meta["tidings/answer"][language]
            if "list" in answer:
                assert set(answer) == {"list", "header", "item", "empty"}
                assert set(PLACEHOLDER.findall(answer["header"])) <= _keys(output)
                assert PLACEHOLDER.findall(answer["item"])
                assert set(PLACEHOLDER.findall(answer["item"])) <= _keys(output, answer["list"])
                assert not PLACEHOLDER.findall(answer["empty"])
            else:
                assert set(answer) == {"text"}
                assert PLACEHOLDER.findall(answer["text"])
                assert set(PLACEHOLDER.findall(answer["text"])) <= _keys(output)
            for template in answer.values():
                # Plain names only: no attribute access, indexing or format specs.
                for found in PLACEHOLDER.findall(template):
                    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", found), (name, template)


def test_a_subject_from_the_first_line_cut_at_a_word() -> None:
    from tidings.mcp.mail import default_subject

    assert default_subject("la réunion est à 10h\nAlice") == "la réunion est à 10h"
    long = "word " * 30
    assert default_subject(long) == ("word " * 12).strip() + "…"
    assert default_subject("   ") == ""
