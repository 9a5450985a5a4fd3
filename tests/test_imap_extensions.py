"""Extensions imaptest has no scripted group for, as a client uses them: LIST-STATUS,
STATUS=SIZE, the SPECIAL-USE selection of LIST-EXTENDED, SEARCHRES, ESEARCH and
APPENDLIMIT."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.conftest import Service
from tests.test_imap import ALICE, login, message
from tests.test_imap_qresync import raw
from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.mail.store import MailStore

pytestmark = pytest.mark.slow


def test_list_status_size_special_use_and_searchres(
    run_service: Callable[[str], Service], accounts: Accounts, settings: Settings
) -> None:
    accounts.add_user(*ALICE)
    run_service("imap")
    store = MailStore(settings)
    sizes = [len(message(f"m{i}", "x" * 50 * i)) for i in range(3)]
    for i in range(3):
        store.deliver(ALICE[0], message(f"m{i}", "x" * 50 * i))
    client = login(settings)
    try:
        caps = client.capabilities
        for cap in ("LIST-STATUS", "STATUS=SIZE", "SEARCHRES", "ESEARCH", "LIST-EXTENDED"):
            assert cap in caps, caps
        assert any(c.startswith("APPENDLIMIT=") for c in caps)

        lines = raw(client, 'LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN SIZE))')
        status = {
            m[1]: (int(m[2]), int(m[3]), int(m[4]))
            for line in lines
            if (
                m := re.match(
                    rb'\* STATUS "?([^"]+)"? \(MESSAGES (\d+) UNSEEN (\d+) SIZE (\d+)\)', line
                )
            )
        }
        assert status[b"INBOX"] == (3, 3, sum(sizes)), lines
        assert status[b"Trash"] == (0, 0, 0), lines

        lines = raw(client, 'LIST (SPECIAL-USE) "" "*"')
        listed = {re.search(rb'"([^"]+)"\r\n$', line)[1] for line in lines[:-1]}  # type: ignore[index]
        assert listed == {b"Sent", b"Drafts", b"Trash", b"Junk", b"Archive"}, lines

        raw(client, "SELECT INBOX")
        lines = raw(client, "SEARCH RETURN (SAVE) SUBJECT m1")
        assert not any(line.startswith(b"* SEARCH") for line in lines)
        lines = raw(client, "FETCH $ (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert any(b"Subject: m1" in line for line in lines), lines
        lines = raw(client, "UID SEARCH RETURN (MIN MAX COUNT) ALL")
        assert any(
            re.match(rb"\* ESEARCH \(TAG \"\S+\"\) UID MIN 1 MAX 3 COUNT 3", line) for line in lines
        ), lines
        lines = raw(client, 'ID ("name" "test")')
        assert any(b'"name" "tidings"' in line for line in lines), lines
    finally:
        client.logout()
