"""Delivery status notifications (RFC 3464), modelled on mox's queue/dsn.go.

A ``multipart/report; report-type=delivery-status`` with three parts: a text for
people, the machine-readable ``message/delivery-status``, and the headers of the
original message (``text/rfc822-headers``: enough to recognise it, without sending a
possibly large or sensitive body around again).
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP
from typing import Literal


@dataclass(frozen=True)
class RecipientStatus:
    rcpt: str
    action: Literal["failed", "delayed"]
    status: str  # enhanced status code, e.g. 5.1.1
    diagnostic: str  # the remote's answer or our reason
    remote_mta: str  # host name, empty if we never reached one
    last_attempt: float


def _headers_of(original: bytes) -> str:
    head, _, _ = original.partition(b"\r\n\r\n")
    if head == original:
        head, _, _ = original.partition(b"\n\n")
    return head.decode("utf-8", errors="replace").replace("\r\n", "\n") + "\n"


def _text(text: str, subtype: str) -> MIMEText:
    # Plain ASCII stays readable in any client's "view source"; UTF-8 only when needed.
    charset = "us-ascii" if text.isascii() else "utf-8"
    return MIMEText(text, subtype, charset)


def _fields(pairs: list[tuple[str, str]]) -> Message:
    block = Message()
    for name, value in pairs:
        block[name] = value
    return block


def _human(reporting_mta: str, items: list[RecipientStatus], queued_at: float) -> str:
    failed = [i for i in items if i.action == "failed"]
    lines = []
    if failed:
        lines.append(
            f"Your message could not be delivered to the following recipient"
            f"{'s' if len(failed) > 1 else ''}; it will not be tried again:"
        )
    else:
        lines.append(
            "Your message has not been delivered yet to the following recipients. "
            "Delivery is being retried; you will be told if it finally fails. "
            "Nothing for you to do now."
        )
    lines.append("")
    for item in items:
        lines.append(f"  {item.rcpt}")
        lines.append(f"    {item.diagnostic}")
    lines += [
        "",
        f"Queued at {email.utils.formatdate(queued_at, usegmt=True)} by {reporting_mta}.",
        "The headers of your message are attached.",
        "",
    ]
    return "\n".join(lines)


def build_dsn(
    *,
    reporting_mta: str,
    postmaster: str,
    mail_from: str,
    queued_at: float,
    items: list[RecipientStatus],
    original: bytes,
    now: float,
) -> bytes:
    """The report, ready to store in the sender's INBOX."""
    delayed = all(i.action == "delayed" for i in items)
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = email.utils.formataddr(("Mail Delivery Subsystem", postmaster))
    report["To"] = mail_from
    report["Subject"] = (
        "Mail delivery delayed" if delayed else "Mail delivery failed: returning message headers"
    )
    report["Date"] = email.utils.formatdate(now, usegmt=True)
    report["Message-ID"] = email.utils.make_msgid(domain=reporting_mta)
    report["Auto-Submitted"] = "auto-replied"
    report.attach(_text(_human(reporting_mta, items, queued_at), "plain"))

    status = Message()
    status.set_type("message/delivery-status")
    blocks: list[Message | str] = [
        _fields(
            [
                ("Reporting-MTA", f"dns; {reporting_mta}"),
                ("Arrival-Date", email.utils.formatdate(queued_at, usegmt=True)),
            ]
        )
    ]
    for item in items:
        pairs = [
            ("Final-Recipient", f"rfc822; {item.rcpt}"),
            ("Action", item.action),
            ("Status", item.status),
        ]
        if item.remote_mta:
            pairs.append(("Remote-MTA", f"dns; {item.remote_mta}"))
        pairs.append(("Diagnostic-Code", f"smtp; {item.diagnostic}"))
        pairs.append(("Last-Attempt-Date", email.utils.formatdate(item.last_attempt, usegmt=True)))
        blocks.append(_fields(pairs))
    status.set_payload(blocks)
    report.attach(status)

    report.attach(_text(_headers_of(original), "rfc822-headers"))
    return report.as_bytes(policy=SMTP)
