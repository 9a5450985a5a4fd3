"""IMAP as clients use it: imaplib and IMAPClient against a real `tidings serve imap`."""

from __future__ import annotations

import imaplib
import re
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from imapclient import IMAPClient

from tests.conftest import Service
from tidings.core.accounts import Accounts
from tidings.core.config import Settings, split_endpoint
from tidings.core.tls import client_context
from tidings.mail.maildir import user_root
from tidings.mail.store import MailStore

pytestmark = pytest.mark.slow

ALICE = ("alice@example.test", "alice-password")
BOB = ("bob@example.test", "bob-password-1")


def message(subject: str, body: str = "Hello.", msgid: str | None = None) -> bytes:
    msgid = msgid or f"{subject.replace(' ', '.')}@example.org"
    return (
        f"From: Carol <carol@example.org>\r\nTo: alice@example.test\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{msgid}>\r\n"
        f"Date: Tue, 02 Jan 2024 10:00:00 +0000\r\n\r\n{body}\r\n"
    ).encode()


@pytest.fixture
def users(accounts: Accounts) -> None:
    accounts.add_user(*ALICE)
    accounts.add_user(*BOB)


@pytest.fixture
def imap(run_service: Callable[[str], Service], users: None) -> Iterator[Service]:
    yield run_service("imap")


def connect_tls(settings: Settings) -> imaplib.IMAP4_SSL:
    host, port = split_endpoint(settings.listen.imaps)
    return imaplib.IMAP4_SSL(host, port, ssl_context=client_context(settings), timeout=30)


def login(settings: Settings, who: tuple[str, str] = ALICE) -> imaplib.IMAP4_SSL:
    client = connect_tls(settings)
    client.login(*who)
    return client


def client_for(settings: Settings, who: tuple[str, str] = ALICE) -> IMAPClient:
    host, port = split_endpoint(settings.listen.imaps)
    client = IMAPClient(host, port, ssl=True, ssl_context=client_context(settings), timeout=30)
    client.login(*who)
    return client


def test_starttls_required_before_login(imap: Service, settings: Settings) -> None:
    host, port = split_endpoint(settings.listen.imap)
    client = imaplib.IMAP4(host, port, timeout=30)
    try:
        assert "LOGINDISABLED" in client.capabilities
        assert "STARTTLS" in client.capabilities
        typ, _ = client._simple_command("LOGIN", *ALICE)  # type: ignore[attr-defined]
        assert typ != "OK"
        client.starttls(ssl_context=client_context(settings))
        assert "LOGINDISABLED" not in client.capabilities
        assert "AUTH=PLAIN" in client.capabilities
        typ, _ = client.login(*ALICE)
        assert typ == "OK"
    finally:
        client.shutdown()


def test_special_use_in_capability_and_list(imap: Service, settings: Settings) -> None:
    client = login(settings)
    try:
        typ, caps = client.capability()
        assert b"SPECIAL-USE" in caps[0].split()
        typ, listing = client.list()
        assert typ == "OK"
        attributes = {}
        for line in listing:
            assert isinstance(line, bytes)
            match = re.match(rb'\(([^)]*)\) "/" "?([^"]+)"?', line)
            assert match, line
            attributes[match[2].decode()] = set(match[1].decode().split())
        assert "\\Sent" in attributes["Sent"]
        assert "\\Drafts" in attributes["Drafts"]
        assert "\\Trash" in attributes["Trash"]
        assert "\\Junk" in attributes["Junk"]
        assert "\\Archive" in attributes["Archive"]
        assert not attributes["INBOX"] & {"\\Sent", "\\Trash", "\\Junk"}
    finally:
        client.logout()


def test_wrong_password_then_throttled(imap: Service, settings: Settings) -> None:
    for _ in range(4):
        client = connect_tls(settings)
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            client.login(ALICE[0], "not-her-password")
        client.shutdown()
    client = connect_tls(settings)
    # Even the right password is refused while throttled, with RFC 5530's code.
    with pytest.raises(imaplib.IMAP4.error, match=r"\[UNAVAILABLE\].*try again in \d+"):
        client.login(*ALICE)
    client.shutdown()
    # Bob is not affected by Alice's throttle.
    login(settings, BOB).logout()


def test_a_disabled_account_cannot_log_in_even_from_the_login_cache(
    imap: Service, settings: Settings, accounts: Accounts
) -> None:
    login(settings).logout()  # the verdict is now cached (AUTH_CACHE_SECONDS)
    accounts.set_disabled(ALICE[0], True)
    client = connect_tls(settings)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(*ALICE)
    client.logout()
    accounts.set_disabled(ALICE[0], False)
    login(settings).logout()


