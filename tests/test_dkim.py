"""DKIM: keys made once with safe permissions; signatures that independent verifiers
(dkimpy through real DNS, and OpenDKIM's opendkim-testmsg) accept."""

from __future__ import annotations

import stat

import dkim
import dns.resolver

from tests.outbound_support import DnsServer, opendkim_verify
from tidings.core.config import Settings
from tidings.mail.dkim import Signer, ensure_keys, key_dir, txt_records

MESSAGE = (
    b"From: Alice <alice@example.test>\n"
    b"To: bob@remote.test\n"
    b"Subject: Lunch on Friday?\n"
    b"Date: Wed, 25 Nov 2026 10:00:00 +0000\n"
    b"Message-ID: <lunch-1@example.test>\n"
    b"MIME-Version: 1.0\n"
    b"Content-Type: text/plain; charset=utf-8\n"
    b"\n"
    b"Shall we meet at noon?  \n"
    b"-- \nAlice\n"
)


def publish(settings: Settings, dns_server: DnsServer) -> None:
    for name, value in txt_records(settings, ensure_keys(settings)).items():
        dns_server.zone.add(name, "TXT", value)


def txt_lookup(dns_server: DnsServer):  # type: ignore[no-untyped-def]
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns_server.host]
        resolver.port = dns_server.port
        answer = resolver.resolve(name.decode(), "TXT")
        return b"".join(answer[0].strings)  # type: ignore[attr-defined]

    return lookup


def test_keys_are_generated_once_private_and_reused(settings: Settings) -> None:
    first = ensure_keys(settings)
    for path in key_dir(settings).iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(key_dir(settings).stat().st_mode) == 0o700
    again = ensure_keys(settings)
    assert again == first
    # RSA 2048: the DER SubjectPublicKeyInfo of a 2048-bit key is 294 bytes.
    assert len(first.rsa_public_b64) == 392
    assert len(first.ed25519_public_b64) == 44


def test_both_signatures_verify_with_dkimpy_through_dns(
    settings: Settings, dns_server: DnsServer
) -> None:
    publish(settings, dns_server)
    signed = Signer(settings).sign(MESSAGE)
    verifier = dkim.DKIM(signed)
    lookup = txt_lookup(dns_server)
    algorithms = []
    for index in range(2):
        assert verifier.verify(idx=index, dnsfunc=lookup), index
        algorithms.append(verifier.signature_fields[b"a"])
    assert sorted(algorithms) == [b"ed25519-sha256", b"rsa-sha256"]


def test_tampered_message_fails_dkimpy(settings: Settings, dns_server: DnsServer) -> None:
    publish(settings, dns_server)
    signed = Signer(settings).sign(MESSAGE)
    tampered = signed.replace(b"at noon", b"at one")
    verifier = dkim.DKIM(tampered)
    for index in range(2):
        try:
            ok = verifier.verify(idx=index, dnsfunc=txt_lookup(dns_server))
        except dkim.ValidationError as exc:
            assert "body hash mismatch" in str(exc)
            ok = False
        assert not ok


def test_opendkim_testmsg_accepts_the_signature(settings: Settings, dns_server: DnsServer) -> None:
    publish(settings, dns_server)
    signed = Signer(settings).sign(MESSAGE)
    result = opendkim_verify(dns_server.zone, signed)
    assert result.returncode == 0, result.stderr


def test_opendkim_testmsg_rejects_a_tampered_message(
    settings: Settings, dns_server: DnsServer
) -> None:
    publish(settings, dns_server)
    signed = Signer(settings).sign(MESSAGE).replace(b"at noon", b"at one")
    result = opendkim_verify(dns_server.zone, signed)
    assert result.returncode != 0
    assert "verif" in result.stderr.lower() or "bad" in result.stderr.lower(), result.stderr
