"""Submission (587 with STARTTLS, 465 with implicit TLS): AUTH PLAIN and LOGIN against
the shared accounts, and a sender that must be the authenticated user."""

from __future__ import annotations

import base64
import smtplib
from collections.abc import Iterator

import pytest

from tests.smtp_support import PASSWORD, Raw, SmtpBox, message, smtp_box, swaks
from tidings.mail.outbound import OutboundQueue

ALICE = "alice@example.test"
BOB = "bob@example.test"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpBox]:
    with smtp_box(
        tmp_path_factory.mktemp("submission"),
        None,
        TIDINGS_AUTH__MAX_FAILURES_PER_USER="3",
    ) as running:
        for local in ("alice", "bob", "mallory"):
            running.add_user(local)
        running.start()
        yield running


def test_starttls_is_required_before_auth(box: SmtpBox) -> None:
    raw = Raw(box.port("submission"))
    try:
        ehlo = raw.cmd("EHLO client.test")
        assert "250-STARTTLS" in ehlo
        assert "AUTH" not in ehlo  # never offer passwords in the clear
        credentials = base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode()).decode()
        assert raw.cmd(f"AUTH PLAIN {credentials}").startswith("530 5.7.0")
        assert raw.cmd(f"MAIL FROM:<{ALICE}>").startswith("530 5.7.0")
    finally:
        raw.close()


def test_mail_without_auth_is_refused_after_starttls(box: SmtpBox) -> None:
    with box.submission() as client:
        assert "auth" in client.esmtp_features
        assert client.esmtp_features["auth"].split() == ["LOGIN", "PLAIN"]
        code, text = client.mail(ALICE)
    assert (code, text[:6]) == (530, b"5.7.0 ")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_and_local_delivery_with_smtplib(box: SmtpBox, mechanism: str) -> None:
    subject = f"submitted with {mechanism}"
    with box.submission() as client:
        client.user, client.password = ALICE, PASSWORD
        code, _ = client.auth(
            mechanism,
            client.auth_plain if mechanism == "PLAIN" else client.auth_login,
            initial_response_ok=mechanism == "PLAIN",
        )
        assert code == 235
        raw = message(ALICE, BOB, subject=subject)
        assert client.sendmail(ALICE, [BOB], raw) == {}
    [stored] = [m for m in box.parsed(BOB) if m["Subject"] == subject]
    assert "with ESMTPSA id" in stored["Received"]
    assert stored["Authentication-Results"] is None  # the user is known; nothing to check


