"""``tidings serve imap``: tidings' own IMAP server, answering from the mail index.

Two listeners: ``imap`` (STARTTLS, required before LOGIN) and ``imaps`` (implicit
TLS), both our sockets (``ctx.listen``, so systemd socket activation works). Each
connection is one :class:`Session` in its own task; folder states are shared by the
sessions of this process (:class:`FolderState`), the Maildirs and the index by every
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import ssl
import time
from pathlib import Path

from tidings.core.accounts import Accounts, AuthFailed
from tidings.core.services import ServiceContext
from tidings.core.tls import server_context
from tidings.mail.imap.folders import FolderState, Msg
from tidings.mail.imap.search import indexed_text
from tidings.mail.imap.session import Session
from tidings.mail.store import MailStore

log = logging.getLogger("tidings.imap")

#: How long a verified password is trusted without hashing it again. A password
#: changed meanwhile (``tidings user passwd``) keeps working that long in this process.
AUTH_CACHE_SECONDS = 60.0
#: Messages put in the SEARCH text index per step, and the pause between steps.
TEXT_INDEX_BATCH = 100
TEXT_INDEX_PAUSE = 0.01
#: How long a closing TLS connection waits for the client's close_notify.
TLS_SHUTDOWN_SECONDS = 1.0
#: Largest APPEND accepted (advertised as APPENDLIMIT).
APPEND_LIMIT = 64 * 1024 * 1024


class ImapServer:
    """What sessions share: accounts, the store, TLS, and the folder states."""

    def __init__(
        self, store: MailStore, accounts: Accounts, tls: ssl.SSLContext, hostname: str
    ) -> None:
        self.store = store
        self.accounts = accounts
        self.tls = tls
        self.greeting = b"tidings IMAP ready on " + hostname.encode("ascii", "replace")
        self.append_limit = APPEND_LIMIT
        self.condstore_capable = True
        self.qresync_capable = True
        self.extensions: list[bytes] = [
            b"LITERAL+",
            b"IDLE",
            b"NAMESPACE",
            b"UIDPLUS",
            b"MOVE",
            b"SPECIAL-USE",
            b"UNSELECT",
            b"ID",
            b"ENABLE",
            b"CHILDREN",
            b"CONDSTORE",
            b"QRESYNC",
            b"ESEARCH",
            b"SEARCHRES",
            b"LIST-EXTENDED",
            b"LIST-STATUS",
            b"STATUS=SIZE",
            b"APPENDLIMIT=%d" % APPEND_LIMIT,
            b"BINARY",
            b"MULTIAPPEND",
            b"UTF8=ACCEPT",
            b"SORT",
            b"SORT=DISPLAY",
            b"ESORT",
            b"THREAD=ORDEREDSUBJECT",
            b"THREAD=REFERENCES",
        ]
        self._secret = os.urandom(32)
        self._verified: dict[bytes, tuple[str, float]] = {}
        self._verifying: dict[bytes, asyncio.Future[str]] = {}
        self._indexing: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._folders: dict[tuple[str, str], FolderState] = {}
        self.sessions: set[asyncio.Task[None]] = set()

    async def authenticate(self, user: str, password: str, source: str) -> str:
        """The address ``user`` logs in as, or :class:`AuthFailed`/:class:`Throttled`.

        A password verified in the last :data:`AUTH_CACHE_SECONDS` is not hashed
        again (argon2 costs ~0.1-0.4 s of CPU; clients log in per connection, often
        several at once), as Dovecot's auth cache does; the throttle is still asked
        each time, and whether the account is still enabled. Entries are keyed by an
        HMAC under a per-process key, so memory holds no password."""
        key = hmac.new(self._secret, user.lower().encode() + b"\0" + password.encode(), "sha256")
        digest = key.digest()
        now = time.monotonic()
        hit = self._verified.get(digest)
        if hit is not None and hit[1] > now:
            await asyncio.to_thread(self.accounts.check_allowed, hit[0], source)
            return hit[0]
        pending = self._verifying.get(digest)
        if pending is not None:
            # The same credentials are being checked for another connection (clients
            # open several at once): share that one argon2 run and its verdict.
            return await asyncio.shield(pending)
        task = asyncio.ensure_future(
            asyncio.to_thread(self.accounts.authenticate, user, password, source=source)
        )
        verdict: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._verifying[digest] = verdict
        try:
            account = await task
        except BaseException as exc:
            verdict.set_exception(exc if isinstance(exc, Exception) else AuthFailed("cancelled"))
            verdict.exception()  # retrieved: no "never retrieved" warning if nobody waits
            raise
        else:
            verdict.set_result(account.address)
        finally:
            del self._verifying[digest]
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[digest] = (account.address, now + AUTH_CACHE_SECONDS)
        return account.address

    def index_text_later(self, folder: FolderState, msgs: list[Msg]) -> None:
        """Put these messages' text in the trigram index in the background, a batch
        at a time, so a folder's first SEARCH TEXT costs one scan, not a scan plus
        the indexing of the whole folder."""
        key = (folder.address, folder.name)
        if key in self._indexing:
            return
        task = asyncio.get_running_loop().create_task(self._index_text(folder, msgs))
        self._indexing[key] = task
        task.add_done_callback(lambda _: self._indexing.pop(key, None))

    async def _index_text(self, folder: FolderState, msgs: list[Msg]) -> None:
        index = self.store.index

        def batch(chunk: list[Msg]) -> None:
            texts = []
            for msg in chunk:
                raw = folder.read(msg)
                if raw is not None:
                    texts.append((msg.row, *indexed_text(raw), msg.row, msg.key))
            with index.transaction() as tx:
                tx.executemany("DELETE FROM imap_text WHERE rowid = ?", [(t[0],) for t in texts])
                # a row expunged meanwhile (or its id reused by another message) is
                # skipped: the text goes only to the row of the very same file
                tx.executemany(
                    "INSERT INTO imap_text (rowid, header, body) SELECT ?, ?, ?"
                    " WHERE EXISTS (SELECT 1 FROM message WHERE id = ? AND key = ?)",
                    texts,
                )

        try:
            for start in range(0, len(msgs), TEXT_INDEX_BATCH):
                await asyncio.to_thread(batch, msgs[start : start + TEXT_INDEX_BATCH])
                await asyncio.sleep(TEXT_INDEX_PAUSE)  # sessions' commands go first
        except Exception:
            log.exception("indexing text for SEARCH failed in %s", folder.name)

    def folder(self, address: str, name: str, path: Path) -> FolderState:
        key = (address, name)
        state = self._folders.get(key)
        if state is None:
            state = FolderState(address, name, path)
            state.load_highest_modseq(self.store)
            self._folders[key] = state
        return state

    def forget(self, state: FolderState) -> None:
        if self._folders.get((state.address, state.name)) is state:
            del self._folders[(state.address, state.name)]

    async def connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, tls: bool
    ) -> None:
        peer = writer.get_extra_info("peername")
        source = peer[0] if isinstance(peer, tuple) else ""
        session = Session(self, reader, writer, tls=tls, peer=source)
        task = asyncio.current_task()
        if task is not None:
            self.sessions.add(task)
        try:
            await session.run()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except Exception:
            log.exception("IMAP session failed")
        finally:
            if task is not None:
                self.sessions.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
                await writer.wait_closed()


async def main(ctx: ServiceContext) -> None:
    settings = ctx.settings
    store = MailStore(settings)
    report = await asyncio.to_thread(store.reconcile)
    if report.added or report.removed or report.updated:
        log.info(
            "index repaired: %d added, %d removed, %d updated",
            report.added,
            report.removed,
            report.updated,
        )
    tls = server_context(settings)
    server = ImapServer(store, ctx.accounts, tls, settings.hostname)

    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.connection(reader, writer, tls=False)

    async def implicit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.connection(reader, writer, tls=True)

    listeners = [
        await asyncio.start_server(plain, sock=ctx.listen("imap"), limit=70000),
        await asyncio.start_server(
            implicit,
            sock=ctx.listen("imaps"),
            ssl=tls,
            limit=70000,
            # After BYE, close without waiting long for the client's close_notify:
            # clients (imaptest, some mobile ones) wait for our close instead, and
            # asyncio's default kept such connections open for 30 s.
            ssl_shutdown_timeout=TLS_SHUTDOWN_SECONDS,
        ),
    ]
    ctx.ready()
    try:
        await ctx.stopping.wait()
    finally:
        for listener in listeners:
            listener.close()
        for task in [*server.sessions, *server._indexing.values()]:
            task.cancel()
        for listener in listeners:
            await listener.wait_closed()
        store.close()
