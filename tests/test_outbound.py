"""Outbound delivery, end to end: ``tidings serve outbound`` as a real process, the
recipient's domain served by a real DNS server and a real SMTP server on loopback."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage, Message
from pathlib import Path

import dkim
import dns.resolver
import pytest

from tests.conftest import ServiceProcess
from tests.outbound_support import REMOTE_IP, DnsServer, RemoteSmtp, opendkim_verify, wait_for
from tidings.core.config import Settings, load_settings
from tidings.core.tls import ensure_tls, server_context
from tidings.mail.dkim import ensure_keys, txt_records
from tidings.mail.maildir import folder_path, user_root
from tidings.mail.outbound import OutboundQueue, QueueError

SENDER = "alice@example.test"


def write_config(
    tmp_path: Path,
    dns_server: DnsServer,
    remote_port: int,
    extra: str = "",
    **outbound: float,
) -> Path:
    """A config for the box example.test; ``outbound`` overrides [mail.outbound] keys
    (short retries by default), ``extra`` is appended (other tables)."""
    values: dict[str, float] = {
        "remote_smtp_port": remote_port,
        "retry_first_seconds": 0.3,
        "retry_max_seconds": 0.6,
        "timeout_seconds": 10,
        **outbound,
    }
    config = tmp_path / "tidings.toml"
    config.write_text(
        f"""
domain = "example.test"
hostname = "mail.example.test"
data_dir = "{tmp_path / "data"}"

[mail]
dns_resolver = "{dns_server.address}"

