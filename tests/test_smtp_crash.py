"""Durability: a message acknowledged with 250 survives SIGKILL of the server, exactly once."""

from __future__ import annotations

import smtplib
import threading
from collections import Counter
from email import message_from_bytes
from pathlib import Path

from tests.smtp_support import SmtpBox, dns_server, message, smtp_box

SESSIONS = 12
PER_SESSION = 15
KILL_AFTER = 40  # acknowledged messages before the SIGKILL
BODY = ("All work and no play makes Jack a dull boy. " * 2 + "\r\n") * 400
SENDER, RECIPIENT = "load@elsewhere.test", "alice@example.test"


class Load:
    """Sessions sending in parallel, each recording which messages got their 250."""

    def __init__(self, box: SmtpBox) -> None:
        self.port = box.port("smtp")
        self.acknowledged: list[str] = []
        self.lock = threading.Lock()
        self.enough = threading.Event()

    def session(self, session: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as client:
                for number in range(PER_SESSION):
                    subject = f"crash {session}-{number}"
                    raw = message(SENDER, RECIPIENT, subject, BODY)
                    client.sendmail(SENDER, [RECIPIENT], raw)
                    with self.lock:  # sendmail returned: the server said 250
                        self.acknowledged.append(subject)
                        if len(self.acknowledged) >= KILL_AFTER:
                            self.enough.set()
        except (smtplib.SMTPException, OSError):
            return  # the server died under us: not acknowledged


def test_sigkill_mid_stream_loses_no_acknowledged_message(tmp_path: Path) -> None:
    with dns_server() as dns, smtp_box(tmp_path, dns) as box:
        box.add_user("alice")
        box.start()
        load = Load(box)
        threads = [threading.Thread(target=load.session, args=(i,)) for i in range(SESSIONS)]
        for thread in threads:
            thread.start()
        assert load.enough.wait(120), "the server never acknowledged enough messages"
        box.kill()
        for thread in threads:
            thread.join(60)
        with load.lock:
            acked = list(load.acknowledged)
        assert KILL_AFTER <= len(acked) < SESSIONS * PER_SESSION  # killed mid-stream

        box.start()  # a restart must not lose, duplicate or corrupt anything
        stored = box.messages(RECIPIENT)
        subjects = Counter(str(message_from_bytes(m)["Subject"]) for m in stored)
        for subject in acked:
            assert subjects[subject] == 1, f"{subject}: stored {subjects[subject]} times"
        # Whatever is in new/ is whole; half-written files only ever live in tmp/.
        assert all(m.rstrip().endswith(b"dull boy.") for m in stored)
        assert max(subjects.values()) == 1
        with smtplib.SMTP("127.0.0.1", box.port("smtp")) as client:
            raw = message(SENDER, RECIPIENT, "after restart")
            assert client.sendmail(SENDER, [RECIPIENT], raw) == {}
        assert any(b"Subject: after restart" in m for m in box.messages(RECIPIENT))
