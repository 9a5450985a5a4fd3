"""CONDSTORE and QRESYNC as a resyncing client uses them (RFC 7162): after flag
changes and expunges made by another client — and a server restart — SELECT
(QRESYNC ...) tells exactly what changed since the client's HIGHESTMODSEQ."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.conftest import Service
from tests.test_imap import ALICE, client_for, login, message
from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.mail.store import MailStore

pytestmark = pytest.mark.slow


def raw(client: object, command: str) -> list[bytes]:
    """Send a command with imaplib and return every response line until the tag."""
    tag = client._new_tag()  # type: ignore[attr-defined]
    client.send(tag + b" " + command.encode() + b"\r\n")  # type: ignore[attr-defined]
    lines = []
    while True:
        line = client.readline()  # type: ignore[attr-defined]
        lines.append(line)
        if line.startswith(tag + b" "):
            assert line.startswith(tag + b" OK"), lines
            return lines


def test_qresync_after_flag_changes_expunges_and_a_restart(
    run_service: Callable[[str], Service], accounts: Accounts, settings: Settings
) -> None:
    accounts.add_user(*ALICE)
    service = run_service("imap")
    store = MailStore(settings)
    for index in range(5):
        store.deliver(ALICE[0], message(f"m{index}"))
    # The syncing client: remembers UIDVALIDITY and HIGHESTMODSEQ.
    client = login(settings)
    assert any(b"ENABLED QRESYNC" in line for line in raw(client, "ENABLE QRESYNC"))
    selected = b"".join(raw(client, "SELECT INBOX"))
    validity = int(re.search(rb"UIDVALIDITY (\d+)", selected)[1])  # type: ignore[index]
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", selected)[1])  # type: ignore[index]
    client.logout()

    # Another client changes flags and expunges; then the server restarts.
    other = client_for(settings)
    other.select_folder("INBOX")
    uids = other.search("ALL")
    other.add_flags(uids[1], [b"\\Flagged"])
    other.add_flags(uids[3:5], [b"\\Deleted"])
    other.expunge()
    other.logout()
    service.stop()
    run_service("imap")

    client = login(settings)
    raw(client, "ENABLE QRESYNC")
    lines = raw(client, f"SELECT INBOX (QRESYNC ({validity} {modseq}))")
    vanished = [line for line in lines if line.startswith(b"* VANISHED (EARLIER)")]
    assert vanished == [b"* VANISHED (EARLIER) %d:%d\r\n" % (uids[3], uids[4])], lines
    changed = [line for line in lines if b" FETCH " in line]
    assert len(changed) == 1 and b"UID %d " % uids[1] in changed[0], lines
    assert b"\\Flagged" in changed[0] and b"MODSEQ" in changed[0]
    # CONDSTORE: a STORE guarded by an old MODSEQ fails for the changed message only.
    lines = raw(client, f"UID STORE {uids[0]},{uids[1]} (UNCHANGEDSINCE {modseq}) +FLAGS (\\Seen)")
    assert re.search(rb"\[MODIFIED %d\]" % uids[1], lines[-1]), lines
    lines = raw(client, f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)")
    assert b"* VANISHED (EARLIER) %d:%d\r\n" % (uids[3], uids[4]) in lines, lines
    client.logout()
