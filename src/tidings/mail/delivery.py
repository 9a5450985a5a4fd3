"""Group commit of local deliveries: many SMTP sessions, one directory fsync and
one index transaction.

A message is stored for its recipients in steps (:class:`MailStore`): its file is
written and fsynced in the session's own worker thread (many run at once, and the
filesystem's journal merges their commits); then the directory entries of every
message that has reached that point are fsynced together, and those sessions may
say 250; then their index rows are written, together, in one transaction. While one
group is synced the next one fills, so nothing waits for a timer and an idle server
syncs each message at once.

A 250 is only said once the message's file and its directory entry are on disk.
The index row follows the 250 by a few milliseconds: it is derived data, and every
reader (the API, IMAP) brings a folder's rows up to date from its files before
reading it; a row lost to a crash is rebuilt the same way at the next start.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tidings.mail.store import MailStore

Written = tuple[str, Path, bytes]


class GroupCommit:
    """Local deliveries of one process. Use from one event loop."""

    def __init__(self, store: MailStore) -> None:
        self.store = store
        self._syncing: list[tuple[list[Written], asyncio.Future[None]]] = []
        self._indexing: list[Written] = []
        self._syncer: asyncio.Task[None] | None = None
        self._indexer: asyncio.Task[None] | None = None

    async def deliver(self, addresses: list[str], message: bytes) -> None:
        """Store ``message`` in the INBOX of every address; returns once it is durable."""
        written = await asyncio.to_thread(self._write, addresses, message)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._syncing.append((written, done))
        if self._syncer is None or self._syncer.done():
            self._syncer = asyncio.create_task(self._sync_all())
        await asyncio.shield(done)  # a client that hangs up does not cancel the group

    async def drain(self) -> None:
        """Wait until every stored message is also indexed (before the service stops)."""
        if self._syncer is not None:
            await asyncio.shield(self._syncer)
        if self._indexer is not None:  # read after the syncer: it may have started one
            await asyncio.shield(self._indexer)

    def _write(self, addresses: list[str], message: bytes) -> list[Written]:
        return [(a, self.store.write_inbox(a, message), message) for a in addresses]

    async def _sync_all(self) -> None:
        while self._syncing:
            group, self._syncing = self._syncing, []
            written = [item for files, _ in group for item in files]
            try:
                await asyncio.to_thread(self.store.sync_inbox, written)
            except Exception as exc:  # the fsync failed: no 250 for anyone in the group
                for _, done in group:
                    done.set_exception(exc)
                continue
            except BaseException:  # stopping: the sessions must not wait forever
                for _, done in group:
                    done.set_exception(OSError("the service is stopping"))
                raise
            for _, done in group:
                done.set_result(None)
            self._indexing += written
            if self._indexer is None or self._indexer.done():
                self._indexer = asyncio.create_task(self._index_all())

    async def _index_all(self) -> None:
        while self._indexing:
            group, self._indexing = self._indexing, []
            await asyncio.to_thread(self.store.index_inbox, group)
