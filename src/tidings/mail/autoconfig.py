"""What native mail clients need to set themselves up: Thunderbird autoconfig
(``config-v1.1.xml``), an Apple configuration profile (``.mobileconfig``) and Outlook's
autodiscover answer — all derived from the one configuration, so they cannot
disagree with where the services really listen.

Clients are told about implicit TLS first (993, 465: RFC 8314 prefers it) and
STARTTLS second. Passwords are never part of these documents.
"""

from __future__ import annotations

import plistlib
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tidings.core.config import Settings, split_endpoint
from tidings.core.tls import ensure_tls

MOBILECONFIG_TYPE = "application/x-apple-aspen-config"
_NAMESPACE = uuid.UUID("5b0e0f64-6a8f-4f51-9d7e-4a2f1c0b7e11")  # tidings' own, fixed forever


@dataclass(frozen=True)
class Server:
    protocol: str  # "imap" or "smtp"
    hostname: str
    port: int
    security: str  # "SSL" (implicit TLS) or "STARTTLS", Thunderbird's words


def servers(settings: Settings) -> list[Server]:
    """Where clients connect, best first for each protocol."""
    host = settings.hostname

    def port(endpoint: str) -> int:
        return split_endpoint(getattr(settings.listen, endpoint))[1]

    return [
        Server("imap", host, port("imaps"), "SSL"),
        Server("imap", host, port("imap"), "STARTTLS"),
        Server("smtp", host, port("submissions"), "SSL"),
        Server("smtp", host, port("submission"), "STARTTLS"),
    ]


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = value


def thunderbird(settings: Settings) -> bytes:
    """Mozilla's autoconfig format (wiki.mozilla.org/Thunderbird:Autoconfiguration)."""
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=settings.domain)
    _text(provider, "domain", settings.domain)
    _text(provider, "displayName", f"{settings.domain} (tidings)")
    _text(provider, "displayShortName", settings.domain)
    for server in servers(settings):
        kind = "incomingServer" if server.protocol == "imap" else "outgoingServer"
        element = ET.SubElement(provider, kind, type=server.protocol)
        _text(element, "hostname", server.hostname)
        _text(element, "port", str(server.port))
        _text(element, "socketType", server.security)
        _text(element, "authentication", "password-cleartext")  # inside TLS only
        _text(element, "username", "%EMAILADDRESS%")
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body


def _stable_uuid(*parts: str) -> str:
    """Apple replaces a profile with the same PayloadUUID instead of adding a second."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts))).upper()


def mobileconfig(settings: Settings, address: str) -> bytes:
    """An Apple configuration profile: the mail account, and the local CA in laptop mode
    (so iOS and macOS trust the box's certificate)."""
    imaps, _, smtps, _ = servers(settings)
    identifier = ".".join(reversed(settings.domain.split("."))) + ".tidings"
    mail = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.mail.{address}",
        "PayloadUUID": _stable_uuid("mail", address),
        "PayloadDisplayName": f"Mail ({address})",
        "EmailAccountDescription": address,
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAddress": address,
        "IncomingMailServerHostName": imaps.hostname,
        "IncomingMailServerPortNumber": imaps.port,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerUsername": address,
        "OutgoingMailServerHostName": smtps.hostname,
        "OutgoingMailServerPortNumber": smtps.port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    content: list[dict[str, object]] = [mail]
    ca = ensure_tls(settings).ca
    if ca is not None:
        certificate = x509.load_pem_x509_certificate(ca.read_bytes())
        content.append(
            {
                "PayloadType": "com.apple.security.root",
                "PayloadVersion": 1,
                "PayloadIdentifier": f"{identifier}.ca",
                "PayloadUUID": _stable_uuid("ca", settings.hostname),
                "PayloadDisplayName": f"tidings local CA ({settings.hostname})",
                "PayloadContent": certificate.public_bytes(Encoding.DER),
            }
        )
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.{address}",
        "PayloadUUID": _stable_uuid("profile", address),
        "PayloadDisplayName": f"{settings.domain} mail ({address})",
        "PayloadDescription": "Mail account on your tidings box.",
        "PayloadContent": content,
    }
    return plistlib.dumps(profile)


AUTODISCOVER_RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
AUTODISCOVER_OUTLOOK = (
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)


def autodiscover(settings: Settings, address: str) -> bytes:
    """Outlook's POX autodiscover answer with IMAP and SMTP settings (implicit TLS)."""
    root = ET.Element("Autodiscover", xmlns=AUTODISCOVER_RESPONSE)
    response = ET.SubElement(root, "Response", xmlns=AUTODISCOVER_OUTLOOK)
    account = ET.SubElement(response, "Account")
    _text(account, "AccountType", "email")
    _text(account, "Action", "settings")
    for server in servers(settings):
        if server.security != "SSL":
            continue
        protocol = ET.SubElement(account, "Protocol")
        _text(protocol, "Type", server.protocol.upper())
        _text(protocol, "Server", server.hostname)
        _text(protocol, "Port", str(server.port))
        _text(protocol, "DomainRequired", "off")
        _text(protocol, "LoginName", address)
        _text(protocol, "SPA", "off")
        _text(protocol, "SSL", "on")
        _text(protocol, "AuthRequired", "on")
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body
