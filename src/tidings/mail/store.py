"""The mail store: the one module that writes users' mail.

Every writer — SMTP delivery, IMAP, the REST API, bounces — goes through
:class:`MailStore`, so the Maildirs (the truth, readable by Dovecot) and the index
that search and the API read stay in step.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tidings.core.config import Settings
from tidings.mail.maildir import ensure_mailbox, folder_path, user_root, write_message


class MailStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mail_dir = settings.data_dir / "mail"

    def mailbox(self, address: str) -> Path:
        """The Maildir root of ``address``, created with its special folders if new."""
        root = user_root(self.mail_dir, address)
        ensure_mailbox(root)
        return root

    def deliver(
        self, address: str, message: bytes, *, folder: str = "INBOX", flags: str = ""
    ) -> Path:
        """Store ``message`` for ``address``; returns once it is durable on disk."""
        return write_message(folder_path(self.mailbox(address), folder), message, flags=flags)

    async def deliver_async(
        self, address: str, message: bytes, *, folder: str = "INBOX", flags: str = ""
    ) -> Path:
        """:meth:`deliver` in a worker thread, for the event loop (fsync blocks)."""
        return await asyncio.to_thread(self.deliver, address, message, folder=folder, flags=flags)
