"""tidings IMAP against Dovecot on the very same Maildir, in one run.

    .venv/bin/python bench/imap_vs_dovecot.py [--messages 10000] [--size 10240]

Writes N messages of about SIZE bytes through ``MailStore.deliver`` (fsynced, indexed),
starts ``tidings serve imap`` and a private Dovecot on that Maildir, and times, over
implicit TLS with imaplib, for each server: LOGIN+SELECT INBOX, ``FETCH 1:* (FLAGS
INTERNALDATE RFC822.SIZE ENVELOPE)`` and ``UID SEARCH TEXT <word>`` (the word is in
1 % of the messages) — the first (cold) run and the best of the next ones (warm).
Also the RSS of the tidings IMAP process idle and after the load, and of all Dovecot
processes after the load; then Dovecot's imaptest stress run (``--stress-clients``
clients for ``--stress-seconds``, default 10 and 20) against each server on a fresh
mailbox, in commands per second. Prints a Markdown table. Bounded: every IMAP call has a
socket timeout and the whole run an alarm; it stops by itself.
"""

from __future__ import annotations

import argparse
import imaplib
import os
import random
import shutil
import signal
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import imaptest_run
from peers import Dovecot
from tidings.core.accounts import Accounts
from tidings.core.config import Listen, Settings, load_settings
from tidings.core.db import Database, migrate
from tidings.core.tls import client_context, ensure_tls
from tidings.mail.maildir import user_root
from tidings.mail.store import MailStore

USER = "bench@example.test"
STRESS_USER = "stress@example.test"
PASSWORD = "bench-password"  # noqa: S105  (a throwaway account)
WORD = "zanzibar"
_TEXT = (
    "the of and to in is you that it he was for on are as with his they at be this have "
    "from or one had by word but not what all were we when your can said there use an each "
    "which she do how their if will up other about out many then them these so some her "
    "would make like him into time has look two more write go see number no way could people"
)
WORDS = _TEXT.split()
REPEATS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def store_root(settings: Settings, address: str) -> Path:
    root = user_root(settings.data_dir / "mail", address)
    MailStore(settings).mailbox(address)  # created with its folders, as on first login
    return root


