"""The IMAP view of one user's Maildir folders, shared by the sessions of a process.

A :class:`FolderState` is the folder as IMAP numbers it: UID → message (key, file name,
flags, index row, size, internal date, MODSEQ), UIDVALIDITY and UIDNEXT from
``dovecot-uidlist``. It is refreshed only when the folder changed on disk — four
``stat`` calls say so (``new/``, ``cur/``, the uidlist and keyword files; a change in
the last two seconds is always rescanned, as mtimes are coarse) — so a SELECT of an
unchanged folder opens no file. A refresh lists the directories, gives UIDs to new
files (:func:`assign_uids`), brings the index rows in step (:meth:`MailStore.sync_folder`)
and computes the IMAP metadata of rows that lack it (:mod:`.mime`).

Writes (flags, expunge, append, copy, move) change the files exactly as Dovecot does
(flags are the ``:2,`` info letters, keywords the letters of ``dovecot-keywords``),
then refresh, so the index follows before the command's tagged OK.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pymap.backend.maildir.uidlist import UidList

from tidings.mail.imap.mime import metadata
from tidings.mail.maildir import fsync_dir, unique_name
from tidings.mail.store import (
    MailStore,
    assign_uids,
    record_uid,
    scan_folder,
    uidlist_lock,
)

SYSTEM_LETTERS = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
LETTER_OF = {flag.lower(): letter for letter, flag in SYSTEM_LETTERS.items()}
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
MAX_KEYWORDS = 26  # one Maildir info letter each, a-z
#: A directory changed this recently is rescanned even if its mtime looks unchanged.
MTIME_SLACK_NS = 2_000_000_000


@dataclass(slots=True)
class Msg:
    uid: int
    key: str
    sub: str
    name: str
    flags: frozenset[str]
    row: int = 0
    size: int = 0
    internal_date: float = 0.0
    modseq: int = 1


def read_keywords(folder: Path) -> list[str]:
    """``dovecot-keywords``: keyword names by letter index (a, b, c...)."""
    names: list[str] = [""] * MAX_KEYWORDS
    try:
        text = (folder / "dovecot-keywords").read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        number, _, name = line.partition(" ")
        if number.isdigit() and int(number) < MAX_KEYWORDS and name:
            names[int(number)] = name.strip()
    while names and not names[-1]:
        names.pop()
    return names


def flags_of(info_name: str, keywords: list[str]) -> frozenset[str]:
    info = info_name.split(":", 1)[1] if ":" in info_name else ""
    if not info.startswith("2,"):
        return frozenset()
    out = set()
    for letter in info[2:]:
        if letter in SYSTEM_LETTERS:
            out.add(SYSTEM_LETTERS[letter])
        elif "a" <= letter <= "z":
            index = ord(letter) - 97
            if index < len(keywords) and keywords[index]:
                out.add(keywords[index])
    return frozenset(out)


def canonical_flag(flag: str) -> str:
    """System flags in their canonical case; keywords as given."""
    if flag.startswith("\\"):
        for system in (*SYSTEM_FLAGS, "\\Recent"):
            if system.lower() == flag.lower():
                return system
    return flag


class FolderGone(Exception):
    pass


@dataclass
class FolderState:
    address: str
    name: str
    path: Path
    uid_validity: int = 0
    next_uid: int = 1
    highest_modseq: int = 1
    keywords: list[str] = field(default_factory=list)
    messages: dict[int, Msg] = field(default_factory=dict)
    uids: list[int] = field(default_factory=list)  # sorted
    unclaimed_recent: set[int] = field(default_factory=set)
    version: int = 0  # bumped on every change sessions must see
    expunged_modseq: dict[int, int] = field(default_factory=dict)  # uid → modseq (QRESYNC)
    _stamp: tuple[int, ...] = ()
    _uidlist_cache: UidList | None = None
    _uidlist_version: tuple[int, int, int] = (0, 0, 0)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- reading the folder -----------------------------------------------------
    def _fingerprint(self) -> tuple[int, ...]:
        stamps: list[int] = []
        for sub in ("new", "cur", "dovecot-uidlist", "dovecot-keywords"):
            try:
                stamps.append(os.stat(self.path / sub).st_mtime_ns)  # noqa: PTH116
            except FileNotFoundError:
                stamps.append(0)
        return tuple(stamps)

    def changed_on_disk(self) -> bool:
        stamp = self._fingerprint()
        if stamp != self._stamp:
            return True
        return time.time_ns() - max(stamp) < MTIME_SLACK_NS

    def refresh(self, store: MailStore, *, force: bool = False) -> bool:
        """Bring the state in step with the disk; True if anything changed."""
        with self.lock:
            if not (self.path / "cur").is_dir():
                raise FolderGone(self.name)
            if not force and self._stamp and not self.changed_on_disk():
                return False
            stamp = self._fingerprint()
            recent = self._claim_new()
            files = scan_folder(self.path)
            uidlist = self._uidlist()
            uid_of = {record.key: record.uid for record in uidlist.records}
            if any(key not in uid_of for key in files):
                uid_of = assign_uids(self.path, files)
                uidlist = self._uidlist()
            if uidlist.uid_validity == 0 or not (self.path / "dovecot-uidlist").exists():
                with uidlist_lock(self.path):
                    uidlist = UidList.file_read(str(self.path))
                    if not (self.path / "dovecot-uidlist").exists():
                        from tidings.mail.store import durable_file_write

                        durable_file_write(uidlist)
            if self.uid_validity and uidlist.uid_validity != self.uid_validity:
                self.messages.clear()  # a new folder under an old name
            self.uid_validity = uidlist.uid_validity
            self.next_uid = max(uidlist.next_uid, 1)
            self.keywords = read_keywords(self.path)
            known = {m.key: m for m in self.messages.values()}
            if not self._stamp:
                # First look in this process: the index is usually complete already
                # (deliveries index themselves, the service reconciles at start).
                rows = self._rows(store)
                if set(rows) != set(files):
                    store.sync_folder(self.address, self.name)
                    rows = self._rows(store)
            elif any(key not in known for key in files):
                # New files: the index parses them (rows, full text); the others are
                # kept in step below without a rescan of the whole folder.
                store.sync_folder(self.address, self.name)
                rows = self._rows(store)
            else:
                rows = {k: (m.row, m.size, m.internal_date, m.modseq) for k, m in known.items()}
            new_messages: dict[int, Msg] = {}
            changed = False
            modseq = self.highest_modseq
            touched: list[Msg] = []
            for key, (sub, name) in files.items():
                uid = uid_of.get(key)
                if uid is None or key not in rows:
                    continue
                row, size, internal_date, row_modseq = rows[key]
                flags = flags_of(name, self.keywords)
                old = self.messages.get(uid)
                msg = Msg(uid, key, sub, name, flags, row, size, internal_date, row_modseq)
                if old is None or old.flags != flags:
                    if old is not None or row_modseq == 0:
                        modseq += 1
                        msg.modseq = modseq
                        touched.append(msg)
                    changed = True
                elif old.name != name:
                    msg.modseq = old.modseq
                new_messages[uid] = msg
            gone = set(self.messages) - set(new_messages)
            if gone:
                changed = True
                modseq += 1
                for uid in gone:
                    self.expunged_modseq[uid] = modseq
            for key in recent:
                recent_uid = uid_of.get(key)
                if recent_uid is not None and recent_uid in new_messages:
                    self.unclaimed_recent.add(recent_uid)
            self.unclaimed_recent &= set(new_messages)
            self.messages = new_messages
            self.uids = sorted(new_messages)
            self.highest_modseq = max(
                modseq, max((m.modseq for m in new_messages.values()), default=1)
            )
            if touched or gone:
                self._save_modseqs(
                    store,
                    touched,
                    [known_msg.row for known_msg in known.values() if known_msg.key not in files],
                )
            self._stamp = stamp
            if changed:
                self.version += 1
            return changed

    def _uidlist(self) -> UidList:
        """``dovecot-uidlist``, parsed again only when the file changed: it is only
        ever replaced by rename, so (inode, size, mtime) tells. Parsing it (pymap,
        pure Python) was the largest cost of a refresh under load."""
        try:
            st = os.stat(self.path / "dovecot-uidlist")  # noqa: PTH116
            version = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            version = (0, 0, 0)
        if self._uidlist_cache is None or version != self._uidlist_version:
            self._uidlist_cache = UidList.file_read(str(self.path))
            self._uidlist_version = version
        return self._uidlist_cache

    def _claim_new(self) -> list[str]:
        """Move files from ``new/`` to ``cur/`` (as Dovecot does): whoever moves one
        first sees it as \\Recent. Returns their keys."""
        claimed: list[str] = []
        try:
            names = os.listdir(self.path / "new")  # noqa: PTH208
        except FileNotFoundError:
            return claimed
        for name in names:
            if name.startswith("."):
                continue
            key = name.split(":", 1)[0]
            target = (
                self.path
                / "cur"
                / (key + ":2," + (name.split(":2,", 1)[1] if ":2," in name else ""))
            )
            try:
                os.rename(self.path / "new" / name, target)  # noqa: PTH104
            except FileNotFoundError:
                continue
            claimed.append(key)
        return claimed

    def _rows(self, store: MailStore) -> dict[str, tuple[int, int, float, int]]:
        """``key → (row id, size, internal date, modseq)``; IMAP metadata computed for
        rows indexed without it (older data, rows added by other writers)."""
        conn = store.index._connect()
        query = (
            "SELECT m.id, m.key, i.size, i.internal_date, i.modseq FROM message m"
            " LEFT JOIN imap_message i ON i.id = m.id WHERE m.address = ? AND m.folder = ?"
        )
        found: dict[str, tuple[int, int, float, int]] = {}
        missing: list[tuple[int, str]] = []
        for row in conn.execute(query, (self.address, self.name)):
            if row[2] is None:
                missing.append((row[0], row[1]))
            else:
                found[row[1]] = (row[0], row[2], row[3], row[4])
        if missing:
            files = scan_folder(self.path)
            computed = []
            for row_id, key in missing:
                where = files.get(key)
                if where is None:
                    continue
                path = self.path / where[0] / where[1]
                try:
                    raw = path.read_bytes()
                    internal_date = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                meta = metadata(raw)
                computed.append((row_id, key, internal_date, meta))
            with store.index.transaction() as tx:
                for row_id, key, internal_date, meta in computed:
                    tx.execute(
                        "INSERT OR REPLACE INTO imap_message (id, internal_date, size, envelope,"
                        " body, bodystructure, parts, modseq) VALUES (?,?,?,?,?,?,?,0)",
                        (
                            row_id,
                            internal_date,
                            meta.size,
                            meta.envelope,
                            meta.body,
                            meta.bodystructure,
                            meta.parts,
                        ),
                    )
                    found[key] = (row_id, meta.size, internal_date, 0)
        return found

    def _save_modseqs(self, store: MailStore, touched: list[Msg], gone_rows: list[int]) -> None:
        """New MODSEQs, and the index rows' flags (what the REST API shows) and rows
        of expunged messages, in one transaction."""
        with store.index.transaction() as tx:
            tx.executemany(
                "UPDATE message SET flags = ?, uid = ? WHERE id = ?",
                [(" ".join(sorted(m.flags)), m.uid, m.row) for m in touched],
            )
            tx.executemany("DELETE FROM message WHERE id = ?", [(r,) for r in gone_rows])
            tx.executemany(
                "UPDATE imap_message SET modseq = ? WHERE id = ?",
                [(m.modseq, m.row) for m in touched],
            )
            tx.execute(
                "INSERT INTO imap_folder (address, folder, highest_modseq) VALUES (?,?,?)"
                " ON CONFLICT (address, folder) DO UPDATE SET highest_modseq ="
                " max(highest_modseq, excluded.highest_modseq)",
                (self.address, self.name, self.highest_modseq),
            )

    def load_highest_modseq(self, store: MailStore) -> None:
        row = (
            store.index._connect()
            .execute(
                "SELECT highest_modseq FROM imap_folder WHERE address = ? AND folder = ?",
                (self.address, self.name),
            )
            .fetchone()
        )
        if row:
            self.highest_modseq = max(self.highest_modseq, row[0])

    # -- files -------------------------------------------------------------------
    def file_of(self, msg: Msg) -> Path:
        return self.path / msg.sub / msg.name

    def read(self, msg: Msg) -> bytes | None:
        """The message's bytes, or None if it was expunged meanwhile."""
        try:
            return self.file_of(msg).read_bytes()
        except FileNotFoundError:
            found = scan_folder(self.path).get(msg.key)
            if found is None:
                return None
            msg.sub, msg.name = found
            try:
                return self.file_of(msg).read_bytes()
            except FileNotFoundError:
                return None

    def letters(self, flags: Iterable[str]) -> str:
        """Maildir info letters for ``flags``, registering new keywords."""
        letters = set()
        wanted_keywords = []
        for flag in flags:
            letter = LETTER_OF.get(flag.lower())
            if letter:
                letters.add(letter)
            elif not flag.startswith("\\"):
                wanted_keywords.append(flag)
        if wanted_keywords:
            missing = [k for k in wanted_keywords if k not in self.keywords]
            if missing:
                self._register(missing)
            for keyword in wanted_keywords:
                if keyword in self.keywords:
                    letters.add(chr(97 + self.keywords.index(keyword)))
        return "".join(sorted(letters))

    def _register(self, names: list[str]) -> None:
        with uidlist_lock(self.path):  # Dovecot guards dovecot-keywords with it too
            current = read_keywords(self.path)
            for name in names:
                if name not in current and len(current) < MAX_KEYWORDS:
                    current.append(name)
            text = "".join(f"{i} {n}\n" for i, n in enumerate(current) if n)
            target = self.path / "dovecot-keywords"
            tmp = target.with_name(f"dovecot-keywords.{os.getpid()}.tmp")
            with tmp.open("w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(target)
            fsync_dir(self.path)
            self.keywords = current

    def set_flags(self, msg: Msg, flags: frozenset[str]) -> bool:
        """Rename the file to carry ``flags``; False if the message is gone."""
        letters = self.letters(flags)
        target = f"{msg.key}:2,{letters}"
        if target == msg.name and msg.sub == "cur":
            return True
        for _ in range(3):
            try:
                os.rename(self.file_of(msg), self.path / "cur" / target)  # noqa: PTH104
            except FileNotFoundError:
                found = scan_folder(self.path).get(msg.key)
                if found is None:
                    return False
                msg.sub, msg.name = found
                continue
            msg.sub, msg.name = "cur", target
            return True
        return False

    def expunge(self, msgs: Iterable[Msg]) -> None:
        for msg in msgs:
            with contextlib.suppress(FileNotFoundError):
                self.file_of(msg).unlink()
        fsync_dir(self.path / "cur")

    def remove_appended(self, keys: list[str]) -> None:
        """Undo appends of one command (a MULTIAPPEND that failed part-way)."""
        wanted = set(keys)
        for key, (sub, name) in scan_folder(self.path).items():
            if key in wanted:
                with contextlib.suppress(FileNotFoundError):
                    (self.path / sub / name).unlink()

    def append(self, raw: bytes, flags: Iterable[str], internal_date: float) -> int:
        return self.append_keyed(raw, flags, internal_date)[0]

    def append_keyed(
        self, raw: bytes, flags: Iterable[str], internal_date: float
    ) -> tuple[int, str]:
        """Store a message durably straight into ``cur/`` (never through ``new/``,
        where another session would take it as a delivery) and give it its UID."""
        letters = self.letters(flags)
        from pymap.parsing.specials.objectid import ObjectId

        name = unique_name(len(raw))
        tmp = self.path / "tmp" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.utime(tmp, (internal_date, internal_date))
        path = self.path / "cur" / f"{name}:2,{letters}"
        os.rename(tmp, path)  # noqa: PTH104
        fsync_dir(path.parent)
        fields = {"E": str(ObjectId.random_email_id()), "T": str(ObjectId.random_thread_id())}
        return record_uid(self.path, path.name, fields), name
