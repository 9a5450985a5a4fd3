"""aiosmtpd's SMTP protocol, made to speak like a production MTA.

Two things aiosmtpd does not do on its own:

* ENHANCEDSTATUSCODES (RFC 2034/3463): many of its built-in replies have no
  ``x.y.z`` code. :meth:`TidingsSMTP.push` adds the right one (and rewords a few
  replies) in one place instead of patching every command.
* Per-source connection limits: checked before the greeting, answered with
  ``421 4.7.0`` as Postfix does, and released when the connection ends.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from aiosmtpd.smtp import SMTP

from tidings.mail.smtp.limits import Limits

log = logging.getLogger("tidings.smtp")

_HAS_ENHANCED = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")
_REPLY = re.compile(r"^(?P<code>\d{3})(?P<sep>[ -])(?P<text>.*)$", re.DOTALL)

# aiosmtpd's own wording → ours, for replies whose text should say more.
_REWORDED = {
    "500 Line too long (see RFC5321 4.5.3.1.6)": (
        "500 5.5.2 Line too long: at most 998 octets per line (RFC 5322 2.1.1)"
    ),
    "552 Error: Too much mail data": "552 5.3.4 Message size exceeds fixed maximum message size",
    "552 Error: message size exceeds fixed maximum message size": (
        "552 5.3.4 Message size exceeds fixed maximum message size"
    ),
    "220 Ready to start TLS": "220 2.0.0 Ready to start TLS",
    "530 Must issue a STARTTLS command first": "530 5.7.0 Must issue a STARTTLS command first",
    "500 Command line too long": "500 5.5.2 Command line too long",
    "500 Error: bad syntax": "500 5.5.2 Error: bad syntax",
    "503 Already authenticated": "503 5.5.1 Already authenticated",
}

# Default enhanced code by basic reply code (RFC 3463), for replies not reworded above.
_DEFAULT_ENHANCED = {
    "221": "2.0.0",
    "235": "2.7.0",
    "250": "2.0.0",
    "252": "2.0.0",
    "421": "4.7.0",
    "450": "4.7.1",
    "451": "4.3.0",
    "452": "4.5.3",
    "454": "4.7.0",
    "500": "5.5.2",
    "501": "5.5.4",
    "502": "5.5.1",
    "503": "5.5.1",
    "504": "5.5.4",
    "530": "5.7.0",
    "535": "5.7.8",
    "538": "5.7.11",
    "550": "5.7.1",
    "552": "5.3.4",
    "553": "5.1.3",
    "554": "5.7.1",
    "555": "5.5.4",
}

# Replies that carry no enhanced code by definition: the greeting (and the 220 before
# TLS is reworded above), AUTH challenges (RFC 4954) and the DATA go-ahead.
_NO_ENHANCED = {"220", "334", "354"}


def with_enhanced_code(reply: str) -> str:
    """``"501 Syntax: HELO hostname"`` → ``"501 5.5.4 Syntax: HELO hostname"``."""
    reply = _REWORDED.get(reply, reply)
    match = _REPLY.match(reply)
    if match is None or _HAS_ENHANCED.match(reply) or match["code"] in _NO_ENHANCED:
        return reply
    enhanced = _DEFAULT_ENHANCED.get(match["code"])
    if enhanced is None:
        enhanced = f"{match['code'][0]}.0.0"
    return f"{match['code']}{match['sep']}{enhanced} {match['text']}"


class InFlight:
    """DATA transactions under way, so that a stop (SIGTERM) lets them reach their
    reply instead of storing a message whose sender never hears 250 and sends again."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()


class TidingsSMTP(SMTP):
    """One SMTP connection. ``limits`` is shared by every connection of the process."""

    def __init__(
        self,
        handler: Any,
        *,
        limits: Limits,
        inflight: InFlight,
        offer_auth: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(handler, **kwargs)
        self.limits = limits
        self.inflight = inflight
        self.offer_auth = offer_auth
        self._slot_ip: str | None = None
        self._in_ehlo = False

    # -- replies ------------------------------------------------------------------
    async def push(self, status: Any) -> None:
        if isinstance(status, str) and not self._in_ehlo:
            status = with_enhanced_code(status)
        await super().push(status)

    async def smtp_EHLO(self, hostname: str) -> None:
        # EHLO replies list extensions; RFC 2034 exempts them from enhanced codes.
        self._in_ehlo = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._in_ehlo = False

    async def smtp_HELO(self, hostname: str) -> None:
        self._in_ehlo = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._in_ehlo = False

    async def smtp_DATA(self, arg: str) -> None:
        self.inflight.enter()
        try:
            await super().smtp_DATA(arg)
        finally:
            self.inflight.leave()

    async def smtp_AUTH(self, arg: str) -> None:
        if not self.offer_auth:
            # The MX takes no passwords at all, so it can never be talked into relaying.
            await self.push("503 5.5.1 AUTH is not offered here; submit mail on port 587 or 465")
            return
        await super().smtp_AUTH(arg)

    # -- per-source connection limits ---------------------------------------------
    async def _handle_client(self) -> None:
        assert self.session is not None
        ip = str(self.session.peer[0]) if self.session.peer else ""
        refused = await self.limits.open(ip)
        if refused is not None:
            log.warning("refusing connection from %s: %s", ip, refused)
            await super().push(f"421 4.7.0 {self.hostname} Error: {refused} from {ip}")
            assert self.transport is not None
            self.transport.close()
            return
        self._slot_ip = ip
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        if self._slot_ip is not None:
            self.limits.close(self._slot_ip)
            self._slot_ip = None
        super().connection_lost(error)