[mail.outbound]
"""
        + "".join(f"{key} = {value}\n" for key, value in values.items())
        + extra
    )
    return config


def remote_domain(dns_server: DnsServer, domain: str = "remote.test") -> None:
    dns_server.zone.add(domain, "MX", (10, f"mx.{domain}"))
    dns_server.zone.add(f"mx.{domain}", "A", REMOTE_IP)


def publish_dkim(settings: Settings, dns_server: DnsServer) -> None:
    for name, value in txt_records(settings, ensure_keys(settings)).items():
        dns_server.zone.add(name, "TXT", value)


def message(to: str, subject: str = "Hello", msgid: str = "<m1@example.test>") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Alice <{SENDER}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = msgid
    msg.set_content("Hello from the box.\n")
    return msg.as_bytes()


def inbox(settings: Settings, address: str) -> list[Message]:
    new = folder_path(user_root(settings.data_dir / "mail", address), "INBOX") / "new"
    if not new.is_dir():
        return []
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(new.iterdir())
    ]


def delivery_status(report: Message) -> list[Message]:
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"]
    assert len(parts) == 1
    blocks = parts[0].get_payload()
    assert isinstance(blocks, list)
    return blocks


@pytest.fixture
def outbound_env(
    tmp_path: Path, dns_server: DnsServer, remote: RemoteSmtp
) -> tuple[Path, Settings]:
    remote_domain(dns_server)
    config = write_config(tmp_path, dns_server, remote.port)
    settings = load_settings(config)
    publish_dkim(settings, dns_server)
    return config, settings


def test_message_arrives_signed_over_starttls(
    tmp_path: Path,
    dns_server: DnsServer,
    serve: type[ServiceProcess],
) -> None:
    # The remote offers STARTTLS with a certificate nobody vouches for: we still use it.
    tls_settings = Settings(data_dir=tmp_path / "remote-tls", hostname="mx.remote.test")
    ensure_tls(tls_settings)
    remote = RemoteSmtp(tls_context=server_context(tls_settings))
    remote.start()
    try:
        remote_domain(dns_server)
        config = write_config(tmp_path, dns_server, remote.port)
        settings = load_settings(config)
        publish_dkim(settings, dns_server)
        serve("outbound", config).start()

        queue = OutboundQueue(settings)
        queue_id = queue.enqueue(SENDER, ["bob@remote.test"], message("bob@remote.test"))
        assert queue_id
        got = wait_for(lambda: remote.sink.received, what="delivery to the remote")
        wait_for(lambda: not queue.list(), what="queue to empty")
    finally:
        remote.stop()
    (received,) = got
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ["bob@remote.test"]
    assert received.tls
    assert b"Hello from the box." in received.content

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns_server.host]
        resolver.port = dns_server.port
        return b"".join(resolver.resolve(name.decode(), "TXT")[0].strings)  # type: ignore[attr-defined]

    verifier = dkim.DKIM(received.content)
    assert verifier.verify(idx=0, dnsfunc=lookup)
    assert verifier.verify(idx=1, dnsfunc=lookup)
    result = opendkim_verify(dns_server.zone, received.content)
    assert result.returncode == 0, result.stderr


def test_remote_down_is_retried_until_it_comes_back(
    outbound_env: tuple[Path, Settings], remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    config, settings = outbound_env
    remote.stop()
    service = serve("outbound", config)
    service.start()
    queue = OutboundQueue(settings)
    queue_id = queue.enqueue(SENDER, ["bob@remote.test"], message("bob@remote.test"))
    entry = wait_for(
        lambda: [e for e in queue.list() if e.attempts >= 2], what="two failed attempts"
    )[0]
    assert entry.message_id == queue_id
    assert "remote.test" in entry.last_error
    remote.start()
    wait_for(lambda: remote.sink.received, what="delivery once the remote is back")
    wait_for(lambda: not queue.list(), what="queue to empty")
    assert len(remote.sink.received) == 1
    assert inbox(settings, SENDER) == []  # no bounce, no delay warning
    assert service.stop() == 0  # SIGTERM: a clean stop


def test_550_bounces_at_once_with_a_dsn(
    outbound_env: tuple[Path, Settings], remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    config, settings = outbound_env
    remote.sink.reject_rcpt["nobody@remote.test"] = "550 5.1.1 <nobody@remote.test>: no such user"
    serve("outbound", config).start()
    queue = OutboundQueue(settings)
    original = message("nobody@remote.test", subject="Are you there?")
    queue.enqueue(SENDER, ["nobody@remote.test"], original)
    (report,) = wait_for(lambda: inbox(settings, SENDER), what="the bounce")
    wait_for(lambda: not queue.list(), what="the queue to empty after the bounce")
    assert report["To"] == SENDER
    assert "failed" in report["Subject"].lower()
    per_message, per_recipient = delivery_status(report)
    assert per_message["Reporting-MTA"] == "dns; mail.example.test"
    assert per_recipient["Final-Recipient"] == "rfc822; nobody@remote.test"
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.1"
    assert per_recipient["Remote-MTA"] == "dns; mx.remote.test"
    assert "no such user" in per_recipient["Diagnostic-Code"]
    headers = [p for p in report.walk() if p.get_content_type() == "text/rfc822-headers"]
    assert "Subject: Are you there?" in headers[0].get_content()
    assert remote.sink.received == []


def test_4xx_is_retried_not_bounced(
    outbound_env: tuple[Path, Settings], remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    config, settings = outbound_env
    remote.sink.reject_rcpt["busy@remote.test"] = "451 4.3.0 try again later"
    serve("outbound", config).start()
    queue = OutboundQueue(settings)
    queue.enqueue(SENDER, ["busy@remote.test"], message("busy@remote.test"))
    wait_for(lambda: [e for e in queue.list() if e.attempts >= 2], what="two attempts")
    assert "451 4.3.0" in queue.list()[0].last_error
    assert inbox(settings, SENDER) == []
    del remote.sink.reject_rcpt["busy@remote.test"]
    wait_for(lambda: remote.sink.received, what="delivery after the 451 went away")


def test_null_mx_bounces_without_trying(
    outbound_env: tuple[Path, Settings],
    dns_server: DnsServer,
    remote: RemoteSmtp,
    serve: type[ServiceProcess],
) -> None:
    config, settings = outbound_env
    dns_server.zone.add("nomail.test", "MX", (0, "."))
    serve("outbound", config).start()
    queue = OutboundQueue(settings)
    queue.enqueue(SENDER, ["x@nomail.test"], message("x@nomail.test"))
    (report,) = wait_for(lambda: inbox(settings, SENDER), what="the bounce")
    _, per_recipient = delivery_status(report)
    assert per_recipient["Action"] == "failed"
    assert per_recipient["Status"] == "5.1.10"
    assert "null MX" in per_recipient["Diagnostic-Code"]
    assert remote.sink.received == []


def test_domain_without_mx_uses_its_address(
    outbound_env: tuple[Path, Settings],
    dns_server: DnsServer,
    remote: RemoteSmtp,
    serve: type[ServiceProcess],
) -> None:
    config, settings = outbound_env
    dns_server.zone.add("plain.test", "A", REMOTE_IP)
    serve("outbound", config).start()
    OutboundQueue(settings).enqueue(SENDER, ["carol@plain.test"], message("carol@plain.test"))
    (received,) = wait_for(lambda: remote.sink.received, what="delivery to the A record")
    assert received.rcpt_tos == ["carol@plain.test"]


def test_nonexistent_domain_bounces(
    outbound_env: tuple[Path, Settings], remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    config, settings = outbound_env
    serve("outbound", config).start()
    OutboundQueue(settings).enqueue(SENDER, ["d@nowhere.test"], message("d@nowhere.test"))
    (report,) = wait_for(lambda: inbox(settings, SENDER), what="the bounce")
    _, per_recipient = delivery_status(report)
    assert per_recipient["Status"] == "5.1.2"
    assert "NXDOMAIN" in per_recipient["Diagnostic-Code"]


def test_delay_warning_then_bounce_when_lifetime_ends(
    tmp_path: Path, dns_server: DnsServer, remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    remote_domain(dns_server)
    remote.stop()
    config = write_config(
        tmp_path,
        dns_server,
        remote.port,
        delay_warning_seconds=1,
        max_lifetime_seconds=3,
    )
    settings = load_settings(config)
    serve("outbound", config).start()
    queue = OutboundQueue(settings)
    queue.enqueue(SENDER, ["bob@remote.test"], message("bob@remote.test"))
    reports = wait_for(lambda: len(inbox(settings, SENDER)) >= 2 and inbox(settings, SENDER))
    warning, bounce = sorted(reports, key=lambda r: "delayed" not in r["Subject"].lower())
    assert "delayed" in warning["Subject"].lower()
    _, warned = delivery_status(warning)
    assert warned["Action"] == "delayed"
    assert warned["Status"].startswith("4.")
    _, failed = delivery_status(bounce)
    assert failed["Action"] == "failed"
    assert failed["Status"].startswith("5.")
    assert "gave up" in failed["Diagnostic-Code"]
    # The bounce is stored before the row is deleted (a crash may repeat a bounce, never
    # lose one), so the queue empties just after the report appears.
    wait_for(lambda: not queue.list(), what="the queue to empty after the bounce")


def test_null_sender_gets_no_bounce(
    outbound_env: tuple[Path, Settings], remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    config, settings = outbound_env
    remote.sink.reject_rcpt["nobody@remote.test"] = "550 5.1.1 no such user"
    serve("outbound", config).start()
    queue = OutboundQueue(settings)
    queue.enqueue("", ["nobody@remote.test"], message("nobody@remote.test"))
    queue.enqueue(SENDER, ["bob@remote.test"], message("bob@remote.test"))
    wait_for(lambda: not queue.list(), what="both handled")
    assert inbox(settings, SENDER) == []
    assert len(remote.sink.received) == 1


def test_enqueue_refuses_bad_input(settings: Settings) -> None:
    queue = OutboundQueue(settings)
    with pytest.raises(QueueError, match="no recipients"):
        queue.enqueue(SENDER, [], b"Subject: x\r\n\r\nx")
    with pytest.raises(QueueError, match="not a mail address"):
        queue.enqueue(SENDER, ["bob"], b"Subject: x\r\n\r\nx")
    with pytest.raises(QueueError, match="not a mail address"):
        queue.enqueue("a@b\r\nRCPT TO:<c@d>", ["bob@remote.test"], b"Subject: x\r\n\r\nx")
    assert queue.list() == []


def test_queued_message_survives_a_new_queue_object(settings: Settings) -> None:
    queue_id = OutboundQueue(settings).enqueue(
        SENDER, ["bob@remote.test", "carol@remote.test"], message("bob@remote.test")
    )
    entries = OutboundQueue(settings).list()
    assert {e.rcpt for e in entries} == {"bob@remote.test", "carol@remote.test"}
    assert {e.message_id for e in entries} == {queue_id}


def test_retry_delays_double_with_jitter_up_to_the_cap() -> None:
    from tidings.core.config import Outbound
    from tidings.mail.outbound.queue import retry_delay

    schedule = Outbound(retry_first_seconds=450, retry_max_seconds=3600, retry_jitter=0.1)
    for attempts, base in [(1, 450), (2, 900), (3, 1800), (4, 3600), (5, 3600), (9, 3600)]:
        delays = [retry_delay(schedule, attempts) for _ in range(200)]
        assert all(base * 0.9 <= d <= base * 1.1 for d in delays), (attempts, min(delays))
        assert len(set(delays)) > 1  # jitter: not all in lockstep
    exact = Outbound(retry_first_seconds=10, retry_jitter=0)
    assert [retry_delay(exact, n) for n in (1, 2, 3)] == [10, 20, 40]


def test_one_recipient_bounces_the_other_is_delivered(
    outbound_env: tuple[Path, Settings], remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    config, settings = outbound_env
    remote.sink.reject_rcpt["gone@remote.test"] = "550 5.1.1 mailbox gone"
    serve("outbound", config).start()
    queue = OutboundQueue(settings)
    queue.enqueue(SENDER, ["bob@remote.test", "gone@remote.test"], message("bob@remote.test"))
    (report,) = wait_for(lambda: inbox(settings, SENDER), what="the bounce")
    wait_for(lambda: not queue.list(), what="queue to empty")
    _, per_recipient = delivery_status(report)
    assert per_recipient["Final-Recipient"] == "rfc822; gone@remote.test"
    assert [r.rcpt_tos for r in remote.sink.received] == [["bob@remote.test"]]


def test_eight_bit_message_is_announced_as_such(
    outbound_env: tuple[Path, Settings], remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    config, settings = outbound_env
    serve("outbound", config).start()
    body = (
        "From: alice@example.test\r\nTo: bob@remote.test\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nUn café à midi ?\r\n"
    ).encode()
    OutboundQueue(settings).enqueue(SENDER, ["bob@remote.test"], body)
    (received,) = wait_for(lambda: remote.sink.received, what="delivery")
    assert "BODY=8BITMIME" in received.mail_options
    assert "Un café à midi ?".encode() in received.content


def test_sessions_are_reused_and_a_dead_one_is_replaced(
    tmp_path: Path, dns_server: DnsServer, remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    remote_domain(dns_server)
    config = write_config(tmp_path, dns_server, remote.port, max_per_domain=1)
    settings = load_settings(config)
    serve("outbound", config).start()
    queue = OutboundQueue(settings)
    for n in range(5):
        queue.enqueue(SENDER, ["bob@remote.test"], message("bob@remote.test", msgid=f"<r{n}@x>"))
    wait_for(lambda: len(remote.sink.received) == 5, what="five deliveries")
    assert len({r.peer for r in remote.sink.received}) == 1  # one SMTP session for all

    # The remote restarts: the idle session is dead; the next message must still go,
    # on a new session, without a failed attempt.
    remote.stop()
    remote.start()
    queue.enqueue(SENDER, ["bob@remote.test"], message("bob@remote.test", msgid="<r5@x>"))
    wait_for(lambda: len(remote.sink.received) == 6, what="delivery after the restart")
    assert remote.sink.received[5].peer != remote.sink.received[0].peer
    assert inbox(settings, SENDER) == []


def test_broken_starttls_falls_back_to_plaintext(
    tmp_path: Path, dns_server: DnsServer, serve: type[ServiceProcess]
) -> None:
    import ssl

    # The remote offers STARTTLS but no cipher a client can agree on: the handshake
    # always fails. Opportunistic TLS must then deliver in plaintext, not never.
    tls_settings = Settings(data_dir=tmp_path / "remote-tls", hostname="mx.remote.test")
    ensure_tls(tls_settings)
    broken = server_context(tls_settings)
    broken.maximum_version = ssl.TLSVersion.TLSv1_2
    broken.set_ciphers("NULL")
    remote = RemoteSmtp(tls_context=broken)
    remote.start()
    try:
        remote_domain(dns_server)
        config = write_config(tmp_path, dns_server, remote.port)
        serve("outbound", config).start()
        queue = OutboundQueue(load_settings(config))
        queue.enqueue(SENDER, ["bob@remote.test"], message("bob@remote.test"))
        (received,) = wait_for(lambda: remote.sink.received, what="plaintext delivery")
    finally:
        remote.stop()
    assert not received.tls
    assert received.rcpt_tos == ["bob@remote.test"]


def test_a_bounce_that_cannot_be_stored_is_kept_and_retried(
    outbound_env: tuple[Path, Settings], remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    config, settings = outbound_env
    remote.sink.reject_rcpt["nobody@remote.test"] = "550 5.1.1 no such user"
    # The sender's mailbox path is blocked by a plain file: storing the DSN fails.
    blocker = user_root(settings.data_dir / "mail", SENDER)
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a Maildir")
    serve("outbound", config).start()
    queue = OutboundQueue(settings)
    queue.enqueue(SENDER, ["nobody@remote.test"], message("nobody@remote.test"))
    (entry,) = wait_for(
        lambda: [e for e in queue.list() if "internal error" in e.last_error],
        what="the failure to be recorded",
    )
    assert entry.next_attempt > entry.queued_at  # postponed, not spinning
    blocker.unlink()
    (report,) = wait_for(lambda: inbox(settings, SENDER), what="the bounce, stored at last")
    _, per_recipient = delivery_status(report)
    assert per_recipient["Status"] == "5.1.1"
    wait_for(lambda: not queue.list(), what="queue to empty")


def test_a_server_that_only_knows_helo_still_gets_mail(
    outbound_env: tuple[Path, Settings], remote: RemoteSmtp, serve: type[ServiceProcess]
) -> None:
    from tests.outbound_support import Sink

    class HeloOnly(Sink):
        async def handle_EHLO(
            self,
            server: object,
            session: object,
            envelope: object,
            hostname: str,
            responses: list[str],
        ) -> list[str]:
            return ["502 5.5.1 EHLO not implemented"]

    config, settings = outbound_env
    remote.stop()
    remote.sink = HeloOnly()
    remote.start()
    serve("outbound", config).start()
    OutboundQueue(settings).enqueue(SENDER, ["bob@remote.test"], message("bob@remote.test"))
    (received,) = wait_for(lambda: remote.sink.received, what="delivery after HELO")
    assert received.rcpt_tos == ["bob@remote.test"]
