"""Smarthost: everything goes to one relay, over verified STARTTLS, with AUTH —
the way out for home lines where port 25 is blocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import ServiceProcess
from tests.outbound_support import DnsServer, RemoteSmtp, wait_for
from tests.test_outbound import SENDER, inbox, message, write_config
from tidings.core.config import Settings, load_settings
from tidings.core.tls import ensure_tls, server_context
from tidings.mail.outbound import OutboundQueue


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"relayuser",
        b"relay secret",
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RemoteSmtp]:
    # The relay presents a certificate from the box's own local CA, which the client
    # context trusts: verification is really on.
    settings = Settings(data_dir=tmp_path / "data", hostname="mail.example.test")
    ensure_tls(settings)
    server = RemoteSmtp(
        host="127.0.0.1",
        tls_context=server_context(settings),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticator,
    )
    server.start()
    yield server
    server.stop()


def smarthost_config(
    tmp_path: Path, dns_server: DnsServer, relay: RemoteSmtp, password: str
) -> Path:
    return write_config(
        tmp_path,
        dns_server,
        25,
        f"""
[mail.smarthost]
host = "127.0.0.1"
port = {relay.port}
tls = "starttls"
username = "relayuser"
password = "{password}"
""",
    )


def test_smarthost_with_auth_carries_the_mail(
    tmp_path: Path, dns_server: DnsServer, relay: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    config = smarthost_config(tmp_path, dns_server, relay, "relay secret")
    settings = load_settings(config)
    serve("outbound", config).start()
    queue = OutboundQueue(settings)
    # No DNS record exists for far.test: only the relay can have delivered it.
    queue.enqueue(SENDER, ["zoe@far.test"], message("zoe@far.test"))
    (received,) = wait_for(lambda: relay.sink.received, what="the relay to get it")
    assert received.rcpt_tos == ["zoe@far.test"]
    assert received.tls
    assert received.login == "relayuser"
    assert b"DKIM-Signature:" in received.content
    wait_for(lambda: not queue.list(), what="queue to empty")
    # The next message rides the same logged-in session.
    queue.enqueue(SENDER, ["yann@far.test"], message("yann@far.test", msgid="<m2@x>"))
    wait_for(lambda: len(relay.sink.received) == 2, what="the second message")
    assert relay.sink.received[1].peer == received.peer
    assert relay.sink.received[1].login == "relayuser"


def test_smarthost_refusing_login_keeps_the_mail_queued(
    tmp_path: Path, dns_server: DnsServer, relay: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    config = smarthost_config(tmp_path, dns_server, relay, "wrong")
    settings = load_settings(config)
    serve("outbound", config).start()
    queue = OutboundQueue(settings)
    queue.enqueue(SENDER, ["zoe@far.test"], message("zoe@far.test"))
    (entry,) = wait_for(
        lambda: [e for e in queue.list() if e.attempts >= 2], what="failed attempts"
    )
    assert "refused login" in entry.last_error
    assert "535" in entry.last_error
    assert relay.sink.received == []
    assert inbox(settings, SENDER) == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_smarthost_over_implicit_tls(
    tmp_path: Path, dns_server: DnsServer, serve: type[ServiceProcess]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", hostname="mail.example.test")
    ensure_tls(settings)
    relay = RemoteSmtp(
        host="127.0.0.1",
        ssl_context=server_context(settings),  # TLS from the first byte (port 465 style)
        auth_required=True,
        auth_require_tls=False,  # aiosmtpd only knows STARTTLS as "TLS"; the socket is TLS
        authenticator=authenticator,
    )
    relay.start()
    try:
        config = write_config(
            tmp_path,
            dns_server,
            25,
            f'\n[mail.smarthost]\nhost = "127.0.0.1"\nport = {relay.port}\ntls = "implicit"\n'
            'username = "relayuser"\npassword = "relay secret"\n',
        )
        serve("outbound", config).start()
        OutboundQueue(load_settings(config)).enqueue(
            SENDER, ["zoe@far.test"], message("zoe@far.test")
        )
        (received,) = wait_for(lambda: relay.sink.received, what="the relay to get it")
    finally:
        relay.stop()
    assert received.rcpt_tos == ["zoe@far.test"]
    assert received.login == "relayuser"
