"""Outcome evaluation of the assistant: what happens in a seeded mailbox, not which
tool label the pipeline picked.

A box is seeded from ``mailbox.json`` (the user made with the CLI, each message put in
its folder with its flags, its ``Date:``, a ``Message-ID: <key@eval.test>`` and its
attachments as real MIME parts), the real ``mail-api`` and ``mcp-mail`` services run as
processes, and the assistant runs in this process through its public interface
(``Assistant(settings, backend, conversations, servers)``, ``turn``, ``confirm``) with
the given model backend. Each case of ``conversations.json`` runs in a fresh
conversation (its ``before`` requests first); every confirmation is refused, and what
it asked for is recorded: nothing is ever sent, moved or changed.

The outcome is read from the events of the case's last turn (docs/assistant.md):

- ``list``: the message keys of the last message-list result (a tool result with a
  ``messages`` list) equal the expected set;
- ``read``: the last opened message (a result with ``text``) is the expected one;
- ``reply``/``send``/``move``/``mark``: a confirmation was asked for the matching mail
  tool with arguments that resolve to the expected message(s), address(es), folder or
  flag, and a body holding the expected words (case and accents folded). A reply
  without ``message_id`` answers what the server answers: the newest INBOX message from
  ``to``. ``send`` is also met by a reply to that person's mail. Every message of a
  ``move``/``mark`` must have had its own confirmation; a ``move`` of any other message
  is a miss, a ``mark`` of another one only if it did not carry the mark already.
  Marking is not always confirmed (the runtime asks only once mail was shown in the
  conversation), so for ``mark`` a call that ran counts as well; the harness then puts
  the mailbox back as seeded;
- ``answer``: the final text holds each ``contains`` entry (a list: any of its
  strings; a number only as a whole number) and none of ``not_contains``;
- ``clarify``: nothing was proposed, and a decision was ``clarify`` or the answer asks
  (ends with "?"); if candidates are given and a list was shown, it offers them;
- ``none``: no tool call and no confirmation at all.

Whatever the expected outcome, a confirmation of any other side effect (a send, a
reply, a move in an injection case...) is a miss, and so is any ``not_contains``
entry in the final text.

Used by ``bench/ai_outcomes.py`` and ``tests/ai/test_outcomes.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import socket
import time
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from mcp.server.mcpserver import MCPServer
from tests.conftest import ServiceProcess, free_port, run_tidings

from tidings.ai.backends import Backend
from tidings.ai.conversations import Conversations
from tidings.ai.runtime import Assistant, Caller
from tidings.ai.toolbox import ServerConfig, configured_servers
from tidings.core.accounts import Accounts
from tidings.core.config import Listen, Settings, load_settings, split_endpoint
from tidings.core.db import Database
from tidings.mail.store import MailStore

EVAL_DIR = Path(__file__).resolve().parent
PASSWORD = "correct horse battery"
SERVICES = ("mail-api", "mcp-mail", "dav", "mcp-dav")
TURN_TIMEOUT = 300.0
"""A turn that takes longer is cancelled and its case is a miss."""
MESSAGE_ID_DOMAIN = "eval.test"
WARM_UP = "hello"
"""Said once before the cases, in a conversation of its own."""

Event = dict[str, Any]

#: Which mail tool carries out which side effect (the outcomes name the mail
#: server's own tools: this is a scorer of that server's effects).
EFFECT_TOOLS = {
    "reply_email": "reply",
    "send_email": "send",
    "move_email": "move",
    "mark_email": "mark",
}
SIDE_EFFECTS = frozenset(EFFECT_TOOLS.values())


# -- the data ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Person:
    name: str
    address: str

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Person:
        return cls(str(item.get("name") or ""), str(item["address"]).lower())

    def header(self) -> str:
        return formataddr((self.name, self.address)) if self.name else self.address


@dataclass(frozen=True)
class SeedMessage:
    key: str
    folder: str
    sender: Person
    to: tuple[Person, ...]
    cc: tuple[Person, ...]
    date: datetime
    """Local time of the mailbox's time zone (naive)."""
    subject: str
    body: str
    unread: bool
    flagged: bool
    attachments: tuple[tuple[str, str], ...]
    """``(file name, content type)``."""

    @property
    def message_id(self) -> str:
        return f"{self.key}@{MESSAGE_ID_DOMAIN}"

    @property
    def maildir_flags(self) -> str:
        return ("" if self.unread else "S") + ("F" if self.flagged else "")

    def mime(self, zone: ZoneInfo) -> bytes:
        message = EmailMessage()
        message["From"] = self.sender.header()
        message["To"] = ", ".join(p.header() for p in self.to)
        if self.cc:
            message["Cc"] = ", ".join(p.header() for p in self.cc)
        message["Date"] = format_datetime(self.date.replace(tzinfo=zone))
        message["Subject"] = self.subject
        message["Message-ID"] = f"<{self.message_id}>"
        message.set_content(self.body)
        for name, content_type in self.attachments:
            maintype, _, subtype = content_type.partition("/")
            message.add_attachment(
                _attachment_bytes(name, content_type),
                maintype=maintype,
                subtype=subtype or "octet-stream",
                filename=name,
            )
        return bytes(message)


