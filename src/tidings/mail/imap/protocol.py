"""IMAP wire syntax: reading a command (with its literals) and tokenising it, and
writing strings back.

Our own rather than pymap's: pymap's parser builds pymap's command objects and reads
literals inside its connection loop, so it cannot be used without its engine. This one
is small, has no state beyond one command, and is fuzzed (tests/test_imap_parser.py).

A command is read whole before it is parsed: lines and literals, each bounded
(:data:`MAX_LINE`, the caller's literal limit), so a client can neither make us buffer
without bound nor desynchronise the stream — a literal we refuse is either never
announced (synchronising: we answer NO instead of ``+``) or read and discarded
(non-synchronising, LITERAL+ / LITERAL-).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

#: Longest line (between literals) we accept: Dovecot's default is 64 KiB too.
MAX_LINE = 65536
#: Largest literal outside APPEND (a search string, a mailbox name).
MAX_SMALL_LITERAL = 65536


class ProtocolError(Exception):
    """The command cannot be understood: answer ``BAD`` with this text."""


class LineTooLong(ProtocolError):
    pass


class LiteralRefused(Exception):
    """A literal too large: already consumed or never announced; answer with this."""

    def __init__(self, tag: bytes, text: bytes) -> None:
        super().__init__(text)
        self.tag = tag
        self.text = text


@dataclass(frozen=True)
class Atom:
    value: bytes

    def upper(self) -> bytes:
        return self.value.upper()


@dataclass(frozen=True)
class String:
    value: bytes
    literal: bool = False
    binary: bool = False  # literal8 (~{n}), RFC 3516


Token = Atom | String | list["Token"]

_LITERAL_AT_END = re.compile(rb"(~?)\{(\d{1,10})(\+?)\}\r?\n?$")


@dataclass
class RawCommand:
    text: bytes  # the command with literal contents inlined
    literals: dict[int, tuple[int, bool]]  # offset in text → (length, literal8)


async def read_command(
    reader: asyncio.StreamReader,
    send_continuation: Callable[[], Awaitable[None]],
    literal_limit: Callable[[bytes], int],
) -> RawCommand | None:
    """One whole command, or None at end of stream. ``literal_limit`` gets the line
    so far (tag and command name) and says how large a literal may be."""
    parts: list[bytes] = []
    literals: dict[int, tuple[int, bool]] = {}
    size = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial and not parts:
                raise ProtocolError("Command not terminated") from None
            return None
        except asyncio.LimitOverrunError:
            await _discard_line(reader)
            raise LineTooLong("Command line too long") from None
        size += len(line)
        if size > MAX_LINE * 4 + sum(n for n, _ in literals.values()):
            raise LineTooLong("Command too long")
        match = _LITERAL_AT_END.search(line)
        if match is None:
            parts.append(line.rstrip(b"\r\n"))
            return RawCommand(b"".join(parts), literals)
        head = line[: match.start()]
        parts.append(head)
        length = int(match[2])
        plus = bool(match[3])
        # one limit for all the literals of a command (MULTIAPPEND sends several)
        limit = literal_limit(b"".join(parts)) - sum(n for n, _ in literals.values())
        if length > limit:
            tag = b"".join(parts).split(b" ", 1)[0] or b"*"
            if plus:
                await _discard(reader, length)
                await _discard_line(reader)
                raise LiteralRefused(tag, b"[TOOBIG] Literal too large")
            raise LiteralRefused(tag, b"[TOOBIG] Literal too large")
        if not plus:
            await send_continuation()
        try:
            data = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            return None
        offset = sum(len(p) for p in parts)
        literals[offset] = (length, bool(match[1]))
        parts.append(data)
        size += length


async def _discard(reader: asyncio.StreamReader, length: int) -> None:
    while length > 0:
        chunk = await reader.read(min(length, 65536))
        if not chunk:
            return
        length -= len(chunk)


async def _discard_line(reader: asyncio.StreamReader) -> None:
    while True:
        try:
            await reader.readuntil(b"\n")
            return
        except asyncio.LimitOverrunError as exc:
            await reader.readexactly(exc.consumed)
        except asyncio.IncompleteReadError:
            return


_ATOM_STOP = frozenset(b' ()"{\r\n') | frozenset(range(0, 32)) | {127}


class Tokenizer:
    """Tokens of one command. Atoms may carry a bracketed section with spaces and
    parentheses in it (``BODY[HEADER.FIELDS (FROM TO)]<0.100>``), as in Dovecot."""

    def __init__(self, raw: RawCommand) -> None:
        self.text = raw.text
        self.literals = raw.literals
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def space(self) -> None:
        if self.pos < len(self.text) and self.text[self.pos] == 0x20:
            self.pos += 1
        else:
            raise ProtocolError("Expected a space")

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == 0x20:
            self.pos += 1

    def token(self, depth: int = 0) -> Token:
        if depth > 32:
            raise ProtocolError("Too deeply nested")
        text, pos = self.text, self.pos
        if pos in self.literals:
            length, binary = self.literals[pos]
            self.pos = pos + length
            return String(text[pos : pos + length], literal=True, binary=binary)
        if pos >= len(text):
            raise ProtocolError("Missing argument")
        char = text[pos]
        if char == 0x22:  # "
            return self._quoted()
        if char == 0x28:  # (
            self.pos += 1
            items: list[Token] = []
            while True:
                if self.pos >= len(text):
                    raise ProtocolError("Missing )")
                if text[self.pos] == 0x29 and self.pos not in self.literals:
                    self.pos += 1
                    return items
                if items:
                    if text[self.pos] != 0x20:
                        raise ProtocolError("Expected a space in list")
                    self.pos += 1
                    if self.pos < len(text) and text[self.pos] == 0x29:
                        # "(a )": Dovecot accepts a trailing space, so do we
                        continue
                items.append(self.token(depth + 1))
        return self._atom()

    def _quoted(self) -> String:
        text = self.text
        out = bytearray()
        pos = self.pos + 1
        while pos < len(text):
            char = text[pos]
            if char == 0x5C:  # backslash
                if pos + 1 >= len(text) or text[pos + 1] not in (0x22, 0x5C):
                    raise ProtocolError("Invalid escape in quoted string")
                out.append(text[pos + 1])
                pos += 2
                continue
            if char == 0x22:
                self.pos = pos + 1
                return String(bytes(out))
            if char in (0x0D, 0x0A, 0):
                raise ProtocolError("Invalid character in quoted string")
            out.append(char)
            pos += 1
        raise ProtocolError("Unterminated quoted string")

    def _atom(self) -> Atom:
        text = self.text
        start = pos = self.pos
        while pos < len(text) and pos not in self.literals:
            char = text[pos]
            if char == 0x5B:  # [ ... ] may hold spaces and parentheses
                end = text.find(b"]", pos)
                if end > 0 and not any(p in self.literals for p in range(pos, end)):
                    pos = end + 1
                    continue
            if char in _ATOM_STOP or char == 0x29:
                break
            pos += 1
        if pos == start:
            raise ProtocolError("Unexpected character")
        self.pos = pos
        return Atom(text[start:pos])


# -- writing ---------------------------------------------------------------------
_QUOTABLE = re.compile(rb"^[\x01-\x09\x0b\x0c\x0e-\x21\x23-\x5b\x5d-\x7f]*$")


def quoted(value: bytes) -> bytes:
    """A string as a quoted string when it can be one, else as a literal."""
    if len(value) < 1024 and _QUOTABLE.match(value):
        return b'"' + value + b'"'
    return literal(value)


_QUOTABLE_UTF8 = re.compile(rb'^[^\x00\r\n"\\]*$')


def quoted_utf8(value: bytes) -> bytes:
    """Like :func:`quoted`, with UTF-8 allowed in the quotes (after UTF8=ACCEPT)."""
    if len(value) < 1024 and _QUOTABLE_UTF8.match(value):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return literal(value)
        return b'"' + value + b'"'
    return literal(value)


def literal(value: bytes) -> bytes:
    return b"{%d}\r\n" % len(value) + value


def nstring(value: bytes | None) -> bytes:
    return b"NIL" if value is None else quoted(value)


def astring_text(token: Token) -> bytes:
    """The bytes of an astring argument (atom, quoted or literal)."""
    if isinstance(token, Atom):
        return token.value
    if isinstance(token, String):
        return token.value
    raise ProtocolError("Expected a string")


# -- modified UTF-7 mailbox names (RFC 3501 §5.1.3) -----------------------------
def mutf7_decode(name: bytes) -> str:
    """Decode a mailbox name; ValueError if it is not valid modified UTF-7."""
    out: list[str] = []
    i = 0
    while i < len(name):
        char = name[i]
        if char >= 0x80 or char < 0x20 or char == 0x7F:
            raise ValueError("8-bit or control character in mailbox name")
        if char != 0x26:
            out.append(chr(char))
            i += 1
            continue
        end = name.find(b"-", i)
        if end < 0:
            raise ValueError("unterminated & sequence")
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            import base64

            if not re.fullmatch(rb"[A-Za-z0-9+,]+", chunk):
                raise ValueError("invalid modified base64")
            padded = chunk.replace(b",", b"/") + b"=" * (-len(chunk) % 4)
            try:
                raw = base64.b64decode(padded, validate=True)
                text = raw.decode("utf-16-be")
            except (ValueError, UnicodeDecodeError) as exc:
                raise ValueError("invalid modified UTF-7") from exc
            if any(0x20 <= ord(c) < 0x7F for c in text):
                raise ValueError("printable ASCII encoded in modified UTF-7")
            out.append(text)
        i = end + 1
    return "".join(out)


def mutf7_encode(name: str) -> bytes:
    import base64

    out = bytearray()
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.extend(b"&" + base64.b64encode(data).rstrip(b"=").replace(b"/", b",") + b"-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) < 0x7F:
            flush()
            out.extend(b"&-" if char == "&" else char.encode("ascii"))
        else:
            pending.append(char)
    flush()
    return bytes(out)
