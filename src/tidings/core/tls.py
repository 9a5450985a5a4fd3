"""TLS material for every listener.

On the appliance the paths come from config (ACME certificates renewed by the
system). On a laptop, the first start creates a small local CA and a certificate
for ``hostname`` (plus localhost and the loopback addresses) in ``data_dir/tls``:
clients can trust the CA once (``ca.pem``) instead of clicking through warnings,
and renewals keep working because the CA stays.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tidings.core.config import Settings

LEAF_DAYS = 397  # the longest lifetime Apple clients accept
CA_DAYS = 3650


@dataclass(frozen=True)
class TLSFiles:
    cert: Path
    key: Path
    ca: Path | None  # the local CA, when we made the certificate ourselves


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tidings"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _make_ca(directory: Path, hostname: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    name = _name(f"tidings local CA ({hostname})")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(directory / "ca.key", _key_pem(key))
    (directory / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _load_ca(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    try:
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    return cert, key


def _leaf_is_fresh(path: Path, hostname: str) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    remaining = cert.not_valid_after_utc - datetime.now(UTC)
    return hostname in names.get_values_for_type(x509.DNSName) and remaining > timedelta(days=30)


def _make_leaf(directory: Path, hostname: str) -> None:
    ca = _load_ca(directory) or _make_ca(directory, hostname)
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    sans: list[x509.GeneralName] = [x509.DNSName(hostname)]
    if hostname != "localhost":
        sans.append(x509.DNSName("localhost"))
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", "::1")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hostname))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=LEAF_DAYS))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(directory / "key.pem", _key_pem(key))
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
        serialization.Encoding.PEM
    )
    tmp = directory / "cert.pem.tmp"
    tmp.write_bytes(chain)
    tmp.replace(directory / "cert.pem")


def ensure_tls(settings: Settings) -> TLSFiles:
    """The certificate and key every TLS listener uses, creating local ones if needed."""
    if settings.tls.cert is not None and settings.tls.key is not None:
        return TLSFiles(settings.tls.cert, settings.tls.key, None)
    directory = settings.data_dir / "tls"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = directory / ".lock"
    with lock.open("w") as handle:  # several services may start at once
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not _leaf_is_fresh(directory / "cert.pem", settings.hostname):
            _make_leaf(directory, settings.hostname)
    return TLSFiles(directory / "cert.pem", directory / "key.pem", directory / "ca.pem")


def server_context(settings: Settings) -> ssl.SSLContext:
    files = ensure_tls(settings)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert, files.key)
    return context


def client_context(settings: Settings) -> ssl.SSLContext:
    """A context that trusts this box's certificate: for our own tools and tests."""
    files = ensure_tls(settings)
    context = ssl.create_default_context()
    if files.ca is not None:
        context.load_verify_locations(files.ca)
    return context
