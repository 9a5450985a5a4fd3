"""What IMAP serves of a message, computed once from its bytes: the MIME part tree
with byte offsets (for ``BODY[n]``, ``BINARY[n]``, ``BODY[n.MIME]``), ENVELOPE,
BODY and BODYSTRUCTURE, already in wire syntax.

Python's ``email`` package parses MIME well but forgets where each part sits in the
file and rewrites what it reads, so the tree and offsets are ours (a line scanner, as
Dovecot's message-parser); the package is used where its work is exact: decoding
transfer encodings (BINARY) and RFC 2047 words (SEARCH). Offsets are into the message
as served: with CRLF line ends (a file written with bare LF by another tool is served
with CRLF, as Dovecot does).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tidings.mail.imap.protocol import nstring, quoted

_BARE_LF = re.compile(rb"(?<!\r)\n")
#: Deepest MIME nesting we descend into; deeper parts are served as opaque bodies.
MAX_DEPTH = 100


def as_served(raw: bytes) -> bytes:
    """The message with CRLF line ends, as IMAP serves and measures it; a message
    with NUL bytes (binary, from an APPEND of a literal8) is served as stored."""
    if raw.count(b"\n") != raw.count(b"\r\n") and b"\0" not in raw:
        return _BARE_LF.sub(b"\r\n", raw)
    return raw


@dataclass
class Part:
    header_start: int
    body_start: int
    body_end: int
    ctype: str = "text"
    subtype: str = "plain"
    params: list[tuple[str, str]] = field(default_factory=list)
    children: list[Part] = field(default_factory=list)
    message: Part | None = None  # the message inside a message/rfc822 part
    encoding: str = "7bit"
    shown: tuple[str, str] = ("text", "plain")  # type and subtype as written
    encoding_shown: str = "7bit"

    def to_json(self) -> list[object]:
        return [
            self.header_start,
            self.body_start,
            self.body_end,
            self.ctype + "/" + self.subtype,
            self.encoding,
            [c.to_json() for c in self.children],
            self.message.to_json() if self.message else None,
        ]

    @classmethod
    def from_json(cls, data: list[object]) -> Part:
        hs, bs, be, ctype, encoding, children, message = data
        assert isinstance(hs, int) and isinstance(bs, int) and isinstance(be, int)
        assert isinstance(ctype, str) and isinstance(encoding, str)
        assert isinstance(children, list)
        main, _, sub = ctype.partition("/")
        return cls(
            hs,
            bs,
            be,
            main,
            sub,
            [],
            [cls.from_json(c) for c in children],
            cls.from_json(message) if isinstance(message, list) else None,
            encoding,
        )

    @property
    def multipart(self) -> bool:
        return self.ctype == "multipart"


# -- headers ---------------------------------------------------------------------
def header_end(data: bytes, start: int, end: int) -> int:
    """Offset of the body: just after the blank line that ends the header at
    ``start`` (or ``end`` when there is none)."""
    if start + 2 <= end and data.startswith(b"\r\n", start):
        return start + 2
    found = data.find(b"\r\n\r\n", start, end)
    return end if found < 0 else found + 4


def parse_header(block: bytes) -> list[tuple[str, bytes]]:
    """``(lower-case name, unfolded raw value)`` of each field, in order."""
    fields: list[tuple[str, bytes]] = []
    for line in re.split(rb"\r\n(?![ \t])", block):
        name, colon, value = line.partition(b":")
        if not colon or not name or b" " in name.rstrip() or b"\t" in name.rstrip():
            continue
        value = value.replace(b"\r\n", b"")
        fields.append((name.rstrip().decode("latin-1").lower(), value.strip(b" \t")))
    return fields


def header_value(fields: list[tuple[str, bytes]], name: str) -> bytes | None:
    for key, value in fields:
        if key == name:
            return value
    return None


_TOKEN = rb"[^\x00-\x20()<>@,;:\\\"/\[\]?=\x7f]+"


def parse_params(text: bytes) -> list[tuple[str, str]]:
    """``; name=value`` parameters (quoted values unquoted), names upper-cased as
    their case does not matter; values kept as they are."""
    params: list[tuple[str, str]] = []
    pos = 0
    text = _strip_comments(text)
    while True:
        semi = text.find(b";", pos)
        if semi < 0:
            break
        pos = semi + 1
        match = re.compile(rb"\s*(" + _TOKEN + rb")\s*=\s*").match(text, pos)
        if not match:
            continue
        name = match[1].decode("latin-1")
        pos = match.end()
        if pos < len(text) and text[pos] == 0x22:
            out = bytearray()
            pos += 1
            while pos < len(text) and text[pos] != 0x22:
                if text[pos] == 0x5C and pos + 1 < len(text):
                    pos += 1
                out.append(text[pos])
                pos += 1
            pos += 1
            value = bytes(out)
        else:
            vm = re.compile(rb"[^;\s]*").match(text, pos)
            assert vm is not None
            value = vm[0]
            pos = vm.end()
        params.append((name, value.decode("utf-8", "replace")))
    return params


def _strip_comments(text: bytes) -> bytes:
    if b"(" not in text:
        return text
    out = bytearray()
    depth = 0
    in_quote = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == 0x5C:
            escaped = True
            if depth == 0:
                out.append(char)
            continue
        if in_quote:
            if char == 0x22:
                in_quote = False
            out.append(char)
            continue
        if char == 0x22 and depth == 0:
            in_quote = True
            out.append(char)
        elif char == 0x28:
            depth += 1
        elif char == 0x29 and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return bytes(out)


def _content_type(
    value: bytes | None, default: tuple[str, str]
) -> tuple[str, str, list[tuple[str, str]]]:
    """Type, subtype (as written: Dovecot keeps their case) and parameters; text
    without a charset gets ``us-ascii`` (RFC 2045 §5.2), as Dovecot shows it."""
    if value is None:
        main, sub, params = default[0], default[1], []
    else:
        clean = _strip_comments(value)
        head = clean.split(b";", 1)[0].strip()
        match = re.fullmatch(rb"(" + _TOKEN + rb")\s*/\s*(" + _TOKEN + rb")", head)
        params = parse_params(clean)
        if not match:
            # Not type/subtype: shown as written with an empty subtype, as Dovecot does
            return head.decode("latin-1"), "", []
        main, sub = match[1].decode("latin-1"), match[2].decode("latin-1")
    if main.lower() == "text" and _param(params, "charset") is None:
        params = [("charset", "us-ascii"), *params]
    return main, sub, params


def _param(params: list[tuple[str, str]], name: str) -> str | None:
    for key, value in params:
        if key.lower() == name:
            return value
    return None


# -- the part tree -----------------------------------------------------------------
def parse(data: bytes) -> Part:
    """The part tree of a whole message (``data`` as served, CRLF)."""
    return _parse_part(data, 0, len(data), ("text", "plain"), 0)


def _parse_part(data: bytes, start: int, end: int, default: tuple[str, str], depth: int) -> Part:
    body = header_end(data, start, end)
    fields = parse_header(data[start:body])
    shown_type, shown_subtype, params = _content_type(header_value(fields, "content-type"), default)
    ctype, subtype = shown_type.lower(), shown_subtype.lower()
    encoding = (header_value(fields, "content-transfer-encoding") or b"7bit").strip()
    part = Part(start, body, end, ctype, subtype, params)
    part.shown = (shown_type, shown_subtype)
    part.encoding_shown = _strip_comments(encoding).strip().decode("latin-1") or "7bit"
    part.encoding = part.encoding_shown.lower()
    if depth >= MAX_DEPTH:
        return part
    if ctype == "multipart":
        boundary = _param(params, "boundary")
        if boundary:
            child_default = ("message", "rfc822") if subtype == "digest" else ("text", "plain")
            for cs, ce in _split(data, body, end, boundary.encode("utf-8", "replace")):
                part.children.append(_parse_part(data, cs, ce, child_default, depth + 1))
        if not part.children:
            # No boundary or no parts: Dovecot shows one empty text/plain part.
            empty = Part(end, end, end, "text", "plain", [("charset", "us-ascii")])
            part.children.append(empty)
    elif (
        ctype == "message"
        and subtype in ("rfc822", "global")
        and part.encoding
        in (
            "7bit",
            "8bit",
            "binary",
        )
    ):
        part.message = _parse_part(data, body, end, ("text", "plain"), depth + 1)
    return part


def _split(data: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """Body ranges of the parts of a multipart body between ``start`` and ``end``."""
    delimiter = b"--" + boundary
    parts: list[tuple[int, int]] = []
    current: int | None = None
    pos = start
    while pos < end:
        line_end = data.find(b"\n", pos, end)
        rest = data[pos + len(delimiter) : end if line_end < 0 else line_end].rstrip(b"\r")
        if data.startswith(delimiter, pos) and (rest.startswith(b"--") or not rest.strip(b" \t")):
            # only a whole delimiter line: "--b1" is no delimiter of a "--b10" part
            next_line = end if line_end < 0 else line_end + 1
            after = rest[:2]
            # the CRLF before a delimiter belongs to it, not to the part
            part_end = (
                pos - 2 if pos - 2 >= (current or 0) and data[pos - 2 : pos] == b"\r\n" else pos
            )
            if current is not None:
                parts.append((current, max(current, part_end)))
            if after == b"--":
                return parts
            current = next_line
            pos = next_line
            continue
        nl = data.find(b"\n", pos, end)
        if nl < 0:
            break
        pos = nl + 1
    if current is not None:
        parts.append((current, end))
    return parts


def find_part(root: Part, section: list[int]) -> Part | None:
    """The part a section number names (``[1, 2]`` for ``BODY[1.2]``). The parts of
    a message are its multipart's children, or its body alone (part 1); a
    message/rfc822 part's parts are those of the message inside it."""
    part = root
    for depth, number in enumerate(section):
        if depth == 0 or part.multipart:
            container: Part | None = part
        elif part.message is not None:
            container = part.message
        else:
            container = part if number == 1 else None  # a leaf's part 1 is itself
        if container is None:
            return None
        children = container.children if container.multipart else [container]
        if number < 1 or number > len(children):
            return None
        part = children[number - 1]
    return part


