"""`tidings tls ensure`: what the appliance's local-ca mode runs (tidings-tls.service)
before nginx and the mail services start."""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import sys
from pathlib import Path

from cryptography import x509


def _ensure(data_dir: Path, hostname: str = "mail.example.org") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "TIDINGS_DATA_DIR": str(data_dir),
        "TIDINGS_HOSTNAME": hostname,
        "TIDINGS_CONFIG": "/dev/null",
    }
    return subprocess.run(
        [sys.executable, "-m", "tidings", "tls", "ensure"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext, hostname: str) -> str:
    """A TLS handshake in memory; returns the verified peer's common name."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls_client = client.wrap_bio(to_client, to_server, server_hostname=hostname)
    tls_server = server.wrap_bio(server_in, server_out, server_side=True)
    for _ in range(10):
        for side in (tls_client, tls_server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        server_in.write(to_server.read())
        to_client.write(server_out.read())
    tls_client.do_handshake()  # raises unless the handshake completed and verified
    subject = dict(item[0] for item in tls_client.getpeercert()["subject"])
    return str(subject["commonName"])


def test_makes_a_ca_and_a_certificate_once(tmp_path: Path) -> None:
    done = _ensure(tmp_path)
    assert done.returncode == 0, done.stderr
    tls = tmp_path / "tls"
    assert done.stdout.splitlines() == [
        f"cert {tls / 'cert.pem'}",
        f"key {tls / 'key.pem'}",
        f"ca {tls / 'ca.pem'}",
    ]
    assert (tls / "key.pem").stat().st_mode & 0o777 == 0o600
    leaf = x509.load_pem_x509_certificate((tls / "cert.pem").read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "mail.example.org" in names.get_values_for_type(x509.DNSName)
    # A client trusting only ca.pem accepts the chain nginx and the mail services serve.
    client = ssl.create_default_context(cafile=str(tls / "ca.pem"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tls / "cert.pem", tls / "key.pem")
    assert _handshake(client, server, "mail.example.org") == "mail.example.org"

    before = (tls / "cert.pem").read_bytes()
    again = _ensure(tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tls / "cert.pem").read_bytes() == before  # still fresh: not reissued


def test_a_new_hostname_gets_a_new_certificate_from_the_same_ca(tmp_path: Path) -> None:
    assert _ensure(tmp_path).returncode == 0
    ca_before = (tmp_path / "tls" / "ca.pem").read_bytes()
    assert _ensure(tmp_path, "box.example.net").returncode == 0
    leaf = x509.load_pem_x509_certificate((tmp_path / "tls" / "cert.pem").read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "box.example.net" in names.get_values_for_type(x509.DNSName)
    assert (tmp_path / "tls" / "ca.pem").read_bytes() == ca_before
