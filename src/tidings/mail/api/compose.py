"""Building the messages a user sends through the API: new, reply, forward, draft.
Who a reply goes to and how it is threaded is :mod:`tidings.mail.replies`' decision.

The standard library's ``EmailMessage`` (policy ``default``) writes the MIME and
refuses header injection (a CR or LF in a header value raises), so user input can
never add headers.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, localtime, make_msgid

from tidings.mail.render import parse
from tidings.mail.replies import FORWARD_FILENAME, Threading


class ComposeError(ValueError):
    """The request cannot make a valid message; the text says why."""


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Draft:
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)


def check_address(value: str) -> str:
    """One mailbox, ``alice@example.org`` or ``Alice <alice@example.org>``; normalised."""
    if "\r" in value or "\n" in value:
        raise ComposeError(f"line breaks are not allowed in an address: {value!r}")
    pairs = getaddresses([value])
    if len(pairs) != 1 or not pairs[0][1]:
        raise ComposeError(f"not one e-mail address: {value!r}")
    name, address = pairs[0]
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "." not in domain.strip("."):
        raise ComposeError(f"not an e-mail address: {value!r}")
    try:
        Address(display_name=name, addr_spec=address)
    except (ValueError, IndexError) as exc:
        raise ComposeError(f"not an e-mail address: {value!r}") from exc
    return formataddr((name, address)) if name else address


def bare(address: str) -> str:
    return getaddresses([address])[0][1].lower()


def decode_attachment(filename: str, content_type: str, content_base64: str) -> Attachment:
    if "/" not in content_type:
        raise ComposeError(f"{filename}: content_type must look like type/subtype")
    try:
        data = base64.b64decode(content_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ComposeError(f"{filename}: content_base64 is not valid base64") from exc
    return Attachment(filename, content_type, data)


def build(
    draft: Draft,
    *,
    sender: str,
    sender_name: str,
    domain: str,
    threading: Threading | None = None,
    forward: EmailMessage | None = None,
    keep_bcc: bool = False,
) -> EmailMessage:
    """The message to store and send. ``Bcc`` is only kept for drafts (``keep_bcc``):
    in a sent message it would tell every recipient who else got it."""
    message = EmailMessage()
    try:
        message["From"] = formataddr((sender_name, sender)) if sender_name else sender
        if draft.to:
            message["To"] = ", ".join(check_address(a) for a in draft.to)
        if draft.cc:
            message["Cc"] = ", ".join(check_address(a) for a in draft.cc)
        if draft.bcc and keep_bcc:
            message["Bcc"] = ", ".join(check_address(a) for a in draft.bcc)
        message["Subject"] = draft.subject
        message["Date"] = format_datetime(localtime())
        message["Message-ID"] = make_msgid(domain=domain)
        if threading is not None and threading.in_reply_to:
            message["In-Reply-To"] = threading.in_reply_to
            message["References"] = " ".join(threading.references)
    except ValueError as exc:  # header injection, bad header syntax
        raise ComposeError(str(exc)) from exc

    message.set_content(draft.text or "")
    if draft.html:
        message.add_alternative(draft.html, subtype="html")
    for attachment in draft.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    if forward is not None:
        message.add_attachment(forward, disposition="attachment", filename=FORWARD_FILENAME)
    return message


__all__ = ["Attachment", "ComposeError", "Draft", "build", "parse"]