def decode_body(data: bytes, encoding: str) -> bytes | None:
    """A part body's transfer encoding undone (BINARY); None if the encoding is
    unknown (RFC 3516: ``NO [UNKNOWN-CTE]``)."""
    if encoding in ("7bit", "8bit", "binary", ""):
        return data
    if encoding == "base64":
        try:
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/]", b"", data) + b"==", validate=False)
        except binascii.Error:
            clean = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
            return base64.b64decode(clean[: len(clean) // 4 * 4])
    if encoding == "quoted-printable":
        return decode_qp(data)
    return None


_QP_HEX = re.compile(rb"=([0-9A-Fa-f]{2})")


def decode_qp(data: bytes) -> bytes:
    """Quoted-printable as RFC 2045 §6.7 says (Python's quopri keeps the trailing
    white space the RFC says to drop, and ``= `` soft breaks)."""
    out = bytearray()
    lines = data.split(b"\n")
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        line = line.rstrip(b"\r").rstrip(b" \t")
        soft = line.endswith(b"=")
        if soft:
            line = line[:-1]
        out += _QP_HEX.sub(lambda m: bytes([int(m[1], 16)]), line)
        if not soft and not last:
            out += b"\r\n"
    return bytes(out)


# -- wire forms --------------------------------------------------------------------
def _params_list(params: list[tuple[str, str]]) -> bytes:
    if not params:
        return b"NIL"
    items = []
    for name, value in params:
        items.append(quoted(name.encode("utf-8")) + b" " + quoted(value.encode("utf-8")))
    return b"(" + b" ".join(items) + b")"


def _str(value: bytes | None) -> bytes:
    return nstring(value)


def _body_fields(data: bytes, part: Part, fields: list[tuple[str, bytes]]) -> bytes:
    cid = header_value(fields, "content-id")
    desc = header_value(fields, "content-description")
    encoding = part.encoding_shown.encode("latin-1")
    return b" ".join(
        [
            _params_list(part.params),
            _str(cid),
            _str(desc),
            quoted(encoding),
            b"%d" % (part.body_end - part.body_start),
        ]
    )


def _lines(data: bytes, part: Part) -> int:
    return data.count(b"\n", part.body_start, part.body_end)


def _disposition(fields: list[tuple[str, bytes]]) -> bytes:
    value = header_value(fields, "content-disposition")
    if value is None:
        return b"NIL"
    clean = _strip_comments(value)
    kind = clean.split(b";", 1)[0].strip()
    if not kind:
        return b"NIL"
    return b"(" + quoted(kind) + b" " + _params_list(parse_params(clean)) + b")"


def _language(fields: list[tuple[str, bytes]]) -> bytes:
    value = header_value(fields, "content-language")
    if value is None:
        return b"NIL"
    tags = [t.strip() for t in re.split(rb"[,\s]+", _strip_comments(value)) if t.strip()]
    if not tags:
        return b"NIL"
    return b"(" + b" ".join(quoted(t) for t in tags) + b")"


def body_structure(data: bytes, part: Part, extended: bool) -> bytes:
    """BODY (``extended=False``) or BODYSTRUCTURE of ``part``."""
    fields = parse_header(data[part.header_start : part.body_start])
    if part.multipart:
        children = b"".join(body_structure(data, c, extended) for c in part.children)
        out = children + b" " + quoted(part.shown[1].encode("latin-1"))
        if extended:
            out += b" " + b" ".join(
                [
                    _params_list(part.params),
                    _disposition(fields),
                    _language(fields),
                    _str(header_value(fields, "content-location")),
                ]
            )
        return b"(" + out + b")"
    head = quoted(part.shown[0].encode("latin-1")) + b" " + quoted(part.shown[1].encode("latin-1"))
    out = head + b" " + _body_fields(data, part, fields)
    if part.message is not None:
        inner = part.message
        inner_fields = parse_header(data[inner.header_start : inner.body_start])
        out += b" " + envelope(inner_fields) + b" " + body_structure(data, inner, extended)
        out += b" %d" % _lines(data, part)
    elif part.ctype == "text":
        out += b" %d" % _lines(data, part)
    if extended:
        out += b" " + b" ".join(
            [
                _str(header_value(fields, "content-md5")),
                _disposition(fields),
                _language(fields),
                _str(header_value(fields, "content-location")),
            ]
        )
    return b"(" + out + b")"


# -- ENVELOPE ----------------------------------------------------------------------
def envelope(fields: list[tuple[str, bytes]]) -> bytes:
    def value(name: str) -> bytes:
        raw = header_value(fields, name)
        return b"NIL" if raw is None else quoted(raw)

    def addresses(name: str, fallback: str | None = None) -> bytes:
        raw = header_value(fields, name)
        parsed = address_list(raw) if raw is not None else b"NIL"
        if parsed == b"NIL" and fallback is not None:
            return addresses(fallback)
        return parsed

    return (
        b"("
        + b" ".join(
            [
                value("date"),
                value("subject"),
                addresses("from"),
                addresses("sender", "from"),
                addresses("reply-to", "from"),
                addresses("to"),
                addresses("cc"),
                addresses("bcc"),
                value("in-reply-to"),
                value("message-id"),
            ]
        )
        + b")"
    )


_SPECIALS = b'()<>@,;:\\".[]'


def _address_tokens(text: bytes) -> list[tuple[str, bytes]]:
    """RFC 5322 lexer: ('atom'|'quoted'|'comment'|'special'|'domainlit', bytes)."""
    tokens: list[tuple[str, bytes]] = []
    pos = 0
    n = len(text)
    while pos < n:
        char = text[pos]
        if char in b" \t\r\n":
            pos += 1
        elif char == 0x22:
            out = bytearray()
            pos += 1
            while pos < n and text[pos] != 0x22:
                if text[pos] == 0x5C and pos + 1 < n:
                    pos += 1
                out.append(text[pos])
                pos += 1
            pos += 1
            tokens.append(("quoted", bytes(out)))
        elif char == 0x28:
            depth = 1
            out = bytearray()
            pos += 1
            while pos < n and depth:
                if text[pos] == 0x5C and pos + 1 < n:
                    out.append(text[pos + 1])
                    pos += 2
                    continue
                if text[pos] == 0x28:
                    depth += 1
                elif text[pos] == 0x29:
                    depth -= 1
                    if depth == 0:
                        pos += 1
                        break
                out.append(text[pos])
                pos += 1
            tokens.append(("comment", bytes(out)))
        elif char == 0x5B:
            end = text.find(b"]", pos)
            end = n - 1 if end < 0 else end
            tokens.append(("atom", text[pos : end + 1]))
            pos = end + 1
        elif char in _SPECIALS:
            tokens.append(("special", bytes([char])))
            pos += 1
        else:
            start = pos
            while pos < n and text[pos] not in _SPECIALS and text[pos] not in b" \t\r\n":
                pos += 1
            tokens.append(("atom", text[start:pos]))
    return tokens


Address = tuple[bytes | None, bytes | None, bytes | None, bytes | None]


def _addr(
    name: bytes | None, route: bytes | None, mailbox: bytes | None, host: bytes | None
) -> Address:
    return (name, route, mailbox, host)


def address_list(raw: bytes) -> bytes:
    """An address header as IMAP's address list (with group markers), or NIL."""
    parsed = parse_address_list(raw)
    if not parsed:
        return b"NIL"
    return b"(" + b"".join(b"(" + b" ".join(_str(v) for v in a) + b")" for a in parsed) + b")"


def address_text(raw: bytes) -> str:
    """The addresses of a header as ``name <mailbox@host>, ...``, what SEARCH FROM/TO
    match against (so comments and odd spacing do not hide an address)."""
    out = []
    for name, _, mailbox, host in parse_address_list(raw):
        if mailbox is None or host is None:
            continue
        spec = mailbox + b"@" + host
        out.append((name + b" <" + spec + b">") if name else spec)
    return b", ".join(out).decode("utf-8", "replace")


def parse_address_list(raw: bytes) -> list[Address]:
    """An address header as (name, route, mailbox, host) items, groups marked as
    IMAP marks them (a start with host NIL, an end with all NIL)."""
    tokens = _address_tokens(raw)
    out: list[Address] = []
    i = 0
    n = len(tokens)

    while i < n:
        # one mailbox, or a group "name: mailboxes ;"
        j = i
        while j < n and not (
            tokens[j][0] == "special" and tokens[j][1] in (b",", b":", b"<", b";")
        ):
            j += 1
        if j < n and tokens[j][1] == b":" and not any(t[1] == b"<" for t in tokens[i:j]):
            group = _phrase(tokens[i:j])
            out.append(_addr(None, None, group or b"", None))
            i = j + 1
            while i < n and not (tokens[i][0] == "special" and tokens[i][1] == b";"):
                k = _mailbox_end(tokens, i, group=True)
                if k > i:
                    item = _mailbox(tokens[i:k])
                    if item:
                        out.append(item)
                i = k + 1 if k < n and tokens[k][1] == b"," else k
                if k == i and i < n and tokens[i][1] != b";":
                    i += 1
            out.append(_addr(None, None, None, None))
            i += 1
            while i < n and tokens[i][0] == "special" and tokens[i][1] == b",":
                i += 1
            continue
        k = _mailbox_end(tokens, i, group=False)
        item = _mailbox(tokens[i:k])
        if item:
            out.append(item)
        i = k + 1
    return out


def _mailbox_end(tokens: list[tuple[str, bytes]], i: int, group: bool) -> int:
    in_angle = False
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "special":
            if value == b"<":
                in_angle = True
            elif value == b">":
                in_angle = False
            elif (value == b"," and not in_angle) or (value == b";" and group and not in_angle):
                return i
        i += 1
    return i


def _phrase(items: list[tuple[str, bytes]]) -> bytes:
    out: list[bytes] = []
    for kind, value in items:
        if kind in ("atom", "quoted"):
            out.append(value)
        elif kind == "special" and value == b"." and out:
            out[-1] += b"."
    return b" ".join(out)


def _mailbox(items: list[tuple[str, bytes]]) -> Address | None:
    if not items:
        return None
    comments = [v for k, v in items if k == "comment"]
    items = [t for t in items if t[0] != "comment"]
    if not items:
        return None
    angle = next((i for i, t in enumerate(items) if t == ("special", b"<")), None)
    route: bytes | None = None
    if angle is not None:
        name = _phrase(items[:angle]) or None
        close = next((i for i, t in enumerate(items) if t == ("special", b">")), len(items))
        spec = items[angle + 1 : close]
        colon = next((i for i, t in enumerate(spec) if t == ("special", b":")), None)
        if colon is not None and spec and spec[0] == ("special", b"@"):
            route = b"".join(v for _, v in spec[:colon])
            spec = spec[colon + 1 :]
    else:
        name = comments[-1].strip() if comments else None
        spec = items
    at = None
    for idx, (kind, value) in enumerate(spec):
        if kind == "special" and value == b"@":
            at = idx
    local_items = spec if at is None else spec[:at]
    domain_items = [] if at is None else spec[at + 1 :]
    local = b"".join(
        (b'"' + v + b'"' if k == "quoted" and re.search(rb"[\s\"\\()<>@,;:\[\]]", v) else v)
        for k, v in local_items
        if k in ("atom", "quoted", "special")
    )
    domain = b"".join(v for k, v in domain_items if k in ("atom", "special", "quoted"))
    if not local and not domain and name is None:
        return None
    if angle is None and not name and len(spec) > 1 and at is None:
        # "Some Words" with no address at all: a phrase, Dovecot puts it in mailbox
        local = b" ".join(v for k, v in spec if k in ("atom", "quoted"))
    if name is not None and angle is not None:
        name = name or None
    return _addr(
        name,
        route,
        local or b"MISSING_MAILBOX",
        domain or (b"MISSING_DOMAIN" if at is not None or angle is not None or local else None),
    )


# -- everything IMAP keeps of one message ----------------------------------------
@dataclass(frozen=True)
class Metadata:
    size: int
    envelope: bytes
    body: bytes
    bodystructure: bytes
    parts: str  # JSON of the part tree

    def fields(self) -> dict[str, Any]:
        """As keyword arguments of :meth:`MailIndex.insert_imap`."""
        return {
            "size": self.size,
            "envelope": self.envelope,
            "body": self.body,
            "bodystructure": self.bodystructure,
            "parts": self.parts,
        }


def metadata(raw: bytes) -> Metadata:
    """Computed once per message (at indexing) and stored beside its index row."""
    data = as_served(raw)
    root = parse(data)
    fields = parse_header(data[root.header_start : root.body_start])
    return Metadata(
        size=len(data),
        envelope=envelope(fields),
        body=body_structure(data, root, extended=False),
        bodystructure=body_structure(data, root, extended=True),
        parts=json.dumps(root.to_json(), separators=(",", ":")),
    )
