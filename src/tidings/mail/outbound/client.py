"""One delivery attempt of one message to one recipient, with aiosmtplib.

Directly to the recipient's MX hosts (opportunistic STARTTLS, RFC 7435), or through
the configured smarthost (TLS required and verified, AUTH). Every outcome is either
success, :class:`PermanentFailure` (5xx: bounce now) or :class:`TemporaryFailure`
(4xx, network, DNS: retry later).
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from dataclasses import dataclass

import aiosmtplib
import dns.asyncresolver

from tidings.core.config import Settings
from tidings.core.tls import client_context
from tidings.mail.outbound.resolve import (
    PermanentFailure,
    TemporaryFailure,
    addresses,
    mx_hosts,
)

log = logging.getLogger("tidings.outbound")

_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")


class StartTLSFailed(Exception):
    """The remote offered STARTTLS but the handshake failed (however aiosmtplib
    reports it: reset, SSL error, disconnect)."""


@dataclass(frozen=True)
class Delivered:
    remote: str  # the host that accepted, for logs and the queue's history
    response: str


def _opportunistic_context() -> ssl.SSLContext:
    # Without DANE or MTA-STS nothing says which certificate a MX should have, so
    # verification could only turn encrypted delivery into plaintext delivery (RFC 7435).
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def failure_from_response(code: int, message: str, remote: str) -> Exception:
    enhanced = _ENHANCED.match(message)
    text = f"{code} {message}".strip()
    if 500 <= code < 600:
        return PermanentFailure(enhanced[1] if enhanced else "5.0.0", text, remote)
    return TemporaryFailure(enhanced[1] if enhanced else "4.0.0", text, remote)


async def _transaction(
    client: aiosmtplib.SMTP, mail_from: str, rcpt: str, data: bytes, remote: str
) -> Delivered:
    options = []
    # RFC 6152/6531: say what the message is when the server understands it; a server
    # without 8BITMIME still gets the bytes, as Postfix does.
    if not data.isascii() and client.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    if not (mail_from + rcpt).isascii() and client.supports_extension("smtputf8"):
        options.append("SMTPUTF8")
    try:
        _, response = await client.sendmail(mail_from, [rcpt], data, mail_options=options)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients[0]
        raise failure_from_response(refused.code, refused.message, remote) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise failure_from_response(exc.code, exc.message, remote) from exc
    return Delivered(remote, response)


async def _quit(client: aiosmtplib.SMTP) -> None:
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


class ConnectionPool:
    """Idle SMTP sessions to MX hosts, reused for the next message to the same host
    (as Postfix's connection cache does): a session costs a TCP and often a TLS
    handshake, more than the transaction itself. Sessions idle longer than
    ``idle_seconds`` are closed, well before remote servers time them out."""

    def __init__(self, idle_seconds: float = 5.0) -> None:
        self.idle_seconds = idle_seconds
        self._idle: dict[tuple[str, str, bool], list[tuple[aiosmtplib.SMTP, float]]] = {}

    def take(self, key: tuple[str, str, bool]) -> aiosmtplib.SMTP | None:
        sessions = self._idle.get(key, [])
        now = time.monotonic()
        while sessions:
            client, since = sessions.pop()
            if client.is_connected and now - since < self.idle_seconds:
                return client
            client.close()
        return None

    def give(self, key: tuple[str, str, bool], client: aiosmtplib.SMTP) -> None:
        self._idle.setdefault(key, []).append((client, time.monotonic()))

    async def expire(self) -> None:
        """Close sessions idle too long (called by the delivery loop now and then)."""
        now = time.monotonic()
        expired = []
        # Sorted out before any await, so no attempt can take a session being closed.
        for key, sessions in self._idle.items():
            fresh = [(c, t) for c, t in sessions if c.is_connected and now - t < self.idle_seconds]
            expired += [c for c, t in sessions if (c, t) not in fresh]
            self._idle[key] = fresh
        for client in expired:
            await _quit(client)

    async def close(self) -> None:
        sessions = [client for group in self._idle.values() for client, _ in group]
        self._idle.clear()
        for client in sessions:
            await _quit(client)


async def _reuse(
    pool: ConnectionPool | None,
    key: tuple[str, str, bool],
    mail_from: str,
    rcpt: str,
    data: bytes,
    host: str,
) -> Delivered | None:
    """Deliver over an idle session if there is one; None if there is none or it died
    before answering (the caller then opens a fresh one)."""
    client = pool.take(key) if pool else None
    if client is None or pool is None:
        return None
    try:
        result = await _transaction(client, mail_from, rcpt, data, host)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError):
        client.close()
        return None
    except BaseException:
        await _quit(client)
        raise
    pool.give(key, client)
    return result


async def _release(
    pool: ConnectionPool | None, key: tuple[str, str, bool], client: aiosmtplib.SMTP
) -> None:
    """A connection whose transaction is over: back to the pool, or closed politely."""
    if pool is None:
        await _quit(client)
    else:
        pool.give(key, client)


async def _try_host(
    settings: Settings,
    host: str,
    address: str,
    mail_from: str,
    rcpt: str,
    data: bytes,
    use_starttls: bool,
    pool: ConnectionPool | None = None,
) -> Delivered:
    key = (host, address, use_starttls)
    reused = await _reuse(pool, key, mail_from, rcpt, data, host)
    if reused is not None:
        return reused
    outbound = settings.mail.outbound
    client = aiosmtplib.SMTP(
        hostname=address,
        port=outbound.remote_smtp_port,
        local_hostname=settings.hostname,
        timeout=outbound.timeout_seconds,
        start_tls=False,
    )
    await client.connect()
    try:
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            await client.helo()  # RFC 5321 §3.2: an old server that only knows HELO
        if use_starttls and client.supports_extension("starttls"):
            try:
                await client.starttls(server_hostname=host, tls_context=_opportunistic_context())
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise StartTLSFailed(str(exc) or type(exc).__name__) from exc
        result = await _transaction(client, mail_from, rcpt, data, host)
    except BaseException:
        await _quit(client)
        raise
    await _release(pool, key, client)
    return result


async def deliver_direct(
    settings: Settings,
    resolver: dns.asyncresolver.Resolver,
    mail_from: str,
    rcpt: str,
    data: bytes,
    pool: ConnectionPool | None = None,
) -> Delivered:
    domain = rcpt.rpartition("@")[2].lower()
    hosts = await mx_hosts(resolver, domain)
    last: Exception = TemporaryFailure("4.4.1", f"no answer from any MX host of {domain}")
    for host in hosts:
        for address in await addresses(resolver, host):
            for use_starttls in (True, False):
                try:
                    return await _try_host(
                        settings, host, address, mail_from, rcpt, data, use_starttls, pool
                    )
                except PermanentFailure:
                    raise
                except TemporaryFailure as exc:
                    last = exc  # a 4xx: the next MX may do better
                    break
                except StartTLSFailed as exc:
                    # A broken TLS stack at the remote must not block mail for good:
                    # like Postfix, try the same host once more in plaintext.
                    log.info("STARTTLS with %s [%s] failed (%s); plaintext", host, address, exc)
                    last = TemporaryFailure("4.7.0", f"{host}: TLS failed: {exc}", host)
                    continue
                except (aiosmtplib.SMTPException, OSError) as exc:
                    last = TemporaryFailure(
                        "4.4.1", f"{host} [{address}]: {exc or type(exc).__name__}", host
                    )
                    break
    raise last


async def deliver_smarthost(
    settings: Settings,
    mail_from: str,
    rcpt: str,
    data: bytes,
    pool: ConnectionPool | None = None,
) -> Delivered:
    relay = settings.mail.smarthost
    key = (relay.host, f"smarthost:{relay.port}", relay.tls != "none")
    reused = await _reuse(pool, key, mail_from, rcpt, data, relay.host)
    if reused is not None:
        return reused
    context = client_context(settings) if relay.tls != "none" else None
    client = aiosmtplib.SMTP(
        hostname=relay.host,
        port=relay.port,
        local_hostname=settings.hostname,
        timeout=settings.mail.outbound.timeout_seconds,
        use_tls=relay.tls == "implicit",
        start_tls=relay.tls == "starttls",
        tls_context=context,
    )
    try:
        await client.connect()
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise TemporaryFailure(
            "4.4.1", f"smarthost {relay.host}:{relay.port}: {exc}", relay.host
        ) from exc
    try:
        if relay.username:
            password = relay.password.get_secret_value() if relay.password else ""
            try:
                await client.login(relay.username, password)
            except aiosmtplib.SMTPResponseException as exc:
                # A refused login is our configuration, not the recipient: retry, so
                # fixing the password delivers the queue instead of bouncing it.
                raise TemporaryFailure(
                    "4.7.0", f"smarthost refused login: {exc.code} {exc.message}", relay.host
                ) from exc
        result = await _transaction(client, mail_from, rcpt, data, relay.host)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
        await _quit(client)
        raise TemporaryFailure("4.4.2", f"smarthost {relay.host}: {exc}", relay.host) from exc
    except BaseException:
        await _quit(client)
        raise
    await _release(pool, key, client)  # logged in already: the next message skips AUTH too
    return result


async def deliver(
    settings: Settings,
    resolver: dns.asyncresolver.Resolver,
    mail_from: str,
    rcpt: str,
    data: bytes,
    pool: ConnectionPool | None = None,
) -> Delivered:
    if settings.mail.smarthost.host:
        return await deliver_smarthost(settings, mail_from, rcpt, data, pool)
    return await deliver_direct(settings, resolver, mail_from, rcpt, data, pool)
