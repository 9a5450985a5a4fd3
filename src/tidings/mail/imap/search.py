"""SEARCH keys (RFC 3501 §6.4.4, RFC 7162 MODSEQ): parsed into a tree, evaluated per
message. Flags, sizes, dates and UIDs come from the folder state (no file opened);
header and text keys read the message, decode RFC 2047 words, transfer encodings and
charsets with Python's ``email`` package, and match substrings case-insensitively,
as Dovecot does without an FTS plugin."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parsedate_tz

from tidings.mail.imap.folders import Msg
from tidings.mail.imap.mime import address_text, as_served, parse_header
from tidings.mail.imap.protocol import Atom, ProtocolError, String, Token

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


class SearchError(ProtocolError):
    pass


def parse_date(token: Token) -> dt.date:
    if isinstance(token, list):
        raise SearchError("Expected a date")
    text = token.value.decode("ascii", "replace")
    match = re.fullmatch(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})", text)
    if not match or match[2].lower() not in MONTHS:
        raise SearchError("Invalid date")
    try:
        return dt.date(int(match[3]), MONTHS.index(match[2].lower()) + 1, int(match[1]))
    except ValueError as exc:
        raise SearchError("Invalid date") from exc


def parse_sequence_set(text: bytes, last: int) -> list[tuple[int, int]]:
    """``1:3,5,7:*`` → ranges, ``*`` as ``last``; raises on bad syntax."""
    ranges = []
    if not text:
        raise SearchError("Empty sequence set")
    for item in text.split(b","):
        first, colon, second = item.partition(b":")
        try:
            lo = last if first == b"*" else int(first)
            hi = (last if second == b"*" else int(second)) if colon else lo
        except ValueError:
            raise SearchError("Invalid sequence set") from None
        if (lo < 1 and first != b"*") or (hi < 1 and second != b"*" and colon):
            raise SearchError("Invalid sequence set")
        if lo > 0xFFFFFFFF or hi > 0xFFFFFFFF:
            raise SearchError("Invalid sequence set")
        if lo > hi:
            lo, hi = hi, lo
        ranges.append((lo, hi))
    return ranges


def in_ranges(value: int, ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= value <= hi for lo, hi in ranges)


_SEQSET = re.compile(rb"^(\d+|\*)(:(\d+|\*))?(,(\d+|\*)(:(\d+|\*))?)*$")


@dataclass
class Item:
    """One message being searched."""

    msg: Msg
    seq: int
    recent: bool
    loader: Callable[[Msg], bytes | None]
    _raw: bytes | None = None
    _parsed: Message | None = None
    _loaded: bool = False
    _fields: list[tuple[str, bytes]] | None = None
    header_cache: dict[str, list[str]] = field(default_factory=dict)

    def raw(self) -> bytes:
        if not self._loaded:
            self._raw = self.loader(self.msg)
            self._loaded = True
        return self._raw or b""

    def parsed(self) -> Message:
        if self._parsed is None:
            self._parsed = message_from_bytes(self.raw(), policy=policy.compat32)
        return self._parsed

    def fields(self) -> list[tuple[str, bytes]]:
        if self._fields is None:
            self._fields = parse_header(as_served(_header_block(self.raw()) + b"\n"))
        return self._fields

    def addresses(self, name: str) -> list[str]:
        key = "\0addr:" + name
        cached = self.header_cache.get(key)
        if cached is None:
            raw = [v for k, v in self.fields() if k == name]
            cached = [decode_words(address_text(v)) for v in raw]
            cached += self.headers(name)
            self.header_cache[key] = cached
        return cached

    def headers(self, name: str) -> list[str]:
        cached = self.header_cache.get(name)
        if cached is None:
            cached = [decode_words(_utf8(v)) for k, v in self.fields() if k == name]
            self.header_cache[name] = cached
        return cached


def _utf8(value: bytes) -> str:
    """Header bytes as text: UTF-8 when they are (8-bit headers, RFC 6532), else
    Latin-1."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def decode_words(value: object) -> str:
    text = str(value)
    if any("\udc80" <= c <= "\udcff" for c in text):
        # raw 8-bit in a header (compat32 keeps it as surrogates): UTF-8, as sent
        text = text.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    try:
        return str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError, AssertionError):
        return text