def test_users_see_only_their_own_mail(imap: Service, settings: Settings) -> None:
    store = MailStore(settings)
    store.deliver(ALICE[0], message("for alice only"))
    alice = client_for(settings, ALICE)
    alice.create_folder("Private")
    alice.logout()
    bob = client_for(settings, BOB)
    try:
        names = {name for _, _, name in bob.list_folders()}
        assert "Private" not in names
        bob.select_folder("INBOX")
        assert bob.search("ALL") == []
        for sneaky in ("../alice", "../../example.test/alice", "Private"):
            with pytest.raises(IMAPClient.Error):
                bob.select_folder(sneaky)
    finally:
        bob.logout()


def test_append_copy_move_flags_keep_index_in_step_and_survive_restart(
    run_service: Callable[[str], Service], users: None, settings: Settings
) -> None:
    service = run_service("imap")
    store = MailStore(settings)
    store.deliver(ALICE[0], message("first"))
    store.deliver(ALICE[0], message("second"))
    client = client_for(settings)
    client.select_folder("INBOX")
    by_subject = {
        data[b"ENVELOPE"].subject.decode(): uid
        for uid, data in client.fetch(client.search("ALL"), ["ENVELOPE"]).items()
    }
    uids = [by_subject["first"], by_subject["second"]]
    appended = client.append("Drafts", message("draft"), flags=[b"\\Draft"])
    assert b"APPENDUID" in appended
    client.add_flags(uids[0], [b"\\Flagged", b"\\Seen"])
    client.copy(uids[0], "Archive")
    client.move(uids[1], "Trash")
    # The index follows every command, before the tagged OK.
    inbox = store.index.list_folder(ALICE[0], "INBOX", limit=10, offset=0)[0]
    assert [(m.uid, set(m.flags)) for m in inbox] == [(uids[0], {"\\Flagged", "\\Seen"})]
    assert [
        m.subject for m in store.index.list_folder(ALICE[0], "Trash", limit=10, offset=0)[0]
    ] == ["second"]
    archive = store.index.list_folder(ALICE[0], "Archive", limit=10, offset=0)[0]
    assert [(m.subject, set(m.flags)) for m in archive] == [("first", {"\\Flagged", "\\Seen"})]
    drafts = store.index.list_folder(ALICE[0], "Drafts", limit=10, offset=0)[0]
    assert [(m.subject, m.flags) for m in drafts] == [("draft", ("\\Draft",))]
    client.logout()

    service.stop()
    run_service("imap")
    client = client_for(settings)
    try:
        client.select_folder("INBOX")
        fetched = client.fetch(client.search("ALL"), ["FLAGS", "UID"])
        assert [(uid, set(d[b"FLAGS"])) for uid, d in fetched.items()] == [
            (uids[0], {b"\\Flagged", b"\\Seen"})
        ]
        client.select_folder("Trash")
        assert len(client.search("ALL")) == 1
        client.select_folder("Drafts")
        (data,) = client.fetch(
            client.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]
        ).values()
        assert b"draft" in data[b"BODY[HEADER.FIELDS (SUBJECT)]"]
        # Expunge from IMAP removes the index row too.
        client.select_folder("Trash")
        client.add_flags(client.search("ALL"), [b"\\Deleted"])
        client.expunge()
        assert store.index.list_folder(ALICE[0], "Trash", limit=10, offset=0)[1] == 0
    finally:
        client.logout()


DELIVER = """
import sys
from tidings.core.config import load_settings
from tidings.mail.store import MailStore
MailStore(load_settings(sys.argv[1])).deliver(sys.argv[2], sys.stdin.buffer.read())
"""


def test_idle_wakes_on_delivery_from_another_process(
    imap: Service, settings: Settings, config_file: object
) -> None:
    # Plain imaplib on a blocking socket: IMAPClient's idle_check reads a non-blocking
    # TLS socket and can lose the start of a line when a response spans TLS records.
    client = login(settings)
    try:
        client.select("INBOX")
        tag = client._new_tag()  # type: ignore[attr-defined]
        client.send(tag + b" IDLE\r\n")
        assert client.readline().startswith(b"+ ")
        subprocess.run(
            [sys.executable, "-c", DELIVER, str(config_file), ALICE[0]],
            input=message("pushed"),
            check=True,
        )
        client.sock.settimeout(10)  # the push must come without our asking
        pushed: list[bytes] = []
        while not any(line.endswith(b" EXISTS\r\n") for line in pushed):
            pushed.append(client.readline())
        assert b"* 1 EXISTS\r\n" in pushed, pushed
        client.send(b"DONE\r\n")
        while not (line := client.readline()).startswith(tag):
            assert line.startswith(b"* "), line
        assert line.startswith(tag + b" OK"), line
        client.sock.settimeout(30)
        status, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert status == "OK" and b"Subject: pushed" in data[0][1]  # type: ignore[index]
    finally:
        client.logout()


