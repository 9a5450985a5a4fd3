"""SORT and THREAD (RFC 5256), SORT=DISPLAY (RFC 5957): keys from each message's
header, base subjects, ORDEREDSUBJECT and the REFERENCES threading algorithm."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import parsedate_tz

from tidings.mail.imap.mime import parse_address_list, parse_header

_RE_TRAILER = re.compile(r"(\s*\(fwd\))+\s*$", re.IGNORECASE)
_BLOB = r"\[[^\[\]]*\]\s*"
_RE_LEADER = re.compile(r"^(?:" + _BLOB + r")*(?:re|fwd?)\s*(?:" + _BLOB + r")?:\s*", re.IGNORECASE)
_RE_BLOB = re.compile(r"^" + _BLOB)
_RE_FWD = re.compile(r"^\[fwd:(.*)\]$", re.IGNORECASE | re.DOTALL)


def decode(value: bytes) -> str:
    text = value.decode("utf-8", "replace")
    try:
        return str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError, AssertionError):
        return text


def base_subject(raw: bytes | None) -> tuple[str, bool]:
    """RFC 5256 §2.1: the subject without Re:/Fwd: leaders, [blobs] and (fwd)
    trailers, case-folded; and whether anything reply-like was removed."""
    if raw is None:
        return "", False
    text = " ".join(decode(raw).split())
    reply = False
    while True:
        before = text
        trailer = _RE_TRAILER.sub("", text)
        if trailer != text:
            reply = True
            text = trailer.rstrip()
        while True:
            changed = False
            stripped = _RE_LEADER.sub("", text, count=1)
            if stripped != text:
                text, changed, reply = stripped, True, True
            blob = _RE_BLOB.sub("", text, count=1)
            if blob != text and blob:
                text, changed = blob, True
            if not changed:
                break
        match = _RE_FWD.match(text)
        if match:
            text = match[1].strip()
            reply = True
            continue
        if text == before:
            break
    # i;unicode-casemap compares titlecased text: letters sort before "[" and "_"
    return text.upper(), reply


@dataclass
class Headers:
    """The header fields SORT and THREAD use, of one message."""

    seq: int
    uid: int
    size: int
    internal_date: float
    fields: list[tuple[str, bytes]]

    def get(self, name: str) -> bytes | None:
        for key, value in self.fields:
            if key == name:
                return value
        return None

    def sent_date(self) -> float:
        raw = self.get("date")
        if raw:
            parsed = parsedate_tz(raw.decode("latin-1"))
            if parsed:
                import calendar

                try:
                    return calendar.timegm(parsed[:6]) - (parsed[9] or 0)
                except (ValueError, OverflowError):
                    pass
        return self.internal_date

    def first_address(self, name: str) -> tuple[str, str]:
        """(display name, mailbox[@host]) of the first address in ``name``; a group's
        name counts as an address, as in Dovecot."""
        raw = self.get(name)
        if raw is None:
            return "", ""
        for display, _, mailbox, host in parse_address_list(raw):
            if mailbox is None:
                continue
            spec = mailbox.decode("utf-8", "replace")
            if host is not None and host != b"MISSING_DOMAIN":
                spec += "@" + host.decode("utf-8", "replace")
            return (decode(display) if display else ""), spec
        return "", ""


def header_fields(raw: bytes) -> list[tuple[str, bytes]]:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    block = raw if end < 0 else raw[: end + 2]
    return parse_header(block.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


SORT_KEYS = {
    b"ARRIVAL",
    b"CC",
    b"DATE",
    b"FROM",
    b"SIZE",
    b"SUBJECT",
    b"TO",
    b"DISPLAYFROM",
    b"DISPLAYTO",
}


def sort_key(criterion: bytes) -> Callable[[Headers], object]:
    if criterion == b"ARRIVAL":
        return lambda h: h.internal_date
    if criterion == b"DATE":
        return lambda h: h.sent_date()
    if criterion == b"SIZE":
        return lambda h: h.size
    if criterion == b"SUBJECT":
        return lambda h: base_subject(h.get("subject"))[0]
    if criterion in (b"CC", b"FROM", b"TO"):
        name = criterion.decode().lower()
        return lambda h: h.first_address(name)[1].split("@", 1)[0].upper()
    name = "from" if criterion == b"DISPLAYFROM" else "to"

    def display(h: Headers) -> str:
        shown, spec = h.first_address(name)
        return (shown or spec).upper()

    return display


class _Reverse:
    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __lt__(self, other: _Reverse) -> bool:
        return other.value < self.value  # type: ignore[operator, no-any-return]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reverse) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


def sort_messages(items: list[Headers], criteria: list[tuple[bytes, bool]]) -> list[Headers]:
    keys = [(sort_key(name), reverse) for name, reverse in criteria]

    def composite(h: Headers) -> tuple[object, ...]:
        parts: list[object] = []
        for key, reverse in keys:
            value = key(h)
            parts.append(_Reverse(value) if reverse else value)
        parts.append(h.seq)
        return tuple(parts)

    return sorted(items, key=composite)


# -- THREAD ---------------------------------------------------------------------------
@dataclass(eq=False)
class Node:
    msg: Headers | None = None
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)

    def date(self) -> float:
        if self.msg is not None:
            return self.msg.sent_date()
        return self.children[0].date() if self.children else 0.0

    def seq(self) -> int:
        if self.msg is not None:
            return self.msg.seq
        return self.children[0].seq() if self.children else 0

    def has_descendant(self, other: Node) -> bool:
        stack = list(self.children)
        while stack:
            node = stack.pop()
            if node is other:
                return True
            stack.extend(node.children)
        return False


def _link(parent: Node, child: Node) -> None:
    if child.parent is not None:
        child.parent.children.remove(child)
    child.parent = parent
    parent.children.append(child)


_MSGID = re.compile(rb"<([^<>]*)>")


def _ids(value: bytes | None) -> list[bytes]:
    return [m.strip() for m in _MSGID.findall(value or b"") if m.strip()]


def thread_orderedsubject(items: list[Headers]) -> list[Node]:
    groups: dict[str, list[Headers]] = {}
    for h in sorted(items, key=lambda h: (h.sent_date(), h.seq)):
        groups.setdefault(base_subject(h.get("subject"))[0], []).append(h)
    roots = []
    for members in groups.values():
        root = Node(members[0])
        for h in members[1:]:
            _link(root, Node(h))
        roots.append(root)
    roots.sort(key=lambda n: (n.date(), n.seq()))
    return roots


def thread_references(items: list[Headers]) -> list[Node]:
    table: dict[bytes, Node] = {}
    for h in items:
        ids = _ids(h.get("message-id"))
        message_id = ids[0] if ids else None
        node = table.get(message_id) if message_id is not None else None
        if node is not None and node.msg is not None:
            node = None  # duplicate Message-ID: a message of its own
            message_id = None
        if node is None:
            node = Node()
            if message_id is not None:
                table[message_id] = node
            else:
                table[b"\0dup%d" % h.seq] = node
        node.msg = h
        refs = _ids(h.get("references")) or _ids(h.get("in-reply-to"))[:1]
        previous: Node | None = None
        for ref in refs:
            ref_node = table.get(ref)
            if ref_node is None:
                ref_node = Node()
                table[ref] = ref_node
            if (
                previous is not None
                and ref_node.parent is None
                and ref_node is not previous
                and not ref_node.has_descendant(previous)
            ):
                _link(previous, ref_node)
            previous = ref_node
        # The message's own References decide its parent: an earlier link made from
        # another message's References goes first, even if the new one would loop.
        if node.parent is not None:
            node.parent.children.remove(node)
            node.parent = None
        if previous is not None and previous is not node and not node.has_descendant(previous):
            _link(previous, node)
    roots = [n for n in table.values() if n.parent is None]

    def prune(container: list[Node], parent: Node | None) -> list[Node]:
        out: list[Node] = []
        for node in container:
            node.children = prune(node.children, node)
            if node.msg is None:
                if not node.children:
                    continue
                if parent is not None or len(node.children) == 1:
                    for child in node.children:
                        child.parent = parent
                    out.extend(node.children)
                    continue
            out.append(node)
        return out

    roots = prune(roots, None)
    for root in roots:
        root.parent = None

    def sort_tree(nodes: list[Node]) -> None:
        for node in nodes:
            sort_tree(node.children)
        nodes.sort(key=lambda n: (n.date(), n.seq()))

    sort_tree(roots)
    # group the roots by base subject (RFC 5256 §3 step 5)
    subjects: dict[str, Node] = {}

    def subject_of(node: Node) -> tuple[str, bool]:
        target = (
            node.msg if node.msg is not None else (node.children[0].msg if node.children else None)
        )
        return base_subject(target.get("subject")) if target else ("", False)

    for root in roots:
        subject, reply = subject_of(root)
        if not subject:
            continue
        old = subjects.get(subject)
        if (
            old is None
            or (root.msg is None and old.msg is not None)
            or (old.msg is not None and subject_of(old)[1] and not reply and root.msg is not None)
        ):
            subjects[subject] = root
    result: list[Node] = []
    for root in roots:
        subject, reply = subject_of(root)
        target = subjects.get(subject) if subject else None
        if target is None or target is root:
            result.append(root)
            continue
        if target.msg is None and root.msg is None:
            for child in list(root.children):
                _link(target, child)
        elif target.msg is None:
            _link(target, root)
        elif root.msg is None:
            _link(root, target)
            index = result.index(target) if target in result else -1
            if index >= 0:
                result[index] = root
            subjects[subject] = root
        elif reply and not subject_of(target)[1]:
            _link(target, root)
        else:
            dummy = Node()
            index = result.index(target) if target in result else -1
            _link(dummy, target)
            _link(dummy, root)
            if index >= 0:
                result[index] = dummy
            subjects[subject] = dummy
    for node in result:
        sort_tree(node.children)
    result.sort(key=lambda n: (n.date(), n.seq()))
    return result


def format_threads(roots: list[Node], number: Callable[[Headers], int]) -> bytes:
    def fmt(node: Node) -> bytes:
        parts: list[bytes] = []
        while True:
            if node.msg is not None:
                parts.append(b"%d" % number(node.msg))
            if len(node.children) == 1 and node.msg is not None:
                node = node.children[0]
                continue
            if node.children:
                parts.append(b"".join(b"(" + fmt(c) + b")" for c in node.children))
            break
        return b" ".join(parts)

    return b"".join(b"(" + fmt(root) + b")" for root in roots)