def make_message(index: int, size: int, rng: random.Random) -> bytes:
    words = []
    length = 0
    while length < size - 400:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    if index % 100 == 0:
        words[len(words) // 2] = WORD
    lines = [" ".join(words[i : i + 12]) for i in range(0, len(words), 12)]
    body = "\r\n".join(lines)
    return (
        f"From: Sender {index} <sender{index}@example.org>\r\n"
        f"To: {USER}\r\nSubject: message {index} about {rng.choice(WORDS)}\r\n"
        f"Message-ID: <bench-{index}@example.org>\r\n"
        f"Date: Mon, 01 Jan 2024 {index // 3600 % 24:02d}:{index // 60 % 60:02d}:"
        f"{index % 60:02d} +0000\r\n\r\n{body}\r\n"
    ).encode()


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure(port: int, context: ssl.SSLContext) -> dict[str, list[float]]:
    """Times of each step, over REPEATS fresh connections (the first one is cold)."""
    results: dict[str, list[float]] = {"select": [], "fetch": [], "search": []}
    for _ in range(REPEATS):
        client = imaplib.IMAP4_SSL("localhost", port, ssl_context=context, timeout=600)
        client.login(USER, PASSWORD)

        def select(client: imaplib.IMAP4_SSL = client) -> None:
            typ, data = client.select("INBOX", readonly=True)
            assert typ == "OK", data

        def fetch(client: imaplib.IMAP4_SSL = client) -> None:
            typ, data = client.fetch("1:*", "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
            assert typ == "OK", data
            fetched = sum(1 for item in data if isinstance(item, tuple | bytes))
            assert fetched >= 1

        def search(client: imaplib.IMAP4_SSL = client) -> None:
            typ, data = client.uid("SEARCH", "TEXT", WORD)
            assert typ == "OK", data
            assert data[0] is not None and len(data[0].split()) > 0, data

        results["select"].append(timed(select))
        results["fetch"].append(timed(fetch))
        results["search"].append(timed(search))
        client.logout()
    return results


def stress(port: int, user: str, work: Path, clients: int, seconds: int) -> tuple[float, int, str]:
    """imaptest's stress mode against one server: (commands/s, errors, totals)."""
    mbox = work / "stress.mbox"
    if not mbox.exists():
        shared = Path(__file__).resolve().parents[2] / "shared" / "imaptest" / "gen_mbox.py"
        subprocess.run([sys.executable, str(shared), "300", str(mbox)], check=True)
    errors, output = imaptest_run.run_stress(
        host="127.0.0.1",
        port=port,
        user=user,
        password=PASSWORD,
        mbox=mbox,
        clients=clients,
        secs=seconds,
        workdir=work,
    )
    totals = output.split("Totals:", 1)[1].splitlines() if "Totals:" in output else []
    counts = [int(n) for n in totals[4].split()] if len(totals) > 4 else []
    return sum(counts) / seconds, errors, " ".join(totals[1:5:3])


def wait_for_text_index(settings: Settings, messages: int) -> float:
    """Seconds until the IMAP server's SEARCH text index holds every message."""
    started = time.perf_counter()
    with sqlite3.connect(settings.data_dir / "mail" / "index.sqlite") as conn:
        while conn.execute("SELECT count(*) FROM imap_text").fetchone()[0] < messages:
            time.sleep(0.5)  # the server works on its own; nothing to wait on but the count
    return time.perf_counter() - started


def _give_up(signum: int, frame: object) -> None:
    raise TimeoutError("benchmark took longer than --timeout; stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=10_240)
    parser.add_argument("--timeout", type=int, default=1500, help="stop after this many s")
    parser.add_argument("--stress-clients", type=int, default=10)
    parser.add_argument("--stress-seconds", type=int, default=20, help="0: no stress run")
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _give_up)
    signal.alarm(args.timeout)

    work = Path(tempfile.mkdtemp(prefix="tidings-bench-"))
    work.chmod(0o711)
    config = work / "tidings.toml"
    listen = "\n".join(f'{name} = "127.0.0.1:{free_port()}"' for name in Listen.model_fields)
    config.write_text(f'data_dir = "{work / "data"}"\n[listen]\n{listen}\n')
    settings = load_settings(config)
    migrate(settings)
    db = Database(settings)
    Accounts(db).add_user(USER, PASSWORD)
    Accounts(db).add_user(STRESS_USER, PASSWORD)
    db.close()

    store = MailStore(settings)
    rng = random.Random(42)
    started = time.perf_counter()
    for index in range(args.messages):
        store.deliver(USER, make_message(index, args.size, rng))
    delivery = time.perf_counter() - started
    store.close()
    print(
        f"delivered {args.messages} messages through MailStore.deliver in {delivery:.1f} s "
        f"({args.messages / delivery:.0f}/s)",
        file=sys.stderr,
    )

    notify = work / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    sock.settimeout(300)
    server = subprocess.Popen(
        [sys.executable, "-m", "tidings", "--config", str(config), "serve", "imap"],
        env={**os.environ, "NOTIFY_SOCKET": str(notify)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while b"READY=1" not in sock.recv(4096):
            pass
        time.sleep(1)
        idle_rss = rss_kib([server.pid])
        context = client_context(settings)
        imaps_port = int(settings.listen.imaps.rsplit(":", 1)[1])
        ours = measure(imaps_port, context)
        # The first TEXT search fills the SEARCH text index in the background; once
        # it holds the folder, searches are index lookups: measure those too.
        indexing = wait_for_text_index(settings, args.messages)
        ours["indexed"] = measure(imaps_port, context)["search"]
        loaded_rss = rss_kib([server.pid])

        files = ensure_tls(settings)
        root = user_root(settings.data_dir / "mail", USER)
        with Dovecot(root, USER, PASSWORD, tls=(files.cert, files.key)) as dovecot:
            theirs = measure(dovecot.tls_port, context)
            dovecot_rss = rss_kib(dovecot.pids())
        stressed: dict[str, tuple[float, int, str]] = {}
        if args.stress_seconds:
            stress_root = store_root(settings, STRESS_USER)
            stressed["tidings"] = stress(
                imaps_port, STRESS_USER, work, args.stress_clients, args.stress_seconds
            )
            for sub in ("cur", "new", "tmp"):
                shutil.rmtree(stress_root / sub, ignore_errors=True)
                (stress_root / sub).mkdir()
            (stress_root / "dovecot-uidlist").unlink(missing_ok=True)
            with Dovecot(stress_root, STRESS_USER, PASSWORD, tls=(files.cert, files.key)) as peer:
                stressed["dovecot"] = stress(
                    peer.tls_port, STRESS_USER, work, args.stress_clients, args.stress_seconds
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)

    def cell(values: list[float]) -> str:
        return f"{values[0] * 1000:.0f} / {min(values[1:]) * 1000:.0f}"

    def ratio(a: list[float], b: list[float]) -> str:
        return f"{statistics.median(a[1:]) / statistics.median(b[1:]):.1f}x"

    print(f"\n{args.messages} messages of ~{args.size} bytes, implicit TLS, imaplib client.")
    print("Times in ms, cold (first connection) / warm (best of the next ones).\n")
    print("| step | tidings | Dovecot 2.3 | tidings/Dovecot (warm) |")
    print("|---|---|---|---|")
    names = {
        "select": "LOGIN done → SELECT INBOX",
        "fetch": "FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)",
        "search": f"UID SEARCH TEXT {WORD}",
    }
    for step, label in names.items():
        print(
            f"| {label} | {cell(ours[step])} | {cell(theirs[step])} | "
            f"{ratio(ours[step], theirs[step])} |"
        )
    print(
        f"| UID SEARCH TEXT {WORD}, text index filled ({indexing:.0f} s after the first"
        f" search) | {cell(ours['indexed'])} | {cell(theirs['search'])} | "
        f"{ratio(ours['indexed'], theirs['search'])} |"
    )
    if stressed:
        ours_rate, ours_errors, ours_totals = stressed["tidings"]
        theirs_rate, theirs_errors, theirs_totals = stressed["dovecot"]
        print(
            f"\nimaptest stress, {args.stress_clients} clients, {args.stress_seconds} s: "
            f"tidings {ours_rate:.0f} commands/s ({ours_errors} errors), Dovecot "
            f"{theirs_rate:.0f} commands/s ({theirs_errors} errors): "
            f"{ours_rate / theirs_rate:.2f}x.\n  tidings: {ours_totals}\n  Dovecot: {theirs_totals}"
        )
    print(
        f"\nDelivery through MailStore.deliver: {args.messages / delivery:.0f} messages/s."
        f"\nRSS: tidings imap idle {idle_rss / 1024:.0f} MiB, after the load "
        f"{loaded_rss / 1024:.0f} MiB; all Dovecot processes after the load "
        f"{dovecot_rss / 1024:.0f} MiB."
    )


if __name__ == "__main__":
    main()
