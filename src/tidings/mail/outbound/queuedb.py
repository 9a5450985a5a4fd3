"""The durable outgoing queue: one SQLite file, written before ``enqueue`` returns.

Why SQLite and not one file per message: a delivery changes a recipient's state
(attempts, next try, warned) many times, and each change must be atomic; a row
update in a WAL database with ``synchronous=FULL`` is exactly that, fsynced, without
inventing a rename protocol. The message bytes live in the same transaction as its
recipients, so a queued message is never half there.

Crash window (at-least-once): a recipient's row is deleted in its own fsynced
transaction right after the remote server answered 250 to the end of DATA. If the
process dies between that 250 and the commit (a few milliseconds), the message is
sent again on restart. No other crash loses or duplicates anything.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from tidings.core.config import Settings
from tidings.core.sqlite import setup_lock
from tidings.mail.maildir import fsync_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    mail_from TEXT NOT NULL,
    data BLOB NOT NULL,
    queued_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS recipients (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id),
    rcpt TEXT NOT NULL,
    domain TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    warned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS recipients_due ON recipients(next_attempt);
CREATE INDEX IF NOT EXISTS recipients_message ON recipients(message_id);
"""


def queue_dir(settings: Settings) -> Path:
    return settings.data_dir / "queue"


@dataclass(frozen=True)
class Recipient:
    """One recipient of one queued message: the unit of delivery and of retry."""

    id: int
    message_id: str
    mail_from: str
    rcpt: str
    domain: str
    attempts: int
    next_attempt: float
    last_error: str
    warned: bool
    queued_at: float
    size: int


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


class QueueStore:
    """Rows of the queue. Thread-safe (one connection behind a lock); every write is
    one fsynced transaction."""

    def __init__(self, settings: Settings) -> None:
        directory = queue_dir(settings)
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = directory / "queue.sqlite"
        new_file = not self.path.exists()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, timeout=30, check_same_thread=False, isolation_level=None
        )
        with setup_lock(self.path):  # smtp, mail-api and outbound open it at once
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
        # FULL: the WAL is fsynced at every commit, so a committed row survives power loss.
        self._db.execute("PRAGMA synchronous=FULL")
        if new_file:
            fsync_dir(directory)
        if created:
            fsync_dir(directory.parent)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, mail_from: str, rcpt_to: list[str], data: bytes, now: float) -> str:
        message_id = f"{int(now):x}{secrets.token_hex(6)}"
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO messages (id, mail_from, data, queued_at) VALUES (?, ?, ?, ?)",
                    (message_id, mail_from, data, now),
                )
                self._db.executemany(
                    "INSERT INTO recipients (message_id, rcpt, domain, next_attempt) "
                    "VALUES (?, ?, ?, ?)",
                    [(message_id, rcpt, _domain(rcpt), now) for rcpt in rcpt_to],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return message_id

    _SELECT = (
        "SELECT r.id, r.message_id, m.mail_from, r.rcpt, r.domain, r.attempts, "
        "r.next_attempt, r.last_error, r.warned, m.queued_at, length(m.data) "
        "FROM recipients r JOIN messages m ON m.id = r.message_id "
    )

    @staticmethod
    def _row(row: tuple[object, ...]) -> Recipient:
        (rid, mid, mail_from, rcpt, domain, attempts, next_attempt, error, warned, at, size) = row
        return Recipient(
            int(str(rid)),
            str(mid),
            str(mail_from),
            str(rcpt),
            str(domain),
            int(str(attempts)),
            float(str(next_attempt)),
            str(error),
            bool(warned),
            float(str(at)),
            int(str(size)),
        )

    def all(self) -> list[Recipient]:
        with self._lock:
            rows = self._db.execute(self._SELECT + "ORDER BY m.queued_at, r.id").fetchall()
        return [self._row(r) for r in rows]

    def due(self, now: float, limit: int) -> list[Recipient]:
        with self._lock:
            rows = self._db.execute(
                self._SELECT + "WHERE r.next_attempt <= ? ORDER BY r.next_attempt LIMIT ?",
                (now, limit),
            ).fetchall()
        return [self._row(r) for r in rows]

    def next_attempt(self) -> float | None:
        with self._lock:
            (value,) = self._db.execute("SELECT min(next_attempt) FROM recipients").fetchone()
        return None if value is None else float(value)

    def data(self, message_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def remove(self, recipient_id: int) -> None:
        """The recipient is done (delivered or bounced); drop the message with its last one."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT message_id FROM recipients WHERE id = ?", (recipient_id,)
                ).fetchone()
                self._db.execute("DELETE FROM recipients WHERE id = ?", (recipient_id,))
                if row is not None:
                    self._db.execute(
                        "DELETE FROM messages WHERE id = ? AND NOT EXISTS "
                        "(SELECT 1 FROM recipients WHERE message_id = ?)",
                        (row[0], row[0]),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def postpone(self, recipient_id: int, attempts: int, next_attempt: float, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE recipients SET attempts = ?, next_attempt = ?, last_error = ? WHERE id = ?",
                (attempts, next_attempt, error, recipient_id),
            )

    def mark_warned(self, recipient_id: int) -> None:
        with self._lock:
            self._db.execute("UPDATE recipients SET warned = 1 WHERE id = ?", (recipient_id,))

    def retry_now(self, message_id: str, now: float) -> int:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE recipients SET next_attempt = ? WHERE message_id = ?", (now, message_id)
            )
        return cursor.rowcount

    def delete(self, message_id: str) -> int:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute(
                    "DELETE FROM recipients WHERE message_id = ?", (message_id,)
                )
                self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return cursor.rowcount
