"""Checks on a message as received in DATA, each answered with its own SMTP reply."""

from __future__ import annotations

import re
from email.headerregistry import Address
from email.parser import BytesHeaderParser
from email.policy import SMTPUTF8 as SMTPUTF8_POLICY

from tidings.mail.smtp.addresses import normalised

# A line ending that is not CRLF: LF without CR before it, or CR without LF after it.
_BARE_NEWLINE = re.compile(rb"(?<!\r)\n|\r(?!\n)")
MAX_LINE = 998  # RFC 5322 2.1.1, without CRLF


def content_problem(content: bytes) -> str | None:
    """The reply refusing ``content``, or None if it may be stored."""
    crlf = content.count(b"\r\n")
    # Counting is C speed; the regex only runs to confirm what the counts suggest.
    if (content.count(b"\n") != crlf or content.count(b"\r") != crlf) and _BARE_NEWLINE.search(
        content
    ):
        return (
            "554 5.6.11 Bare LF or CR in message: lines must end with CRLF "
            "(refused as possible SMTP smuggling)"
        )
    if len(content) > MAX_LINE and max(map(len, content.split(b"\r\n"))) > MAX_LINE:
        return "500 5.5.2 Line too long: at most 998 octets per line (RFC 5322 2.1.1)"
    if b"\x00" in content:
        return "554 5.6.0 NUL characters are not allowed in a message"
    if not _header_section_is_utf8(content):
        # Raw Latin-1 and the like in headers cannot be shown or searched reliably
        # (IMAP ENVELOPE, the index); MIME encoded-words (RFC 2047) are the way.
        return (
            "554 5.6.7 Message headers must be ASCII or UTF-8 (RFC 6532); "
            "use RFC 2047 encoded-words"
        )
    return None


def _header_section_is_utf8(content: bytes) -> bool:
    head = content.partition(b"\r\n\r\n")[0]
    if head.isascii():
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def from_header_problem(content: bytes, user: str) -> str | None:
    """On submission, every From address must be the authenticated user's own."""
    headers = BytesHeaderParser(policy=SMTPUTF8_POLICY).parsebytes(content)
    values = headers.get_all("From") or []
    if len(values) != 1:
        return "550 5.7.1 The message needs exactly one From header"
    try:
        addresses: tuple[Address, ...] = values[0].addresses
    except (AttributeError, ValueError):
        return "550 5.7.1 The From header cannot be parsed"
    if not addresses or any(normalised(a.addr_spec) != user for a in addresses):
        shown = ", ".join(a.addr_spec for a in addresses) or "nothing"
        return f"550 5.7.1 From header ({shown}) does not match your address {user}"
    sender = headers.get("Sender")
    if sender is not None:
        try:
            sender_addresses: tuple[Address, ...] = sender.addresses
        except (AttributeError, ValueError):
            return "550 5.7.1 The Sender header cannot be parsed"
        if any(normalised(a.addr_spec) != user for a in sender_addresses):
            return f"550 5.7.1 Sender header does not match your address {user}"
    return None