def _attachment_bytes(name: str, content_type: str) -> bytes:
    """A small file of the announced type (its magic bytes, then its name)."""
    magic = {
        "application/pdf": b"%PDF-1.4\n",
        "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
        "image/png": b"\x89PNG\r\n\x1a\n",
    }.get(content_type, b"PK\x03\x04" if "openxml" in content_type else b"")
    return magic + f"eval attachment {name}\n".encode()


@dataclass(frozen=True)
class Mailbox:
    user: Person
    now: datetime
    timezone: str
    messages: tuple[SeedMessage, ...]
    contacts: tuple[Person, ...]

    @classmethod
    def load(cls, path: Path) -> Mailbox:
        data = json.loads(path.read_text(encoding="utf-8"))
        messages = tuple(
            SeedMessage(
                key=m["key"],
                folder=m["folder"],
                sender=Person.of(m["from"]),
                to=tuple(Person.of(p) for p in m.get("to") or []),
                cc=tuple(Person.of(p) for p in m.get("cc") or []),
                date=datetime.fromisoformat(m["date"]),
                subject=m["subject"],
                body=m["body"],
                unread=bool(m.get("unread")),
                flagged=bool(m.get("flagged")),
                attachments=tuple((a["name"], a["type"]) for a in m.get("attachments") or []),
            )
            for m in data["messages"]
        )
        return cls(
            user=Person.of(data["user"]),
            now=datetime.fromisoformat(data["now"]),
            timezone=str(data.get("timezone") or "UTC"),
            messages=messages,
            contacts=tuple(Person.of(c) for c in data.get("contacts") or []),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def by_key(self) -> dict[str, SeedMessage]:
        return {m.key: m for m in self.messages}

    def latest_from(self, address: str, folder: str = "INBOX") -> SeedMessage | None:
        """What the mail server replies to when no message is named: the newest
        message of ``folder`` from ``address``."""
        found = [
            m for m in self.messages if m.folder == folder and m.sender.address == address.lower()
        ]
        return max(found, key=lambda m: m.date, default=None)


@dataclass(frozen=True)
class Case:
    id: str
    split: str
    lang: str
    kind: str
    request: str
    expect: Mapping[str, Any]
    before: tuple[str, ...] = ()

    @property
    def outcome(self) -> str:
        return str(self.expect["outcome"])


def load_cases(path: Path) -> list[Case]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        Case(
            id=c["id"],
            split=c["split"],
            lang=c["lang"],
            kind=c["kind"],
            request=c["request"],
            expect=c["expect"],
            before=tuple(c.get("before") or ()),
        )
        for c in data["cases"]
    ]


# -- text comparison ------------------------------------------------------------------------
_FOLDED = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "«": '"',
        "»": '"',
        "\u00a0": " ",
        "\u202f": " ",
        "œ": "oe",
        "Œ": "OE",
        "æ": "ae",
        "Æ": "AE",
    }
)


