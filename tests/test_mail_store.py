"""The mail store: Maildir delivery, the SQLite/FTS5 index, repair after crashes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tidings.core.config import Settings
from tidings.mail.maildir import folder_path, user_root, write_message
from tidings.mail.store import MailStore

ALICE = "alice@example.test"
REPLY_HEADERS = "In-Reply-To: <root@x>\r\nReferences: <root@x>\r\n"
BOB = "bob@example.test"


def mail(
    subject: str,
    body: str = "Hello.",
    *,
    sender: str = "Carol <carol@example.org>",
    to: str = ALICE,
    date: str = "Tue, 02 Jan 2024 10:00:00 +0000",
    msgid: str | None = None,
    headers: str = "",
    content_type: str = "text/plain; charset=utf-8",
) -> bytes:
    msgid = msgid or f"{abs(hash((subject, body, date)))}@example.org"
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{msgid}>\r\n"
        f"Date: {date}\r\nMIME-Version: 1.0\r\nContent-Type: {content_type}\r\n{headers}"
        f"\r\n{body}\r\n"
    ).encode()


@pytest.fixture
def store(settings: Settings) -> MailStore:
    return MailStore(settings)


def uidlist(folder: Path) -> dict[str, int]:
    lines = (folder / "dovecot-uidlist").read_text().splitlines()[1:]
    return {line.split(":", 1)[1].split(":", 1)[0]: int(line.split()[0]) for line in lines}


def test_deliver_lists_newest_first_with_pagination(store: MailStore) -> None:
    for day in range(1, 6):
        store.deliver(ALICE, mail(f"day {day}", date=f"Mon, 0{day} Jan 2024 09:00:00 +0000"))
    page = store.list_messages(ALICE, "INBOX", limit=2)
    assert page.total == 5
    assert [m.subject for m in page.messages] == ["day 5", "day 4"]
    last = store.list_messages(ALICE, "INBOX", limit=2, offset=4)
    assert [m.subject for m in last.messages] == ["day 1"]
    first = page.messages[0]
    assert first.sender == "Carol <carol@example.org>"
    assert first.recipients == ALICE
    assert first.snippet == "Hello."
    assert first.flags == ()
    assert first.size > 100
    with pytest.raises(KeyError):
        store.list_messages(ALICE, "Nope")
    with pytest.raises(ValueError, match="limit"):
        store.list_messages(ALICE, "INBOX", limit=0)


def test_uids_in_index_are_the_uidlist_ones_in_arrival_order(store: MailStore) -> None:
    paths = [store.deliver(ALICE, mail(f"n{i}")) for i in range(12)]
    messages = store.list_messages(ALICE, "INBOX", limit=50).messages
    on_disk = uidlist(paths[0].parent.parent)
    assert {m.key: m.uid for m in messages} == on_disk
    keys_in_uid_order = [k for k, _ in sorted(on_disk.items(), key=lambda kv: kv[1])]
    assert keys_in_uid_order == [p.name.split(":")[0] for p in paths]


def test_folders_have_counts_and_special_use(store: MailStore) -> None:
    store.deliver(ALICE, mail("one"))
    store.deliver(ALICE, mail("two"), flags="S")
    store.deliver(ALICE, mail("sent"), folder="Sent", flags="S")
    folders = {f.name: f for f in store.folders(ALICE)}
    assert next(iter(folders)) == "INBOX"
    assert (folders["INBOX"].total, folders["INBOX"].unseen) == (2, 1)
    assert (folders["Sent"].total, folders["Sent"].unseen) == (1, 0)
    assert folders["Sent"].special_use == "\\Sent"
    assert folders["Trash"].special_use == "\\Trash"
    assert folders["INBOX"].special_use is None


def test_search_subject_sender_recipient_body(store: MailStore) -> None:
    store.deliver(
        ALICE, mail("Quarterly report", "Numbers are up.", sender="Dave <d@corp.example.net>")
    )
    store.deliver(ALICE, mail("Lunch", "Café at noon? AND -maybe: yes", to="team@example.test"))
    html = "<html><body><p>Invoice <b>attached</b></p><script>hidden()</script></body></html>"
    store.deliver(ALICE, mail("Bill", html, content_type="text/html; charset=utf-8"))
    store.deliver(BOB, mail("Quarterly report for Bob"))

    def subjects(text: str) -> list[str]:
        return [m.subject for m in store.search(ALICE, text)]

    assert subjects("quarterly") == ["Quarterly report"]  # and not Bob's
    assert subjects("corp") == ["Quarterly report"]
    assert subjects("team") == ["Lunch"]
    assert subjects("cafe") == ["Lunch"]  # diacritics folded
    assert subjects("AND -maybe:") == ["Lunch"]  # FTS5 syntax in the query is literal
    assert subjects("invoice attached") == ["Bill"]
    assert subjects("hidden") == []  # script content is not text
    assert subjects("repo") == ["Quarterly report"]  # prefix of the last word
    assert subjects("") == []
    assert [m.subject for m in store.search(BOB, "quarterly")] == ["Quarterly report for Bob"]
    assert store.search(ALICE, "lunch", folder="Sent") == []


def test_thread_follows_in_reply_to_and_references(store: MailStore) -> None:
    store.deliver(ALICE, mail("Plan", msgid="root@x"))
    store.deliver(
        ALICE,
        mail("Re: Plan", msgid="reply@x", headers=REPLY_HEADERS),
        folder="Sent",
        flags="S",
    )
    store.deliver(ALICE, mail("Other", msgid="other@x"))
    thread = store.thread(ALICE, "<reply@x>")
    assert [m.message_id for m in thread] == ["root@x", "reply@x"]
    assert thread[1].in_reply_to == "root@x"
    assert thread[1].references == ("root@x",)


def test_bad_mail_is_still_stored_and_indexed(store: MailStore) -> None:
    raw = (
        b"Subject: =?bogus?Q?x?=\r\nDate: yesterday\r\n"
        b"Content-Type: text/plain; charset=nope\r\n\r\n\xff\xfe body"
    )
    store.deliver(ALICE, raw)
    (message,) = store.list_messages(ALICE).messages
    assert message.size == len(raw)
    assert message.date > 0  # falls back to the delivery time
    assert store.read_message(ALICE, "INBOX", message.key) == raw


async def test_deliver_async(store: MailStore) -> None:
    path = await store.deliver_async(ALICE, mail("async"), folder="Archive", flags="S")
    assert path.parent.name == "cur" and path.name.endswith(":2,S")
    assert [m.subject for m in store.list_messages(ALICE, "Archive").messages] == ["async"]


def test_reconcile_repairs_what_a_crash_left(store: MailStore, settings: Settings) -> None:
    kept = store.deliver(ALICE, mail("kept"))
    gone = store.deliver(ALICE, mail("gone"))
    # A crash after the Maildir write, before the index row:
    inbox = folder_path(user_root(settings.data_dir / "mail", ALICE), "INBOX")
    orphan = write_message(inbox, mail("orphan"))
    gone.unlink()  # and a file removed behind our back (another client, a crash)
    kept.rename(kept.parent.parent / "cur" / (kept.name + ":2,FS"))
    report = store.reconcile()
    assert (report.added, report.removed, report.updated) == (1, 1, 1)
    rows = {m.subject: m for m in store.index.list_folder(ALICE, "INBOX", limit=9, offset=0)[0]}
    assert set(rows) == {"kept", "orphan"}
    assert rows["kept"].flags == ("\\Flagged", "\\Seen")
    assert rows["orphan"].key == orphan.name
    assert store.reconcile() == type(report)()  # idempotent


def test_stale_uidlist_lock_of_a_dead_process_is_broken(
    store: MailStore, settings: Settings
) -> None:
    path = store.deliver(ALICE, mail("x"))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    lock = path.parent.parent / "dovecot-uidlist.lock"
    lock.write_text(f"{dead.stdout.strip()}:{socket.gethostname()}")
    (message,) = store.list_messages(ALICE).messages
    assert message.uid == 1
    assert not lock.exists()


def test_reindex_command(store: MailStore, config_file: Path) -> None:
    for i in range(3):
        store.deliver(ALICE, mail(f"m{i}"))
    store.deliver(BOB, mail("b"))
    store.index.path.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(store.index.path) + suffix).unlink(missing_ok=True)
    store.close()
    tidings = [sys.executable, "-m", "tidings", "--config", str(config_file), "mail", "reindex"]
    done = subprocess.run([*tidings, ALICE], capture_output=True, text=True, check=True)
    assert "indexed 3 messages" in done.stdout
    done = subprocess.run(tidings, capture_output=True, text=True, check=True)
    assert "indexed 4 messages" in done.stdout
    fresh = MailStore(store.settings)
    assert fresh.list_messages(ALICE).total == 3
    missing = subprocess.run([*tidings, "nobody@example.test"], capture_output=True, text=True)
    assert missing.returncode != 0
    assert "no mailbox for nobody@example.test" in missing.stderr


DELIVER_FOREVER = """
import sys
from tidings.core.config import load_settings
from tidings.mail.store import MailStore
store = MailStore(load_settings(sys.argv[1]))
body = b"x" * 4000
i = 0
while True:
    msg = (f"Subject: crash {i}\\r\\nMessage-ID: <crash-{i}@x>\\r\\n\\r\\n").encode() + body
    path = store.deliver(sys.argv[2], msg)
    print(i, path.name, flush=True)
    i += 1
