"""Where a message goes: a mailbox on this box, or the outbound queue.

The one place that decides it, for every way mail enters: SMTP (MX and submission),
the REST API and, through the API, the MCP tools. The rules:

* An address of a domain this box serves is *local*: it is delivered into that
  user's Maildir, and only if the account exists (no catch-all, no guessing).
* Any other address is *remote*: it goes to the outbound queue, and only for a
  sender this box has authenticated (a caller decides that; the MX never relays).
* Local delivery is final delivery, so each local copy gets ``Return-Path:`` (RFC
  5321 §4.4); relayed copies do not — the last MTA adds it.
* Local copies are stored (fsynced) before the remote part is queued, and the
  caller acknowledges only after both: a failure before then loses nothing the
  sender was told was accepted.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from tidings.core.accounts import AccountError, Accounts, normalise_address
from tidings.mail.delivery import GroupCommit
from tidings.mail.store import MailStore

#: How long an account known to exist is not asked for again, and how many are kept.
KNOWN_SECONDS = 30.0
KNOWN_MAX = 10_000


class Outbox(Protocol):
    """Where mail for other domains goes (:class:`tidings.mail.outbound.OutboundQueue`)."""

    def enqueue(self, mail_from: str, rcpt_to: list[str], message: bytes) -> str: ...


class Destination(enum.Enum):
    LOCAL = "local"  # a mailbox here
    NO_SUCH_USER = "no-such-user"  # a domain of ours, but nobody by that name
    REMOTE = "remote"  # another domain: the outbound queue


@dataclass(frozen=True)
class Route:
    """The recipients of one message, split by where they go. Local addresses are in
    account form (lower-cased), remote ones as given; neither repeats."""

    local: tuple[str, ...] = ()
    remote: tuple[str, ...] = ()


class RoutingError(ValueError):
    """A recipient the message cannot go to; ``address`` names it."""

    def __init__(self, message: str, address: str) -> None:
        super().__init__(message)
        self.address = address


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


class Router:
    """Decides and carries out where messages go. One per service process."""

    def __init__(self, accounts: Accounts, store: MailStore, outbox: Outbox | None) -> None:
        self.accounts = accounts
        self.store = store
        self.outbox = outbox
        self.local = GroupCommit(store)
        self._exists: dict[str, float] = {}  # account -> remembered until (monotonic)
        self.domains = frozenset(d.lower() for d in accounts.domains)
        # The queue's SQLite connection is used from one thread at a time.
        self._outbox_lock = asyncio.Lock()

    def is_local(self, address: str) -> bool:
        """Whether ``address`` belongs to a domain this box serves."""
        return domain_of(address) in self.domains

    def destination(self, address: str) -> Destination:
        """Where mail to ``address`` would go (reads the accounts database: call it
        from a worker thread in async code)."""
        if not self.is_local(address):
            return Destination.REMOTE
        try:
            account = normalise_address(address)
        except AccountError:
            return Destination.NO_SUCH_USER
        if not self._known(account):
            return Destination.NO_SUCH_USER
        return Destination.LOCAL

    def _known(self, account: str) -> bool:
        """Whether the account exists; a yes is remembered for :data:`KNOWN_SECONDS`
        (every message to a busy mailbox asked the database; a deleted account may
        still receive for that long, a new one is found at once)."""
        now = time.monotonic()
        if self._exists.get(account, 0.0) > now:
            return True
        if self.accounts.get_user(account) is None:
            self._exists.pop(account, None)
            return False
        if len(self._exists) >= KNOWN_MAX:
            self._exists.clear()
        self._exists[account] = now + KNOWN_SECONDS
        return True

    def known_locally(self, address: str) -> bool:
        """:meth:`destination` is LOCAL from what is remembered, without the database
        (so the event loop may ask; otherwise ask :meth:`destination` in a thread)."""
        try:
            account = normalise_address(address)
        except AccountError:
            return False
        return self.is_local(address) and self._exists.get(account, 0.0) > time.monotonic()

    def route(self, recipients: Iterable[str]) -> Route:
        """All of a message's recipients at once; :class:`RoutingError` for the first
        that cannot receive it. Blocking, like :meth:`destination`."""
        local: dict[str, None] = {}
        remote: dict[str, None] = {}
        for address in recipients:
            where = self.destination(address)
            if where is Destination.NO_SUCH_USER:
                raise RoutingError(f"no mailbox {address.lower()} on this box", address)
            if where is Destination.LOCAL:
                local[normalise_address(address)] = None
            else:
                remote[address] = None
        return Route(tuple(local), tuple(remote))

    async def dispatch(self, mail_from: str, route: Route, message: bytes) -> None:
        """Store the local copies (durably), then queue the remote ones. Raises
        :class:`OSError` or :class:`ValueError` (store) and
        :class:`~tidings.mail.outbound.QueueError` (queue) as they come; a caller
        acknowledges only when this returns."""
        if route.remote and self.outbox is None:
            raise RoutingError(
                "sending outside this box is not enabled (no outbound queue)", route.remote[0]
            )
        if route.local:
            final = return_path(mail_from) + message
            await self.local.deliver(list(route.local), final)
        if route.remote:
            assert self.outbox is not None
            async with self._outbox_lock:
                await asyncio.to_thread(self.outbox.enqueue, mail_from, list(route.remote), message)


def return_path(mail_from: str) -> bytes:
    """The ``Return-Path:`` line final delivery adds: the envelope sender, ``<>`` for
    a bounce. Only printable characters, so it can never add a header."""
    shown = "".join(c if c.isprintable() else "?" for c in mail_from)[:255]
    return f"Return-Path: <{shown}>\r\n".encode("utf-8", "surrogateescape")
