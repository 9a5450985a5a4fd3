"""What calendar and contacts clients need to set themselves up, from dav's own paths:
the URLs to type into DAVx5 or Thunderbird, and the CalDAV/CardDAV payloads of an
Apple configuration profile. The web app's devices page shows and serves them; it
passes the base URL clients reach this service at (``https://<box>`` behind the
appliance's nginx, the dav listener on a laptop), which only the caller knows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tidings.dav.engine import addressbook_url, calendar_url, principal_url

_NAMESPACE = uuid.UUID("0c6f5f0e-2f55-4b8e-9c43-8d2a3f7b91d4")  # dav's own, fixed forever


@dataclass(frozen=True)
class DavClientSettings:
    base_url: str
    """What DAVx5 asks for ("Login with URL"): it finds the rest by discovery."""
    principal: str
    calendar: str
    addressbook: str
    username: str
    host: str
    port: int
    tls: bool


def client_settings(base_url: str, address: str) -> DavClientSettings:
    base = base_url.rstrip("/")
    parts = urlsplit(base)
    tls = parts.scheme == "https"
    return DavClientSettings(
        base_url=base + "/",
        principal=base + principal_url(address),
        calendar=base + calendar_url(address),
        addressbook=base + addressbook_url(address),
        username=address,
        host=parts.hostname or "",
        port=parts.port or (443 if tls else 80),
        tls=tls,
    )


def _stable_uuid(*parts: str) -> str:
    """Apple replaces a payload with the same PayloadUUID instead of adding a second."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts))).upper()


def apple_payloads(settings: DavClientSettings, identifier: str) -> list[dict[str, Any]]:
    """``com.apple.caldav.account`` and ``com.apple.carddav.account`` for one account
    (Apple's Configuration Profile Reference); the password is asked on the device."""
    principal_path = urlsplit(settings.principal).path
    common = {"PayloadVersion": 1}
    return [
        {
            **common,
            "PayloadType": "com.apple.caldav.account",
            "PayloadIdentifier": f"{identifier}.caldav.{settings.username}",
            "PayloadUUID": _stable_uuid("caldav", settings.username, settings.base_url),
            "PayloadDisplayName": f"Calendars ({settings.username})",
            "CalDAVAccountDescription": settings.username,
            "CalDAVHostName": settings.host,
            "CalDAVPort": settings.port,
            "CalDAVUseSSL": settings.tls,
            "CalDAVPrincipalURL": principal_path,
            "CalDAVUsername": settings.username,
        },
        {
            **common,
            "PayloadType": "com.apple.carddav.account",
            "PayloadIdentifier": f"{identifier}.carddav.{settings.username}",
            "PayloadUUID": _stable_uuid("carddav", settings.username, settings.base_url),
            "PayloadDisplayName": f"Contacts ({settings.username})",
            "CardDAVAccountDescription": settings.username,
            "CardDAVHostName": settings.host,
            "CardDAVPort": settings.port,
            "CardDAVUseSSL": settings.tls,
            "CardDAVPrincipalURL": principal_path,
            "CardDAVUsername": settings.username,
        },
    ]