"""


@pytest.mark.slow
def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    store: MailStore, settings: Settings, config_file: Path
) -> None:
    """Two processes deliver concurrently; one is SIGKILLed. After reconcile every
    delivery that returned is in the Maildir and in the index exactly once."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DELIVER_FOREVER, str(config_file), ALICE],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    acknowledged: list[str] = []
    victim, survivor = procs
    deadline = time.monotonic() + 60
    assert victim.stdout is not None
    while len(acknowledged) < 150 and time.monotonic() < deadline:
        line = victim.stdout.readline()
        assert line, f"the delivering process died early (exit {victim.wait()})"
        acknowledged.append(line.split()[1])
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    acknowledged += [
        line.split()[1] for line in victim.stdout.read().splitlines() if len(line.split()) == 2
    ]
    survivor.terminate()
    out, _ = survivor.communicate()
    acknowledged += [line.split()[1] for line in out.splitlines() if len(line.split()) == 2]
    assert len(acknowledged) >= 150

    store.reconcile()
    inbox = user_root(settings.data_dir / "mail", ALICE)
    on_disk = [p.name for sub in ("new", "cur") for p in (inbox / sub).iterdir()]
    assert len(on_disk) == len(set(on_disk))
    rows = store.index.list_folder(ALICE, "INBOX", limit=100000, offset=0)[0]
    indexed = [m.key for m in rows]
    assert len(indexed) == len(set(indexed))
    assert set(indexed) == set(on_disk)  # nothing indexed without its file, nor missing
    for name in acknowledged:
        assert on_disk.count(name) == 1
    # Every file has a UID, each one different.
    uids = [m.uid for m in rows]
    assert None not in uids and len(set(uids)) == len(uids)
    # Nothing half-written: every message has its whole body.
    assert all(m.size > 4000 for m in rows)