def test_swaks_auth_login_like_outlook_on_587(box: SmtpBox) -> None:
    result = swaks(
        box,
        "--from",
        ALICE,
        "--to",
        BOB,
        "--header",
        "Subject: swaks login 587",
        port="submission",
        auth="LOGIN",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "235 2.7.0" in result.stdout
    assert any(m["Subject"] == "swaks login 587" for m in box.parsed(BOB))


def test_swaks_auth_plain_on_465_implicit_tls(box: SmtpBox) -> None:
    result = swaks(
        box,
        "--from",
        ALICE,
        "--to",
        BOB,
        "--header",
        "Subject: swaks plain 465",
        port="submissions",
        auth="PLAIN",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [stored] = [m for m in box.parsed(BOB) if m["Subject"] == "swaks plain 465"]
    assert "with ESMTPSA id" in stored["Received"]


def test_smtplib_over_implicit_tls(box: SmtpBox) -> None:
    with smtplib.SMTP_SSL(
        "127.0.0.1", box.port("submissions"), context=box.tls_context()
    ) as client:
        client.login(ALICE, PASSWORD)
        raw = message(ALICE, BOB, subject="smtps smtplib")
        assert client.sendmail(ALICE, [BOB], raw) == {}
    assert any(m["Subject"] == "smtps smtplib" for m in box.parsed(BOB))


def test_wrong_password_gets_535_then_throttled_454(box: SmtpBox) -> None:
    codes = []
    for _ in range(4):
        with box.submission() as client:
            try:
                client.login("mallory@example.test", "wrong password!")
            except smtplib.SMTPAuthenticationError as exc:
                codes.append((exc.smtp_code, exc.smtp_error[:6]))
    assert codes[0] == (535, b"5.7.8 ")
    assert codes[-1] == (454, b"4.7.0 ")
    # Throttled means the right password is refused too, for now.
    with box.submission() as client, pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        client.login("mallory@example.test", PASSWORD)
    assert refused.value.smtp_code == 454


def test_envelope_sender_must_be_the_user(box: SmtpBox) -> None:
    with box.submission() as client:
        client.login(ALICE, PASSWORD)
        code, text = client.mail(BOB)
        assert (code, text[:6]) == (553, b"5.7.1 ")
        code, text = client.mail("")
        assert (code, text[:6]) == (553, b"5.7.1 ")
        # Case does not make another person.
        assert client.mail("Alice@Example.Test")[0] == 250


@pytest.mark.parametrize(
    "from_header",
    [
        "From: bob@example.test",
        "From: Alice <alice@example.test>, Bob <bob@example.test>",
        'From: "alice@example.test" <mallory@example.test>',
        "From: alice@example.test\r\nFrom: bob@example.test",
        "From: alice@example.test\r\nSender: bob@example.test",
        "X-No-From: here",
    ],
)
def test_from_header_must_be_the_user(box: SmtpBox, from_header: str) -> None:
    before = len(box.messages(BOB))
    raw = f"{from_header}\r\nTo: {BOB}\r\nSubject: spoof\r\n\r\nhi\r\n".encode()
    with box.submission() as client:
        client.login(ALICE, PASSWORD)
        client.mail(ALICE)
        client.rcpt(BOB)
        code, text = client.data(raw)
    assert (code, text[:6]) == (550, b"5.7.1 ")
    assert len(box.messages(BOB)) == before


def test_swaks_spoofed_from_is_refused(box: SmtpBox) -> None:
    result = swaks(
        box,
        "--from",
        BOB,
        "--to",
        BOB,
        port="submission",
        auth="LOGIN",
    )
    assert result.returncode != 0
    assert "553 5.7.1" in result.stdout


def test_remote_recipient_is_queued_for_delivery(box: SmtpBox) -> None:
    with box.submission() as client:
        client.login(ALICE, PASSWORD)
        client.sendmail(ALICE, ["friend@elsewhere.test"], message(ALICE, "friend@elsewhere.test"))
    (queued,) = OutboundQueue(box.settings).list()
    assert queued.rcpt == "friend@elsewhere.test" and queued.mail_from == ALICE
    assert not list((box.data_dir / "mail").glob("elsewhere.test"))


def test_local_unknown_user_on_submission(box: SmtpBox) -> None:
    with box.submission() as client:
        client.login(ALICE, PASSWORD)
        client.mail(ALICE)
        code, text = client.rcpt("nobody@example.test")
    assert (code, text[:6]) == (550, b"5.1.1 ")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auth_edge_cases_get_protocol_errors(box: SmtpBox) -> None:
    with box.submission() as client:
        # Acting for someone else (an authzid that is not the login) is refused.
        proxy = _b64("\0".join((BOB, ALICE, PASSWORD)))
        code, text = client.docmd("AUTH", f"PLAIN {proxy}")
        assert (code, text[:6]) == (535, b"5.7.8 ")
        code, text = client.docmd("AUTH", "PLAIN not*base64")
        assert (code, text[:6]) == (501, b"5.5.2 ")
        code, text = client.docmd("AUTH", f"PLAIN {_b64('no separators')}")
        assert (code, text[:6]) == (501, b"5.5.2 ")
        code, _ = client.docmd("AUTH", "CRAM-MD5")
        assert code == 504
        # LOGIN with the user name up front, then "*" to cancel (RFC 4954 4).
        code, _ = client.docmd("AUTH", f"LOGIN {_b64(ALICE)}")
        assert code == 334
        code, text = client.docmd("*")
        assert (code, text[:6]) == (501, b"5.7.0 ")
        # LOGIN with the user name up front, then the password: accepted.
        assert client.docmd("AUTH", f"LOGIN {_b64(ALICE)}")[0] == 334
        assert client.docmd(_b64(PASSWORD))[0] == 235
        code, text = client.docmd("AUTH", "PLAIN")
        assert (code, text[:6]) == (503, b"5.5.1 ")
