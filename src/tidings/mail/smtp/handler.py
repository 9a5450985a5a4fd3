"""What tidings does with each SMTP command, for the MX and the submission ports.

The rules, in one place:

* Where each recipient goes is :class:`tidings.mail.routing.Router`'s decision (the
  same one the REST API uses): only users that exist receive mail; other domains are
  relayed (queued) only for an authenticated submission; the MX never relays
  (``550 5.7.1``).
* On submission the envelope sender and the From header must be the user's own.
* A message is acknowledged with 250 only after :meth:`Router.dispatch` has fsynced
  it for every local recipient and queued it for the others, so a crash never loses
  an acknowledged message.
* Bare LF or CR in DATA is refused (SMTP smuggling; see docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import secrets
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, Envelope, Session

from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.mail.outbound import QueueError
from tidings.mail.routing import Destination, Route, Router, RoutingError
from tidings.mail.smtp.addresses import address_encoding_problem, is_mailbox, normalised
from tidings.mail.smtp.auth import PasswordAuth
from tidings.mail.smtp.authresults import authentication_results, strip_forged
from tidings.mail.smtp.content import content_problem, from_header_problem
from tidings.mail.smtp.limits import Limits

log = logging.getLogger("tidings.smtp")

NOT_YET = "550 5.7.1 Outbound delivery is not enabled yet: cannot send to {address}"
RELAY_DENIED = "550 5.7.1 Relaying denied: {address} is not a local address"


@dataclass(frozen=True)
class Port:
    """What kind of listener a connection came in on."""

    name: str  # "smtp", "submission", "submissions"
    submission: bool  # AUTH offered and required; sender must be the user's


class Handler(PasswordAuth):
    """aiosmtpd handler hooks. One instance per listener, shared by its connections."""

    def __init__(
        self,
        settings: Settings,
        accounts: Accounts,
        router: Router,
        limits: Limits,
        port: Port,
    ) -> None:
        self.settings = settings
        self.accounts = accounts
        self.router = router
        self.limits = limits
        self.port = port
        # Authenticated submissions to other domains go to the outbound queue.
        self.relays = port.submission and router.outbox is not None
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
        problem = address_encoding_problem(address, smtputf8)
        if problem:
            return problem
        if address != "<>" and not is_mailbox(address):
            return f"553 5.1.3 Sender address <{address}> is not a valid address"
        if self.port.submission:
            user = str(session.auth_data)
            if normalised(address) != user:
                return f"553 5.7.1 Sender address <{address}> is not yours (logged in as {user})"
        else:
            ip = _peer_ip(session)
            if not await self.limits.message(ip):
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
        problem = address_encoding_problem(address, envelope.smtp_utf8)
        if problem:
            return problem
        if not is_mailbox(address):
            return f"553 5.1.3 Recipient address <{address}> is not a valid address"
        if not self.router.is_local(address):
            if self.relays:  # authenticated submission: we relay for our users
                if address not in envelope.rcpt_tos:
                    envelope.rcpt_tos.append(address)
                    envelope.rcpt_options.extend(rcpt_options)
                return "250 2.1.5 Recipient OK (will be relayed)"
            if self.port.submission:
                return NOT_YET.format(address=address)
            return RELAY_DENIED.format(address=address)
        if self.router.known_locally(address):
            where = Destination.LOCAL  # no thread and no query for a mailbox just seen
        else:
            where = await asyncio.to_thread(self.router.destination, address)
        recipient = normalised(address)
        if where is not Destination.LOCAL or recipient is None:
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user here"
        if recipient not in envelope.rcpt_tos:
            envelope.rcpt_tos.append(recipient)
            envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    # -- DATA ---------------------------------------------------------------------
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        problem = content_problem(content)
        if problem:
            return problem
        if self.port.submission:
            problem = from_header_problem(content, str(session.auth_data))
            if problem:
                return problem
        queue_id = secrets.token_hex(8).upper()
        message = await self._prepend_trace(server, session, envelope, content, queue_id)
        # RCPT checked each address already; the split is the router's rule.
        route = Route(
            local=tuple(r for r in envelope.rcpt_tos if self.router.is_local(r)),
            remote=tuple(r for r in envelope.rcpt_tos if not self.router.is_local(r)),
        )
        mail_from = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        try:
            await self.router.dispatch(mail_from, route, message)
        except (OSError, ValueError, QueueError, RoutingError) as exc:
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
        """Received and (on the MX) Authentication-Results, newest first; the router
        adds Return-Path to local copies."""
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
            f"Received: from {header_safe(helo)} ([{ip}])\r\n"
            f"\tby {self.hostname} (tidings) with {protocol} id {queue_id}{recipient};\r\n"
            f"\t{email.utils.format_datetime(email.utils.localtime())}\r\n"
        )
        headers = received
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
                headers += fold(results) + "\r\n"
        return headers.encode("utf-8", "surrogateescape") + content


def _peer_ip(session: Session) -> str:
    return str(session.peer[0]) if session.peer else ""


def header_safe(text: str) -> str:
    """No CR/LF (header injection) and nothing unprintable from the client."""
    return "".join(c if c.isprintable() else "?" for c in text)[:255]


def fold(header: str) -> str:
    """Fold ``Authentication-Results`` at its ``;`` separators (RFC 5322 line length)."""
    name, _, value = header.partition(": ")
    parts = [p.strip() for p in value.split(";")]
    return f"{name}: " + ";\r\n\t".join(parts)
