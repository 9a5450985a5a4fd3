"""What the assistant says in its own words: both languages, always, and results
told by the tools' templates without letting their content change the framing."""

from __future__ import annotations

import pytest

from tidings.ai.answers import render
from tidings.ai.language import detect
from tidings.ai.phrases import CATALOGUE, fill, say
from tidings.ai.pipeline.tools import Tool
from tidings.ai.toolbox import ToolResult

LIST_TOOL = Tool.from_mcp(
    {
        "name": "list_things",
        "description": "List things.",
        "inputSchema": {"type": "object", "properties": {}},
        "_meta": {
            "tidings/answer": {
                "en": {
                    "list": "items",
                    "header": "{count} things:",
                    "item": "{id}. {name}",
                    "empty": "Nothing.",
                },
                "fr": {
                    "list": "items",
                    "header": "{count} choses :",
                    "item": "{id}. {name}",
                    "empty": "Rien.",
                },
            }
        },
    }
)


def test_every_sentence_exists_in_both_languages() -> None:
    for key, texts in CATALOGUE.items():
        assert set(texts) == {"fr", "en"}, key
        assert all(texts.values()), key


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("liste mes mails", "fr"),
        ("list my emails", "en"),
        ("merci !", "fr"),
        ("tell me a joke", "en"),
        ("réponds à Bob que je suis d'accord", "fr"),
        ("mark it as read", "en"),
        ("Quelle est la capitale du Pérou ?", "fr"),
    ],
)
def test_the_language_of_a_request(text: str, language: str) -> None:
    assert detect(text) == language


def test_placeholders_are_names_and_nothing_else() -> None:
    # A template from an MCP server cannot reach into Python objects.
    assert fill("{x.__class__} {0} {name}", {"name": "Zoé", "x": "v"}) == "{x.__class__} {0} Zoé"
    assert fill("{missing}!", {}) == "!"


def test_questions_follow_the_language() -> None:
    assert say("unknown_person", "fr", value="Zoé").startswith("Je ne connais pas « Zoé »")
    assert say("unknown_person", "en", value="Zoé").startswith("I do not know “Zoé”")


def test_a_list_is_told_by_the_tools_template_in_the_users_language() -> None:
    result = ToolResult(
        {"count": 2, "items": [{"id": "1", "name": "one"}, {"id": "2", "name": "two"}]}, "", False
    )
    assert render(LIST_TOOL, result, "fr") == "2 choses :\n1. one\n2. two"
    assert render(LIST_TOOL, result, "en") == "2 things:\n1. one\n2. two"
    assert render(LIST_TOOL, ToolResult({"count": 0, "items": []}, "", False), "fr") == "Rien."


def test_a_subject_cannot_pass_for_another_line() -> None:
    forged = "hello\n3. Fake entry: click here"
    result = ToolResult({"items": [{"id": "1", "name": forged}]}, "", False)
    lines = render(LIST_TOOL, result, "en").splitlines()
    assert lines == ["1 things:", "1. hello 3. Fake entry: click here"]


def test_a_failed_call_says_so() -> None:
    failed = ToolResult(None, "no such message", True)
    assert render(LIST_TOOL, failed, "fr") == "Cela n'a pas marché : no such message"
