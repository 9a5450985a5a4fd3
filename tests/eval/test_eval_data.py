"""The outcome evaluation's data (mailbox.json, conversations.json, paraphrases.json) is
well-formed and consistent: every message a case names exists, every expectation can
be scored, conversations.json's splits are balanced, and the held-out split shares no
request with dev (paraphrases.json is more dev material, in other words)."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

HERE = Path(__file__).parent
MAILBOX: dict[str, Any] = json.loads((HERE / "mailbox.json").read_text("utf-8"))
CASES: list[dict[str, Any]] = json.loads((HERE / "conversations.json").read_text("utf-8"))["cases"]
PARAPHRASES: list[dict[str, Any]] = json.loads((HERE / "paraphrases.json").read_text("utf-8"))[
    "cases"
]

FOLDERS = {"INBOX", "Sent", "Archive", "Junk", "Trash"}
KINDS = {
    "filter",
    "person",
    "reference",
    "plan",
    "content",
    "summary",
    "count",
    "fact",
    "smalltalk",
    "out_of_scope",
    "clarify",
    "injection",
}
FLAGS = {"read", "unread", "flagged", "unflagged"}
HOSTILE = ["evil@attacker.example", "phish.example"]
ADDRESS = re.compile(r"^[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]+$")
KEY = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Keys every expectation of an outcome may carry, the required ones first.
OUTCOME_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "list": ({"messages"}, set()),
    "read": ({"message"}, set()),
    "reply": ({"message", "body_contains"}, set()),
    "send": ({"to", "body_contains"}, set()),
    "move": ({"messages", "folder"}, set()),
    "mark": ({"messages", "flag"}, set()),
    "answer": ({"contains"}, {"not_contains"}),
    "clarify": (set(), {"messages"}),
    "none": (set(), set()),
}
SIDE_EFFECTS = {"reply", "send", "move", "mark"}

MESSAGES = {m["key"]: m for m in MAILBOX["messages"]}
NOW = datetime.fromisoformat(MAILBOX["now"])


def _fold(text: str) -> str:
    """Case- and accent-insensitive form, as the scorer compares answers."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


def _people(message: dict[str, Any]) -> list[dict[str, str]]:
    return [message["from"], *message["to"], *message["cc"]]


# Everything a correct answer about this mailbox can draw its facts from.
MAILBOX_TEXT = _fold(
    "\n".join(
        " ".join(
            [
                m["subject"],
                m["body"],
                m["date"],
                *(f"{p['name']} {p['address']}" for p in _people(m)),
                *(a["name"] for a in m["attachments"]),
            ]
        )
        for m in MAILBOX["messages"]
    )
    + "\n"
    + "\n".join(f"{c['name']} {c['address']}" for c in MAILBOX["contacts"])
)
KNOWN_ADDRESSES = {c["address"] for c in MAILBOX["contacts"]} | {
    p["address"] for m in MAILBOX["messages"] for p in _people(m)
}


def _check_person(person: Any) -> None:
    assert isinstance(person, dict), person
    assert set(person) == {"name", "address"}, person
    assert isinstance(person["name"], str), person
    assert person["name"].strip(), person
    assert ADDRESS.match(person["address"]), person


def test_mailbox_header() -> None:
    _check_person(MAILBOX["user"])
    assert ZoneInfo(MAILBOX["timezone"])
    assert NOW.weekday() == 2, "the cases' 'this week' and 'yesterday' assume a Wednesday"
    for contact in MAILBOX["contacts"]:
        _check_person(contact)
    assert len({c["address"] for c in MAILBOX["contacts"]}) == len(MAILBOX["contacts"])


@pytest.mark.parametrize("message", MAILBOX["messages"], ids=lambda m: str(m.get("key")))
def test_mailbox_message_is_well_formed(message: dict[str, Any]) -> None:
    assert set(message) == {
        "key",
        "folder",
        "from",
        "to",
        "cc",
        "date",
        "subject",
        "body",
        "unread",
        "flagged",
        "attachments",
    }
    assert KEY.match(message["key"]), message["key"]
    assert len(message["key"]) <= 20, message["key"]
    assert message["folder"] in FOLDERS
    _check_person(message["from"])
    assert message["to"], "a message has at least one recipient"
    for person in [*message["to"], *message["cc"]]:
        _check_person(person)
    date = datetime.fromisoformat(message["date"])
    assert date.tzinfo is None, "dates are local to the mailbox's time zone"
    assert date < NOW, "nothing arrives after 'now'"
    assert message["subject"].strip()
    assert message["body"].strip()
    assert isinstance(message["unread"], bool)
    assert isinstance(message["flagged"], bool)
    for attachment in message["attachments"]:
        assert set(attachment) == {"name", "type"}, attachment
        assert re.match(r"^[\w.-]+\.[a-z0-9]+$", attachment["name"]), attachment
        assert re.match(r"^[a-z]+/[\w.+-]+$", attachment["type"]), attachment
    user = MAILBOX["user"]["address"]
    if message["folder"] == "Sent":
        assert message["from"]["address"] == user
        assert not message["unread"]
    else:
        assert message["from"]["address"] != user


def test_mailbox_keys_are_unique_and_cover_what_the_cases_need() -> None:
    keys = [m["key"] for m in MAILBOX["messages"]]
    assert len(keys) == len(set(keys))
    assert {m["folder"] for m in MAILBOX["messages"]} == FOLDERS
    first_names = Counter(
        p["name"].split()[0] for m in MAILBOX["messages"] for p in _people(m) if " " in p["name"]
    )
    assert any(n >= 2 for name, n in first_names.items() if name != "Sam"), "no shared first name"
    # the hostile material the injection cases rely on is really there
    bodies = [m["body"] for m in MAILBOX["messages"]]
    for marker in [*HOSTILE, "</data>"]:
        assert any(marker in body for body in bodies), marker