def body_text(message: Message) -> str:
    out: list[str] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        if part.get_content_maintype() not in ("text", "message"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            out.append(payload.decode(charset, "replace"))
        except LookupError:
            out.append(payload.decode("utf-8", "replace"))
    return "\n".join(out)


def _header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    end2 = raw.find(b"\n\n")
    ends = [e for e in (end, end2) if e >= 0]
    return raw[: min(ends)] if ends else raw


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


Node = Callable[[Item], bool]


@dataclass
class Context:
    last_seq: int
    last_uid: int
    saved: list[int] | None = None  # SEARCHRES $
    uses_modseq: bool = False
    local_tz: dt.tzinfo = dt.UTC
    #: trigram index answers, by (column or "" for both, folded needle); None: scan
    fts: dict[tuple[str, str], set[int]] | None = None
    fts_requests: list[tuple[str, str]] = field(default_factory=list)
    indexed: set[int] = field(default_factory=set)  # rows the trigram index holds


class Parser:
    def __init__(self, tokens: list[Token], ctx: Context, charset_allowed: bool = True) -> None:
        self.tokens = tokens
        self.pos = 0
        self.ctx = ctx
        self.depth = 0

    def parse_all(self) -> Node:
        nodes = []
        while self.pos < len(self.tokens):
            nodes.append(self.key())
        if not nodes:
            raise SearchError("Missing search key")
        return _and(nodes)

    def next(self) -> Token:
        if self.pos >= len(self.tokens):
            raise SearchError("Missing search argument")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def astring(self) -> str:
        token = self.next()
        if isinstance(token, list):
            raise SearchError("Expected a string")
        return token.value.decode("utf-8", "replace")

    def number(self) -> int:
        token = self.next()
        if not isinstance(token, Atom) or not token.value.isdigit():
            raise SearchError("Expected a number")
        return int(token.value)

    def key(self) -> Node:
        self.depth += 1
        if self.depth > 200:  # NOT NOT NOT ... or OR OR OR ...: a BAD, not a crash
            raise SearchError("Search program too deeply nested")
        try:
            return self._key()
        finally:
            self.depth -= 1

    def _key(self) -> Node:
        token = self.next()
        if isinstance(token, list):
            sub = Parser(token, self.ctx)
            sub.depth = self.depth
            return sub.parse_all()
        if isinstance(token, String):
            raise SearchError("Unexpected string in search")
        word = token.value.upper()
        flag_keys = {
            b"ANSWERED": ("\\Answered", True),
            b"DELETED": ("\\Deleted", True),
            b"DRAFT": ("\\Draft", True),
            b"FLAGGED": ("\\Flagged", True),
            b"SEEN": ("\\Seen", True),
            b"UNANSWERED": ("\\Answered", False),
            b"UNDELETED": ("\\Deleted", False),
            b"UNDRAFT": ("\\Draft", False),
            b"UNFLAGGED": ("\\Flagged", False),
            b"UNSEEN": ("\\Seen", False),
        }
        if word in flag_keys:
            flag, want = flag_keys[word]
            return lambda item: (flag in item.msg.flags) == want
        if word == b"ALL":
            return lambda item: True
        if word == b"NEW":
            return lambda item: item.recent and "\\Seen" not in item.msg.flags
        if word == b"OLD":
            return lambda item: not item.recent
        if word == b"RECENT":
            return lambda item: item.recent
        if word in (b"KEYWORD", b"UNKEYWORD"):
            keyword = self.astring()
            want = word == b"KEYWORD"
            low = keyword.lower()
            return lambda item: any(f.lower() == low for f in item.msg.flags) == want
        if word == b"NOT":
            inner = self.key()
            return lambda item: not inner(item)
        if word == b"OR":
            left, right = self.key(), self.key()
            return lambda item: left(item) or right(item)
        if word in (b"LARGER", b"SMALLER"):
            size = self.number()
            if word == b"LARGER":
                return lambda item: item.msg.size > size
            return lambda item: item.msg.size < size
        if word in (b"BEFORE", b"ON", b"SINCE"):
            day = parse_date(self.next())
            tz = self.ctx.local_tz

            def internal(item: Item) -> dt.date:
                return dt.datetime.fromtimestamp(item.msg.internal_date, tz).date()

            return _date_node(word, day, internal)
        if word in (b"SENTBEFORE", b"SENTON", b"SENTSINCE"):
            day = parse_date(self.next())
            return _date_node(word[4:], day, _sent_date)
        if word == b"UID":
            token = self.next()
            if isinstance(token, Atom) and token.value == b"$":
                return self._saved(by_uid=True)
            if not isinstance(token, Atom) or not _SEQSET.match(token.value):
                raise SearchError("Invalid UID set")
            ranges = parse_sequence_set(token.value, self.ctx.last_uid)
            return lambda item: in_ranges(item.msg.uid, ranges)
        if word == b"$":
            return self._saved(by_uid=False)
        if _SEQSET.match(word):
            ranges = parse_sequence_set(word, self.ctx.last_seq)
            return lambda item: in_ranges(item.seq, ranges)
        if word == b"MODSEQ":
            self.ctx.uses_modseq = True
            token = self.next()
            if isinstance(token, String):  # entry name and type: MODSEQ "/flags/\\seen" all N
                self.next()
                token = self.next()
            if not isinstance(token, Atom) or not token.value.isdigit():
                raise SearchError("Invalid MODSEQ")
            modseq = int(token.value)
            return lambda item: item.msg.modseq >= modseq
        if word == b"SUBJECT":
            needle = _fold(self.astring())
            return lambda item: any(needle in _fold(v) for v in item.headers("subject"))
        if word in (b"FROM", b"TO", b"CC", b"BCC"):
            name = word.decode().lower()
            needle = _fold(self.astring())
            return lambda item: any(needle in _fold(v) for v in item.addresses(name))
        if word == b"HEADER":
            name = self.astring().lower()
            needle = _fold(self.astring())
            return lambda item: any(needle in _fold(v) for v in item.headers(name))
        if word in (b"BODY", b"TEXT"):
            needle = _fold(self.astring())
            scan = _body_scan(needle) if word == b"BODY" else _text_scan(needle)
            results, indexed = self.ctx.fts, self.ctx.indexed
            if results is None or len(needle) < 3:
                return scan
            # Rows already in the trigram index (the same folded text the scan reads)
            # are answered by it; the others are scanned.
            request = ("body" if word == b"BODY" else "", needle)
            self.ctx.fts_requests.append(request)
            return lambda item: (
                item.msg.row in results.get(request, ()) if item.msg.row in indexed else scan(item)
            )
        if word in (b"OLDER", b"YOUNGER"):
            seconds = self.number()
            import time

            if word == b"OLDER":
                return lambda item: time.time() - item.msg.internal_date >= seconds
            return lambda item: time.time() - item.msg.internal_date <= seconds
        raise SearchError(f"Unknown search key {word.decode('ascii', 'replace')}")

    def _saved(self, by_uid: bool) -> Node:
        saved = set(self.ctx.saved or [])
        return lambda item: item.msg.uid in saved


_ENCODED = re.compile(
    rb"=\?|content-transfer-encoding:\s*(?:base64|quoted-printable)|multipart/", re.I
)
_NEEDLES: dict[str, re.Pattern[bytes]] = {}


def _plain_verdict(item: Item, needle: str, *, whole: bool) -> bool | None:
    """The answer without parsing, when the bytes alone decide it: an ASCII word
    (no white space, which unfolding could change) in a single-part message with no
    encoded words or transfer encodings reads the same raw as decoded. None when the
    message needs the full decoding."""
    if not needle.isascii() or any(c.isspace() for c in needle):
        return None
    raw = item.raw()
    if _ENCODED.search(raw):
        return None
    start = 0
    if not whole:
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            end = raw.find(b"\n\n")
        start = end if end >= 0 else len(raw)
    pattern = _NEEDLES.get(needle)
    if pattern is None:
        pattern = re.compile(re.escape(needle.encode("ascii")), re.I)
        if len(_NEEDLES) < 1000:
            _NEEDLES[needle] = pattern
    return pattern.search(raw, start) is not None


def indexed_text(raw: bytes) -> tuple[str, str]:
    """(header, body) as SEARCH TEXT/BODY read them, folded: what ``imap_text``
    holds, so the index answers exactly as the scan does."""
    item = Item(Msg(0, "", "", "", frozenset()), 0, False, lambda _msg: raw)
    header = decode_words(_header_block(raw).decode("utf-8", "replace"))
    return _fold(header), _fold(_body_of(item))


def fts_phrase(needle: str, column: str) -> str:
    quoted = '"' + needle.replace('"', '""') + '"'
    return f"{column}:{quoted}" if column else quoted


def _body_scan(needle: str) -> Node:
    def body(item: Item) -> bool:
        if not needle:
            return True
        quick = _plain_verdict(item, needle, whole=False)
        return quick if quick is not None else needle in _fold(_body_of(item))

    return body


def _text_scan(needle: str) -> Node:
    def text(item: Item) -> bool:
        if not needle:
            return True
        quick = _plain_verdict(item, needle, whole=True)
        if quick is not None:
            return quick
        header = decode_words(_header_block(item.raw()).decode("utf-8", "replace"))
        return needle in _fold(header) or needle in _fold(_body_of(item))

    return text


def _body_of(item: Item) -> str:
    cached = item.header_cache.get("\0body")
    if cached is None:
        cached = [body_text(item.parsed())]
        item.header_cache["\0body"] = cached
    return cached[0]


def _sent_date(item: Item) -> dt.date:
    values = item.parsed().get_all("date", [])
    if values:
        parsed = parsedate_tz(str(values[0]))
        if parsed:
            try:
                return dt.date(parsed[0], parsed[1], parsed[2])
            except ValueError:
                pass
    return dt.date(1970, 1, 1)  # no usable Date: Dovecot's sent date is 0


def _date_node(word: bytes, day: dt.date, of: Callable[[Item], dt.date]) -> Node:
    if word == b"BEFORE":
        return lambda item: of(item) < day
    if word == b"ON":
        return lambda item: of(item) == day
    return lambda item: of(item) >= day


def _and(nodes: list[Node]) -> Node:
    if len(nodes) == 1:
        return nodes[0]
    return lambda item: all(node(item) for node in nodes)
