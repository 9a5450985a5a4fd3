"""SMTP AUTH (RFC 4954) PLAIN and LOGIN against the shared accounts.

aiosmtpd's built-in mechanisms call a synchronous authenticator on the event loop;
checking an argon2id hash takes tens of milliseconds, so these replacements parse
the exchange with aiosmtpd's own helpers and verify the password in a worker thread.
LOGIN stays because Outlook still uses it. Throttling is the accounts' own (shared
with IMAP and the web): a throttled client hears ``454 4.7.0`` and should retry later.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
from base64 import b64decode

from aiosmtpd.smtp import SMTP, AuthResult

from tidings.core.accounts import Accounts, AuthFailed, Throttled

log = logging.getLogger("tidings.smtp.auth")

INVALID = "535 5.7.8 Authentication credentials invalid"
MALFORMED = "501 5.5.2 Cannot decode the AUTH response (base64 expected)"


def _decode(value: str) -> bytes | None:
    try:
        return b64decode(value.encode(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _peer_ip(server: SMTP) -> str:
    peer = server.session.peer if server.session else None
    return str(peer[0]) if peer else ""


class PasswordAuth:
    """Mixin for a handler: ``auth_PLAIN`` and ``auth_LOGIN`` as aiosmtpd expects them."""

    accounts: Accounts

    async def _verify(self, server: SMTP, login: bytes, password: bytes) -> AuthResult:
        try:
            address = login.decode("utf-8")
            secret = password.decode("utf-8")
        except UnicodeDecodeError:
            return AuthResult(success=False, handled=False, message=INVALID)
        source = _peer_ip(server)
        try:
            user = await asyncio.to_thread(
                self.accounts.authenticate, address, secret, source=source
            )
        except Throttled as exc:
            log.warning("AUTH throttled for %r from %s", address, source)
            return AuthResult(
                success=False,
                handled=False,
                message=f"454 4.7.0 Too many failed logins, try again in {exc.retry_after} s",
            )
        except AuthFailed:
            log.info("AUTH failed for %r from %s", address, source)
            return AuthResult(success=False, handled=False, message=INVALID)
        log.info("AUTH ok for %s from %s", user.address, source)
        return AuthResult(success=True, auth_data=user.address)

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        response = await _first_response(server, args, "")
        if isinstance(response, AuthResult):
            return response
        parts = response.split(b"\x00")
        if len(parts) != 3:
            await server.push("501 5.5.2 AUTH PLAIN expects authzid NUL login NUL password")
            return AuthResult(success=False, handled=True)
        authzid, login, password = parts
        if authzid and authzid != login:
            # Acting as someone else (proxy authorisation) is not something we allow.
            return AuthResult(success=False, handled=False, message=INVALID)
        return await self._verify(server, login, password)

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        login = await _first_response(server, args, "Username:")
        if isinstance(login, AuthResult):
            return login
        password = await server.challenge_auth("Password:")
        if not isinstance(password, bytes):
            return AuthResult(success=False, handled=True)
        return await self._verify(server, login, password)


async def _first_response(server: SMTP, args: list[str], prompt: str) -> bytes | AuthResult:
    """The client's first response: sent with the AUTH command (RFC 4954's initial
    response) or asked for with ``prompt``; an :class:`AuthResult` to return as is
    when the client gave up or sent something that is not base64."""
    if len(args) == 1:
        response = await server.challenge_auth(prompt)
        return response if isinstance(response, bytes) else AuthResult(success=False, handled=True)
    decoded = _decode(args[1])
    if decoded is None:
        await server.push(MALFORMED)
        return AuthResult(success=False, handled=True)
    return decoded
