"""The IMAP command reader and tokenizer, fuzzed (hypothesis): whatever bytes a client
sends, reading a command either yields tokens or raises the protocol's own error (a
BAD or NO for that command) — never another exception — and never buffers more than
its bounds."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Service
from tests.test_imap import connect_tls
from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.mail.imap.protocol import (
    MAX_LINE,
    Atom,
    LiteralRefused,
    ProtocolError,
    String,
    Tokenizer,
    mutf7_decode,
    mutf7_encode,
    read_command,
)
from tidings.mail.store import MailStore


async def _read(data: bytes, limit: int = 1024) -> list[object]:
    reader = asyncio.StreamReader(limit=MAX_LINE)
    reader.feed_data(data)
    reader.feed_eof()
    continuations: list[int] = []

    async def send_continuation() -> None:
        continuations.append(1)

    results: list[object] = []
    for _ in range(20):
        try:
            raw = await read_command(reader, send_continuation, lambda line: limit)
        except (ProtocolError, LiteralRefused) as exc:
            results.append(exc)
            continue
        if raw is None:
            break
        assert len(raw.text) <= 4 * MAX_LINE + sum(n for n, _ in raw.literals.values())
        tokens = Tokenizer(raw)
        try:
            while not tokens.at_end():
                results.append(tokens.token())
                if not tokens.at_end():
                    tokens.space()
        except ProtocolError as exc:
            results.append(exc)
    return results


def read(data: bytes, limit: int = 1024) -> list[object]:
    return asyncio.run(_read(data, limit))


IMAP_ALPHABET = st.sampled_from(
    [
        b"a",
        b"1",
        b" ",
        b"(",
        b")",
        b"[",
        b"]",
        b"<",
        b">",
        b'"',
        b"\\",
        b"{",
        b"}",
        b"+",
        b"~",
        b"*",
        b"%",
        b"\r\n",
        b"\n",
        b"\x00",
        b"\xff",
        b"{3}\r\n",
        b"{2+}\r\n",
        b"BODY[",
        b"HEADER.FIELDS (",
        b"FETCH",
        b"UID",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(IMAP_ALPHABET, max_size=60).map(b"".join))
def test_any_input_gives_tokens_or_a_protocol_error(data: bytes) -> None:
    for item in read(data):
        assert isinstance(item, Atom | String | list | ProtocolError | LiteralRefused)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    read(data)


def test_literals_and_sections() -> None:
    (tag, name, seq, items, uid, mods) = read(
        b'a1 FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From "To")]<0.10> FLAGS) {5}\r\nhello (X)\r\n'
    )
    assert tag == Atom(b"a1") and name == Atom(b"FETCH") and seq == Atom(b"1:*")
    assert items == [Atom(b'BODY.PEEK[HEADER.FIELDS (From "To")]<0.10>'), Atom(b"FLAGS")]
    assert uid == String(b"hello", literal=True)
    assert mods == [Atom(b"X")]


def test_a_too_large_literal_is_refused_without_reading_it() -> None:
    items = read(b"a1 APPEND INBOX {5000}\r\na2 NOOP\r\n", limit=100)
    assert isinstance(items[0], LiteralRefused) and items[0].tag == b"a1"
    assert items[1:] == [Atom(b"a2"), Atom(b"NOOP")]  # the stream stays in step


def test_a_too_large_non_synchronising_literal_is_skipped() -> None:
    items = read(b"a1 APPEND INBOX {10+}\r\n0123456789\r\na2 NOOP\r\n", limit=5)
    assert isinstance(items[0], LiteralRefused)
    assert items[1:] == [Atom(b"a2"), Atom(b"NOOP")]


def test_a_line_longer_than_the_limit_is_an_error_not_a_buffer() -> None:
    items = read(b"a1 " + b"x" * (MAX_LINE * 2) + b"\r\na2 NOOP\r\n")
    assert isinstance(items[0], ProtocolError)
    assert items[1:] == [Atom(b"a2"), Atom(b"NOOP")]


@given(st.text(max_size=30))
def test_modified_utf7_round_trips(name: str) -> None:
    name = "".join(c for c in name if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF)
    assert mutf7_decode(mutf7_encode(name)) == name


# -- the same, against a live server: every command gets its own tagged answer ------
COMMANDS = st.sampled_from(
    [
        b"FETCH",
        b"UID FETCH",
        b"STORE",
        b"SEARCH",
        b"UID SEARCH",
        b"SORT",
        b"THREAD",
        b"LIST",
        b"STATUS",
        b"SELECT",
        b"EXAMINE",
        b"COPY",
        b"MOVE",
        b"APPEND",
        b"CREATE",
        b"ENABLE",
        b"ID",
        b"NOOP",
        b"EXPUNGE",
        b"UID EXPUNGE",
        b"LSUB",
        b"RENAME",
        b"GETQUOTA",
    ]
)
ARGUMENTS = st.lists(
    st.sampled_from(
        [
            b"1",
            b"1:*",
            b"*",
            b"0",
            b"4294967296",
            b"$",
            b"INBOX",
            b'"Sent"',
            b"(",
            b")",
            b"(FLAGS)",
            b"BODY[1.2]<0.5>",
            b"BODY.PEEK[HEADER.FIELDS (FROM)]",
            b"BINARY[1]",
            b"ENVELOPE",
            b"NOT",
            b"OR",
            b"ALL",
            b"TEXT",
            b'"x"',
            b"\\Seen",
            b"+FLAGS",
            b"(UNCHANGEDSINCE 1)",
            b"RETURN",
            b"(MIN MAX)",
            b"CHARSET",
            b"UTF-8",
            b"REFERENCES",
            b"(QRESYNC (1 1))",
            b"&Jjo-",
            b"&",
            b"a/b",
            b"../x",
            b"NIL",
            b"~{1+}\r\nx",
        ]
    ),
    max_size=8,
)


@pytest.fixture
def live(run_service: Callable[[str], Service], accounts: Accounts, settings: Settings) -> Any:
    accounts.add_user("fuzz@example.test", "fuzz-password-1")
    service = run_service("imap")
    MailStore(settings).deliver(
        "fuzz@example.test", b"From: a@example.org\r\nSubject: s\r\n\r\nbody\r\n"
    )
    client = connect_tls(settings)
    client.login("fuzz@example.test", "fuzz-password-1")
    client.select("INBOX")
    yield client, service
    client.logout()


@pytest.mark.slow
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(COMMANDS, ARGUMENTS)
def test_live_server_answers_every_command_with_its_own_code(
    live: Any, command: bytes, arguments: list[bytes]
) -> None:
    client, service = live
    tag = client._new_tag()
    client.send(tag + b" " + b" ".join([command, *arguments]) + b"\r\n")
    while True:
        line = client.readline()
        assert line, "the server closed the connection"
        if line.startswith(b"+ "):
            client.send(b"\r\n")  # finish a literal the generator opened
            continue
        if line.startswith(tag + b" "):
            break
    assert re.match(rb"^\S+ (OK|NO|BAD) ", line), line
    assert b"SERVERBUG" not in line, line
    assert "Traceback" not in service.log.read_text()
