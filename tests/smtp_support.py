"""Helpers for the SMTP tests: a real `tidings serve smtp` process on free loopback
ports, and a real DNS server (dnslib) on loopback serving the TXT records a test
publishes, so SPF, DKIM and DMARC run exactly as they do against the Internet."""

from __future__ import annotations

import email
import os
import select
import signal
import smtplib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSServer

from tests.conftest import Served, free_port
from tidings.core.accounts import Accounts
from tidings.core.config import Listen, Settings
from tidings.core.db import Database, migrate
from tidings.core.tls import client_context

DOMAIN = "example.test"
PASSWORD = "correct horse battery"


class Zone(BaseResolver):  # type: ignore[misc]
    """TXT records by name; every other question gets NXDOMAIN (fast, like a real
    authoritative server for names that do not exist)."""

    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}

    def publish(self, name: str, value: str) -> None:
        self.txt.setdefault(name.lower().rstrip("."), []).append(value)

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        values = self.txt.get(name)
        if values is None:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype in (QTYPE.TXT, QTYPE.ANY):
            for value in values:
                data = value.encode()
                chunks = [data[i : i + 255] for i in range(0, len(data), 255)]
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        return reply


@dataclass
class DNS:
    zone: Zone
    port: int
    servers: list[Any]

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def start_dns() -> DNS:
    zone = Zone()
    port = free_port()
    servers = [
        DNSServer(zone, port=port, address="127.0.0.1", tcp=tcp, logger=_QuietLogger())
        for tcp in (False, True)
    ]
    for server in servers:
        server.start_thread()
    return DNS(zone, port, servers)


class _QuietLogger:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


@dataclass
class SmtpBox:
    """One tidings box running only the smtp service."""

    data_dir: Path
    env: dict[str, str]
    settings: Settings
    accounts: Accounts
    db: Database
    served: Served | None = None
    users: list[str] = field(default_factory=list)

    def port(self, name: str) -> int:
        return int(getattr(self.settings.listen, name).rsplit(":", 1)[1])

    def add_user(self, local: str) -> str:
        address = f"{local}@{DOMAIN}"
        self.accounts.add_user(address, PASSWORD)
        self.users.append(address)
        return address

    def start(self) -> None:
        self.served = Served(["serve", "smtp"], self.env)
        self.served.wait_for("smtp listening on")

    def kill(self) -> None:
        """SIGKILL the service, and wait until its workers (if any) died with it."""
        assert self.served is not None
        workers = workers_of(self.served.process.pid)
        self.served.process.send_signal(signal.SIGKILL)
        self.served.process.wait()
        for pid in workers:
            assert exits_within(pid, 30), f"worker {pid} outlived the service"
        self.served.log.close()
        self.served = None

    def stop(self) -> None:
        if self.served is not None:
            self.served.stop()
            self.served = None
        self.db.close()

    def log(self) -> str:
        return self.served.output() if self.served else ""

    # -- clients ------------------------------------------------------------------
    def tls_context(self) -> ssl.SSLContext:
        return client_context(self.settings)

    def mx(self) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.port("smtp"), local_hostname="client.test")
        client.ehlo()
        return client

    def submission(self) -> smtplib.SMTP:
        client = smtplib.SMTP("127.0.0.1", self.port("submission"), local_hostname="client.test")
        client.starttls(context=self.tls_context())
        client.ehlo()
        return client

    # -- the Maildir ----------------------------------------------------------------
    def inbox(self, address: str) -> Path:
        local, _, domain = address.partition("@")
        return self.data_dir / "mail" / domain / local / "new"

    def messages(self, address: str) -> list[bytes]:
        new = self.inbox(address)
        if not new.is_dir():
            return []
        return [p.read_bytes() for p in sorted(new.iterdir())]

    def parsed(self, address: str) -> list[Message]:
        return [email.message_from_bytes(m) for m in self.messages(address)]

    def all_files(self) -> list[Path]:
        mail = self.data_dir / "mail"
        return [p for p in mail.rglob("*") if p.is_file() and p.name != "maildirfolder"]


def workers_of(parent: int) -> list[int]:
    """The processes whose parent is ``parent`` (the service's forked workers)."""
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


def exits_within(pid: int, timeout: float) -> bool:
    """Whether ``pid`` (not our child) is gone within ``timeout``: a pidfd becomes
    readable when the process exits."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def make_box(root: Path, dns: DNS | None = None, **env_overrides: str) -> SmtpBox:
    data_dir = root / "data"
    data_dir.mkdir(mode=0o700, parents=True)
    env = {"TIDINGS_DATA_DIR": str(data_dir), "TIDINGS_DOMAIN": DOMAIN}
    for name in Listen.model_fields:
        env[f"TIDINGS_LISTEN__{name.upper()}"] = f"127.0.0.1:{free_port()}"
    if dns is not None:
        env["TIDINGS_MAIL__DNS_RESOLVER"] = dns.endpoint
        env["TIDINGS_MAIL__DNS_TIMEOUT_SECONDS"] = "2"
    env.update(env_overrides)
    # Settings for this process are built from the same variables the server gets.
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("TIDINGS_")}
    try:
        os.environ.update(env)
        settings = Settings()
    finally:
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)
    migrate(settings)
    db = Database(settings)
    return SmtpBox(data_dir, env, settings, Accounts(db), db)


@contextmanager
def smtp_box(tmp: Path, dns: DNS | None = None, **env: str) -> Iterator[SmtpBox]:
    box = make_box(tmp, dns, **env)
    try:
        yield box
    finally:
        box.stop()


def message(
    sender: str,
    recipient: str,
    subject: str = "hello",
    body: str = "Hello there.\r\n",
    extra_headers: str = "",
) -> bytes:
    """A small, well-formed RFC 5322 message with CRLF line ends."""
    msg_id = os.urandom(8).hex()
    text = (
        f"From: {sender}\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{msg_id}@client.test>\r\nDate: Wed, 25 Nov 2026 05:00:00 +0000\r\n"
        f"{extra_headers}\r\n{body}"
    )
    return text.encode()


@contextmanager
def dns_server() -> Iterator[DNS]:
    server = start_dns()
    try:
        yield server
    finally:
        server.stop()


class Raw:
    """A line-level SMTP client, for what smtplib will not send."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self) -> str:
        lines = []
        while True:
            line = self.file.readline().decode()
            assert line, "connection closed"
            lines.append(line.rstrip("\r\n"))
            if line[3:4] != "-":
                return "\n".join(lines)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def cmd(self, line: str) -> str:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def quit(self) -> None:
        """QUIT and wait until the server has closed its end (and forgotten us)."""
        assert self.cmd("QUIT").startswith("221")
        assert self.file.read() == b""
        self.close()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def swaks(
    box: SmtpBox, *args: str, port: str = "smtp", auth: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The swaks client against one of the box's SMTP endpoints: TLS as that endpoint
    speaks it (implicit on submissions, STARTTLS on submission), and with ``auth`` a
    mechanism to log in as Alice with."""
    command = ["swaks", "--server", f"127.0.0.1:{box.port(port)}", "--helo", "client.test"]
    if port == "submissions":
        command.append("--tlsc")
    elif port == "submission":
        command.append("--tls")
    if auth is not None:
        command += ["--auth", auth, "--auth-user", f"alice@{DOMAIN}", "--auth-password", PASSWORD]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=60, check=False
    )
