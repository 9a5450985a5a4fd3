"""The SQLite index of every mailbox: what the REST API lists and searches.

The Maildirs (with Dovecot's ``dovecot-uidlist``) are the truth; this index is a
derived, rebuildable view of them, kept in ``data_dir/mail/index.sqlite``. Rows are
keyed by ``(address, folder, key)`` where ``key`` is the Maildir unique name (the file
name before ``:2,``): it survives the ``new/`` → ``cur/`` move and flag renames, so a
row never has to be re-parsed because a client read the message. ``uid`` is the IMAP
UID from ``dovecot-uidlist`` (NULL for the moment between delivery and the first scan
that assigns it).

Plain ``sqlite3`` rather than SQLAlchemy: the FTS5 virtual table, its ``MATCH`` and
``bm25()`` need raw SQL anyway, and the writer is this one module. WAL mode lets the
SMTP, IMAP and API processes read and write concurrently.
"""

from __future__ import annotations

import contextlib
import html
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

from tidings.core.sqlite import setup_lock

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY,
    address TEXT NOT NULL,
    folder TEXT NOT NULL,
    key TEXT NOT NULL,
    uid INTEGER,
    flags TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    sender TEXT NOT NULL DEFAULT '',
    recipients TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    date REAL NOT NULL,
    size INTEGER NOT NULL,
    snippet TEXT NOT NULL DEFAULT '',
    in_reply_to TEXT NOT NULL DEFAULT '',
    refs TEXT NOT NULL DEFAULT '',
    UNIQUE (address, folder, key)
);
CREATE INDEX IF NOT EXISTS message_by_date ON message (address, folder, date);
CREATE INDEX IF NOT EXISTS message_by_uid ON message (address, folder, uid);
CREATE INDEX IF NOT EXISTS message_by_message_id ON message (address, message_id);
CREATE VIRTUAL TABLE IF NOT EXISTS message_text USING fts5 (
    subject, sender, recipients, body, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS message_text_delete AFTER DELETE ON message BEGIN
    DELETE FROM message_text WHERE rowid = old.id;
END;
"""

#: Version 2: what the IMAP server serves of each message, computed once (at indexing,
#: or on first use for rows indexed before) so SELECT, FETCH of metadata and SEARCH
#: never open a message file. ``size`` is RFC822.SIZE (with CRLF line ends), ``parts``
#: the MIME tree with byte offsets (JSON), the others IMAP wire syntax. Rows go with
#: their message row (ON DELETE CASCADE; foreign keys are on in every connection).
#: ``imap_text`` is IMAP SEARCH TEXT/BODY's substring index (FTS5 trigrams of the
#: decoded header and text parts, case-folded), filled by the IMAP process in the
#: background after a folder's first search.
_SCHEMA_IMAP = """
CREATE TABLE IF NOT EXISTS imap_message (
    id INTEGER PRIMARY KEY REFERENCES message (id) ON DELETE CASCADE,
    internal_date REAL NOT NULL,
    size INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    body BLOB NOT NULL,
    bodystructure BLOB NOT NULL,
    parts TEXT NOT NULL,
    modseq INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS imap_folder (
    address TEXT NOT NULL,
    folder TEXT NOT NULL,
    highest_modseq INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (address, folder)
);
CREATE VIRTUAL TABLE IF NOT EXISTS imap_text USING fts5 (
    header, body, tokenize = 'trigram'
);
CREATE TRIGGER IF NOT EXISTS imap_text_delete AFTER DELETE ON message BEGIN
    DELETE FROM imap_text WHERE rowid = old.id;
END;
"""

#: Schema steps by the version they bring the file to (``PRAGMA user_version``).
_MIGRATIONS = {1: _SCHEMA, 2: _SCHEMA_IMAP}

#: How much body text goes into the full-text index, per message.
BODY_TEXT_LIMIT = 256 * 1024
SNIPPET_LENGTH = 200

_parser = BytesParser(policy=policy.default)
_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.DOTALL | re.IGNORECASE)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Summary:
    """What the index keeps of one message, parsed from its bytes."""

    message_id: str
    sender: str
    recipients: str
    subject: str
    date: float | None
    in_reply_to: str
    references: str
    snippet: str
    body_text: str


@dataclass(frozen=True)
class IndexedMessage:
    """One row of the index, as the API shows it."""

    id: int
    folder: str
    key: str
    uid: int | None
    flags: tuple[str, ...]
    message_id: str
    sender: str
    recipients: str
    subject: str
    date: float
    size: int
    snippet: str
    in_reply_to: str
    references: tuple[str, ...]


@dataclass(frozen=True)
class FileState:
    """A message file as seen on disk: where it is, its IMAP UID and flags."""

    key: str
    uid: int | None
    flags: str  # space-separated IMAP flags, sorted


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # malformed header the policy chokes on
        raw = message.get_all(name, failobj=[])
        value = raw[0] if raw else None
    return _SPACE.sub(" ", str(value)).strip() if value is not None else ""


def _addresses(message: EmailMessage, *names: str) -> str:
    values = [_header(message, name) for name in names]
    pairs = getaddresses([v for v in values if v])
    return ", ".join(f"{n} <{a}>" if n else a for n, a in pairs if a or n)


def _body_text(message: EmailMessage) -> str:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, LookupError, ValueError):
        part = None
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (KeyError, LookupError, ValueError, AssertionError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        content = html.unescape(_TAGS.sub(" ", content))
    return content[:BODY_TEXT_LIMIT]


def summarise(raw: bytes) -> Summary:
    """Parse the headers and readable text the index needs; never raises on bad mail."""
    message = _parser.parsebytes(raw)
    assert isinstance(message, EmailMessage)
    date: float | None
    try:
        parsed = parsedate_to_datetime(_header(message, "Date"))
        date = parsed.timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        date = None
    body = _body_text(message)
    return Summary(
        message_id=_header(message, "Message-ID").strip("<>"),
        sender=_addresses(message, "From"),
        recipients=_addresses(message, "To", "Cc"),
        subject=_header(message, "Subject"),
        date=date,
        in_reply_to=_header(message, "In-Reply-To").strip("<>"),
        references=" ".join(r.strip("<>") for r in _header(message, "References").split()),
        snippet=_SPACE.sub(" ", body).strip()[:SNIPPET_LENGTH],
        body_text=body,
    )


def fts_query(text: str) -> str:
    """A user's words as an FTS5 query: every word must match (prefix of the last one
    too), quoted so that FTS5 syntax (``AND``, ``-``, ``:``) in mail text is literal."""
    words = [w for w in re.split(r"[\s\"]+", text) if w]
    if not words:
        return ""
    quoted = ['"' + w.replace('"', "") + '"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


class MailIndex:
    """Thread-safe access to ``index.sqlite``: one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._schema_lock = threading.Lock()
        self._schema_ready = False

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        # Switching to WAL and creating the schema take locks SQLite does not wait for
        # (no busy handler): processes opening a new index at once get "database is
        # locked". A file lock makes that first step one process at a time.
        with self._schema_lock, setup_lock(self.path):
            conn.execute("PRAGMA journal_mode=WAL")
            if not self._schema_ready:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    conn.executescript(_MIGRATIONS[step] + f"PRAGMA user_version={step};")
                self._schema_ready = True
        # NORMAL is durable across a process crash in WAL mode; only power loss can
        # drop the last commits, and the index is rebuilt from the Maildirs anyway.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: writers from several processes queue instead of failing."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- writing (called by MailStore only) ------------------------------------
    @staticmethod
    def insert(
        conn: sqlite3.Connection,
        address: str,
        folder: str,
        state: FileState,
        summary: Summary,
        *,
        size: int,
        internal_date: float,
    ) -> bool:
        """Add one message; False if ``(address, folder, key)`` is already indexed."""
        cursor = conn.execute(
            "INSERT INTO message (address, folder, key, uid, flags, message_id, sender,"
            " recipients, subject, date, size, snippet, in_reply_to, refs)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (address, folder, key) DO NOTHING",
            (
                address,
                folder,
                state.key,
                state.uid,
                state.flags,
                summary.message_id,
                summary.sender,
                summary.recipients,
                summary.subject,
                summary.date if summary.date is not None else internal_date,
                size,
                summary.snippet,
                summary.in_reply_to,
                summary.references,
            ),
        )
        if cursor.rowcount != 1:
            return False
        conn.execute(
            "INSERT INTO message_text (rowid, subject, sender, recipients, body)"
            " VALUES (?,?,?,?,?)",
            (
                cursor.lastrowid,
                summary.subject,
                summary.sender,
                summary.recipients,
                summary.body_text,
            ),
        )
        return True

    @staticmethod
    def insert_imap(
        conn: sqlite3.Connection,
        address: str,
        folder: str,
        key: str,
        *,
        internal_date: float,
        size: int,
        envelope: bytes,
        body: bytes,
        bodystructure: bytes,
        parts: str,
    ) -> None:
        """What IMAP serves of the message ``key`` (see ``_SCHEMA_IMAP``); MODSEQ 0
        until the IMAP server first sees it."""
        conn.execute(
            "INSERT OR IGNORE INTO imap_message (id, internal_date, size, envelope, body,"
            " bodystructure, parts, modseq) SELECT id, ?, ?, ?, ?, ?, ?, 0 FROM message"
            " WHERE address = ? AND folder = ? AND key = ?",
            (internal_date, size, envelope, body, bodystructure, parts, address, folder, key),
        )

    @staticmethod
    def folder_state(
        conn: sqlite3.Connection, address: str, folder: str
    ) -> dict[str, tuple[int, int | None, str]]:
        """``key → (row id, uid, flags)`` of every indexed message in a folder."""
        rows = conn.execute(
            "SELECT id, key, uid, flags FROM message WHERE address = ? AND folder = ?",
            (address, folder),
        )
        return {row["key"]: (row["id"], row["uid"], row["flags"]) for row in rows}

    @staticmethod
    def update_state(conn: sqlite3.Connection, row_id: int, uid: int | None, flags: str) -> None:
        conn.execute("UPDATE message SET uid = ?, flags = ? WHERE id = ?", (uid, flags, row_id))

    @staticmethod
    def delete_rows(conn: sqlite3.Connection, row_ids: Iterable[int]) -> None:
        conn.executemany("DELETE FROM message WHERE id = ?", [(i,) for i in row_ids])

    @staticmethod
    def delete_folders_except(
        conn: sqlite3.Connection, address: str, folders: Iterable[str]
    ) -> int:
        """Drop rows of folders that no longer exist (deleted or renamed in IMAP)."""
        keep = list(folders)
        marks = ",".join("?" * len(keep))
        cursor = conn.execute(
            f"DELETE FROM message WHERE address = ? AND folder NOT IN ({marks})",  # noqa: S608
            (address, *keep),
        )
        return cursor.rowcount

    def delete_address(self, address: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM message WHERE address = ?", (address,))

    # -- reading ---------------------------------------------------------------
    @staticmethod
    def _row(row: sqlite3.Row) -> IndexedMessage:
        return IndexedMessage(
            id=row["id"],
            folder=row["folder"],
            key=row["key"],
            uid=row["uid"],
            flags=tuple(row["flags"].split()),
            message_id=row["message_id"],
            sender=row["sender"],
            recipients=row["recipients"],
            subject=row["subject"],
            date=row["date"],
            size=row["size"],
            snippet=row["snippet"],
            in_reply_to=row["in_reply_to"],
            references=tuple(row["refs"].split()),
        )

    def folder_counts(self, address: str) -> dict[str, tuple[int, int]]:
        """``folder → (messages, unseen)``."""
        rows = self._connect().execute(
            "SELECT folder, count(*) AS total,"
            " sum(CASE WHEN (' ' || flags || ' ') LIKE '% \\Seen %' THEN 0 ELSE 1 END)"
            " AS unseen FROM message WHERE address = ? GROUP BY folder",
            (address,),
        )
        return {row["folder"]: (row["total"], row["unseen"] or 0) for row in rows}

    def list_folder(
        self, address: str, folder: str, *, limit: int, offset: int
    ) -> tuple[list[IndexedMessage], int]:
        """Newest first; returns the page and the folder's total."""
        conn = self._connect()
        total = conn.execute(
            "SELECT count(*) FROM message WHERE address = ? AND folder = ?", (address, folder)
        ).fetchone()[0]
        rows = conn.execute(
            "SELECT * FROM message WHERE address = ? AND folder = ?"
            " ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",
            (address, folder, limit, offset),
        )
        return [self._row(r) for r in rows], total

    def search(
        self, address: str, text: str, *, folder: str | None, limit: int, offset: int
    ) -> list[IndexedMessage]:
        """Best matches first (FTS5 bm25), only ``address``'s messages."""
        query = fts_query(text)
        if not query:
            return []
        sql = (
            "SELECT message.* FROM message_text JOIN message ON message.id = message_text.rowid"
            " WHERE message_text MATCH ? AND message.address = ?"
        )
        params: list[object] = [query, address]
        if folder is not None:
            sql += " AND message.folder = ?"
            params.append(folder)
        sql += " ORDER BY bm25(message_text), message.date DESC LIMIT ? OFFSET ?"
        params += [limit, offset]
        return [self._row(r) for r in self._connect().execute(sql, params)]

    def thread_of(self, address: str, message_id: str) -> list[IndexedMessage]:
        """Messages that share a thread with ``message_id``: itself, what it references,
        and what references it (one hop each way, enough for a conversation view)."""
        conn = self._connect()
        seeds = conn.execute(
            "SELECT message_id, in_reply_to, refs FROM message"
            " WHERE address = ? AND message_id = ?",
            (address, message_id),
        ).fetchall()
        ids = {message_id}
        for seed in seeds:
            ids.update(seed["refs"].split())
            if seed["in_reply_to"]:
                ids.add(seed["in_reply_to"])
        marks = ",".join("?" * len(ids))
        rows = conn.execute(
            f"SELECT * FROM message WHERE address = ? AND (message_id IN ({marks})"  # noqa: S608
            f" OR in_reply_to IN ({marks}))"
            " ORDER BY date, id",
            (address, *ids, *ids),
        )
        return [self._row(r) for r in rows]

    # -- lookups for the REST API ------------------------------------------------
    def get(self, address: str, row_id: int) -> IndexedMessage | None:
        """One row, only if it belongs to ``address``."""
        row = (
            self._connect()
            .execute("SELECT * FROM message WHERE id = ? AND address = ?", (row_id, address))
            .fetchone()
        )
        return self._row(row) if row else None

    def by_key(self, address: str, folder: str, key: str) -> IndexedMessage | None:
        row = (
            self._connect()
            .execute(
                "SELECT * FROM message WHERE address = ? AND folder = ? AND key = ?",
                (address, folder, key),
            )
            .fetchone()
        )
        return self._row(row) if row else None

    def find(
        self,
        address: str,
        folder: str,
        *,
        unread: bool | None,
        sender: str | None,
        since: float | None,
        limit: int,
        offset: int,
    ) -> tuple[list[IndexedMessage], int]:
        """A folder filtered by read state, sender text and date; newest first."""
        where = ["address = ?", "folder = ?"]
        params: list[object] = [address, folder]
        if unread is not None:
            seen = "(' ' || flags || ' ') LIKE '% \\Seen %'"
            where.append(f"NOT {seen}" if unread else seen)
        if sender:
            where.append("sender LIKE ? ESCAPE '\\'")
            escaped = sender.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        if since is not None:
            where.append("date >= ?")
            params.append(since)
        clause = " AND ".join(where)
        conn = self._connect()
        total = conn.execute(f"SELECT count(*) FROM message WHERE {clause}", params).fetchone()[0]  # noqa: S608
        rows = conn.execute(
            f"SELECT * FROM message WHERE {clause} ORDER BY date DESC, id DESC LIMIT ? OFFSET ?",  # noqa: S608
            [*params, limit, offset],
        )
        return [self._row(r) for r in rows], total
