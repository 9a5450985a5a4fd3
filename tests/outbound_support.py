"""The world outside the box, on loopback: a real DNS server (dnslib) serving a zone the
test edits, and a real remote SMTP server (aiosmtpd) on 127.0.0.2 that records what it
receives. Also runnable as a script to check a message with ``opendkim-testmsg``
inside a private network namespace whose port-53 resolver is this DNS server."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from dnslib import AAAA, CNAME, MX, PTR, QTYPE, RCODE, RR, SRV, TXT, A, DNSLabel, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

REMOTE_IP = "127.0.0.2"


# -- DNS -----------------------------------------------------------------------
def _txt_chunks(value: str) -> list[str]:
    return [value[i : i + 255] for i in range(0, len(value), 255)] or [""]


class Zone(BaseResolver):  # type: ignore[misc]
    """Records by (name, type); NXDOMAIN for names with no record at all."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[Any]] = {}
        self.lock = threading.Lock()

    def add(self, name: str, rtype: str, value: Any) -> None:
        with self.lock:
            self.records.setdefault((name.lower().rstrip("."), rtype), []).append(value)

    def remove(self, name: str, rtype: str | None = None) -> None:
        with self.lock:
            for key in list(self.records):
                if key[0] == name.lower().rstrip(".") and rtype in (None, key[1]):
                    del self.records[key]

    def _rdata(self, rtype: str, value: Any) -> Any:
        if rtype == "A":
            return A(value)
        if rtype == "AAAA":
            return AAAA(value)
        if rtype == "MX":
            preference, exchange = value
            return MX(exchange, preference)
        if rtype == "TXT":
            return TXT([c.encode() for c in _txt_chunks(value)])
        if rtype == "SRV":
            priority, weight, port, target = value
            return SRV(priority, weight, port, target)
        if rtype == "CNAME":
            return CNAME(value)
        if rtype == "PTR":
            return PTR(value)
        raise ValueError(rtype)

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        qname = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            known = any(name == qname for name, _ in self.records)
            values = list(self.records.get((qname, qtype), []))
        if not known:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for value in values:
            reply.add_answer(
                RR(DNSLabel(qname), getattr(QTYPE, qtype), rdata=self._rdata(qtype, value), ttl=1)
            )
        return reply

    def to_json(self) -> str:
        with self.lock:
            return json.dumps([[n, t, v] for (n, t), vs in self.records.items() for v in vs])

    @classmethod
    def from_json(cls, text: str) -> Zone:
        zone = cls()
        for name, rtype, value in json.loads(text):
            zone.add(name, rtype, value)
        return zone


@dataclass
class DnsServer:
    zone: Zone
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def start_dns(zone: Zone, host: str = "127.0.0.1", port: int = 0) -> tuple[DNSServer, int]:
    if port == 0:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    quiet = DNSLogger(prefix=False, logf=lambda _: None)
    server = DNSServer(zone, port=port, address=host, logger=quiet)
    server.start_thread()
    return server, port


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    zone = Zone()
    server, port = start_dns(zone)
    yield DnsServer(zone, "127.0.0.1", port)
    server.stop()


# -- remote SMTP -----------------------------------------------------------------
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: str | None
    mail_options: list[str] = field(default_factory=list)
    peer: tuple[str, int] | None = None  # the client's address: one per SMTP session

    @property
    def message_id(self) -> str:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        return str(parsed["Message-ID"])


@dataclass
class Sink:
    """An aiosmtpd handler that keeps what it gets and answers as told."""

    received: list[Received] = field(default_factory=list)
    reject_rcpt: dict[str, str] = field(default_factory=dict)
    data_delay: float = 0.0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.reject_rcpt:
            return self.reject_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        login = getattr(session.auth_data, "login", None) if session.authenticated else None
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content or envelope.content),
                session.ssl is not None,
                login.decode() if isinstance(login, bytes) else login,
                list(envelope.mail_options),
                tuple(session.peer[:2]),
            )
        )
        return "250 2.0.0 queued as remote"


class RemoteSmtp:
    """A second SMTP server, on 127.0.0.2, that can go down and come back on its port."""

    def __init__(self, host: str = REMOTE_IP, **controller_options: Any) -> None:
        self.host = host
        self.sink = Sink()
        with socket.socket() as probe:
            probe.bind((host, 0))
            self.port: int = probe.getsockname()[1]
        self.options = controller_options
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(
            self.sink, hostname=self.host, port=self.port, ready_timeout=10, **self.options
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def remote() -> Iterator[RemoteSmtp]:
    server = RemoteSmtp()
    server.start()
    yield server
    server.stop()


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``condition`` until truthy; its value. Fails the test with ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what or condition}")


# -- opendkim-testmsg in a namespace ------------------------------------------------
def opendkim_verify(zone: Zone, message: bytes) -> subprocess.CompletedProcess[str]:
    """Run ``opendkim-testmsg`` on ``message``; it resolves through the system resolver
    (libresolv, port 53 only), so run it in a private user+mount+network namespace
    where /etc/resolv.conf names this zone served on 127.0.0.1:53."""
    with tempfile.TemporaryDirectory() as tmp:
        zone_file = Path(tmp) / "zone.json"
        zone_file.write_text(zone.to_json())
        message_file = Path(tmp) / "message.eml"
        message_file.write_bytes(message)
        return subprocess.run(
            ["unshare", "-rnm", sys.executable, __file__, str(zone_file), str(message_file)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def _inside_namespace(zone_file: Path, message_file: Path) -> int:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    resolv = zone_file.with_name("resolv.conf")
    resolv.write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
    subprocess.run(["mount", "--bind", str(resolv), "/etc/resolv.conf"], check=True)
    server, _ = start_dns(Zone.from_json(zone_file.read_text()), port=53)
    try:
        result = subprocess.run(
            ["opendkim-testmsg"], input=message_file.read_bytes(), capture_output=True, check=False
        )
    finally:
        server.stop()
    sys.stdout.write(result.stdout.decode(errors="replace"))
    sys.stderr.write(result.stderr.decode(errors="replace"))
    return result.returncode


if __name__ == "__main__":
    sys.exit(_inside_namespace(Path(sys.argv[1]), Path(sys.argv[2])))
