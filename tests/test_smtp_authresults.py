"""SPF, DKIM and DMARC of inbound mail, checked through a real DNS server on loopback
(dnslib) that serves the records each sender domain publishes."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import free_port
from tests.smtp_support import DNS, SmtpBox, message, smtp_box, start_dns

RECIPIENT = "alice@example.test"
SELECTOR = b"s2026"


@pytest.fixture(scope="module")
def dkim_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def dns(dkim_key: bytes) -> Iterator[DNS]:
    server = start_dns()
    zone = server.zone
    public = serialization.load_pem_private_key(dkim_key, None).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # sender.test does everything right; forged.test only allows another address.
    zone.publish("sender.test", "v=spf1 ip4:127.0.0.1 -all")
    zone.publish(
        f"{SELECTOR.decode()}._domainkey.sender.test",
        "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode(),
    )
    zone.publish("_dmarc.sender.test", "v=DMARC1; p=reject")
    zone.publish("forged.test", "v=spf1 ip4:192.0.2.10 -all")
    zone.publish("_dmarc.forged.test", "v=DMARC1; p=quarantine")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, dns: DNS) -> Iterator[SmtpBox]:
    with smtp_box(tmp_path_factory.mktemp("authresults"), dns) as running:
        running.add_user("alice")
        running.start()
        yield running


def signed(key: bytes, sender: str, subject: str) -> bytes:
    raw = message(sender, RECIPIENT, subject=subject, body="Quarterly numbers attached.\r\n")
    signature = dkim.sign(
        raw,
        SELECTOR,
        b"sender.test",
        key,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    return bytes(signature) + raw


def deliver(box: SmtpBox, mail_from: str, raw: bytes, subject: str) -> str:
    with box.mx() as client:
        assert client.sendmail(mail_from, [RECIPIENT], raw) == {}
    [stored] = [m for m in box.parsed(RECIPIENT) if m["Subject"] == subject]
    header = stored["Authentication-Results"]
    assert header is not None
    return re.sub(r"\s+", " ", str(header))


def verdict(results: str, method: str) -> str:
    match = re.search(rf"\b{method}=\w+", results)
    assert match is not None, results
    return match[0]


def test_signed_message_passes_spf_dkim_dmarc(box: SmtpBox, dkim_key: bytes) -> None:
    raw = signed(dkim_key, "news@sender.test", "signed and aligned")
    results = deliver(box, "bounces@sender.test", raw, "signed and aligned")
    assert results.startswith("localhost;")
    assert verdict(results, "spf") == "spf=pass"
    assert "smtp.mailfrom=bounces@sender.test" in results
    assert "dkim=pass header.d=sender.test" in results
    assert verdict(results, "dmarc") == "dmarc=pass"
    assert "header.from=sender.test" in results


def test_tampered_message_fails_dkim_and_dmarc(box: SmtpBox, dkim_key: bytes) -> None:
    raw = signed(dkim_key, "news@sender.test", "tampered")
    raw = raw.replace(b"Quarterly numbers attached.", b"Please wire 10,000 EUR today.")
    # Sent through a third party, so SPF cannot rescue DMARC either.
    results = deliver(box, "relay@unrelated.test", raw, "tampered")
    assert "dkim=fail header.d=sender.test" in results
    assert verdict(results, "spf") == "spf=none"
    assert verdict(results, "dmarc") == "dmarc=fail"
    assert "policy.dmarc=reject" in results


def test_forged_sender_fails_spf_and_dmarc(box: SmtpBox) -> None:
    raw = message("ceo@forged.test", RECIPIENT, subject="urgent wire")
    results = deliver(box, "ceo@forged.test", raw, "urgent wire")
    assert verdict(results, "spf") == "spf=fail"
    assert "smtp.mailfrom=ceo@forged.test" in results
    assert verdict(results, "dkim") == "dkim=none"
    assert verdict(results, "dmarc") == "dmarc=fail"
    assert "header.from=forged.test" in results
    assert "policy.dmarc=quarantine" in results


def test_unsigned_mail_from_domain_without_records(box: SmtpBox) -> None:
    raw = message("someone@nowhere.test", RECIPIENT, subject="no records")
    results = deliver(box, "someone@nowhere.test", raw, "no records")
    assert verdict(results, "spf") == "spf=none"
    assert verdict(results, "dkim") == "dkim=none"
    assert verdict(results, "dmarc") == "dmarc=none"


def test_dns_outage_gives_temperror_not_a_bounce(tmp_path: Path) -> None:
    # Nothing listens on this port: every lookup fails, within the configured timeout.
    with smtp_box(
        tmp_path,
        None,
        TIDINGS_MAIL__DNS_RESOLVER=f"127.0.0.1:{free_port()}",
        TIDINGS_MAIL__DNS_TIMEOUT_SECONDS="0.5",
    ) as down:
        down.add_user("alice")
        down.start()
        raw = message("news@sender.test", RECIPIENT, subject="dns is down")
        results = deliver(down, "news@sender.test", raw, "dns is down")
    assert verdict(results, "spf") == "spf=temperror"