def test_messages_come_back_byte_for_byte(imap: Service, settings: Settings) -> None:
    """Delivered, appended and copied messages keep their CRLFs and exact size."""
    delivered = message("delivered", "line one\r\nline two")
    MailStore(settings).deliver(ALICE[0], delivered)
    client = client_for(settings)
    try:
        appended = message("appended", "first\r\nsecond")
        client.append("INBOX", appended)
        client.select_folder("INBOX")
        uids = client.search("ALL")
        client.copy(uids, "Archive")
        for folder in ("INBOX", "Archive"):
            client.select_folder(folder)
            fetched = client.fetch(client.search("ALL"), ["RFC822", "RFC822.SIZE"])
            bodies = sorted(d[b"RFC822"] for d in fetched.values())
            assert bodies == sorted([delivered, appended]), folder
            assert all(d[b"RFC822.SIZE"] == len(d[b"RFC822"]) for d in fetched.values())
    finally:
        client.logout()


def test_namespace_and_deleting_the_selected_folder(imap: Service, settings: Settings) -> None:
    client = client_for(settings)
    try:
        personal, other, shared = client.namespace()
        assert personal == (("", "/"),)
        assert other is None and shared is None
        client.create_folder("Scratch")
        client.select_folder("Scratch")
        client.delete_folder("Scratch")  # the session survives, as with Dovecot
        assert "Scratch" not in {name for _, _, name in client.list_folders()}
        client.select_folder("INBOX")
    finally:
        client.logout()


def test_search_text_and_flags(imap: Service, settings: Settings) -> None:
    store = MailStore(settings)
    store.deliver(ALICE[0], message("invoice march", "Please pay the invoice."))
    store.deliver(ALICE[0], message("holiday", "See you in Lisbon."), flags="S")
    client = client_for(settings)
    try:
        client.select_folder("INBOX")
        by_subject = {
            d[b"ENVELOPE"].subject: uid
            for uid, d in client.fetch(client.search("ALL"), ["ENVELOPE"]).items()
        }
        assert client.search(["TEXT", "lisbon"]) == [by_subject[b"holiday"]]
        assert client.search(["UNSEEN"]) == [by_subject[b"invoice march"]]
        assert client.search(["SUBJECT", "invoice"]) == [by_subject[b"invoice march"]]
    finally:
        client.logout()


def test_uidplus_answers_with_the_new_uids(imap: Service, settings: Settings) -> None:
    MailStore(settings).deliver(ALICE[0], message("to copy"))
    client = login(settings)
    try:
        typ, data = client.append("Drafts", "(\\Draft)", None, message("draft"))
        assert typ == "OK" and re.search(rb"\[APPENDUID \d+ 1\]", data[0]), data
        client.select("INBOX")
        typ, _ = client.uid("COPY", "1", "Archive")
        assert typ == "OK"
        _, code = client.response("COPYUID")  # imaplib keeps the tagged OK's code here
        assert code[0] is not None and re.fullmatch(rb"\d+ 1 1", code[0]), code
        client.select("Archive")
        typ, data = client.uid("FETCH", "1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK" and b"to copy" in data[0][1]
    finally:
        client.logout()


def test_keywords_are_kept_like_dovecot_keeps_them(
    run_service: Callable[[str], Service], users: None, settings: Settings
) -> None:
    """Thunderbird's tags and junk marks are IMAP keywords: they must survive a restart,
    reach the index, and be written where Dovecot reads them (dovecot-keywords)."""
    service = run_service("imap")
    store = MailStore(settings)
    store.deliver(ALICE[0], message("tag me"))
    client = client_for(settings)
    client.select_folder("INBOX")
    (uid,) = client.search("ALL")
    client.add_flags(uid, [b"$label1", b"$Junk", b"\\Seen"])
    assert set(client.get_flags(uid)[uid]) - {b"\\Recent"} == {b"$label1", b"$Junk", b"\\Seen"}
    client.remove_flags(uid, [b"$Junk"])
    client.logout()
    (row,) = store.index.list_folder(ALICE[0], "INBOX", limit=10, offset=0)[0]
    assert set(row.flags) == {"$label1", "\\Seen"}
    keywords = (user_root(settings.data_dir / "mail", ALICE[0]) / "dovecot-keywords").read_text()
    assert {line.split()[1] for line in keywords.splitlines()} == {"$label1", "$Junk"}

    service.stop()
    run_service("imap")
    client = client_for(settings)
    try:
        client.select_folder("INBOX")
        assert set(client.get_flags(uid)[uid]) - {b"\\Recent"} == {b"$label1", b"\\Seen"}
        # Clients learn they may create keywords; FLAGS lists flags, not the wildcard.
        selected = client.select_folder("INBOX")
        assert b"\\*" in selected[b"PERMANENTFLAGS"]
        assert b"\\*" not in selected[b"FLAGS"]
    finally:
        client.logout()
