"""Per-source limits: simultaneous connections, new connections and messages per minute.

Kept in memory of the smtp service (by worker 0 when it runs several processes, the
others asking it: :class:`LimitsClient`): unlike login failures (shared through the
database by every protocol), these only protect this listener from a flood, and a
restart forgetting them is harmless. Like Postfix's anvil, the key is the client
address; IPv6 clients are grouped by /64, because one host owns a whole /64.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Protocol

WINDOW_SECONDS = 60.0


def source_key(ip: str) -> str:
    """The unit a limit counts: the address, or its /64 for IPv6."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


class SlidingCounter:
    """Events per source within the last minute."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        """Record one event for ``key`` unless that would exceed the limit."""
        now = self.clock()
        events = self._events[key]
        while events and events[0] <= now - WINDOW_SECONDS:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def prune(self) -> None:
        now = self.clock()
        for key in [k for k, v in self._events.items() if not v or v[-1] <= now - WINDOW_SECONDS]:
            del self._events[key]


class SourceLimits:
    """What one smtp process lets a client address do."""

    def __init__(
        self,
        *,
        max_connections: int,
        connections_per_minute: int,
        messages_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_connections = max_connections
        self._open: dict[str, int] = defaultdict(int)
        self._connections = SlidingCounter(connections_per_minute, clock)
        self._messages = SlidingCounter(messages_per_minute, clock)

    def open_connection(self, ip: str) -> str | None:
        """Count a new connection; return why it is refused, or None to accept it."""
        key = source_key(ip)
        if self._open[key] >= self.max_connections:
            return "too many simultaneous connections"
        if not self._connections.allow(key):
            self._connections.prune()
            return "too many connections per minute"
        self._open[key] += 1
        return None

    def close_connection(self, ip: str) -> None:
        key = source_key(ip)
        self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def allow_message(self, ip: str) -> bool:
        allowed = self._messages.allow(source_key(ip))
        if not allowed:
            self._messages.prune()
        return allowed

    def open_connections(self, ip: str) -> int:
        return self._open.get(source_key(ip), 0)


class Limits(Protocol):
    """The per-source limits as an SMTP connection uses them."""

    async def open(self, ip: str) -> str | None:
        """Count a new connection; why it is refused, or None to accept it."""

    def close(self, ip: str) -> None:
        """The connection counted by :meth:`open` has ended."""

    async def message(self, ip: str) -> bool:
        """Count one message; False if over the limit."""


class LocalLimits:
    """The limits of this process (one worker, or worker 0 which keeps them for all)."""

    def __init__(self, limits: SourceLimits) -> None:
        self.limits = limits

    async def open(self, ip: str) -> str | None:
        return self.limits.open_connection(ip)

    def close(self, ip: str) -> None:
        self.limits.close_connection(ip)

    async def message(self, ip: str) -> bool:
        return self.limits.allow_message(ip)


class LimitsClient:
    """Limits kept by worker 0, asked over a stream socket by another worker (as
    Postfix's smtpd processes ask anvil): every worker counts against the same
    numbers. One line per question, answers in order:
    ``O ip`` → ``+`` or ``-reason``; ``M ip`` → ``+`` or ``-``; ``C ip`` (no answer)."""

    UNAVAILABLE = "per-source limits unavailable"

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._answers: deque[asyncio.Future[str]] = deque()
        self._broken = False
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            while line := await self.reader.readline():
                self._answers.popleft().set_result(line.decode().rstrip("\n"))
        except (OSError, IndexError):
            pass
        self._broken = True
        while self._answers:
            self._answers.popleft().set_result("-" + self.UNAVAILABLE)

    async def _ask(self, question: str) -> str:
        if self._broken:
            return "-" + self.UNAVAILABLE
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._answers.append(answer)
        self.writer.write(question.encode() + b"\n")
        return await answer

    async def open(self, ip: str) -> str | None:
        answer = await self._ask(f"O {ip}")
        return None if answer == "+" else answer[1:]

    def close(self, ip: str) -> None:
        if not self._broken:
            self.writer.write(f"C {ip}\n".encode())

    async def message(self, ip: str) -> bool:
        return await self._ask(f"M {ip}") == "+"


async def serve_limits(
    limits: SourceLimits, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Worker 0's side of :class:`LimitsClient`, for one other worker."""
    while line := await reader.readline():
        command, _, ip = line.decode().rstrip("\n").partition(" ")
        if command == "O":
            refused = limits.open_connection(ip)
            writer.write(b"+\n" if refused is None else f"-{refused}\n".encode())
        elif command == "M":
            writer.write(b"+\n" if limits.allow_message(ip) else b"-\n")
        elif command == "C":
            limits.close_connection(ip)
    writer.close()
