"""Durable Maildir++ delivery, readable by Dovecot and pymap as it is.

Each user has one Maildir++ tree: the root is INBOX, folders are dot-directories
(``.Sent``, ``.Drafts``...). A message is written to ``tmp/``, fsynced, renamed into
``new/`` (or ``cur/`` with flags), and the directory is fsynced: only then does the
caller acknowledge it (SMTP 250). A crash at any point leaves either nothing or the
whole message — never a half file in ``new/``.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

#: Folders every mailbox has, with their RFC 6154 SPECIAL-USE attribute.
SPECIAL_FOLDERS: dict[str, str] = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}

_counter = itertools.count()
_HOST = socket.gethostname().replace("/", "\\057").replace(":", "\\072")


def user_root(mail_dir: Path, address: str) -> Path:
    """``mail_dir/<domain>/<local>``: the Maildir root (INBOX) of ``address``."""
    local, _, domain = address.lower().rpartition("@")
    if not local or not domain or any(p in {"", ".", ".."} or "/" in p for p in (local, domain)):
        raise ValueError(f"unusable address for a mailbox path: {address!r}")
    return mail_dir / domain / local


def folder_path(root: Path, folder: str) -> Path:
    """Maildir++ path of an IMAP folder name (``INBOX``, ``Sent``, ``Lists/rust``)."""
    if folder.upper() == "INBOX":
        return root
    parts = folder.split("/")
    if any(p in {"", ".", ".."} or "." in p for p in parts):
        raise ValueError(f"invalid folder name: {folder!r}")
    return root / ("." + ".".join(parts))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_folder(path: Path) -> None:
    if (path / "cur").is_dir():
        return
    created = False
    for sub in ("tmp", "new", "cur"):
        try:
            (path / sub).mkdir(parents=True, mode=0o700)
            created = True
        except FileExistsError:
            pass
    if created:
        fsync_dir(path)
        fsync_dir(path.parent)
        if path.name.startswith("."):
            # Maildir++ marks folders with an empty maildirfolder file (Dovecot, Courier).
            (path / "maildirfolder").touch(mode=0o600)


def ensure_mailbox(root: Path) -> None:
    """Create INBOX and the special folders if missing (idempotent)."""
    ensure_folder(root)
    for name in SPECIAL_FOLDERS:
        ensure_folder(folder_path(root, name))


def unique_name(size: int) -> str:
    """A Maildir file name (cr.yp.to/proto/maildir.html), with Dovecot's ``S=`` size."""
    now = time.time()
    seconds = int(now)
    micros = int((now - seconds) * 1_000_000)
    return f"{seconds}.M{micros}P{os.getpid()}Q{next(_counter)}.{_HOST},S={size}"


def write_message(folder: Path, message: bytes, *, flags: str = "", sync_dir: bool = True) -> Path:
    """Durably store ``message`` in the Maildir folder; return its final path.

    Without flags it lands in ``new/`` (unseen, "recent"); with flags (``"S"``,
    ``"FS"``...) in ``cur/`` with the ``:2,FLAGS`` info suffix. ``sync_dir=False``
    leaves the final directory's fsync to the caller, who must do it before calling
    the message stored (one fsync can then cover many messages).
    """
    ensure_folder(folder)
    name = unique_name(len(message))
    tmp = folder / "tmp" / name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(message)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    if flags:
        final = folder / "cur" / f"{name}:2,{''.join(sorted(set(flags)))}"
    else:
        final = folder / "new" / name
    tmp.rename(final)
    if sync_dir:
        fsync_dir(final.parent)
    return final
