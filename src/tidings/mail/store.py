"""The mail store: the one module that writes users' mail.

Every writer — SMTP delivery, IMAP, the REST API, bounces — goes through
:class:`MailStore`, so the Maildirs (the truth, readable by Dovecot) and the index
that search and the API read stay in step.

How they stay in step: a delivery writes the file durably, then adds its index row.
Everything else is repaired by :meth:`MailStore.sync_folder`, which compares one
folder's files (a directory listing) with its index rows and fixes the difference:
files not indexed get indexed, rows without files are dropped, UIDs and flags are
copied from disk. It runs at service start (:meth:`reconcile`, for a crash between
the file and the row), after every IMAP command that changed a folder, and before the
API reads a folder. So a message acknowledged with 250 is in the Maildir (fsynced
before the 250) and in the index exactly once (rows are unique per Maildir key).

IMAP UIDs come from Dovecot's ``dovecot-uidlist`` file in each folder, as pymap and
Dovecot keep it. Deliveries do not touch it (as with Postfix in front of Dovecot): the
first reader that finds files without a UID — pymap on SELECT/IDLE, or
:meth:`sync_folder` — assigns them in one batch under the uidlist dot-lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pymap.backend.maildir.flags import MaildirFlags
from pymap.backend.maildir.io import FileWriteable
from pymap.backend.maildir.uidlist import Record, UidList
from pymap.parsing.specials.objectid import ObjectId

from tidings.core.config import Settings
from tidings.mail.imap.mime import metadata as imap_metadata
from tidings.mail.index import FileState, IndexedMessage, MailIndex, Summary, summarise
from tidings.mail.maildir import (
    SPECIAL_FOLDERS,
    ensure_mailbox,
    folder_path,
    fsync_dir,
    user_root,
    write_message,
)

#: A dot-lock older than this is left over by a dead process (pymap uses 600 s and
#: cannot tell whose lock it is; ours name their pid so we can tell sooner).
STALE_LOCK_SECONDS = 600.0
LOCK_TIMEOUT_SECONDS = 30.0
_HOST = socket.gethostname()
log = logging.getLogger("tidings.mail.store")


@dataclass(frozen=True)
class Folder:
    name: str
    special_use: str | None  # RFC 6154 attribute, e.g. "\\Sent"
    total: int
    unseen: int


@dataclass(frozen=True)
class MessagePage:
    messages: list[IndexedMessage]
    total: int


@dataclass
class SyncReport:
    added: int = 0
    removed: int = 0
    updated: int = 0

    def __iadd__(self, other: SyncReport) -> SyncReport:
        self.added += other.added
        self.removed += other.removed
        self.updated += other.updated
        return self


# -- dovecot-uidlist, written safely ---------------------------------------------
def durable_file_write(obj: FileWriteable) -> None:
    """Replace one of pymap's metadata files atomically and durably.

    pymap writes a ``NamedTemporaryFile`` in ``/tmp`` and renames it over the target:
    that fails with EXDEV when ``/tmp`` is another filesystem (a tmpfs, systemd's
    ``PrivateTmp``) and is never fsynced. We write next to the target instead.
    """
    target = Path(obj.get_file(obj.path))
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            obj.write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    obj._touched = False


def _lock_is_stale(lock: Path) -> bool:
    try:
        content = lock.read_text(encoding="ascii", errors="replace").strip()
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    pid, _, host = content.partition(":")
    if host == _HOST and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return age >= STALE_LOCK_SECONDS


@contextlib.contextmanager
def uidlist_lock(folder: Path) -> Iterator[None]:
    """Dovecot's and pymap's dot-lock (``dovecot-uidlist.lock`` created with O_EXCL)."""
    lock = Path(UidList.get_lock(str(folder)))
    deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
    delay = 0.002
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if _lock_is_stale(lock):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"{lock} is held by another process") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()}:{_HOST}")
        break
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def scan_folder(folder: Path) -> dict[str, tuple[str, str]]:
    """``key → (subdir, file name)`` of every message file in a Maildir folder."""
    found: dict[str, tuple[str, str]] = {}
    for sub in ("new", "cur"):
        try:
            # os.listdir: no Path object per file, this runs over every message often
            names = os.listdir(folder / sub)  # noqa: PTH208
        except FileNotFoundError:
            continue
        for name in names:
            if not name.startswith("."):
                found[name.split(":", 1)[0]] = (sub, name)
    return found


def _info(name: str) -> str:
    """The Maildir info part (``2,FS``) of a file name, ``""`` for a new message."""
    return name.split(":", 1)[1] if ":" in name else ""


def _arrival_order(key: str) -> tuple[int, int, str]:
    """Sort Maildir names by their time (``1700000000.M12345P...``): UIDs must grow in
    arrival order, and the microseconds are not zero-padded."""
    seconds, _, rest = key.partition(".")
    micros = rest[1:].split("P", 1)[0] if rest.startswith("M") else ""
    if seconds.isdigit() and micros.isdigit():
        return int(seconds), int(micros), key
    return (int(seconds) if seconds.isdigit() else 0), 0, key


def assign_uids(folder: Path, files: dict[str, tuple[str, str]]) -> dict[str, int]:
    """``key → UID`` for ``files``, giving the next UIDs to files the uidlist lacks.

    Records are written as pymap writes them (``E``/``T`` object ids, ``key:info``),
    so pymap and Dovecot read them as their own.
    """
    path = str(folder)
    uidlist = UidList.file_read(path)
    known = {record.key: record.uid for record in uidlist.records}
    if all(key in known for key in files):
        return known
    with uidlist_lock(folder):
        uidlist = UidList.file_read(path)
        known = {record.key: record.uid for record in uidlist.records}
        missing = sorted((key for key in files if key not in known), key=_arrival_order)
        if missing:
            for key in missing:
                fields = {
                    "E": str(ObjectId.random_email_id()),
                    "T": str(ObjectId.random_thread_id()),
                }
                record = Record(uidlist.next_uid, fields, key + ":" + _info(files[key][1]))
                uidlist.next_uid += 1
                uidlist.set(record)
                known[key] = record.uid
            durable_file_write(uidlist)
    return known


def add_file(
    folder: Path, message: bytes, *, letters: str, recent: bool, internal_date: float
) -> Path:
    """Durably store a message the way IMAP APPEND/COPY want it: bytes exactly as given
    (CRLF kept; Python's ``mailbox`` would rewrite them to LF), in ``new/`` only if it
    is \\Recent, with the IMAP internal date as the file's mtime."""
    path = write_message(folder, message, flags=letters)
    if not recent and path.parent.name == "new":
        final = folder / "cur" / (path.name + ":2,")
        path.rename(final)
        fsync_dir(final.parent)
        path = final
    os.utime(path, (internal_date, internal_date))
    return path


def record_uid(folder: Path, filename: str, fields: dict[str, str]) -> int:
    """The UID of the file ``filename`` (its existing one if another process numbered
    it first, else the next one), under the uidlist dot-lock."""
    key = filename.split(":", 1)[0]
    with uidlist_lock(folder):
        uidlist = UidList.file_read(str(folder))
        for record in uidlist.records:
            if record.key == key:
                return record.uid
        record = Record(uidlist.next_uid, fields, filename)
        uidlist.next_uid += 1
        uidlist.set(record)
        durable_file_write(uidlist)
    return record.uid


def imap_flags(folder: Path, info: str, keywords: MaildirFlags | None = None) -> str:
    """Maildir info letters (``2,FS``) as IMAP flags (``\\Flagged \\Seen``)."""
    if not info.startswith("2,"):
        return ""
    mapping = keywords or MaildirFlags.file_read(str(folder))
    return " ".join(sorted(flag.value.decode() for flag in mapping.from_maildir(info[2:])))


class MailStore:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mail_dir = settings.data_dir / "mail"
        self.index = MailIndex(self.mail_dir / "index.sqlite")

    def close(self) -> None:
        self.index.close()

    def mailbox(self, address: str) -> Path:
        """The Maildir root of ``address``, created with its special folders if new."""
        root = user_root(self.mail_dir, address)
        ensure_mailbox(root)
        return root

    # -- writing -----------------------------------------------------------------
    def deliver(
        self, address: str, message: bytes, *, folder: str = "INBOX", flags: str = ""
    ) -> Path:
        """Store ``message`` for ``address``; returns once it is durable on disk and
        indexed. A crash between the two is repaired by :meth:`reconcile`."""
        address = address.lower()
        path = write_message(folder_path(self.mailbox(address), folder), message, flags=flags)
        key = path.name.split(":", 1)[0]
        state = FileState(key, None, imap_flags(path.parent.parent, _info(path.name)))
        summary = summarise(message)
        imap = imap_metadata(message)
        with self.index.transaction() as conn:
            MailIndex.insert(
                conn, address, folder, state, summary, size=len(message), internal_date=time.time()
            )
            MailIndex.insert_imap(
                conn, address, folder, key, internal_date=path.stat().st_mtime, **imap.fields()
            )
        return path

    async def deliver_async(
        self, address: str, message: bytes, *, folder: str = "INBOX", flags: str = ""
    ) -> Path:
        """:meth:`deliver` in a worker thread, for the event loop (fsync blocks)."""
        return await asyncio.to_thread(self.deliver, address, message, folder=folder, flags=flags)

    # -- delivering in groups (SMTP group commit: tidings.mail.delivery) -----------
    def write_inbox(self, address: str, message: bytes) -> Path:
        """First half of a grouped delivery: the message file written and fsynced in
        INBOX/new, its directory not yet fsynced (:meth:`sync_inbox` does that)."""
        return write_message(self.mailbox(address.lower()), message, sync_dir=False)

    def sync_inbox(self, written: list[tuple[str, Path, bytes]]) -> None:
        """Second half: one fsync per directory makes every file of ``written``
        (``(address, path, message)``) durable. Only then is a message stored."""
        for directory in sorted({path.parent for _, path, _ in written}):
            fsync_dir(directory)

    def index_inbox(self, written: list[tuple[str, Path, bytes]]) -> None:
        """Index rows of stored messages in one transaction, each message parsed once
        however many recipients it has. A failure is logged, not raised: the files
        are stored, and the next :meth:`sync_folder` indexes them (as after a crash
        between file and row)."""
        summaries: dict[int, Summary] = {}
        structures: dict[int, Any] = {}
        try:
            with self.index.transaction() as conn:
                now = time.time()
                for address, path, message in written:
                    summary = summaries.get(id(message))
                    if summary is None:
                        summary = summaries[id(message)] = summarise(message)
                        structures[id(message)] = imap_metadata(message)
                    key = path.name.split(":", 1)[0]
                    state = FileState(key, None, "")
                    MailIndex.insert(
                        conn,
                        address.lower(),
                        "INBOX",
                        state,
                        summary,
                        size=len(message),
                        internal_date=now,
                    )
                    # What IMAP serves (ENVELOPE, BODYSTRUCTURE, offsets), as deliver does.
                    MailIndex.insert_imap(
                        conn,
                        address.lower(),
                        "INBOX",
                        key,
                        internal_date=path.stat().st_mtime,
                        **structures[id(message)].fields(),
                    )
        except sqlite3.Error:
            log.exception("index rows of %d stored message(s) not written", len(written))

    # -- keeping the index in step ----------------------------------------------
    def addresses(self) -> list[str]:
        """Every address that has a Maildir here."""
        found: list[str] = []
        if not self.mail_dir.is_dir():
            return found
        for domain in sorted(p for p in self.mail_dir.iterdir() if p.is_dir()):
            for local in sorted(p for p in domain.iterdir() if (p / "cur").is_dir()):
                found.append(f"{local.name}@{domain.name}")
        return found

    def folder_names(self, address: str) -> list[str]:
        """INBOX first, then the Maildir++ folders (``.Lists.rust`` → ``Lists/rust``)."""
        root = user_root(self.mail_dir, address)
        names = ["INBOX"] if (root / "cur").is_dir() else []
        if root.is_dir():
            names += sorted(
                entry.name[1:].replace(".", "/")
                for entry in root.iterdir()
                if entry.name.startswith(".") and (entry / "cur").is_dir()
            )
        return names

    def sync_folder(self, address: str, folder: str) -> SyncReport:
        """Make the index rows of one folder match its files (see the module doc)."""
        address = address.lower()
        path = folder_path(user_root(self.mail_dir, address), folder)
        report = SyncReport()
        files = scan_folder(path) if (path / "cur").is_dir() else {}
        uids = assign_uids(path, files) if files else {}
        keywords = MaildirFlags.file_read(str(path))
        with self.index.transaction() as conn:
            rows = MailIndex.folder_state(conn, address, folder)
            gone = [row_id for key, (row_id, _, _) in rows.items() if key not in files]
            MailIndex.delete_rows(conn, gone)
            report.removed = len(gone)
            for key, (row_id, uid, flags) in rows.items():
                if key not in files:
                    continue
                want_uid = uids.get(key)
                want_flags = imap_flags(path, _info(files[key][1]), keywords)
                if (uid, flags) != (want_uid, want_flags):
                    MailIndex.update_state(conn, row_id, want_uid, want_flags)
                    report.updated += 1
        new = sorted(key for key in files if key not in rows)
        for start in range(0, len(new), 200):
            parsed = []
            for key in new[start : start + 200]:
                sub, name = files[key]
                file = path / sub / name
                try:
                    raw = file.read_bytes()
                    internal_date = file.stat().st_mtime
                except FileNotFoundError:
                    continue  # moved or flagged meanwhile: the next sync finds it
                state = FileState(key, uids.get(key), imap_flags(path, _info(name), keywords))
                parsed.append((state, summarise(raw), len(raw), internal_date, imap_metadata(raw)))
            with self.index.transaction() as conn:
                for state, summary, size, internal_date, imap in parsed:
                    if MailIndex.insert(
                        conn,
                        address,
                        folder,
                        state,
                        summary,
                        size=size,
                        internal_date=internal_date,
                    ):
                        report.added += 1
                        MailIndex.insert_imap(
                            conn,
                            address,
                            folder,
                            state.key,
                            internal_date=internal_date,
                            **imap.fields(),
                        )
        return report

    def sync_mailbox(self, address: str) -> SyncReport:
        """:meth:`sync_folder` for every folder, and drop rows of folders that are gone."""
        address = address.lower()
        report = SyncReport()
        names = self.folder_names(address)
        for name in names:
            report += self.sync_folder(address, name)
        with self.index.transaction() as conn:
            report.removed += MailIndex.delete_folders_except(conn, address, names)
        return report

    def reconcile(self, address: str | None = None) -> SyncReport:
        """Repair the index after a crash: every mailbox (or one), every folder."""
        report = SyncReport()
        for each in [address.lower()] if address else self.addresses():
            report += self.sync_mailbox(each)
        return report

    def reindex(self, address: str | None = None) -> SyncReport:
        """Drop the index rows (of one address, or all) and build them again from disk."""
        report = SyncReport()
        for each in [address.lower()] if address else self.addresses():
            self.index.delete_address(each)
            report += self.sync_mailbox(each)
        return report

    # -- reading (what the REST API uses) ---------------------------------------
    def folders(self, address: str) -> list[Folder]:
        """The folders of ``address`` with their counts, INBOX first."""
        address = address.lower()
        self.sync_mailbox(address)
        counts = self.index.folder_counts(address)
        return [
            Folder(name, SPECIAL_FOLDERS.get(name), *counts.get(name, (0, 0)))
            for name in self.folder_names(address)
        ]

    def list_messages(
        self, address: str, folder: str = "INBOX", *, limit: int = 50, offset: int = 0
    ) -> MessagePage:
        """One page of a folder, newest first, with the folder's total."""
        if limit < 1 or offset < 0:
            raise ValueError("limit must be at least 1 and offset not negative")
        address = address.lower()
        if folder not in self.folder_names(address):
            raise KeyError(folder)
        self.sync_folder(address, folder)
        messages, total = self.index.list_folder(address, folder, limit=limit, offset=offset)
        return MessagePage(messages, total)

    def search(
        self,
        address: str,
        text: str,
        *,
        folder: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[IndexedMessage]:
        """Full-text search (subject, from, to, body) in one user's mail, best first."""
        address = address.lower()
        if folder is None:
            self.sync_mailbox(address)
        else:
            self.sync_folder(address, folder)
        return self.index.search(address, text, folder=folder, limit=limit, offset=offset)

    def thread(self, address: str, message_id: str) -> list[IndexedMessage]:
        """The conversation around ``message_id`` (In-Reply-To/References), oldest first."""
        return self.index.thread_of(address.lower(), message_id.strip("<>"))

    def read_message(self, address: str, folder: str, key: str) -> bytes:
        """The raw bytes of one message (``key`` from :class:`IndexedMessage`)."""
        path = folder_path(user_root(self.mail_dir, address), folder)
        found = scan_folder(path).get(key)
        if found is None:
            raise KeyError(key)
        return (path / found[0] / found[1]).read_bytes()

    # -- changes made through the REST API ----------------------------------------
    #: IMAP system flags and their Maildir info letters (cr.yp.to/proto/maildir.html).
    FLAG_LETTERS: ClassVar[dict[str, str]] = {
        "\\Draft": "D",
        "\\Flagged": "F",
        "\\Answered": "R",
        "\\Seen": "S",
        "\\Deleted": "T",
    }

    def get(self, address: str, message_id: int) -> IndexedMessage | None:
        """One message of ``address`` by its index id (None if not theirs or gone)."""
        return self.index.get(address.lower(), message_id)

    def find_messages(
        self,
        address: str,
        folder: str = "INBOX",
        *,
        unread: bool | None = None,
        sender: str | None = None,
        since: float | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> MessagePage:
        """A page of a folder with filters (read state, sender text, date)."""
        address = address.lower()
        if folder not in self.folder_names(address):
            raise KeyError(folder)
        self.sync_folder(address, folder)
        messages, total = self.index.find(
            address, folder, unread=unread, sender=sender, since=since, limit=limit, offset=offset
        )
        return MessagePage(messages, total)

    def _locate(self, address: str, message: IndexedMessage) -> Path:
        folder = folder_path(user_root(self.mail_dir, address), message.folder)
        found = scan_folder(folder).get(message.key)
        if found is None:
            raise KeyError(message.key)
        return folder / found[0] / found[1]

    def set_flags(
        self, address: str, message: IndexedMessage, *, add: Iterable[str], remove: Iterable[str]
    ) -> IndexedMessage:
        """Change system flags by renaming the file, as Dovecot and pymap do."""
        address = address.lower()
        path = self._locate(address, message)
        letters = set(_info(path.name)[2:]) if _info(path.name).startswith("2,") else set()
        letters |= {self.FLAG_LETTERS[f] for f in add}
        letters -= {self.FLAG_LETTERS[f] for f in remove}
        target = path.parent.parent / "cur" / f"{message.key}:2,{''.join(sorted(letters))}"
        if target != path:
            path.rename(target)
            fsync_dir(target.parent)
            if path.parent != target.parent:
                fsync_dir(path.parent)
        self.sync_folder(address, message.folder)
        updated = self.index.get(address, message.id)
        if updated is None:
            raise KeyError(message.key)
        return updated

    def move(self, address: str, message: IndexedMessage, folder: str) -> IndexedMessage:
        """Move to another folder: durable copy first, then remove the original, so a
        crash in between leaves a duplicate, never a loss."""
        address = address.lower()
        if folder not in self.folder_names(address):
            raise KeyError(folder)
        source = self._locate(address, message)
        info = _info(source.name)
        letters = info[2:] if info.startswith("2,") else ""
        copied = add_file(
            folder_path(user_root(self.mail_dir, address), folder),
            source.read_bytes(),
            letters=letters,
            recent=False,
            internal_date=source.stat().st_mtime,  # IMAP's INTERNALDATE moves with it
        )
        source.unlink()
        fsync_dir(source.parent)
        self.sync_folder(address, message.folder)
        self.sync_folder(address, folder)
        moved = self.index.by_key(address, folder, copied.name.split(":", 1)[0])
        if moved is None:
            raise KeyError(copied.name)
        return moved

    def delete(self, address: str, message: IndexedMessage, *, permanent: bool = False) -> None:
        """Into Trash; for good if already there or ``permanent``."""
        address = address.lower()
        if permanent or message.folder == "Trash":
            path = self._locate(address, message)
            path.unlink()
            fsync_dir(path.parent)
            self.sync_folder(address, message.folder)
        else:
            self.move(address, message, "Trash")
