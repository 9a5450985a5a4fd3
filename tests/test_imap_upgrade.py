"""Upgrade: a data directory written by the previous release's IMAP engine (pymap,
still selectable as ``[mail] imap_engine = "pymap"``) is served by tidings' own engine
with the same UIDVALIDITY, UIDs, flags and keywords — clients do not resync — and
with the index of that release (schema version 1) migrated in place."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.conftest import Service
from tests.test_imap import ALICE, client_for, message
from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.mail.store import MailStore

pytestmark = pytest.mark.slow


def state(client: IMAPClient) -> dict[str, object]:
    """What a syncing client remembers of each folder."""
    seen: dict[str, object] = {}
    for folder in ("INBOX", "Archive", "Drafts"):
        selected = client.select_folder(folder)
        uids = client.search("ALL")
        fetched = client.fetch(uids, ["FLAGS", "RFC822.SIZE", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        seen[folder] = (
            selected[b"UIDVALIDITY"],
            selected[b"UIDNEXT"],
            {
                uid: (
                    frozenset(d[b"FLAGS"]) - {b"\\Recent"},
                    d[b"RFC822.SIZE"],
                    d[b"BODY[HEADER.FIELDS (SUBJECT)]"].strip(),
                )
                for uid, d in fetched.items()
            },
        )
    return seen


def test_pymap_data_is_served_with_the_same_uids_and_flags(
    run_service: Callable[[str], Service],
    accounts: Accounts,
    settings: Settings,
    config_file: Path,
) -> None:
    accounts.add_user(*ALICE)
    original = config_file.read_text()
    config_file.write_text(original + '\n[mail]\nimap_engine = "pymap"\n')
    old = run_service("imap")
    store = MailStore(settings)
    for index in range(6):
        store.deliver(ALICE[0], message(f"old {index}", "x" * (100 * index)))
    store.close()
    client = client_for(settings)
    client.select_folder("INBOX")
    uids = client.search("ALL")
    client.add_flags(uids[:2], [b"\\Seen", b"$label1"])
    client.add_flags(uids[2:3], [b"\\Flagged", b"\\Answered"])
    client.add_flags(uids[5:], [b"\\Deleted"])
    client.expunge()
    client.copy(uids[:3], "Archive")
    client.append("Drafts", message("draft"), flags=[b"\\Draft", b"$Junk"])
    before = state(client)
    client.logout()
    old.stop()

    # The index as the previous release left it: schema version 1, no IMAP tables.
    index = settings.data_dir / "mail" / "index.sqlite"
    with sqlite3.connect(index) as conn:
        conn.execute("DROP TABLE IF EXISTS imap_message")
        conn.execute("DROP TABLE IF EXISTS imap_folder")
        conn.execute("PRAGMA user_version=1")

    config_file.write_text(original)
    run_service("imap")
    client = client_for(settings)
    try:
        after = state(client)
        assert b"CONDSTORE" in client.capabilities()  # the new engine answers
    finally:
        client.logout()
    assert after == before
    with sqlite3.connect(index) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM imap_message").fetchone()[0] == 9