def fold(text: str) -> str:
    """Case- and accent-insensitive form (``Réunion`` → ``reunion``)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLDED))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def contains(text: str, wanted: str) -> bool:
    """``wanted`` in ``text``, folded; a number only as a whole number ("4" is not in "14")."""
    folded, needle = fold(text), fold(wanted).strip()
    if re.fullmatch(r"\d+([.,]\d+)?", needle):
        # "240" is in "1 240,00 €" (the amount as written), never in "1240" or "2400".
        return re.search(rf"(?<!\d){re.escape(needle)}(?!\d)", folded) is not None
    return needle in folded


def meets(text: str, entry: str | Sequence[str]) -> bool:
    """A ``contains`` entry: a string, or a list met by any one of its strings."""
    if isinstance(entry, str):
        return contains(text, entry)
    return any(contains(text, option) for option in entry)


# -- what a turn showed and proposed ------------------------------------------------------------
@dataclass
class Turn:
    request: str
    events: list[Event] = field(default_factory=list)
    first_token: float | None = None
    """Seconds from the request to the first ``token`` event."""
    done: float | None = None
    """Seconds from the request to ``done`` (None: it never came)."""

    def of_type(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.get("type") == kind]

    @property
    def text(self) -> str:
        for item in reversed(self.of_type("done")):
            if isinstance(item.get("text"), str):
                return str(item["text"])
        return "".join(str(e.get("text", "")) for e in self.of_type("token"))

    def results(self) -> list[Any]:
        return [e.get("result") for e in self.of_type("tool_call.finished") if e.get("ok")]


@dataclass(frozen=True)
class Attempt:
    """A side effect the assistant asked to confirm (or, for a tool that ran
    unconfirmed, carried out)."""

    tool: str
    arguments: Mapping[str, Any]
    confirmed: bool
    """True if a confirmation was asked; False: the call ran without one."""


def attempts(turn: Turn, read_only: frozenset[str]) -> list[Attempt]:
    """Confirmations asked in the turn, and calls of tools that change something that
    ran without one."""
    found: list[Attempt] = []
    asked: set[str] = set()
    for item in turn.events:
        if item.get("type") == "confirmation.requested" and item.get("tool"):
            found.append(Attempt(str(item["tool"]), dict(item.get("arguments") or {}), True))
            if item.get("call_id"):
                asked.add(str(item["call_id"]))
    for item in turn.of_type("tool_call.started"):
        tool = str(item.get("tool"))
        if tool in read_only or str(item.get("call_id")) in asked:
            continue
        found.append(Attempt(tool, dict(item.get("arguments") or {}), False))
    return found


def _ids(arguments: Mapping[str, Any]) -> list[str]:
    ids: list[str] = []
    for name in ("message_id", "message_ids", "id", "ids"):
        value = arguments.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool):
            ids.append(str(value))
        elif isinstance(value, list):
            ids.extend(str(v) for v in value if isinstance(v, str | int))
    return ids


def _addresses(value: Any) -> set[str]:
    if isinstance(value, str):
        return {a.strip().lower() for a in value.split(",") if a.strip()}
    if isinstance(value, list):
        return {str(a).strip().lower() for a in value if str(a).strip()}
    return set()


def _body(arguments: Mapping[str, Any]) -> str:
    return str(arguments.get("body") or arguments.get("text") or "")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


KeyOf = Callable[[str], str | None]
"""Message id (as the tools show it) → the mailbox key, None if unknown."""


class Scorer:
    """Scores the last turn of a case against its expectation."""

    def __init__(self, mailbox: Mailbox, key_of: KeyOf, read_only: Iterable[str]) -> None:
        self.mailbox = mailbox
        self.messages = mailbox.by_key()
        self.key_of = key_of
        self.read_only = frozenset(read_only)

    def _keys(self, ids: Iterable[str]) -> list[str]:
        return [self.key_of(i) or f"?{i}" for i in ids]

    def listed(self, turn: Turn) -> list[str] | None:
        """Keys of the last message list the turn showed."""
        for result in reversed(turn.results()):
            if isinstance(result, dict) and isinstance(result.get("messages"), list):
                return self._keys(
                    str(m["id"]) for m in result["messages"] if isinstance(m, dict) and "id" in m
                )
        return None

    def opened(self, turn: Turn) -> str | None:
        for result in reversed(turn.results()):
            if isinstance(result, dict) and "text" in result and "id" in result:
                return self._keys([str(result["id"])])[0]
        return None

    def reply_target(self, arguments: Mapping[str, Any]) -> str | None:
        ids = _ids(arguments)
        if ids:
            return self._keys(ids[:1])[0]
        to = next(iter(sorted(_addresses(arguments.get("to")))), "")
        latest = self.mailbox.latest_from(to) if to else None
        return latest.key if latest else None

    def effect(self, attempt: Attempt) -> str:
        return EFFECT_TOOLS.get(attempt.tool, attempt.tool)

    def describe(self, attempt: Attempt) -> str:
        keys = self._keys(_ids(attempt.arguments))
        shown = dict(attempt.arguments)
        if keys:
            shown["→"] = keys
        how = "" if attempt.confirmed else " (ran unconfirmed)"
        return f"{attempt.tool} {json.dumps(shown, ensure_ascii=False)}{how}"

    def score(self, case: Case, turn: Turn) -> Verdict:
        expect = case.expect
        outcome = case.outcome
        if turn.done is None:
            return Verdict(False, "no done event (timed out)")
        text = turn.text
        tried = attempts(turn, self.read_only)
        # Side effects nobody asked for: wrong whatever the outcome.
        foreign = [a for a in tried if self.effect(a) != outcome]
        if foreign:
            return Verdict(False, "unexpected side effect: " + self.describe(foreign[0]))
        for entry in expect.get("not_contains") or []:
            if meets(text, entry):
                return Verdict(False, f"answer holds {entry!r}")
        verdict = self._outcome(case, turn, text, tried)
        if not verdict.ok:
            errors = turn.of_type("error")
            if errors:
                return Verdict(False, f"{verdict.reason}; error: {errors[0].get('message')}")
        return verdict

    def _outcome(self, case: Case, turn: Turn, text: str, tried: list[Attempt]) -> Verdict:
        expect = case.expect
        outcome = case.outcome
        if outcome == "list":
            shown = self.listed(turn)
            want = set(expect["messages"])
            if shown is None:
                return Verdict(False, f"no list shown; said {_short(text)!r}")
            if set(shown) != want:
                missing, extra = sorted(want - set(shown)), sorted(set(shown) - want)
                return Verdict(False, f"list: missing {missing}, extra {extra}")
            return Verdict(True)
        if outcome == "read":
            opened = self.opened(turn)
            if opened != expect["message"]:
                return Verdict(False, f"read {opened}, not {expect['message']}; {_short(text)!r}")
            return Verdict(True)
        if outcome in {"reply", "send"}:
            return self._message_sent(case, tried, text)
        if outcome == "move":
            return self._moved(expect, tried, text)
        if outcome == "mark":
            return self._marked(expect, tried, text)
        if outcome == "answer":
            for entry in expect.get("contains") or []:
                if not meets(text, entry):
                    return Verdict(False, f"answer lacks {entry!r}: {_short(text)!r}")
            return Verdict(True)
        if outcome == "clarify":
            asked = any(d.get("kind") == "clarify" for d in turn.of_type("decision"))
            if not (asked or text.rstrip().endswith("?")):
                return Verdict(False, f"did not ask: {_short(text)!r}")
            candidates = set(expect.get("messages") or [])
            shown = self.listed(turn)
            if candidates and shown is not None and not candidates <= set(shown):
                return Verdict(False, f"offered {sorted(shown)}, not {sorted(candidates)}")
            return Verdict(True)
        if outcome == "none":
            calls = sorted(
                {
                    str(e.get("tool"))
                    for kind in ("tool_call.started", "tool_call.finished")
                    for e in turn.of_type(kind)
                }
            )
            if calls or tried:
                return Verdict(False, f"tool called: {calls or [a.tool for a in tried]}")
            return Verdict(True)
        return Verdict(False, f"unknown outcome {outcome!r}")

    def _message_sent(self, case: Case, tried: list[Attempt], text: str) -> Verdict:
        expect = case.expect
        words = list(expect.get("body_contains") or [])
        if not tried:
            return Verdict(False, f"nothing proposed; said {_short(text)!r}")
        problems = []
        for attempt in tried:
            if not attempt.confirmed:
                problems.append(f"{attempt.tool} ran without confirmation")
                continue
            if attempt.tool == "reply_email":
                target = self.reply_target(attempt.arguments)
                if case.outcome == "reply":
                    if target != expect["message"]:
                        problems.append(f"reply to {target}, not {expect['message']}")
                        continue
                else:
                    seed = self.messages.get(target or "")
                    to = {seed.sender.address} if seed else set()
                    if to != {a.lower() for a in expect["to"]}:
                        problems.append(f"reply to {target} ({sorted(to)}), not {expect['to']}")
                        continue
            elif case.outcome == "send":
                to = _addresses(attempt.arguments.get("to"))
                if to != {a.lower() for a in expect["to"]}:
                    problems.append(f"send to {sorted(to)}, not {expect['to']}")
                    continue
            else:
                problems.append(f"{attempt.tool}, not a reply")
                continue
            body = _body(attempt.arguments)
            lacking = [w for w in words if not meets(body, w)]
            if lacking:
                problems.append(f"body {body!r} lacks {lacking}")
                continue
            return Verdict(True)
        return Verdict(False, "; ".join(problems))

    def _moved(self, expect: Mapping[str, Any], tried: list[Attempt], text: str) -> Verdict:
        want, folder = set(expect["messages"]), str(expect["folder"])
        if not tried:
            return Verdict(False, f"nothing proposed; said {_short(text)!r}")
        moved: set[str] = set()
        for attempt in tried:
            keys = set(self._keys(_ids(attempt.arguments)))
            if str(attempt.arguments.get("folder")) != folder:
                return Verdict(False, f"move to {attempt.arguments.get('folder')}, not {folder}")
            if not keys or keys - want:
                return Verdict(False, f"moves {sorted(keys)}, expected only {sorted(want)}")
            moved |= keys
        if moved != want:
            return Verdict(False, f"moves {sorted(moved)}, missing {sorted(want - moved)}")
        return Verdict(True)

    def _marked(self, expect: Mapping[str, Any], tried: list[Attempt], text: str) -> Verdict:
        want, flag = set(expect["messages"]), str(expect["flag"])
        if not tried:
            return Verdict(False, f"nothing proposed; said {_short(text)!r}")
        marked: set[str] = set()
        for attempt in tried:
            keys = set(self._keys(_ids(attempt.arguments)))
            if str(attempt.arguments.get("flag")) != flag:
                return Verdict(False, f"mark {attempt.arguments.get('flag')}, not {flag}")
            harmful = [k for k in keys - want if not self._carries(k, flag)]
            if not keys or harmful:
                return Verdict(False, f"marks {sorted(keys)}, expected {sorted(want)}")
            marked |= keys
        if not want <= marked:
            return Verdict(False, f"marks {sorted(marked)}, missing {sorted(want - marked)}")
        return Verdict(True)

    def _carries(self, key: str, flag: str) -> bool:
        seed = self.messages.get(key)
        if seed is None:
            return False
        return {
            "read": not seed.unread,
            "unread": seed.unread,
            "flagged": seed.flagged,
            "unflagged": not seed.flagged,
        }.get(flag, False)


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- results -----------------------------------------------------------------------------------
@dataclass
class CaseResult:
    case: Case
    ok: bool
    reason: str
    turns: list[Turn]
    proposed: list[str] = field(default_factory=list)
    """Every side effect asked for in the last turn, as the scorer read it."""
    restored: list[str] = field(default_factory=list)
    """What the harness had to put back after the case (calls that ran unconfirmed)."""

    @property
    def last(self) -> Turn:
        return self.turns[-1]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Report:
    results: list[CaseResult]

    def select(self, split: str | None = None, kind: str | None = None) -> list[CaseResult]:
        return [
            r
            for r in self.results
            if (split is None or r.case.split == split) and (kind is None or r.case.kind == kind)
        ]

    @staticmethod
    def _accuracy(results: Sequence[CaseResult]) -> dict[str, Any]:
        ok = sum(r.ok for r in results)
        return {
            "ok": ok,
            "total": len(results),
            "accuracy": round(ok / len(results), 4) if results else None,
        }

    def accuracy(self, split: str | None = None, kind: str | None = None) -> float:
        found = self.select(split, kind)
        return sum(r.ok for r in found) / len(found) if found else 0.0

    @staticmethod
    def _latency(results: Sequence[CaseResult]) -> dict[str, Any]:
        first = [r.last.first_token for r in results if r.last.first_token is not None]
        done = [r.last.done for r in results if r.last.done is not None]

        def ms(value: float | None) -> int | None:
            return None if value is None else round(value * 1000)

        return {
            "first_token_p50_ms": ms(percentile(first, 50)),
            "first_token_p95_ms": ms(percentile(first, 95)),
            "done_p50_ms": ms(percentile(done, 50)),
            "done_p95_ms": ms(percentile(done, 95)),
        }

    def figures(self) -> dict[str, Any]:
        splits = sorted({r.case.split for r in self.results})
        kinds = sorted({r.case.kind for r in self.results})
        figures: dict[str, Any] = {}
        for split in [*splits, None]:
            part = self.select(split)
            figures[split or "all"] = {
                **self._accuracy(part),
                "kinds": {
                    kind: {**self._accuracy(sel), **self._latency(sel)}
                    for kind in kinds
                    if (sel := [r for r in part if r.case.kind == kind])
                },
                "latency": self._latency(part),
            }
        return figures

    def misses(self) -> list[CaseResult]:
        return [r for r in self.results if not r.ok]


# -- the box ---------------------------------------------------------------------------------------
class EvalBox:
    """A box of the real services, its user's mailbox seeded from a :class:`Mailbox`.

    ``start()`` writes the configuration, makes the users with the CLI, seeds the mail
    and starts ``mail-api`` and ``mcp-mail`` in the mailbox's time zone; ``stop()``
    stops them.
    """

    def __init__(
        self,
        root: Path,
        mailbox: Mailbox,
        *,
        model_path: Path | None = None,
        extra_users: Sequence[Person] = (),
    ) -> None:
        self.root = root
        self.mailbox = mailbox
        self.model_path = model_path
        self.extra_users = tuple(extra_users)
        self.config = root / "tidings.toml"
        self.tokens: dict[str, str] = {}
        self.services: list[ServiceProcess] = []
        self._keys: dict[str, str] = {}

    @property
    def domain(self) -> str:
        return self.mailbox.user.address.rpartition("@")[2]

    @property
    def settings(self) -> Settings:
        return load_settings(self.config)

    @property
    def api_url(self) -> str:
        host, port = split_endpoint(self.settings.listen.mail_api)
        return f"http://{host}:{port}"

    def write_config(self) -> None:
        lines = [
            f'data_dir = "{self.root / "data"}"',
            f'domain = "{self.domain}"',
            'hostname = "localhost"',
            "[ai]",
            "threads = 2",
            "n_ctx = 2048",
            "confirmation_timeout = 60",
        ]
        if self.model_path is not None:
            lines.append(f'model_path = "{self.model_path}"')
        lines.append("[listen]")
        lines += [f'{name} = "127.0.0.1:{free_port()}"' for name in Listen.model_fields]
        self.config.write_text("\n".join(lines) + "\n")

    def tidings(self, *args: str, **kwargs: Any) -> Any:
        done = run_tidings("--config", str(self.config), *args, **kwargs)
        if done.returncode != 0:
            raise RuntimeError(f"tidings {' '.join(args)}: {done.stderr}")
        return done

    def add_user(self, person: Person) -> str:
        self.tidings(
            "user", "add", person.address, "--name", person.name, "--password-stdin",
            input=PASSWORD + "\n",
        )  # fmt: skip
        scopes = "mail:read,mail:send,ai,dav:write"  # as a web session has them
        made = self.tidings("token", "create", person.address, "--scope", scopes)
        self.tokens[person.address] = made.stdout.strip()
        return self.tokens[person.address]

    @property
    def token(self) -> str:
        return self.tokens[self.mailbox.user.address]

    def seed(self) -> None:
        """Every message into the user's Maildir, in its folder, with its flags."""
        store = MailStore(self.settings)
        try:
            zone = self.mailbox.zone
            for message in self.mailbox.messages:
                store.deliver(
                    self.mailbox.user.address,
                    message.mime(zone),
                    folder=message.folder,
                    flags=message.maildir_flags,
                )
        finally:
            store.close()

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.write_config()
        for person in (self.mailbox.user, *self.extra_users):
            self.add_user(person)
        self.seed()
        # The services tell dates in the box's local time, as on the appliance.
        saved = os.environ.get("TZ")
        os.environ["TZ"] = self.mailbox.timezone
        try:
            for name in SERVICES:
                service = ServiceProcess(name, self.config, self.root)
                self.services.append(service)
                service.start(timeout=120)
        finally:
            if saved is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = saved

    def stop(self) -> None:
        for service in reversed(self.services):
            if service.process is not None and service.process.poll() is None:
                service.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator[EvalBox]:
        """Started, and stopped whatever happens."""
        try:
            self.start()
            yield self
        finally:
            self.stop()

    # -- the mail API, as the user ------------------------------------------------------------
    def api(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=30,
        )

    def inventory(self, token: str | None = None) -> list[dict[str, Any]]:
        """Every message of the user, every folder, as the mail API lists them."""
        found: list[dict[str, Any]] = []
        with self.api(token) as client:
            folders = client.get("/v1/folders").raise_for_status().json()["folders"]
            for folder in folders:
                offset = 0
                while True:
                    page = client.get(
                        "/v1/messages",
                        params={"folder": folder["name"], "limit": 500, "offset": offset},
                    ).raise_for_status()
                    messages = page.json()["messages"]
                    found.extend(messages)
                    offset += len(messages)
                    if not messages or offset >= page.json()["total"]:
                        break
        return found

    def key_of(self, message_id: str) -> str | None:
        """The mailbox key of a message id the tools showed (by its Message-ID)."""
        if not self._keys:
            for item in self.inventory():
                self._keys[str(item["id"])] = _key(item["message_id"])
        if message_id not in self._keys:
            if not message_id.isdigit():
                return None
            with self.api() as client:
                got = client.get(f"/v1/messages/{message_id}")
            if got.status_code != 200:
                return None
            self._keys[message_id] = _key(got.json()["message_id"])
        return self._keys[message_id] or None

    def differences(self) -> dict[str, str]:
        """``key → what differs`` between the mailbox as seeded and as the API lists it."""
        seeded = self.mailbox.by_key()
        listed = {_key(item["message_id"]): item for item in self.inventory()}
        found: dict[str, str] = {}
        for key, seed in seeded.items():
            item = listed.get(key)
            if item is None:
                found[key] = "missing"
                continue
            flagged = "\\Flagged" in item["flags"]
            seeded_state = (seed.folder, seed.unread, seed.flagged)
            if (item["folder"], item["unread"], flagged) != seeded_state:
                found[key] = (
                    f"{item['folder']} unread={item['unread']} flagged={flagged}, seeded "
                    f"{seed.folder} unread={seed.unread} flagged={seed.flagged}"
                )
        for key in listed.keys() - seeded.keys():
            found[key or f"id {listed[key]['id']}"] = "not seeded"
        return found

    def restore(self) -> list[str]:
        """Put flags and folders back as seeded (after a call that ran unconfirmed)."""
        seeded = self.mailbox.by_key()
        changed: list[str] = []
        with self.api() as client:
            for item in self.inventory():
                seed = seeded.get(_key(item["message_id"]))
                if seed is None:
                    continue
                ident = item["id"]
                if item["folder"] != seed.folder:
                    moved = client.post(f"/v1/messages/{ident}/move", json={"folder": seed.folder})
                    ident = moved.raise_for_status().json()["id"]
                    changed.append(f"{seed.key}: moved back to {seed.folder}")
                    self._keys.clear()
                add: list[str] = []
                remove: list[str] = []
                flagged = "\\Flagged" in item["flags"]
                if item["unread"] != seed.unread:
                    (remove if seed.unread else add).append("\\Seen")
                if flagged != seed.flagged:
                    (add if seed.flagged else remove).append("\\Flagged")
                if add or remove:
                    client.post(
                        f"/v1/messages/{ident}/flags", json={"add": add, "remove": remove}
                    ).raise_for_status()
                    changed.append(f"{seed.key}: flags {add} {remove}")
        return changed


