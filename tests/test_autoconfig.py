"""Client setup documents, checked the way clients read them — and then used: the
settings they announce must really let a client log in over IMAP and SMTP."""

from __future__ import annotations

import imaplib
import plistlib
import smtplib
import xml.etree.ElementTree as ET
from collections.abc import Callable

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.conftest import Service
from tidings.core.accounts import Accounts
from tidings.core.config import Settings, split_endpoint
from tidings.core.tls import client_context

ADDRESS, PASSWORD = "alice@example.test", "alice-password"
# Thunderbird's accepted values (comm-central mailnews/base/prefs accountConfig readFromXML).
SOCKET_TYPES = {"plain", "SSL", "STARTTLS"}
AUTH_METHODS = {
    "password-cleartext",
    "password-encrypted",
    "OAuth2",
    "client-IP-address",
    "GSSAPI",
    "NTLM",
    "none",
    "TLS-client-cert",
}


@pytest.fixture
def box(run_service: Callable[[str], Service], accounts: Accounts, settings: Settings) -> str:
    accounts.add_user(ADDRESS, PASSWORD)
    for name in ("mail-api", "imap", "smtp"):
        run_service(name)
    return f"http://{settings.listen.mail_api}"


def _login_with(settings: Settings, protocol: str, host: str, port: int, security: str) -> None:
    """Connect exactly as the document says (host is our hostname, reached on loopback)."""
    context = client_context(settings)
    assert host == settings.hostname
    if protocol == "imap":
        imap = (
            imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context)
            if security == "SSL"
            else imaplib.IMAP4("127.0.0.1", port)
        )
        if security == "STARTTLS":
            imap.starttls(context)
        assert imap.login(ADDRESS, PASSWORD)[0] == "OK"
        imap.logout()
    else:
        smtp = (
            smtplib.SMTP_SSL("127.0.0.1", port, context=context)
            if security == "SSL"
            else smtplib.SMTP("127.0.0.1", port)
        )
        if security == "STARTTLS":
            smtp.starttls(context=context)
        assert smtp.login(ADDRESS, PASSWORD)[0] == 235
        smtp.quit()


def test_thunderbird_autoconfig_at_both_paths_and_it_works(box: str, settings: Settings) -> None:
    documents = [
        httpx.get(f"{box}{path}")
        for path in ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml")
    ]
    assert all(d.status_code == 200 for d in documents)
    assert documents[0].content == documents[1].content
    root = ET.fromstring(documents[0].content)  # noqa: S314  (our own document)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None and provider.findtext("domain") == "example.test"
    incoming = provider.findall("incomingServer")
    outgoing = provider.findall("outgoingServer")
    assert [s.get("type") for s in incoming] == ["imap", "imap"]
    assert [s.get("type") for s in outgoing] == ["smtp", "smtp"]
    for server in incoming + outgoing:
        assert server.findtext("socketType") in SOCKET_TYPES - {"plain"}
        assert server.findtext("authentication") in AUTH_METHODS
        assert server.findtext("username") == "%EMAILADDRESS%"
        _login_with(
            settings,
            str(server.get("type")),
            str(server.findtext("hostname")),
            int(str(server.findtext("port"))),
            str(server.findtext("socketType")),
        )
    # Implicit TLS first (RFC 8314), on the ports the services really use.
    assert int(str(incoming[0].findtext("port"))) == split_endpoint(settings.listen.imaps)[1]
    assert int(str(outgoing[0].findtext("port"))) == split_endpoint(settings.listen.submissions)[1]


def test_apple_profile_carries_the_account_and_the_local_ca(box: str, settings: Settings) -> None:
    response = httpx.get(f"{box}/v1/autoconfig/apple.mobileconfig", params={"email": ADDRESS})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-apple-aspen-config"
    profile = plistlib.loads(response.content)
    assert profile["PayloadType"] == "Configuration"
    mail, ca = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["EmailAddress"] == ADDRESS and mail["IncomingMailServerUsername"] == ADDRESS
    assert mail["IncomingMailServerUseSSL"] and mail["OutgoingMailServerUseSSL"]
    assert "Password" not in str(mail.keys()).replace("OutgoingPasswordSameAsIncomingPassword", "")
    _login_with(
        settings,
        "imap",
        mail["IncomingMailServerHostName"],
        mail["IncomingMailServerPortNumber"],
        "SSL",
    )
    _login_with(
        settings,
        "smtp",
        mail["OutgoingMailServerHostName"],
        mail["OutgoingMailServerPortNumber"],
        "SSL",
    )
    assert ca["PayloadType"] == "com.apple.security.root"
    local_ca = x509.load_pem_x509_certificate((settings.data_dir / "tls" / "ca.pem").read_bytes())
    assert ca["PayloadContent"] == local_ca.public_bytes(Encoding.DER)
    # Fetching again gives the same identifiers, so devices replace instead of duplicating.
    again = plistlib.loads(
        httpx.get(f"{box}/v1/autoconfig/apple.mobileconfig", params={"email": ADDRESS}).content
    )
    assert again["PayloadUUID"] == profile["PayloadUUID"]
    assert again["PayloadContent"][0]["PayloadUUID"] == mail["PayloadUUID"]

    assert (
        httpx.get(
            f"{box}/v1/autoconfig/apple.mobileconfig", params={"email": "bob@other.example"}
        ).status_code
        == 404
    )
    assert (
        httpx.get(
            f"{box}/v1/autoconfig/apple.mobileconfig", params={"email": "nonsense"}
        ).status_code
        == 400
    )


def test_outlook_autodiscover(box: str, settings: Settings) -> None:
    request = (
        '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com'
        '/exchange/autodiscover/outlook/requestschema/2006"><Request>'
        f"<EMailAddress>{ADDRESS}</EMailAddress><AcceptableResponseSchema>http://schemas."
        "microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
        "</AcceptableResponseSchema></Request></Autodiscover>"
    )
    response = httpx.post(f"{box}/autodiscover/autodiscover.xml", content=request)
    assert response.status_code == 200
    ns = {"o": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
    root = ET.fromstring(response.content)  # noqa: S314  (our own document)
    protocols = root.findall(".//o:Protocol", ns)
    assert [p.findtext("o:Type", namespaces=ns) for p in protocols] == ["IMAP", "SMTP"]
    for protocol in protocols:
        assert protocol.findtext("o:LoginName", namespaces=ns) == ADDRESS
        assert protocol.findtext("o:SSL", namespaces=ns) == "on"
        _login_with(
            settings,
            str(protocol.findtext("o:Type", namespaces=ns)).lower(),
            str(protocol.findtext("o:Server", namespaces=ns)),
            int(str(protocol.findtext("o:Port", namespaces=ns))),
            "SSL",
        )
    bad = httpx.post(f"{box}/autodiscover/autodiscover.xml", content="<nothing/>")
    assert bad.status_code == 400
