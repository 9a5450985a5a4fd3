"""Outbound throughput: tidings' queue vs Postfix, both delivering to Postfix's
``smtp-sink`` on 127.0.0.2 (a remote MX that accepts everything, fast).

tidings: N messages are enqueued through ``OutboundQueue.enqueue`` (DKIM-signed,
fsynced) with the service stopped (enqueue rate), then ``tidings serve outbound``
drains them (delivery rate), then N more are enqueued while it runs, timed from the
first enqueue to the sink counting the last one (end to end, the headline figure).
MX lookup goes to a dnslib server on loopback.

Postfix: the default instance is reconfigured with ``postconf -e`` (relayhost = the
sink, no DNS), fed N messages by ``smtp-source`` over SMTP, and timed the same way;
its main.cf is restored and Postfix stopped afterwards. Refuses to run if Postfix is
already running (another benchmark may own it).

Usage: .venv/bin/python bench/smtp_outbound.py [--messages 2000] [--size 10240]
Bounded: every wait has a timeout; nothing here runs under pytest.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dnslib import MX, QTYPE, RR, A, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from tidings.core.config import load_settings
from tidings.mail.outbound import OutboundQueue
from tidings.mail.patches import apply_patches

SINK_IP = "127.0.0.2"
TIMEOUT = 300.0


class SinkZone(BaseResolver):  # type: ignore[misc]
    def resolve(self, request, handler):  # type: ignore[no-untyped-def]
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if request.q.qtype == QTYPE.MX and name == "sink.test":
            reply.add_answer(RR(DNSLabel(name), QTYPE.MX, rdata=MX("mx.sink.test", 10), ttl=300))
        elif request.q.qtype == QTYPE.A and name == "mx.sink.test":
            reply.add_answer(RR(DNSLabel(name), QTYPE.A, rdata=A(SINK_IP), ttl=300))
        return reply


def free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class Sink:
    """smtp-sink with its running counter (``mesg=N``) in a file."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port(SINK_IP)
        self.out = workdir / f"sink-{self.port}.out"
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(
                ["smtp-sink", *user, "-c", f"{SINK_IP}:{self.port}", "256"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex((SINK_IP, self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def count(self) -> int:
        found = re.findall(rb"mesg=(\d+)", self.out.read_bytes()[-200:])
        return int(found[-1]) if found else 0

    def wait(self, n: int) -> float:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.count() >= n:
                return time.monotonic()
            time.sleep(0.01)
        raise RuntimeError(f"sink got {self.count()} of {n} messages")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def message(n: int, size: int) -> bytes:
    head = (
        f"From: bench@example.test\r\nTo: user@sink.test\r\nSubject: bench {n}\r\n"
        f"Message-ID: <bench-{n}@example.test>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\n"
    ).encode()
    line = b"x" * 76 + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


def bench_tidings(workdir: Path, n: int, size: int, connections: int) -> tuple[float, float, float]:
    """(end-to-end messages/s, enqueue-only messages/s, delivery-only messages/s)."""
    dns_port = free_port("127.0.0.1", socket.SOCK_DGRAM)
    dns = DNSServer(
        SinkZone(), port=dns_port, address="127.0.0.1", logger=DNSLogger(logf=lambda _: None)
    )
    dns.start_thread()
    sink = Sink(workdir)
    config = workdir / "tidings.toml"
    config.write_text(
        f'data_dir = "{workdir / "data"}"\ndomain = "example.test"\n'
        f'hostname = "mail.example.test"\n\n[mail]\ndns_resolver = "127.0.0.1:{dns_port}"\n\n'
        f"[mail.outbound]\nremote_smtp_port = {sink.port}\nmax_connections = {connections}\n"
        f"max_per_domain = {connections}\n"
    )
    settings = load_settings(config)
    apply_patches("dkimpy")  # as `tidings serve smtp` and `mail-api` do before enqueueing
    queue = OutboundQueue(settings)
    queue.signer  # noqa: B018 - make the DKIM keys before the clock starts
    messages = [message(i, size) for i in range(n)]

    # 1. Enqueue alone (service not running): DKIM signing + fsynced commit.
    start = time.monotonic()
    for body in messages:
        queue.enqueue("bench@example.test", ["user@sink.test"], body)
    enqueue_rate = n / (time.monotonic() - start)

    service = subprocess.Popen(
        [sys.executable, "-m", "tidings", "--config", str(config), "serve", "outbound"],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "outbound.log").open("wb"),
    )
    try:
        # 2. Delivery alone: drain the full queue. Ready once the wakeup socket exists
        # (bound before ctx.ready()); the start-up time is counted, which is fair.
        start = time.monotonic()
        deadline = start + 30
        while not (settings.data_dir / "queue" / "wakeup.sock").exists():
            if time.monotonic() > deadline or service.poll() is not None:
                raise RuntimeError("outbound service did not start")
            time.sleep(0.01)
        delivery_rate = n / (sink.wait(n) - start)

        # 3. End to end: enqueue while the service delivers, until the sink has all.
        start = time.monotonic()
        for body in messages:
            queue.enqueue("bench@example.test", ["user@sink.test"], body)
        end_to_end = n / (sink.wait(2 * n) - start)
        return end_to_end, enqueue_rate, delivery_rate
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)
        sink.stop()
        dns.stop()


POSTFIX_SETTINGS = {
    "inet_interfaces": "127.0.0.1",
    "inet_protocols": "ipv4",
    "mydestination": "",
    "mynetworks": "127.0.0.0/8",
    "smtpd_recipient_restrictions": "permit_mynetworks, reject",
    "smtp_tls_security_level": "none",
    "smtp_dns_support_level": "disabled",
    "disable_dns_lookups": "yes",
    "myhostname": "bench.example.test",
    "compatibility_level": "3.6",
}


def bench_postfix(workdir: Path, n: int, size: int) -> float:
    if subprocess.run(["postfix", "status"], capture_output=True, check=False).returncode == 0:
        raise RuntimeError("Postfix is already running (someone else's?); stop it first")
    sink = Sink(workdir)
    backup = workdir / "main.cf.orig"
    shutil.copy2("/etc/postfix/main.cf", backup)
    try:
        settings = dict(POSTFIX_SETTINGS)
        settings["relayhost"] = f"[{SINK_IP}]:{sink.port}"
        # Postfix refuses a log file outside maillog_file_prefixes, and says so nowhere.
        settings["maillog_file_prefixes"] = f"/var, /dev/stdout, {workdir}"
        settings["maillog_file"] = str(workdir / "postfix.log")
        subprocess.run(["postconf", "-e", *(f"{k}={v}" for k, v in settings.items())], check=True)
        started = subprocess.run(["postfix", "start"], capture_output=True, text=True, check=False)
        if started.returncode != 0:
            log = workdir / "postfix.log"
            raise RuntimeError(
                f"postfix start failed: {started.stderr}{log.read_text() if log.exists() else ''}"
            )
        time.sleep(1)
        start = time.monotonic()
        subprocess.run(
            [
                "smtp-source",
                "-s",
                "20",
                "-m",
                str(n),
                "-l",
                str(size),
                "-f",
                "bench@example.test",
                "-t",
                "user@sink.test",
                "127.0.0.1:25",
            ],
            check=True,
            timeout=TIMEOUT,
        )
        end = sink.wait(n)
        return n / (end - start)
    finally:
        subprocess.run(["postfix", "stop"], capture_output=True, check=False)
        shutil.copy2(backup, "/etc/postfix/main.cf")
        sink.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--size", type=int, default=10240)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--skip-postfix", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-outbound-") as tmp:
        workdir = Path(tmp)
        rate, enqueue_rate, delivery_rate = bench_tidings(
            workdir, args.messages, args.size, args.connections
        )
        print(
            f"tidings: {rate:.0f} messages/s end to end "
            f"({enqueue_rate:.0f}/s enqueue alone, {delivery_rate:.0f}/s delivery alone)"
        )
        if args.skip_postfix:
            return
        postfix = bench_postfix(workdir, args.messages, args.size)
        print(f"postfix: {postfix:.0f} messages/s end to end (smtp-source -s 20)")
        print(f"ratio tidings/postfix: {rate / postfix:.2f}")


if __name__ == "__main__":
    main()
