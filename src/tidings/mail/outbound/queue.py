"""The API other services use to send mail: ``OutboundQueue(settings).enqueue(...)``.

The message is DKIM-signed here, once, before it is stored: every retry then sends
the very bytes that were signed, a key rotation never touches mail already queued,
and the signature cost (about 5 ms) is paid once, not per attempt.
"""

from __future__ import annotations

import contextlib
import random
import socket
import time
from pathlib import Path

from tidings.core.config import Outbound, Settings
from tidings.mail.dkim import Signer
from tidings.mail.outbound.queuedb import QueueStore, Recipient, queue_dir

WAKEUP_SOCKET = "wakeup.sock"


class QueueError(ValueError):
    """A message the queue refuses (no recipients, an address that is not one)."""


def wakeup_path(settings: Settings) -> Path:
    return queue_dir(settings) / WAKEUP_SOCKET


def retry_delay(outbound: Outbound, attempts: int) -> float:
    """Seconds to wait after ``attempts`` failed tries: doubling from the first delay,
    capped, with jitter so a queue that filled during an outage does not hit the
    remote in lockstep when it returns."""
    base = min(outbound.retry_first_seconds * 2 ** max(attempts - 1, 0), outbound.retry_max_seconds)
    spread = base * outbound.retry_jitter
    delay: float = base + random.uniform(-spread, spread)  # noqa: S311 - not crypto
    return max(delay, 0.0)


def _check_address(address: str, *, allow_empty: bool) -> None:
    if allow_empty and address == "":
        return
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c in address for c in "\r\n<> "):
        raise QueueError(f"not a mail address: {address!r}")


class OutboundQueue:
    """Durable outgoing queue. ``enqueue`` returns once the message is on disk."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = QueueStore(settings)
        self._signer: Signer | None = None

    def close(self) -> None:
        self.store.close()

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            self._signer = Signer(self.settings)
        return self._signer

    def enqueue(self, mail_from: str, rcpt_to: list[str], message: bytes) -> str:
        """Sign and store ``message`` for ``rcpt_to``; the queue id. ``mail_from`` may be
        empty (a null reverse-path: no bounce is ever sent for it)."""
        _check_address(mail_from, allow_empty=True)
        if not rcpt_to:
            raise QueueError("no recipients")
        for rcpt in rcpt_to:
            _check_address(rcpt, allow_empty=False)
        signed = self.signer.sign(message)
        queue_id = self.store.add(mail_from, list(dict.fromkeys(rcpt_to)), signed, time.time())
        self.wake()
        return queue_id

    def wake(self) -> None:
        """Tell a running delivery service to look now (best effort: it also polls)."""
        with (
            contextlib.suppress(OSError),
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock,
        ):
            sock.setblocking(False)
            sock.sendto(b"!", str(wakeup_path(self.settings)))

    def list(self) -> list[Recipient]:
        return self.store.all()

    def retry(self, queue_id: str) -> int:
        """Make every recipient of ``queue_id`` due now; how many there were."""
        count = self.store.retry_now(queue_id, time.time())
        if count:
            self.wake()
        return count

    def delete(self, queue_id: str) -> int:
        """Drop ``queue_id`` without delivering or bouncing it; recipients removed."""
        return self.store.delete(queue_id)
