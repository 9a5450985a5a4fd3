"""Third-party patches: applied only when asked, only to the versions they were
written for, and giving exactly the library's own answers."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import authheaders.dmarc_lookup
import dkim
import dkim.crypto
import pytest

from tidings.core.config import Settings
from tidings.mail import patches
from tidings.mail.dkim import ensure_keys
from tidings.mail.patches import apply_patches
from tidings.mail.patches import authheaders as authheaders_patch
from tidings.mail.patches import dkimpy as dkimpy_patch

MESSAGE = (
    b"From: Alice <alice@example.test>\r\nTo: bob@remote.test\r\nSubject: Lunch\r\n\r\nAt noon?\r\n"
)


#: authheaders' own function, taken before anything in this process could patch it.
UPSTREAM_ORG_DOMAIN = authheaders.dmarc_lookup.get_org_domain_from_suffix_list


@pytest.fixture
def unpatched(monkeypatch: pytest.MonkeyPatch) -> None:
    """The libraries as upstream ships them, restored after the test."""
    monkeypatch.setattr(dkim, "RSASSA_PKCS1_v1_5_sign", dkim.crypto.RSASSA_PKCS1_v1_5_sign)
    monkeypatch.setattr(
        authheaders.dmarc_lookup, "get_org_domain_from_suffix_list", UPSTREAM_ORG_DOMAIN
    )


def test_importing_patches_nothing(unpatched: None) -> None:
    import importlib

    importlib.reload(dkimpy_patch)
    importlib.reload(authheaders_patch)
    assert dkim.RSASSA_PKCS1_v1_5_sign is dkim.crypto.RSASSA_PKCS1_v1_5_sign
    assert authheaders.dmarc_lookup.get_org_domain_from_suffix_list is not (
        authheaders_patch.org_domain
    )


def test_apply_installs_both_on_the_supported_versions(unpatched: None) -> None:
    assert apply_patches("authheaders", "dkimpy") == {"authheaders": True, "dkimpy": True}
    assert dkim.RSASSA_PKCS1_v1_5_sign is dkimpy_patch.openssl_rsa_sign
    assert authheaders.dmarc_lookup.get_org_domain_from_suffix_list is (
        authheaders_patch.org_domain
    )
    # Idempotent: a second service start in the same process changes nothing.
    assert apply_patches("dkimpy") == {"dkimpy": True}


def test_an_unknown_upstream_version_is_left_alone(
    unpatched: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(patches, "version", lambda name: "99.0.0")
    with caplog.at_level(logging.WARNING, logger="tidings.patches"):
        assert apply_patches("dkimpy", "authheaders") == {"dkimpy": False, "authheaders": False}
    assert dkim.RSASSA_PKCS1_v1_5_sign is dkim.crypto.RSASSA_PKCS1_v1_5_sign
    assert "dkimpy 99.0.0 is not a version this patch was written for" in caplog.text


def test_an_unknown_patch_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="no patch for 'aiosmtpd'"):
        apply_patches("aiosmtpd")


def test_openssl_rsa_signature_is_byte_identical_to_dkimpys_own(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, unpatched: None
) -> None:
    keys = ensure_keys(settings)
    monkeypatch.setattr(dkim, "time", SimpleNamespace(time=lambda: 1800000000.0))
    slow = dkim.sign(MESSAGE, b"s", b"example.test", keys.rsa_private_pem)
    assert apply_patches("dkimpy") == {"dkimpy": True}
    fast = dkim.sign(MESSAGE, b"s", b"example.test", keys.rsa_private_pem)
    assert b"t=1800000000" in fast
    assert fast == slow


@pytest.mark.parametrize(
    "domain",
    ["mail.example.com", "a.b.example.co.uk", "example.org", "x.github.io", "tidings.test"],
)
def test_organisational_domain_is_authheaders_own(domain: str, unpatched: None) -> None:
    location = Path(authheaders.__file__).with_name("public_suffix_list.txt")
    upstream = UPSTREAM_ORG_DOMAIN(location, domain)
    assert authheaders_patch.org_domain(location, domain) == upstream
