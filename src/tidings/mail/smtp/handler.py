"""What tidings does with each SMTP command, for the MX and the submission ports.

The rules, in one place:

* Only users that exist in :class:`Accounts` receive mail. Nobody is relayed for: an
  unauthenticated client naming another domain gets ``550 5.7.1``; an authenticated
  one hears that outbound delivery is not enabled yet (the queue comes separately).
* On submission the envelope sender and the From header must be the user's own.
* A message is acknowledged with 250 only after :meth:`MailStore.deliver_async` has
  fsynced it for every recipient, so a crash never loses an acknowledged message.
* Bare LF or CR in DATA is refused (SMTP smuggling; see docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import re
import secrets
from dataclasses import dataclass
from email.headerregistry import Address
from email.parser import BytesHeaderParser
from email.policy import SMTPUTF8 as SMTPUTF8_POLICY

from aiosmtpd.smtp import SMTP, Envelope, Session

from tidings.core.accounts import AccountError, Accounts, normalise_address
from tidings.core.config import Settings
from tidings.mail.smtp.auth import PasswordAuth
from tidings.mail.smtp.authresults import authentication_results, strip_forged
from tidings.mail.smtp.limits import SourceLimits
from tidings.mail.store import MailStore

log = logging.getLogger("tidings.smtp")

# A line ending that is not CRLF: LF without CR before it, or CR without LF after it.
_BARE_NEWLINE = re.compile(rb"(?<!\r)\n|\r(?!\n)")
MAX_LINE = 998  # RFC 5322 2.1.1, without CRLF

NOT_YET = "550 5.7.1 Outbound delivery is not enabled yet: cannot send to {address}"
RELAY_DENIED = "550 5.7.1 Relaying denied: {address} is not a local address"


@dataclass(frozen=True)
class Port:
    """What kind of listener a connection came in on."""

    name: str  # "smtp", "submission", "submissions"
    submission: bool  # AUTH offered and required; sender must be the user's


def _is_ascii(text: str) -> bool:
    return text.isascii()


# RFC 5321 4.1.2 Mailbox, with RFC 6531's UTF-8 allowed in atoms and labels.
_U = "\\u0080-\\U0010ffff"  # any non-ASCII character, as a regex range
_ATOM = rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~\-{_U}]+"
_QUOTED = rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{_U}]|\\[\x20-\x7e])*"'
_LOCAL = rf"(?:{_ATOM}(?:\.{_ATOM})*|{_QUOTED})"
_LABEL = rf"[A-Za-z0-9{_U}](?:[A-Za-z0-9\-{_U}]*[A-Za-z0-9{_U}])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[^\[\]\\\s]+\])"
_MAILBOX = re.compile(rf"{_LOCAL}@{_DOMAIN}")


def is_mailbox(address: str) -> bool:
    """Whether ``address`` is an RFC 5321 Mailbox (what MAIL and RCPT may name)."""
    return len(address) <= 254 and _MAILBOX.fullmatch(address) is not None


class Handler(PasswordAuth):
    """aiosmtpd handler hooks. One instance per listener, shared by its connections."""

    def __init__(
        self,
        settings: Settings,
        accounts: Accounts,
        store: MailStore,
        limits: SourceLimits,
        port: Port,
    ) -> None:
        self.settings = settings
        self.accounts = accounts
        self.store = store
        self.limits = limits
        self.port = port
        self.domains = {d.lower() for d in accounts.domains}
        self.hostname = settings.hostname

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd would put the exception text in the reply; say nothing about internals.
        log.error("SMTP session error: %r", error, exc_info=error)
        return "451 4.3.0 Internal error; please try again later"

    # -- EHLO ---------------------------------------------------------------------
    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        last = responses[-1]
        lines = [r for r in responses[:-1] if self.port.submission or not r.startswith("250-AUTH")]
        lines += ["250-PIPELINING", "250-ENHANCEDSTATUSCODES"]
        return [*lines, last]

    # -- MAIL FROM ----------------------------------------------------------------
    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        smtputf8 = "SMTPUTF8" in mail_options
        problem = self._address_encoding_problem(address, smtputf8)
        if problem:
            return problem
        if address != "<>" and not is_mailbox(address):
            return f"553 5.1.3 Sender address <{address}> is not a valid address"
        if self.port.submission:
            user = str(session.auth_data)
            if _normalised(address) != user:
                return f"553 5.7.1 Sender address <{address}> is not yours (logged in as {user})"
        else:
            ip = _peer_ip(session)
            if not self.limits.allow_message(ip):
                return f"450 4.7.1 Too much mail from {ip}, slow down and try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    # -- RCPT TO ------------------------------------------------------------------
    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= self.settings.mail.max_recipients:
            return "452 4.5.3 Too many recipients"
        problem = self._address_encoding_problem(address, envelope.smtp_utf8)
        if problem:
            return problem
        if not is_mailbox(address):
            return f"553 5.1.3 Recipient address <{address}> is not a valid address"
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if domain not in self.domains:
            if self.port.submission:
                return NOT_YET.format(address=address)
            return RELAY_DENIED.format(address=address)
        recipient = _normalised(address)
        if recipient is None or not await asyncio.to_thread(self._exists, recipient):
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user here"
        if recipient not in envelope.rcpt_tos:
            envelope.rcpt_tos.append(recipient)
            envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    def _exists(self, address: str) -> bool:
        return self.accounts.get_user(address) is not None

    @staticmethod
    def _address_encoding_problem(address: str, smtputf8: bool) -> str | None:
        if _is_ascii(address):
            return None
        try:
            address.encode("utf-8")
        except UnicodeEncodeError:
            # aiosmtpd keeps undecodable bytes as surrogates: not UTF-8 at all.
            return "553 5.6.7 Address is not valid UTF-8"
        if not smtputf8:
            return "553 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter (RFC 6531)"
        return None

    # -- DATA ---------------------------------------------------------------------
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        if _BARE_NEWLINE.search(content):
            return (
                "554 5.6.11 Bare LF or CR in message: lines must end with CRLF "
                "(refused as possible SMTP smuggling)"
            )
        if any(len(line) > MAX_LINE for line in content.split(b"\r\n")):
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
        if self.port.submission:
            problem = _from_header_problem(content, str(session.auth_data))
            if problem:
                return problem
        queue_id = secrets.token_hex(8).upper()
        message = await self._prepend_trace(server, session, envelope, content, queue_id)
        try:
            for recipient in envelope.rcpt_tos:
                await self.store.deliver_async(recipient, message)
        except (OSError, ValueError) as exc:
            log.error("delivery of %s failed: %s", queue_id, exc)
            return "451 4.3.0 Could not store the message; try again later"
        log.info(
            "delivered %s from <%s> to %s (%d bytes) via %s",
            queue_id,
            envelope.mail_from,
            ", ".join(envelope.rcpt_tos),
            len(message),
            self.port.name,
        )
        return f"250 2.0.0 Ok: delivered as {queue_id}"

    async def _prepend_trace(
        self, server: SMTP, session: Session, envelope: Envelope, content: bytes, queue_id: str
    ) -> bytes:
        """Return-Path, Received and (on the MX) Authentication-Results, newest first."""
        ip = _peer_ip(session)
        helo = session.host_name or "unknown"
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        tls = session.ssl is not None or self.port.name == "submissions"
        protocol = "ESMTP" if session.extended_smtp else "SMTP"
        protocol += ("S" if tls else "") + ("A" if session.authenticated else "")
        if envelope.smtp_utf8:
            protocol = "UTF8" + protocol.removeprefix("E")  # RFC 6531: UTF8SMTP[S][A]
        recipient = f"\r\n\tfor <{envelope.rcpt_tos[0]}>" if len(envelope.rcpt_tos) == 1 else ""
        received = (
            f"Received: from {_header_safe(helo)} ([{ip}])\r\n"
            f"\tby {self.hostname} (tidings) with {protocol} id {queue_id}{recipient};\r\n"
            f"\t{email.utils.format_datetime(email.utils.localtime())}\r\n"
        )
        headers = f"Return-Path: <{_header_safe(mail_from)}>\r\n" + received
        if not self.port.submission:
            content = strip_forged(content, self.hostname)
            try:
                results = await asyncio.to_thread(
                    authentication_results,
                    content,
                    authserv_id=self.hostname,
                    ip=ip,
                    helo=helo,
                    mail_from=mail_from,
                    timeout=self.settings.mail.dns_timeout_seconds,
                )
            except Exception:
                # A bug in a check must not bounce mail; the message goes in unmarked.
                log.exception("sender checks failed for %s", queue_id)
            else:
                headers += _fold(results) + "\r\n"
        return headers.encode("utf-8", "surrogateescape") + content


def _peer_ip(session: Session) -> str:
    return str(session.peer[0]) if session.peer else ""


def _normalised(address: str) -> str | None:
    try:
        return normalise_address(address)
    except AccountError:
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


def _header_safe(text: str) -> str:
    """No CR/LF (header injection) and nothing unprintable from the client."""
    return "".join(c if c.isprintable() else "?" for c in text)[:255]


def _fold(header: str) -> str:
    """Fold ``Authentication-Results`` at its ``;`` separators (RFC 5322 line length)."""
    name, _, value = header.partition(": ")
    parts = [p.strip() for p in value.split(";")]
    return f"{name}: " + ";\r\n\t".join(parts)


def _from_header_problem(content: bytes, user: str) -> str | None:
    """On submission, every From address must be the authenticated user's own."""
    headers = BytesHeaderParser(policy=SMTPUTF8_POLICY).parsebytes(content)
    values = headers.get_all("From") or []
    if len(values) != 1:
        return "550 5.7.1 The message needs exactly one From header"
    try:
        addresses: tuple[Address, ...] = values[0].addresses
    except (AttributeError, ValueError):
        return "550 5.7.1 The From header cannot be parsed"
    if not addresses or any(_normalised(a.addr_spec) != user for a in addresses):
        shown = ", ".join(a.addr_spec for a in addresses) or "nothing"
        return f"550 5.7.1 From header ({shown}) does not match your address {user}"
    sender = headers.get("Sender")
    if sender is not None:
        try:
            sender_addresses: tuple[Address, ...] = sender.addresses
        except (AttributeError, ValueError):
            return "550 5.7.1 The Sender header cannot be parsed"
        if any(_normalised(a.addr_spec) != user for a in sender_addresses):
            return f"550 5.7.1 Sender header does not match your address {user}"
    return None
