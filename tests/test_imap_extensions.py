"""Extensions imaptest has no scripted group for, as a client uses them: LIST-STATUS,
STATUS=SIZE, the SPECIAL-USE selection of LIST-EXTENDED, SEARCHRES, ESEARCH and
APPENDLIMIT."""

from __future__ import annotations

import imaplib
import re
import time
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
        # refused by the file system (name too long): NO with a code, session goes on
        typ, data = client._simple_command("CREATE", "x" * 300)  # type: ignore[attr-defined]
        assert typ == "NO" and b"[CANNOT]" in data[-1], data
        raw(client, "ENABLE QRESYNC")
        with pytest.raises(imaplib.IMAP4.error, match="Invalid QRESYNC"):
            client._simple_command("SELECT", "INBOX", "(QRESYNC (x y))")  # type: ignore[attr-defined]
        assert client.noop()[0] == "OK"
    finally:
        client.logout()


def test_utf8_accept_names_and_append(
    run_service: Callable[[str], Service], accounts: Accounts, settings: Settings
) -> None:
    accounts.add_user(*ALICE)
    run_service("imap")
    plain = login(settings)
    utf8 = login(settings)
    try:
        assert "UTF8=ACCEPT" in utf8.capabilities
        lines = raw(utf8, "ENABLE UTF8=ACCEPT")
        assert any(b"ENABLED UTF8=ACCEPT" in line for line in lines), lines
        name = "Entwürfe/Été".encode()
        tag = utf8._new_tag()  # type: ignore[attr-defined]
        utf8.send(tag + b' CREATE "' + name + b'"\r\n')  # type: ignore[attr-defined]
        assert utf8.readline().startswith(tag + b" OK")  # type: ignore[attr-defined]
        # the client that did not enable it sees the same folder in modified UTF-7
        lines = raw(plain, 'LIST "" "Entw*"')
        assert b'"Entw&APw-rfe/&AMk-t&AOk-"' in b"".join(lines), lines
        lines = raw(utf8, 'LIST "" "Entw*"')
        assert b'"' + name + b'"' in b"".join(lines), lines
        mail = "From: José <jose@example.org>\r\nSubject: Grüße\r\n\r\nhi\r\n".encode()
        utf8.send(  # type: ignore[attr-defined]
            b'a9 APPEND "' + name + b'" UTF8 (~{%d+}\r\n' % len(mail) + mail + b")\r\n"
        )
        done = utf8.readline()  # type: ignore[attr-defined]
        assert done.startswith(b"a9 OK [APPENDUID"), done
        # without UTF8=ACCEPT an 8-bit name is refused with a code
        plain.send(b'b1 SELECT "' + name + b'"\r\n')  # type: ignore[attr-defined]
        refused = plain.readline()  # type: ignore[attr-defined]
        assert refused.startswith(b"b1 NO [CANNOT]"), refused
    finally:
        plain.logout()
        utf8.logout()


def test_search_text_answers_the_same_from_the_trigram_index_as_from_the_scan(
    run_service: Callable[[str], Service], accounts: Accounts, settings: Settings
) -> None:
    """The first TEXT/BODY search of a folder scans the messages and indexes them in
    the background; later ones use the index. Both must answer the same."""
    accounts.add_user(*ALICE)
    run_service("imap")
    store = MailStore(settings)
    bodies = [
        b"Subject: plain\r\n\r\nqwertyuiop asdfghjkl\r\n",
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nnothing here\r\n",
        b"Subject: qp\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"asdf=\r\nghjkl caf=C3=A9\r\n",
        b"Subject: b64\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nWmFuemliYXIgY2Fmw6k=\r\n",
        b'Subject: multi\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/html\r\n\r\n<p>Zanzibar</p>\r\n--b--\r\n",
    ]
    for body in bodies:
        store.deliver(ALICE[0], b"From: a@example.org\r\n" + body)
    keys = [
        "TEXT sdfghj",
        "BODY asdfghjkl",
        "TEXT zanzibar",
        "BODY Grüße",
        "TEXT grüße",
        "BODY café",
        "TEXT subject: plain",
        "BODY subject",
    ]
    client = login(settings)

    def answers() -> list[bytes]:
        out = []
        for key in keys:
            word, _, needle = key.partition(" ")
            data = needle.encode()
            lines = raw(client, f"SEARCH CHARSET UTF-8 {word} {{{len(data)}+}}\r\n{needle}")
            out.append(b"".join(line for line in lines if line.startswith(b"* SEARCH")))
        return out

    try:
        raw(client, "SELECT INBOX")
        scanned = answers()
        assert scanned[:3] == [b"* SEARCH 1 3\r\n", b"* SEARCH 1 3\r\n", b"* SEARCH 4 5\r\n"]
        index = store.index._connect()
        deadline = time.monotonic() + 60
        while index.execute("SELECT count(*) FROM imap_text").fetchone()[0] < len(bodies):
            assert time.monotonic() < deadline, "the text index was not filled"
            raw(client, "NOOP")  # the server indexes between commands; ask again
        assert answers() == scanned
    finally:
        client.logout()