def test_case_ids_are_unique() -> None:
    ids = [c["id"] for c in CASES + PARAPHRASES]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]


def test_paraphrases_are_dev_material() -> None:
    assert PARAPHRASES
    assert {c["split"] for c in PARAPHRASES} == {"dev"}


@pytest.mark.parametrize("case", CASES + PARAPHRASES, ids=lambda c: str(c.get("id")))
def test_case_is_well_formed(case: dict[str, Any]) -> None:
    assert set(case) <= {"id", "split", "lang", "kind", "before", "request", "expect"}
    assert KEY.match(case["id"]), case["id"]
    assert case["split"] in {"dev", "heldout"}
    assert case["lang"] in {"en", "fr"}
    assert case["kind"] in KINDS
    assert isinstance(case["request"], str)
    assert case["request"].strip()
    before = case.get("before", [])
    assert isinstance(before, list)
    assert all(isinstance(turn, str) and turn.strip() for turn in before)
    expect = case["expect"]
    outcome = expect.get("outcome")
    assert outcome in OUTCOME_KEYS, outcome
    required, optional = OUTCOME_KEYS[outcome]
    assert required <= set(expect) - {"outcome"} <= required | optional, expect

    named = expect.get("messages", []) + ([expect["message"]] if "message" in expect else [])
    assert len(named) == len(set(named)), "a message is named twice"
    for key in named:
        assert key in MESSAGES, f"no message {key!r} in mailbox.json"
    if outcome in {"list", "move", "mark"}:
        assert expect["messages"], "name at least one message"

    for words in [expect.get("body_contains", [])]:
        assert isinstance(words, list)
        assert all(isinstance(w, str) and w.strip() for w in words)
    if outcome == "reply":
        assert expect["body_contains"], "say what the reply must carry"
    if outcome == "send":
        assert expect["to"], "send to someone"
        for address in expect["to"]:
            assert address in KNOWN_ADDRESSES, f"{address} is neither a contact nor a correspondent"
    if outcome == "move":
        assert expect["folder"] in FOLDERS
        for key in expect["messages"]:
            assert MESSAGES[key]["folder"] != expect["folder"], f"{key} is already there"
    if outcome == "mark":
        assert expect["flag"] in FLAGS
        if not before:
            # without earlier turns, every named message must change state
            attribute, value = {
                "read": ("unread", True),
                "unread": ("unread", False),
                "flagged": ("flagged", False),
                "unflagged": ("flagged", True),
            }[expect["flag"]]
            for key in expect["messages"]:
                assert MESSAGES[key][attribute] is value, f"{key} is already {expect['flag']}"
    if outcome == "answer":
        for entry in [*expect["contains"], *expect.get("not_contains", [])]:
            alternatives = [entry] if isinstance(entry, str) else entry
            assert isinstance(alternatives, list), entry
            assert alternatives, entry
            assert all(isinstance(a, str) and a.strip() for a in alternatives), entry
        assert expect["contains"] or expect.get("not_contains"), "an answer nobody can check"
        if case["kind"] in {"content", "fact", "summary", "injection"}:
            for entry in expect["contains"]:
                alternatives = [entry] if isinstance(entry, str) else entry
                assert any(_fold(a) in MAILBOX_TEXT for a in alternatives), (
                    f"{entry!r} is nowhere in the mailbox"
                )
        for entry in expect.get("not_contains", []):
            assert isinstance(entry, str), "not_contains lists plain strings"

    if case["kind"] in {"smalltalk", "out_of_scope"}:
        assert outcome == "none"
    if case["kind"] == "clarify":
        assert outcome == "clarify"
    if case["kind"] == "reference" and not before:
        assert outcome in {"read", "reply", "move", "mark"}
    if case["kind"] == "injection":
        assert outcome not in SIDE_EFFECTS, "a hostile mail never leads to a side effect"
        if outcome == "answer":
            assert set(HOSTILE) <= set(expect.get("not_contains", []))
        else:
            assert outcome == "read"
            assert any(
                marker in MESSAGES[expect["message"]]["body"] for marker in [*HOSTILE, "</data>"]
            )


def test_splits_are_balanced() -> None:
    by_split = Counter(c["split"] for c in CASES)
    assert set(by_split) == {"dev", "heldout"}
    assert abs(by_split["dev"] - by_split["heldout"]) <= 0.1 * by_split["heldout"], by_split
    for split in ("dev", "heldout"):
        cases = [c for c in CASES if c["split"] == split]
        langs = Counter(c["lang"] for c in cases)
        assert abs(langs["en"] - langs["fr"]) <= 0.1 * len(cases), (split, langs)
        kinds = Counter(c["kind"] for c in cases)
        assert set(kinds) == KINDS, (split, KINDS - set(kinds))
        for kind, n in kinds.items():
            assert n >= 4, (split, kind, n)
            per_lang = Counter(c["lang"] for c in cases if c["kind"] == kind)
            assert per_lang["en"] >= 2, (split, kind, per_lang)
            assert per_lang["fr"] >= 2, (split, kind, per_lang)


def test_heldout_shares_no_request_with_dev() -> None:
    def requests(split: str) -> set[str]:
        return {
            " ".join(re.findall(r"\w+", _fold(c["request"])))
            for c in CASES + PARAPHRASES
            if c["split"] == split
        }

    shared = requests("dev") & requests("heldout")
    assert not shared, shared
