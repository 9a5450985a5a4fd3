"""DKIM keys and signing (dkimpy): every message that leaves carries two signatures.

RSA-2048 (rsa-sha256) is what every verifier understands; Ed25519 (RFC 8463) is the
modern one, short enough for one TXT string. Receivers use any signature that
verifies, so signing with both costs little and loses nobody.

Keys are made on first use into ``data_dir/dkim/`` with mode 0600; creation is
atomic (a hard link that fails if another process won the race), so two services
starting at once agree on one key.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import dkim
import dkim.crypto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tidings.core.config import Settings

RSA_FILE = "rsa.private"
ED25519_FILE = "ed25519.private"

# What a receiver should see as signed: the identity and content headers. A header
# listed here but absent is signed as absent, so it cannot be added later unnoticed.
SIGNED_HEADERS = [
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"in-reply-to",
    b"references",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
]

# relaxed body too: relays that re-wrap trailing whitespace must not break the signature.
CANONICALIZE = (b"relaxed", b"relaxed")


@dataclass(frozen=True)
class DkimKeys:
    rsa_private_pem: bytes
    ed25519_private_b64: bytes  # dkimpy's form: base64 of the raw 32-byte seed
    rsa_public_b64: str
    ed25519_public_b64: str


def key_dir(settings: Settings) -> Path:
    return settings.data_dir / "dkim"


def _create_exclusive(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (0600, fsynced) unless it exists already."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink()
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_keys(settings: Settings) -> DkimKeys:
    """Load the signing keys, generating the missing ones."""
    directory = key_dir(settings)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    rsa_path = directory / RSA_FILE
    if not rsa_path.exists():
        new_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _create_exclusive(
            rsa_path,
            new_rsa.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
        )
    ed_path = directory / ED25519_FILE
    if not ed_path.exists():
        seed = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        _create_exclusive(ed_path, base64.b64encode(seed) + b"\n")

    rsa_pem = rsa_path.read_bytes()
    rsa_key = serialization.load_pem_private_key(rsa_pem, password=None)
    rsa_public = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ed_b64 = ed_path.read_bytes().strip()
    ed_public = (
        ed25519.Ed25519PrivateKey.from_private_bytes(base64.b64decode(ed_b64))
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    return DkimKeys(
        rsa_private_pem=rsa_pem,
        ed25519_private_b64=ed_b64,
        rsa_public_b64=base64.b64encode(rsa_public).decode(),
        ed25519_public_b64=base64.b64encode(ed_public).decode(),
    )


def txt_records(settings: Settings, keys: DkimKeys) -> dict[str, str]:
    """``{"selector._domainkey.domain": "v=DKIM1; ..."}`` for both keys."""
    dkim_settings = settings.mail.dkim
    base = f"_domainkey.{settings.domain}"
    return {
        f"{dkim_settings.rsa_selector}.{base}": f"v=DKIM1; k=rsa; p={keys.rsa_public_b64}",
        f"{dkim_settings.ed25519_selector}.{base}": (
            f"v=DKIM1; k=ed25519; p={keys.ed25519_public_b64}"
        ),
    }


def to_crlf(message: bytes) -> bytes:
    """SMTP's line ending; the signature is computed over exactly what is sent."""
    return re.sub(rb"\r?\n", b"\r\n", message)


class Signer:
    """Signs for ``settings.domain`` with both keys."""

    def __init__(self, settings: Settings, keys: DkimKeys | None = None) -> None:
        self.domain = settings.domain.encode()
        self.rsa_selector = settings.mail.dkim.rsa_selector.encode()
        self.ed_selector = settings.mail.dkim.ed25519_selector.encode()
        self.keys = keys or ensure_keys(settings)

    def sign(self, message: bytes) -> bytes:
        """``message`` (CRLF) with an Ed25519 and an RSA DKIM-Signature header prepended."""
        message = to_crlf(message)
        rsa_header = dkim.sign(
            message,
            self.rsa_selector,
            self.domain,
            self.keys.rsa_private_pem,
            include_headers=SIGNED_HEADERS,
            canonicalize=CANONICALIZE,
            signature_algorithm=b"rsa-sha256",
        )
        ed_header = dkim.sign(
            message,
            self.ed_selector,
            self.domain,
            self.keys.ed25519_private_b64,
            include_headers=SIGNED_HEADERS,
            canonicalize=CANONICALIZE,
            signature_algorithm=b"ed25519-sha256",
        )
        return bytes(ed_header) + bytes(rsa_header) + message
