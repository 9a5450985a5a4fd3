"""Inbound SMTP (the MX, port 25 on the appliance) against a real `tidings serve smtp`,
spoken to with smtplib, swaks and raw sockets."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.smtp_support import DNS, Raw, SmtpBox, message, smtp_box, start_dns, swaks

MAX_SIZE = 200_000
MAX_RCPT = 3


@pytest.fixture(scope="module")
def dns() -> Iterator[DNS]:
    server = start_dns()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, dns: DNS) -> Iterator[SmtpBox]:
    with smtp_box(
        tmp_path_factory.mktemp("inbound"),
        dns,
        TIDINGS_MAIL__MAX_MESSAGE_SIZE=str(MAX_SIZE),
        TIDINGS_MAIL__MAX_RECIPIENTS=str(MAX_RCPT),
    ) as running:
        for local in ("alice", "bob", "carol", "dave", "erin"):
            running.add_user(local)
        running.start()
        yield running


def test_greeting_and_ehlo_extensions(box: SmtpBox) -> None:
    raw = Raw(box.port("smtp"))
    try:
        assert raw.greeting.startswith("220 localhost ESMTP tidings")
        ehlo = raw.cmd("EHLO client.test")
        for extension in (
            f"SIZE {MAX_SIZE}",
            "8BITMIME",
            "SMTPUTF8",
            "PIPELINING",
            "ENHANCEDSTATUSCODES",
            "STARTTLS",
        ):
            assert f"250-{extension}" in ehlo.splitlines() or f"250 {extension}" in ehlo
        assert "AUTH" not in ehlo  # the MX never takes passwords
        assert raw.cmd("NOOP").startswith("250 2.0.0")
        assert raw.cmd("QUIT").startswith("221 2.0.0")
    finally:
        raw.close()


def test_delivery_with_smtplib_lands_in_maildir(box: SmtpBox) -> None:
    before = len(box.messages("alice@example.test"))
    raw = message("sender@elsewhere.test", "alice@example.test", subject="smtplib delivery")
    with box.mx() as client:
        refused = client.sendmail("sender@elsewhere.test", ["alice@example.test"], raw)
    assert refused == {}
    stored = box.messages("alice@example.test")
    assert len(stored) == before + 1
    latest = next(m for m in stored if b"smtplib delivery" in m)
    assert latest.endswith(raw)  # the message itself is kept byte for byte
    trace = latest[: -len(raw)].decode()
    assert trace.startswith("Return-Path: <sender@elsewhere.test>\r\n")
    assert "Received: from client.test ([127.0.0.1])" in trace
    assert "by localhost (tidings) with ESMTP id " in trace
    assert "for <alice@example.test>" in trace
    assert "Authentication-Results: localhost;" in trace


def test_delivery_with_swaks_over_starttls_and_pipelining(box: SmtpBox) -> None:
    result = swaks(
        box,
        "--to",
        "Bob@Example.Test",
        "--from",
        "someone@elsewhere.test",
        "--tls",
        "--pipeline",
        "--header",
        "Subject: swaks over tls",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 Ok: delivered as" in result.stdout
    [stored] = [m for m in box.parsed("bob@example.test") if m["Subject"] == "swaks over tls"]
    assert "with ESMTPS id" in stored["Received"]


def test_null_sender_is_accepted_for_bounces(box: SmtpBox) -> None:
    raw = message("MAILER-DAEMON@elsewhere.test", "carol@example.test", subject="bounce")
    with box.mx() as client:
        assert client.sendmail("", ["carol@example.test"], raw) == {}
    [stored] = [m for m in box.parsed("carol@example.test") if m["Subject"] == "bounce"]
    assert stored["Return-Path"] == "<>"


def test_unknown_user_gets_550_5_1_1(box: SmtpBox) -> None:
    with box.mx() as client:
        client.mail("sender@elsewhere.test")
        code, text = client.rcpt("nobody@example.test")
    assert code == 550
    assert text.startswith(b"5.1.1 ")
    result = swaks(box, "--to", "ghost@example.test", "--from", "x@elsewhere.test")
    assert result.returncode != 0
    assert "550 5.1.1" in result.stdout


@pytest.mark.parametrize(
    ("recipient", "code"),
    [
        ("victim@elsewhere.test", 550),  # plain relay attempt
        ("<@example.test:victim@elsewhere.test>", 550),  # source route through us
        ("victim%elsewhere.test@example.test", 550),  # percent hack
        ('"victim@elsewhere.test"@example.test', 550),  # quoted local part with @
        ("elsewhere.test!victim@example.test", 550),  # UUCP bang path
        ("victim@elsewhere.test@example.test", 553),  # two @: malformed
        ("alice@[127.0.0.1]", 550),  # address literal
        ("alice@example.test.elsewhere.test", 550),  # our domain as a prefix
        ("alice@sub.example.test", 550),  # a subdomain is not ours
        ("postmaster@elsewhere.test", 550),
    ],
)
def test_relay_attempts_are_refused(box: SmtpBox, recipient: str, code: int) -> None:
    files_before = set(box.all_files())
    raw = Raw(box.port("smtp"))
    try:
        raw.cmd("EHLO client.test")
        assert raw.cmd("MAIL FROM:<sender@elsewhere.test>").startswith("250")
        arg = recipient if recipient.startswith("<") else f"<{recipient}>"
        reply = raw.cmd(f"RCPT TO:{arg}")
        assert reply.startswith(f"{code} 5."), reply
        # With no accepted recipient there is nothing to send the data to.
        assert raw.cmd("DATA").startswith("503")
    finally:
        raw.close()
    assert set(box.all_files()) == files_before


def test_relay_refused_with_swaks_and_auth_not_offered_on_mx(box: SmtpBox) -> None:
    result = swaks(box, "--to", "victim@elsewhere.test", "--from", "alice@example.test")
    assert result.returncode != 0
    assert "550 5.7.1 Relaying denied" in result.stdout
    # Even with valid credentials, port 25 does not authenticate (so cannot relay).
    result = swaks(
        box,
        "--to",
        "victim@elsewhere.test",
        "--from",
        "alice@example.test",
        "--tls",
        auth="PLAIN",
    )
    assert result.returncode != 0
    assert "AUTH" not in "".join(
        line for line in result.stdout.splitlines() if line.startswith("<-  250")
    )
    raw = Raw(box.port("smtp"))
    try:
        raw.cmd("EHLO client.test")
        assert raw.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABjb3JyZWN0IGhvcnNl").startswith(
            "503 5.5.1"
        )
        raw.cmd("MAIL FROM:<alice@example.test>")
        assert raw.cmd("RCPT TO:<victim@elsewhere.test>").startswith("550 5.7.1")
    finally:
        raw.close()


def test_too_many_recipients_get_452(box: SmtpBox) -> None:
    before = {u: len(box.messages(u)) for u in box.users}
    with box.mx() as client:
        client.mail("sender@elsewhere.test")
        for local in ("alice", "bob", "carol"):
            assert client.rcpt(f"{local}@example.test")[0] == 250
        code, text = client.rcpt("dave@example.test")
        assert (code, text[:6]) == (452, b"4.5.3 ")
        # The accepted ones still get the message, once each.
        assert client.data(message("sender@elsewhere.test", "alice@example.test"))[0] == 250
    after = {u: len(box.messages(u)) for u in box.users}
    assert after["alice@example.test"] == before["alice@example.test"] + 1
    assert after["carol@example.test"] == before["carol@example.test"] + 1
    assert after["dave@example.test"] == before["dave@example.test"]


def test_duplicate_recipients_get_one_copy(box: SmtpBox) -> None:
    before = len(box.messages("erin@example.test"))
    with box.mx() as client:
        raw = message("sender@elsewhere.test", "erin@example.test")
        client.sendmail("sender@elsewhere.test", ["erin@example.test", "ERIN@example.test"], raw)
    assert len(box.messages("erin@example.test")) == before + 1


def test_oversize_is_refused_with_552(box: SmtpBox) -> None:
    before = len(box.messages("alice@example.test"))
    with box.mx() as client:
        # Declared up front with SIZE=...
        code, text = client.mail("sender@elsewhere.test", [f"SIZE={MAX_SIZE + 1}"])
        assert (code, text[:6]) == (552, b"5.3.4 ")
        client.rset()
        # ... or found out while receiving DATA.
        client.mail("sender@elsewhere.test")
        client.rcpt("alice@example.test")
        body = ("x" * 76 + "\r\n") * (MAX_SIZE // 78 + 10)
        code, text = client.data(message("sender@elsewhere.test", "alice@example.test", body=body))
        assert (code, text[:6]) == (552, b"5.3.4 ")
        # The session goes on normally afterwards.
        assert client.noop()[0] == 250
    assert len(box.messages("alice@example.test")) == before


@pytest.mark.parametrize(
    "smuggled",
    [
        b"\n.\nMAIL FROM:<admin@example.test>\r\n",  # bare LF end-of-data
        b"\r\n.\nMAIL FROM:<admin@example.test>\r\n",  # CRLF . LF
        b"\n.\r\nMAIL FROM:<admin@example.test>\r\n",  # LF . CRLF
        b"\r.\r\nMAIL FROM:<admin@example.test>\r\n",  # bare CR
        b"line one\nline two\r\n",  # a bare LF in the middle of text
    ],
)
def test_bare_newlines_in_data_are_refused(box: SmtpBox, smuggled: bytes) -> None:
    before = len(box.messages("dave@example.test"))
    raw = Raw(box.port("smtp"))
    try:
        raw.cmd("EHLO client.test")
        raw.cmd("MAIL FROM:<sender@elsewhere.test>")
        raw.cmd("RCPT TO:<dave@example.test>")
        assert raw.cmd("DATA").startswith("354")
        raw.send(b"Subject: smuggle\r\n\r\nhello" + smuggled + b"more\r\n.\r\n")
        reply = raw.reply()
        assert reply.startswith("554 5.6.11 "), reply
        # Nothing after the smuggled "end of data" was taken as a command.
        assert raw.cmd("RSET").startswith("250")
    finally:
        raw.close()
    assert len(box.messages("dave@example.test")) == before


def test_overlong_line_gets_500_5_5_2(box: SmtpBox) -> None:
    before = len(box.messages("dave@example.test"))
    with box.mx() as client:
        client.mail("sender@elsewhere.test")
        client.rcpt("dave@example.test")
        body = "y" * 999 + "\r\n"
        code, text = client.data(message("sender@elsewhere.test", "dave@example.test", body=body))
    assert (code, text[:6]) == (500, b"5.5.2 ")
    assert len(box.messages("dave@example.test")) == before
    # 998 octets is the limit, and is fine.
    with box.mx() as client:
        body = "z" * 998 + "\r\n"
        raw = message("sender@elsewhere.test", "dave@example.test", body=body)
        assert client.sendmail("sender@elsewhere.test", ["dave@example.test"], raw) == {}


def test_non_ascii_addresses_need_smtputf8(box: SmtpBox) -> None:
    raw = Raw(box.port("smtp"))
    try:
        raw.cmd("EHLO client.test")
        reply = raw.cmd("MAIL FROM:<josé@elsewhere.test>")
        assert reply.startswith("553 5.6.7"), reply
        raw.send(b"MAIL FROM:<jos\xe9@elsewhere.test> SMTPUTF8\r\n")  # Latin-1, not UTF-8
        assert raw.reply().startswith("553 5.6.7")
        assert raw.cmd("MAIL FROM:<josé@elsewhere.test> SMTPUTF8").startswith("250")
        assert raw.cmd("RCPT TO:<alice@example.test>").startswith("250")
        assert raw.cmd("DATA").startswith("354")
        raw.send("Subject: utf8\r\nFrom: josé@elsewhere.test\r\n\r\nÇa va ?\r\n.\r\n".encode())
        assert raw.reply().startswith("250 2.0.0")
    finally:
        raw.close()
    [stored] = [m for m in box.messages("alice@example.test") if b"Subject: utf8" in m]
    assert "Ça va ?".encode() in stored
    assert b"with UTF8SMTP id" in stored


def test_syntax_errors_use_enhanced_codes(box: SmtpBox) -> None:
    raw = Raw(box.port("smtp"))
    try:
        assert raw.cmd("MAIL FROM:<a@b.test>").startswith("503 5.5.1")
        raw.cmd("EHLO client.test")
        assert raw.cmd("RCPT TO:<alice@example.test>").startswith("503 5.5.1")
        assert raw.cmd("MAIL FROM:<not an address>").startswith("553 5.1.3")
        assert raw.cmd("FROB").startswith("500 5.5.2")
        assert raw.cmd("MAIL FROM:" + "a" * 600 + "@b.test").startswith("500 5.5.2")
    finally:
        raw.close()


def test_forged_authentication_results_are_removed(box: SmtpBox) -> None:
    forged = "Authentication-Results: localhost; spf=pass; dkim=pass; dmarc=pass\r\n"
    raw = message(
        "sender@elsewhere.test", "bob@example.test", subject="forged ar", extra_headers=forged
    )
    with box.mx() as client:
        client.sendmail("sender@elsewhere.test", ["bob@example.test"], raw)
    [stored] = [m for m in box.parsed("bob@example.test") if m["Subject"] == "forged ar"]
    results = stored.get_all("Authentication-Results") or []
    assert len(results) == 1
    assert "dkim=none" in results[0]


def test_mail_is_stored_with_private_permissions(box: SmtpBox) -> None:
    [path, *_] = sorted(box.inbox("alice@example.test").iterdir())
    assert (path.stat().st_mode & 0o777) == 0o600
    assert isinstance(path, Path)


def test_smtplib_error_on_data_without_recipient(box: SmtpBox) -> None:
    with box.mx() as client, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        client.sendmail("sender@elsewhere.test", ["nobody@example.test"], b"Subject: x\r\n\r\nx")
    [(code, text)] = refused.value.recipients.values()
    assert (code, text[:6]) == (550, b"5.1.1 ")


def test_headers_that_are_not_utf8_get_554_5_6_7(box: SmtpBox) -> None:
    before = len(box.messages("erin@example.test"))
    latin1 = "Subject: Caf\xe9 cr\xe8me\r\nFrom: x@elsewhere.test\r\n\r\nhi\r\n".encode("latin-1")
    with box.mx() as client:
        client.mail("x@elsewhere.test")
        client.rcpt("erin@example.test")
        code, text = client.data(latin1)
        assert (code, text[:6]) == (554, b"5.6.7 ")
        # UTF-8 headers are fine, and so is 8-bit in the body (old clients do not
        # always say BODY=8BITMIME).
        ok = "Subject: Café crème\r\nFrom: x@elsewhere.test\r\n\r\nCafé\r\n".encode()
        assert client.sendmail("x@elsewhere.test", ["erin@example.test"], ok) == {}
    assert len(box.messages("erin@example.test")) == before + 1


def test_nul_in_message_gets_554_5_6_0(box: SmtpBox) -> None:
    with box.mx() as client:
        client.mail("x@elsewhere.test")
        client.rcpt("erin@example.test")
        code, text = client.data(b"From: x@elsewhere.test\r\n\r\nnul \x00 here\r\n")
    assert (code, text[:6]) == (554, b"5.6.0 ")


def test_commands_pipelined_after_starttls_are_discarded(box: SmtpBox) -> None:
    """STARTTLS command injection (CVE-2011-0411, CVE-2024-34083): plaintext sent
    after STARTTLS must not be executed inside the TLS session."""
    raw = Raw(box.port("smtp"))
    try:
        raw.cmd("EHLO client.test")
        raw.send(b"STARTTLS\r\nNOOP injected\r\n")
        assert raw.reply().startswith("220 2.0.0")
        tls = box.tls_context().wrap_socket(raw.sock, server_hostname="127.0.0.1")
        with tls, tls.makefile("rb") as reader:
            tls.sendall(b"EHLO client.test\r\n")
            # Had the injected NOOP run, its "250 2.0.0 OK" would come first.
            assert reader.readline() == b"250-localhost\r\n"
            while not reader.readline().startswith(b"250 "):
                pass  # the rest of the EHLO reply
            tls.sendall(b"QUIT\r\n")
            assert reader.readline().startswith(b"221")
    finally:
        raw.close()


def test_sigterm_with_an_open_session_stops_cleanly(tmp_path: Path, dns: DNS) -> None:
    with smtp_box(tmp_path, dns) as other:
        other.start()
        idle = Raw(other.port("smtp"))
        try:
            idle.cmd("EHLO client.test")
            assert other.served is not None
            served = other.served
            other.served = None
            served.process.terminate()
            assert served.process.wait(15) == 0
            assert "Traceback" not in served.output()
            served.log.close()
        finally:
            idle.close()


def test_sigterm_lets_a_message_in_progress_finish(tmp_path: Path, dns: DNS) -> None:
    with smtp_box(tmp_path, dns) as other:
        other.add_user("alice")
        other.start()
        assert other.served is not None
        served, other.served = other.served, None
        raw = Raw(other.port("smtp"))
        try:
            raw.cmd("EHLO client.test")
            raw.cmd("MAIL FROM:<sender@elsewhere.test>")
            raw.cmd("RCPT TO:<alice@example.test>")
            assert raw.cmd("DATA").startswith("354")
            raw.send(b"Subject: during shutdown\r\n\r\nfirst half\r\n")
            served.process.terminate()
            time.sleep(0.5)  # the stop is under way while the message is half sent
            raw.send(b"second half\r\n.\r\n")
            assert raw.reply().startswith("250 2.0.0")
        finally:
            raw.close()
        assert served.process.wait(15) == 0
        served.log.close()
        assert any(b"Subject: during shutdown" in m for m in other.messages("alice@example.test"))
