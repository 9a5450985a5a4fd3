"""The delivery loop: picks due recipients, delivers them within the concurrency
limits, and records each outcome (delivered, retry later, bounce) atomically."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import Counter

import dns.asyncresolver
import dns.resolver

from tidings.core.config import Settings
from tidings.mail.outbound.client import ConnectionPool, deliver
from tidings.mail.outbound.dsn import RecipientStatus, build_dsn
from tidings.mail.outbound.queue import retry_delay, wakeup_path
from tidings.mail.outbound.queuedb import QueueStore, Recipient
from tidings.mail.outbound.resolve import PermanentFailure, TemporaryFailure, make_resolver
from tidings.mail.store import MailStore

log = logging.getLogger("tidings.outbound")

# Wakeups from enqueue are best effort (another process, maybe no socket yet), so
# the loop also looks at the queue this often.
POLL_SECONDS = 2.0
# Below the supervisor's 10 s before SIGKILL, so outcomes get recorded.
STOP_GRACE_SECONDS = 8.0


class Deliverer:
    def __init__(self, settings: Settings, store: QueueStore) -> None:
        self.settings = settings
        self.store = store
        self.resolver: dns.asyncresolver.Resolver = make_resolver(
            settings, timeout=min(settings.mail.outbound.timeout_seconds, 30.0)
        )
        self.resolver.cache = dns.resolver.LRUCache()
        self.mail_store = MailStore(settings)
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.per_domain: Counter[str] = Counter()
        self.wakeup = asyncio.Event()
        self.pool = ConnectionPool()

    # -- the loop -------------------------------------------------------------
    async def run(self, stopping: asyncio.Event) -> None:
        outbound = self.settings.mail.outbound
        while not stopping.is_set():
            self.wakeup.clear()
            now = time.time()
            free = outbound.max_connections - len(self.in_flight)
            if free > 0:
                due = await asyncio.to_thread(
                    self.store.due, now, len(self.in_flight) + 50 * outbound.max_connections
                )
                for recipient in due:
                    if free <= 0:
                        break
                    if recipient.id in self.in_flight:
                        continue
                    if self.per_domain[recipient.domain] >= outbound.max_per_domain:
                        continue
                    self._start(recipient)
                    free -= 1
            next_at = await asyncio.to_thread(self.store.next_attempt)
            # Due rows left over are in flight or held back by a limit: a finishing
            # attempt sets `wakeup`, so only future rows need a timer.
            timeout = POLL_SECONDS
            if next_at is not None and next_at > now:
                timeout = min(next_at - now, POLL_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken(stopping), timeout)
            await self.pool.expire()
        await self._drain()
        await self.pool.close()

    async def _woken(self, stopping: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(self.wakeup.wait()), asyncio.ensure_future(stopping.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _drain(self) -> None:
        """Let attempts in progress finish (so their outcome is recorded), then cancel."""
        tasks = list(self.in_flight.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _start(self, recipient: Recipient) -> None:
        self.per_domain[recipient.domain] += 1
        task = asyncio.create_task(self._attempt(recipient))
        self.in_flight[recipient.id] = task

        def finished(_: asyncio.Task[None]) -> None:
            self.in_flight.pop(recipient.id, None)
            self.per_domain[recipient.domain] -= 1
            if self.per_domain[recipient.domain] <= 0:
                del self.per_domain[recipient.domain]
            self.wakeup.set()

        task.add_done_callback(finished)

    # -- one attempt ----------------------------------------------------------
    async def _attempt(self, r: Recipient) -> None:
        try:
            await self._attempt_once(r)
        except Exception as exc:
            # E.g. the disk is full while writing a bounce: keep the row, but not due
            # at once, or the loop would spin on the same failure.
            log.exception("queue %s to %s: could not record the outcome", r.message_id, r.rcpt)
            attempts = r.attempts + 1
            next_at = time.time() + retry_delay(self.settings.mail.outbound, attempts)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(
                    self.store.postpone, r.id, attempts, next_at, f"internal error: {exc!r}"
                )

    async def _attempt_once(self, r: Recipient) -> None:
        data = await asyncio.to_thread(self.store.data, r.message_id)
        if data is None:  # deleted by the operator meanwhile
            return
        try:
            result = await deliver(
                self.settings, self.resolver, r.mail_from, r.rcpt, data, self.pool
            )
        except PermanentFailure as failure:
            log.info("queue %s to %s: bounced: %s", r.message_id, r.rcpt, failure.text)
            await self._bounce(r, data, failure.status, failure.text, failure.remote)
            return
        except TemporaryFailure as failure:
            await self._temporary(r, data, failure.status, failure.text, failure.remote)
            return
        except Exception as exc:  # a bug must not lose the message: keep it queued
            log.exception("queue %s to %s: unexpected error", r.message_id, r.rcpt)
            await self._temporary(r, data, "4.0.0", f"internal error: {exc!r}", "")
            return
        # The at-least-once window is from the remote's 250 until this commit.
        await asyncio.to_thread(self.store.remove, r.id)
        log.info(
            "queue %s to %s: delivered via %s: %s",
            r.message_id,
            r.rcpt,
            result.remote,
            result.response,
        )

    async def _temporary(
        self, r: Recipient, data: bytes, status: str, text: str, remote: str
    ) -> None:
        outbound = self.settings.mail.outbound
        now = time.time()
        age = now - r.queued_at
        if age >= outbound.max_lifetime_seconds:
            log.info("queue %s to %s: expired: %s", r.message_id, r.rcpt, text)
            reason = f"{text} (gave up after {age / 3600:.1f} hours of retries)"
            await self._bounce(r, data, status, reason, remote)
            return
        attempts = r.attempts + 1
        next_at = now + retry_delay(outbound, attempts)
        await asyncio.to_thread(self.store.postpone, r.id, attempts, next_at, text)
        log.info(
            "queue %s to %s: attempt %d failed, retry in %.0f s: %s",
            r.message_id,
            r.rcpt,
            attempts,
            next_at - now,
            text,
        )
        if not r.warned and age >= outbound.delay_warning_seconds:
            item = RecipientStatus(r.rcpt, "delayed", status, text, remote, now)
            await self._report(r, data, item)
            await asyncio.to_thread(self.store.mark_warned, r.id)

    async def _bounce(self, r: Recipient, data: bytes, status: str, text: str, remote: str) -> None:
        if not status.startswith("5"):
            status = "5" + status[1:] if status[:1] == "4" else "5.0.0"
        item = RecipientStatus(r.rcpt, "failed", status, text, remote, time.time())
        # Report first, then forget: a crash in between repeats the report, never loses it.
        await self._report(r, data, item)
        await asyncio.to_thread(self.store.remove, r.id)

    async def _report(self, r: Recipient, data: bytes, item: RecipientStatus) -> None:
        sender_domain = r.mail_from.rpartition("@")[2].lower()
        if not r.mail_from or sender_domain != self.settings.domain:
            # Null sender (a bounce itself) or not one of ours: no report, no loops,
            # no backscatter to forged addresses.
            log.info("queue %s: no report for sender %r", r.message_id, r.mail_from)
            return
        report = build_dsn(
            reporting_mta=self.settings.hostname,
            postmaster=f"postmaster@{self.settings.domain}",
            mail_from=r.mail_from,
            queued_at=r.queued_at,
            items=[item],
            original=data,
            now=time.time(),
        )
        await self.mail_store.deliver_async(r.mail_from, report)


def open_wakeup_socket(settings: Settings) -> socket.socket | None:
    path = wakeup_path(settings)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(str(path))
    except OSError as exc:  # e.g. a path longer than sun_path: polling still works
        log.warning("no wakeup socket at %s (%s); polling every %s s", path, exc, POLL_SECONDS)
        sock.close()
        return None
    path.chmod(0o600)
    sock.setblocking(False)
    return sock
