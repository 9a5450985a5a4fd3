"""Sending mail to the world: a durable queue, DKIM, MX delivery, retries and DSNs."""

from tidings.mail.outbound.queue import OutboundQueue, QueueError

__all__ = ["OutboundQueue", "QueueError"]
