"""tidings' Maildirs with other real software: Dovecot reads and writes the same
Maildir, and mbsync and offlineimap sync a mailbox both ways over IMAPS."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.conftest import Service
from tests.peers import Dovecot
from tests.test_imap import ALICE, client_for, message
from tidings.core.accounts import Accounts
from tidings.core.config import Settings, split_endpoint
from tidings.core.tls import ensure_tls
from tidings.mail.maildir import user_root
from tidings.mail.store import MailStore

pytestmark = pytest.mark.slow


@pytest.fixture
def imap(run_service: Callable[[str], Service], accounts: Accounts) -> Service:
    accounts.add_user(*ALICE)
    return run_service("imap")


def summary(client: IMAPClient, folder: str) -> dict[str, tuple[int, frozenset[bytes]]]:
    """``subject → (uid, flags)`` of a folder, as an IMAP client sees it."""
    client.select_folder(folder)
    uids = client.search("ALL")
    if not uids:
        return {}
    fetched = client.fetch(uids, ["ENVELOPE", "FLAGS"])
    return {
        data[b"ENVELOPE"].subject.decode(): (uid, frozenset(data[b"FLAGS"]) - {b"\\Recent"})
        for uid, data in fetched.items()
    }


def test_dovecot_reads_and_writes_the_same_maildir(imap: Service, settings: Settings) -> None:
    store = MailStore(settings)
    for subject in ("alpha", "beta", "gamma"):
        store.deliver(ALICE[0], message(subject))
    store.deliver(ALICE[0], message("sent one"), folder="Sent", flags="S")
    ours = client_for(settings)
    before = summary(ours, "INBOX")
    assert [before[s][0] for s in ("alpha", "beta", "gamma")] == [1, 2, 3]  # arrival order
    ours.add_flags([before["alpha"][0]], [b"\\Flagged"])
    before = summary(ours, "INBOX")
    validity = ours.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"]
    ours.logout()

    root = user_root(settings.data_dir / "mail", ALICE[0])
    with Dovecot(root, ALICE[0], "dovecot-pass") as dovecot:
        theirs = IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=30)
        theirs.login(ALICE[0], "dovecot-pass")
        # Same UIDs, UIDVALIDITY, flags and folders as tidings shows.
        assert summary(theirs, "INBOX") == before, dovecot.log()
        assert theirs.folder_status("INBOX", ["UIDVALIDITY"])[b"UIDVALIDITY"] == validity
        names = {name for _, _, name in theirs.list_folders()}
        assert {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"} <= names
        assert set(summary(theirs, "Sent")) == {"sent one"}
        # Dovecot changes things: a flag, a move, an append.
        theirs.select_folder("INBOX")
        theirs.add_flags([before["beta"][0]], [b"\\Seen", b"\\Answered"])
        theirs.move([before["gamma"][0]], "Archive")
        theirs.append("Drafts", message("written by dovecot"), flags=[b"\\Draft"])
        theirs.logout()
        assert "Error" not in dovecot.log(), dovecot.log()

    # tidings sees Dovecot's changes, over IMAP and in its index.
    ours = client_for(settings)
    after = summary(ours, "INBOX")
    assert after["alpha"] == before["alpha"]
    assert after["beta"] == (before["beta"][0], frozenset({b"\\Seen", b"\\Answered"}))
    assert "gamma" not in after
    assert set(summary(ours, "Archive")) == {"gamma"}
    assert summary(ours, "Drafts")["written by dovecot"][1] == {b"\\Draft"}
    ours.logout()
    indexed = {m.subject: m for m in store.list_messages(ALICE[0], "INBOX").messages}
    assert set(indexed) == {"alpha", "beta"}
    assert set(indexed["beta"].flags) == {"\\Seen", "\\Answered"}
    assert indexed["beta"].uid == before["beta"][0]
    assert [m.subject for m in store.list_messages(ALICE[0], "Drafts").messages] == [
        "written by dovecot"
    ]


@dataclass(frozen=True)
class Laptop:
    """A mail client's side: an empty Maildir, and where it connects."""

    maildir: Path
    port: int
    ca: Path


