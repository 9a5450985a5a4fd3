"""Inbound SMTP throughput: tidings vs Postfix, both delivering to a Maildir.

    .venv/bin/python bench/smtp_inbound.py [--messages 2000] [--sessions 20] [--size 10240]
                                           [--workers 0]

Runs as root on a Debian machine with Postfix installed (not running). For each
server, Postfix's own load generator ``smtp-source`` sends MESSAGES messages of SIZE
bytes over SESSIONS parallel sessions (a new connection per message, as MX traffic
arrives); the clock stops when the last message is durably in the Maildir:

* tidings answers 250 only after the fsync, so that is when ``smtp-source`` ends;
* Postfix answers 250 once the message is in its queue, so the clock runs until
  ``virtual(8)`` has put every message in ``new/``.

tidings runs with its full inbound path (Received, SPF/DKIM/DMARC against a DNS
server on loopback answering NXDOMAIN, Authentication-Results). Postfix is the
default instance, reconfigured with ``postconf -e`` (a second instance with ``-c``
fails silently on these machines); its main.cf is restored and it is stopped after.
Also reports the resident memory of the smtp service, idle and at peak under load.
The run is bounded: every wait has a timeout. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from dnslib import RCODE
from dnslib.server import BaseResolver, DNSServer

DOMAIN = "bench.test"
RECIPIENT = f"inbox@{DOMAIN}"
SENDER = "load@sender.test"
NOBODY = 65534
POSTFIX_MAIN_CF = Path("/etc/postfix/main.cf")
TIMEOUT = 600.0


class NoSuchName(BaseResolver):  # type: ignore[misc]
    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        reply.header.rcode = RCODE.NXDOMAIN
        return reply


class _Quiet:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(100).startswith(b"220"):
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answered SMTP on port {port} within {timeout} s")


def count_files(directory: Path) -> int:
    try:
        return sum(1 for _ in directory.iterdir())
    except FileNotFoundError:
        return 0


def wait_for_files(directory: Path, expected: int, timeout: float = TIMEOUT) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_files(directory) >= expected:
            return time.monotonic()
        time.sleep(0.01)
    raise SystemExit(f"{directory}: {count_files(directory)} of {expected} after {timeout} s")


def rss_kib(pid: int) -> int:
    """RSS of ``pid`` and of its worker processes (its children)."""
    total = 0
    for each in [pid, *workers_of(pid)]:
        try:
            lines = Path(f"/proc/{each}/status").read_text().splitlines()
        except OSError:
            continue
        total += next((int(x.split()[1]) for x in lines if x.startswith("VmRSS:")), 0)
    return total


def workers_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == parent:
                found.append(int(entry.name))
    return found


class PeakRSS(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak = max(self.peak, rss_kib(self.pid))


def smtp_source(port: int, args: argparse.Namespace) -> list[str]:
    return [
        "smtp-source",
        "-s",
        str(args.sessions),
        "-m",
        str(args.messages),
        "-l",
        str(args.size),
        "-f",
        SENDER,
        "-t",
        RECIPIENT,
        "-M",
        "client.test",
        f"127.0.0.1:{port}",
    ]


def run_load(command: list[str]) -> float:
    start = time.monotonic()
    subprocess.run(command, check=True, timeout=TIMEOUT, stdout=subprocess.DEVNULL)
    return start


def bench_tidings(work: Path, dns_port: int, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = work / "tidings"
    data_dir.mkdir()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")},
        "TIDINGS_DATA_DIR": str(data_dir),
        "TIDINGS_DOMAIN": DOMAIN,
        "TIDINGS_LISTEN__SMTP": f"127.0.0.1:{port}",
        "TIDINGS_LISTEN__SUBMISSION": f"127.0.0.1:{free_port()}",
        "TIDINGS_LISTEN__SUBMISSIONS": f"127.0.0.1:{free_port()}",
        "TIDINGS_MAIL__DNS_RESOLVER": f"127.0.0.1:{dns_port}",
        # One source sends everything here; the per-source limits are not what we measure.
        "TIDINGS_MAIL__MAX_CONNECTIONS_PER_MINUTE": "1000000",
        "TIDINGS_MAIL__MAX_MESSAGES_PER_MINUTE": "1000000",
        "TIDINGS_LOG__LEVEL": "warning",
        "TIDINGS_MAIL__SMTP_WORKERS": str(args.workers),
    }
    tidings = [sys.executable, "-m", "tidings"]
    subprocess.run(
        [*tidings, "user", "add", RECIPIENT, "--password-stdin"],
        input="bench password\n",
        text=True,
        env=env,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen([*tidings, "serve", "smtp"], env=env)
    try:
        wait_for_port(port)
        time.sleep(1.0)
        idle = rss_kib(server.pid)
        sampler = PeakRSS(server.pid)
        sampler.start()
        inbox = data_dir / "mail" / DOMAIN / "inbox" / "new"
        start = run_load(smtp_source(port, args))
        end = wait_for_files(inbox, args.messages)
        sampler.done.set()
        sampler.join()
        stored = count_files(inbox)
    finally:
        server.terminate()
        server.wait(30)
    return {
        "seconds": end - start,
        "stored": stored,
        "idle_rss_mib": idle / 1024,
        "peak_rss_mib": sampler.peak / 1024,
    }


def postconf(*settings: str) -> None:
    subprocess.run(["postconf", "-e", *settings], check=True)


def postfix_rss_mib() -> float:
    names = ("master", "smtpd", "cleanup", "qmgr", "virtual", "trivial-rewrite", "anvil")
    out = subprocess.run(
        ["ps", "-C", ",".join(names), "-o", "rss="], capture_output=True, text=True, check=False
    ).stdout
    return sum(int(x) for x in out.split()) / 1024


def bench_postfix(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    base = work / "postfix-mail"
    base.mkdir()
    os.chown(base, NOBODY, NOBODY)
    saved = POSTFIX_MAIN_CF.read_bytes()
    try:
        postconf(
            "inet_interfaces = 127.0.0.1",
            "inet_protocols = ipv4",
            "mydestination =",
            f"virtual_mailbox_domains = {DOMAIN}",
            f"virtual_mailbox_base = {base}",
            "virtual_mailbox_maps = static:inbox/",
            f"virtual_uid_maps = static:{NOBODY}",
            f"virtual_gid_maps = static:{NOBODY}",
            # Postfix only logs to paths under maillog_file_prefixes (/var by default).
            f"maillog_file = /var/tmp/{work.name}-postfix.log",
        )
        subprocess.run(["postfix", "start"], check=True, capture_output=True)
        wait_for_port(25)
        idle = postfix_rss_mib()
        peak = [idle]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                peak[0] = max(peak[0], postfix_rss_mib())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = run_load(smtp_source(25, args))
        end = wait_for_files(base / "inbox" / "new", args.messages)
        done.set()
        sampler.join()
        stored = count_files(base / "inbox" / "new")
    finally:
        subprocess.run(["postfix", "stop"], check=False, capture_output=True)
        POSTFIX_MAIN_CF.write_bytes(saved)
        Path(f"/var/tmp/{work.name}-postfix.log").unlink(missing_ok=True)
    return {"seconds": end - start, "stored": stored, "idle_rss_mib": idle, "peak_rss_mib": peak[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=10240, help="payload bytes per message")
    parser.add_argument(
        "--workers", type=int, default=0, help="mail.smtp_workers (default 0: one per CPU, <= 2)"
    )
    parser.add_argument("--skip-postfix", action="store_true")
    args = parser.parse_args()
    for tool in ("smtp-source", "postfix", "postconf"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install postfix")

    work = Path(tempfile.mkdtemp(prefix="tidings-bench-"))
    work.chmod(0o755)  # Postfix's virtual(8) runs as nobody and must reach its Maildir
    dns_port = free_port()
    dns = DNSServer(NoSuchName(), port=dns_port, address="127.0.0.1", logger=_Quiet())
    dns.start_thread()
    try:
        results = {"tidings": bench_tidings(work, dns_port, args)}
        if not args.skip_postfix:
            results["Postfix 3.7"] = bench_postfix(work, args)
    finally:
        dns.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\n{args.messages} messages x {args.size} B, {args.sessions} parallel sessions, "
        f"tidings with smtp_workers = {args.workers}\n"
    )
    print("| server | seconds | messages/s | stored | RSS idle MiB | RSS peak MiB |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        rate = r["stored"] / r["seconds"]
        print(
            f"| {name} | {r['seconds']:.2f} | {rate:.0f} | {r['stored']} "
            f"| {r['idle_rss_mib']:.1f} | {r['peak_rss_mib']:.1f} |"
        )
    if "Postfix 3.7" in results:
        ours = results["tidings"]["stored"] / results["tidings"]["seconds"]
        theirs = results["Postfix 3.7"]["stored"] / results["Postfix 3.7"]["seconds"]
        print(f"\ntidings / Postfix throughput: {ours / theirs:.2f}")


if __name__ == "__main__":
    main()
