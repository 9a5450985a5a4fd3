"""Replying to and forwarding a message: who gets it, its subject, its threading
headers and the quoted original — decided here, once.

The REST API builds the reply it sends from :func:`plan_reply`, and shows the same
plan before anything is sent (``GET /v1/messages/{id}/reply/preview``), which is
what the MCP mail server puts in its confirmation question: what the user approves
is what goes out, never a second guess of it.

The rules, as mail clients apply them:

* A reply goes to ``Reply-To`` if the original has one, else to its ``From``; a
  reply to all adds the original ``To`` and ``Cc`` in ``Cc``, without the user
  themself and without repeating anyone.
* The subject gets ``Re:`` unless it already starts with a reply prefix (English,
  French ``Ré:``/``RE :``, German ``AW:``, Nordic ``SV:``); a forward gets ``Fwd:``
  unless it starts with ``Fwd:``/``Fw:``/``TR:``.
* ``In-Reply-To`` is the original's ``Message-ID``; ``References`` is the
  original's references followed by that id (RFC 5322 §3.6.4), keeping the last 20
  so a long thread cannot grow the header without bound.
* The original is quoted below the reply with ``> `` and an attribution line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, getaddresses

from tidings.mail.render import render

MAX_REFERENCES = 20
FORWARD_FILENAME = "forwarded.eml"
_REPLY_PREFIX = re.compile(r"^\s*(re|ré|aw|sv)\s?:", re.IGNORECASE)
_FORWARD_PREFIX = re.compile(r"^\s*(fwd|fw|tr)\s?:", re.IGNORECASE)


@dataclass(frozen=True)
class Threading:
    """The headers that put a new message in the original's thread."""

    in_reply_to: str | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReplyPlan:
    to: list[str]
    cc: list[str]
    subject: str
    threading: Threading
    quoted: str  # appended below the user's text ("" when not quoting)


@dataclass(frozen=True)
class ForwardPlan:
    subject: str
    threading: Threading = field(default_factory=Threading)


def _bare(address: str) -> str:
    return getaddresses([address])[0][1].lower()


def reply_subject(subject: str) -> str:
    subject = subject.strip()
    return subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}".strip()


def forward_subject(subject: str) -> str:
    subject = subject.strip()
    return subject if _FORWARD_PREFIX.match(subject) else f"Fwd: {subject}".strip()


def threading_of(original: EmailMessage) -> Threading:
    """``In-Reply-To``/``References`` for a reply to ``original`` (none if it has no
    ``Message-ID``: there is nothing to refer to)."""
    original_id = str(original.get("Message-ID", "")).strip()
    if not original_id:
        return Threading()
    references = str(original.get("References", "")).split()
    return Threading(original_id, tuple([*references, original_id][-MAX_REFERENCES:]))


def reply_recipients(
    original: EmailMessage, *, reply_all: bool, me: str
) -> tuple[list[str], list[str]]:
    """``(to, cc)`` of a reply (see the module doc)."""
    author = str(original.get("Reply-To") or original.get("From") or "")
    to = [formataddr(pair) for pair in getaddresses([author]) if pair[1]]
    cc: list[str] = []
    if reply_all:
        others = getaddresses([str(original.get("To", "")), str(original.get("Cc", ""))])
        seen = {_bare(a) for a in to} | {me.lower()}
        for pair in others:
            if pair[1] and pair[1].lower() not in seen:
                seen.add(pair[1].lower())
                cc.append(formataddr(pair))
    return to, cc


def quote(original: EmailMessage) -> str:
    """The original text, quoted below a reply the way mail clients do."""
    when = str(original.get("Date", "")).strip()
    who = str(original.get("From", "")).strip()
    body = render(original).text.rstrip()
    quoted = "\n".join(("> " + line) if line else ">" for line in body.splitlines())
    return f"\n\nOn {when}, {who} wrote:\n{quoted}\n"


def plan_reply(
    original: EmailMessage, *, me: str, reply_all: bool = False, quoting: bool = True
) -> ReplyPlan:
    to, cc = reply_recipients(original, reply_all=reply_all, me=me)
    return ReplyPlan(
        to=to,
        cc=cc,
        subject=reply_subject(str(original.get("Subject", ""))),
        threading=threading_of(original),
        quoted=quote(original) if quoting else "",
    )


def plan_forward(original: EmailMessage) -> ForwardPlan:
    """A forward attaches the original whole (``message/rfc822``); it starts a new
    thread, so it carries no threading headers."""
    return ForwardPlan(subject=forward_subject(str(original.get("Subject", ""))))