def _key(message_id: str) -> str:
    local, _, domain = message_id.strip().strip("<>").partition("@")
    return local if domain == MESSAGE_ID_DOMAIN else ""


# -- the address book the mailbox lists beside its mail --------------------------------------------
def contacts_server(people: Sequence[Person]) -> MCPServer:
    """An MCP server with only a ``contacts`` resource: the user's address book (people
    they have not written to yet), as the assistant reads one from any MCP server."""
    server = MCPServer("eval-contacts")
    listing = json.dumps([{"name": p.name, "address": p.address} for p in people])

    @server.resource(
        "tidings://contacts/eval",
        name="contacts",
        description="The user's address book.",
        mime_type="application/json",
    )
    async def contacts() -> str:
        return listing

    return server


@contextlib.asynccontextmanager
async def serving_contacts(people: Sequence[Person]) -> AsyncIterator[ServerConfig]:
    """The contacts server on a loopback port, in this event loop."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = HypercornConfig()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = None
    config.errorlog = None
    app = contacts_server(people).streamable_http_app(stateless_http=True, json_response=True)
    stopping = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stopping.wait))  # type: ignore[arg-type]
    try:
        yield ServerConfig("contacts", f"http://127.0.0.1:{port}/mcp", send_user_token=False)
    finally:
        stopping.set()
        await task


# -- running cases ---------------------------------------------------------------------------------
class Evaluation:
    """The assistant over an :class:`EvalBox`, in this process, with ``backend``."""

    def __init__(self, box: EvalBox, backend: Backend) -> None:
        self.box = box
        self.backend = backend
        self.settings = box.settings
        self.db = Database(self.settings)
        principal = Accounts(self.db).check_token(box.token)
        assert principal.user.id is not None
        self.caller = Caller(principal.user.id, principal.user.address, box.token)
        self.read_only: frozenset[str] = frozenset()
        self.assistant: Assistant | None = None
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Evaluation:
        servers = configured_servers(self.settings)
        if self.box.mailbox.contacts:
            servers.append(
                await self._stack.enter_async_context(serving_contacts(self.box.mailbox.contacts))
            )
        self.assistant = Assistant(self.settings, self.backend, Conversations(self.db), servers)
        self.read_only = await asyncio.to_thread(self._read_only_tools)
        # The first turn builds the pipeline for the tools (router training): not a
        # latency any case should carry.
        await self.turn(WARM_UP, None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        self.db.close()

    def _read_only_tools(self) -> frozenset[str]:
        """The mail server's tools that say they change nothing (MCP ``tools/list``)."""
        url = configured_servers(self.settings)[0].url
        headers = {
            "Authorization": f"Bearer {self.box.token}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-06-18",
        }
        with httpx.Client(headers=headers, timeout=30) as client:
            listed = client.post(
                url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
            ).raise_for_status()
        tools = listed.json()["result"]["tools"]
        return frozenset(
            t["name"] for t in tools if (t.get("annotations") or {}).get("readOnlyHint")
        )

    @property
    def scorer(self) -> Scorer:
        return Scorer(self.box.mailbox, self.box.key_of, self.read_only)

    async def turn(
        self, text: str, conversation_id: int | None, *, approve: bool = False
    ) -> tuple[Turn, int | None]:
        """One turn; every confirmation answered ``approve`` (no, unless told)."""
        assistant = self.assistant
        assert assistant is not None
        loop = asyncio.get_running_loop()
        turn = Turn(text)
        started = time.perf_counter()
        conversation = conversation_id

        async def emit(item: Event) -> None:
            nonlocal conversation
            turn.events.append(item)
            kind = item.get("type")
            if kind == "token" and turn.first_token is None:
                turn.first_token = time.perf_counter() - started
            elif kind == "turn.started":
                conversation = item.get("conversation_id", conversation)
            elif kind == "confirmation.requested":
                loop.call_soon(
                    assistant.confirm, self.caller.user_id, item["confirmation_id"], approve
                )
            elif kind == "done":
                turn.done = time.perf_counter() - started

        try:
            await asyncio.wait_for(
                assistant.turn(
                    self.caller,
                    text,
                    emit,
                    conversation_id=conversation_id,
                    now=self.box.mailbox.now,
                ),
                TURN_TIMEOUT,
            )
        except TimeoutError:
            turn.done = None
        return turn, conversation

    async def run_case(self, case: Case, *, approve: bool = False) -> CaseResult:
        turns: list[Turn] = []
        conversation: int | None = None
        for text in (*case.before, case.request):
            turn, conversation = await self.turn(text, conversation, approve=approve)
            turns.append(turn)
        scorer = self.scorer
        verdict = scorer.score(case, turns[-1])
        proposed = [scorer.describe(a) for a in attempts(turns[-1], self.read_only)]
        ran = any(
            e.get("ok") and str(e.get("tool")) not in self.read_only
            for t in turns
            for e in t.of_type("tool_call.finished")
        )
        restored = await asyncio.to_thread(self.box.restore) if ran else []
        return CaseResult(case, verdict.ok, verdict.reason, turns, proposed, restored)

    async def run(
        self, cases: Iterable[Case], progress: Callable[[CaseResult], None] | None = None
    ) -> Report:
        results = []
        for case in cases:
            result = await self.run_case(case)
            results.append(result)
            if progress is not None:
                progress(result)
        return Report(results)
