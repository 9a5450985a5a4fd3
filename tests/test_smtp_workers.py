"""`tidings serve smtp` with several worker processes: one service, one set of
listeners, stopped (or killed) as one."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path

from tests.smtp_support import (
    SmtpBox,
    dns_server,
    exits_within,
    message,
    smtp_box,
    workers_of,
)

SENDER, RECIPIENT = "load@elsewhere.test", "alice@example.test"


def start_with_workers(box: SmtpBox) -> list[int]:
    box.start()
    assert box.served is not None
    deadline = time.monotonic() + 60
    while box.log().count("smtp listening on") < 2:  # each worker says so once it accepts
        assert time.monotonic() < deadline, box.log()
        time.sleep(0.05)
    workers = workers_of(box.served.process.pid)
    assert len(workers) == 1, box.log()
    return workers


def send(box: SmtpBox, subjects: list[str]) -> None:
    for subject in subjects:  # one connection each: the kernel spreads them over workers
        with smtplib.SMTP("127.0.0.1", box.port("smtp"), timeout=30) as client:
            client.sendmail(SENDER, [RECIPIENT], message(SENDER, RECIPIENT, subject))


def test_workers_share_listeners_and_stop_and_die_with_the_service(tmp_path: Path) -> None:
    with dns_server() as dns, smtp_box(tmp_path, dns, TIDINGS_MAIL__SMTP_WORKERS="2") as box:
        box.add_user("alice")
        workers = start_with_workers(box)
        send(box, [f"first {n}" for n in range(6)])
        assert box.served is not None
        assert box.served.stop() == 0  # SIGTERM to the service...
        box.served = None
        assert all(exits_within(pid, 30) for pid in workers)  # ...stops every worker

        workers = start_with_workers(box)
        send(box, ["second"])
        box.kill()  # SIGKILL of the service leaves no worker holding its ports
        assert all(exits_within(pid, 30) for pid in workers)
        # (tests/test_smtp_crash.py starts it again on the same ports after a SIGKILL)
        subjects = sorted(str(m["Subject"]) for m in box.parsed(RECIPIENT))
        assert subjects == sorted([f"first {n}" for n in range(6)] + ["second"])