def _laptop(settings: Settings, tmp_path: Path) -> Laptop:
    """The server holds one message ("from server"); the laptop nothing yet."""
    MailStore(settings).deliver(ALICE[0], message("from server"))
    maildir = tmp_path / "laptop"
    maildir.mkdir()
    ca = ensure_tls(settings).ca
    assert ca is not None
    return Laptop(maildir, split_endpoint(settings.listen.imaps)[1], ca)


def _sync_both_ways(settings: Settings, laptop: Laptop, sync: Callable[[], None]) -> None:
    """What every sync client must get right against us: the message pulled, its
    flags and a new message pushed back, a deletion on the server reaching the
    laptop, and a sync with nothing new changing nothing."""
    local = laptop.maildir
    sync()
    pulled = list((local / "INBOX" / "new").iterdir()) + list((local / "INBOX" / "cur").iterdir())
    assert len(pulled) == 1
    assert b"Subject: from server" in pulled[0].read_bytes()
    # Laptop side: mark it seen and flagged, and file a new message into Archive.
    base = pulled[0].name.split(":2,")[0]
    pulled[0].rename(local / "INBOX" / "cur" / f"{base}:2,FS")
    for sub in ("new", "cur", "tmp"):
        (local / "Archive" / sub).mkdir(parents=True, exist_ok=True)
    (local / "Archive" / "new" / "1700000000.laptop.1").write_bytes(message("from laptop"))
    sync()

    ours = client_for(settings)
    assert summary(ours, "INBOX")["from server"][1] == {b"\\Seen", b"\\Flagged"}
    assert set(summary(ours, "Archive")) == {"from laptop"}
    ours.select_folder("INBOX")
    ours.delete_messages(ours.search("ALL"))
    ours.expunge()
    ours.logout()
    sync()
    sync()
    left = list((local / "INBOX" / "cur").iterdir()) + list((local / "INBOX" / "new").iterdir())
    assert left == []
    store = MailStore(settings)
    assert [m.subject for m in store.list_messages(ALICE[0], "Archive").messages] == ["from laptop"]
    assert store.list_messages(ALICE[0], "INBOX").total == 0


def test_mbsync_syncs_both_ways(imap: Service, settings: Settings, tmp_path: Path) -> None:
    laptop = _laptop(settings, tmp_path)
    config = tmp_path / "mbsyncrc"
    config.write_text(
        f"""IMAPAccount tidings
Host localhost
Port {laptop.port}
User {ALICE[0]}
Pass {ALICE[1]}
SSLType IMAPS
CertificateFile {laptop.ca}

IMAPStore remote
Account tidings

MaildirStore local
Path {laptop.maildir}/
Inbox {laptop.maildir}/INBOX
SubFolders Verbatim

Channel mail
Far :remote:
Near :local:
Patterns INBOX Archive
Create Both
Expunge Both
SyncState *
"""
    )

    def sync() -> None:
        done = subprocess.run(
            ["mbsync", "-c", str(config), "-a"], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr

    _sync_both_ways(settings, laptop, sync)


def test_offlineimap_syncs_both_ways(imap: Service, settings: Settings, tmp_path: Path) -> None:
    """offlineimap (Debian's offlineimap3) keeps its own UID map per folder, so it
    checks UIDVALIDITY and UIDPLUS answers more strictly than mbsync does."""
    laptop = _laptop(settings, tmp_path)
    config = tmp_path / "offlineimaprc"
    config.write_text(
        f"""[general]
accounts = tidings
metadata = {tmp_path / "offlineimap-state"}

[Account tidings]
localrepository = laptop
remoterepository = box

[Repository laptop]
type = Maildir
localfolders = {laptop.maildir}
sep = /

[Repository box]
type = IMAP
remotehost = localhost
remoteport = {laptop.port}
remoteuser = {ALICE[0]}
remotepass = {ALICE[1]}
ssl = yes
sslcacertfile = {laptop.ca}
folderfilter = lambda folder: folder in ["INBOX", "Archive"]
"""
    )

    def sync() -> None:
        done = subprocess.run(
            ["offlineimap", "-c", str(config), "-o", "-u", "basic"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0 and "ERROR" not in output, output

    # offlineimap creates folders on the laptop only: the server's Archive exists first.
    ours = client_for(settings)
    if not ours.folder_exists("Archive"):
        ours.create_folder("Archive")
    ours.logout()
    _sync_both_ways(settings, laptop, sync)
