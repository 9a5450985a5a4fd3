"""The whole sending path as a mail client uses it: submit on 587 with AUTH, and the
message reaches another domain's MX (real DNS and SMTP servers on loopback), signed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dkim
import dns.resolver

from tests.conftest import ServiceProcess, free_port
from tests.outbound_support import DnsServer, RemoteSmtp, opendkim_verify, wait_for
from tests.test_outbound import SENDER, message, publish_dkim, remote_domain, write_config
from tidings.core.accounts import Accounts
from tidings.core.config import load_settings
from tidings.core.db import Database, migrate
from tidings.mail.outbound import OutboundQueue

PASSWORD = "alice-password"


def test_submitted_mail_reaches_the_remote_mx_signed(
    tmp_path: Path, dns_server: DnsServer, remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    submission = free_port()
    listen = "".join(
        f'{name} = "127.0.0.1:{port}"\n'
        for name, port in (
            ("smtp", free_port()),
            ("submission", submission),
            ("submissions", free_port()),
        )
    )
    remote_domain(dns_server)
    config = write_config(tmp_path, dns_server, remote.port, extra=f"\n[listen]\n{listen}")
    settings = load_settings(config)
    publish_dkim(settings, dns_server)
    migrate(settings)
    db = Database(settings)
    Accounts(db).add_user(SENDER, PASSWORD)
    Accounts(db).add_user("bob@example.test", PASSWORD)
    db.close()
    serve("smtp", config).start()
    serve("outbound", config).start()

    swaks = shutil.which("swaks")
    assert swaks, "swaks (Debian package) is needed"
    result = subprocess.run(
        [
            swaks,
            "--server",
            f"127.0.0.1:{submission}",
            "--tls",
            "--tls-verify",
            "--tls-ca-path",
            str(settings.data_dir / "tls" / "ca.pem"),
            "--tls-sni",
            settings.hostname,
            "--auth",
            "PLAIN",
            "--auth-user",
            SENDER,
            "--auth-password",
            PASSWORD,
            "--from",
            SENDER,
            "--to",
            "friend@remote.test,bob@example.test",
            "--data",
            "-",
        ],
        input=message("friend@remote.test", subject="Out into the world").decode(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0" in result.stdout

    (received,) = wait_for(lambda: remote.sink.received, what="delivery to the remote MX")
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ["friend@remote.test"]  # the local copy stayed local
    assert b"Out into the world" in received.content
    assert not received.content.startswith(b"Return-Path:")
    wait_for(lambda: not OutboundQueue(settings).list(), what="the queue to empty")

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns_server.host]
        resolver.port = dns_server.port
        return b"".join(resolver.resolve(name.decode(), "TXT")[0].strings)  # type: ignore[attr-defined]

    verifier = dkim.DKIM(received.content)
    assert verifier.verify(idx=0, dnsfunc=lookup) and verifier.verify(idx=1, dnsfunc=lookup)
    assert opendkim_verify(dns_server.zone, received.content).returncode == 0

    bob_new = settings.data_dir / "mail" / "example.test" / "bob" / "new"
    assert len(list(bob_new.iterdir())) == 1
