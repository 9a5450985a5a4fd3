"""Signing in to the web app: sessions, their credential, CSRF and Origin checks.

A session is a signed cookie (Quart's, HttpOnly, SameSite=Lax, Secure under TLS) that
holds no long-lived secret. At sign-in the web service makes the user a short-lived API
token (``ai``, ``mail:read``, ``mail:send``; it expires with the session and is revoked
at sign-out) and keeps it in the cookie *encrypted* with a key only the server has, so
the browser carries something it cannot use anywhere else. Every request re-checks that
token against the accounts database: a revoked or expired one signs the browser out.
With it the web service acts for the user towards the assistant and the mail API
exactly like any other client, through their public APIs and their checks.

Every state-changing request carries the session's CSRF token (form field ``csrf`` or
header ``X-CSRF-Token``) and, when the browser says where it comes from (``Origin``,
``Sec-Fetch-Site``), must come from this site; WebSocket handshakes must carry this
site's ``Origin``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from quart import Quart, has_request_context, request, websocket
from quart.sessions import SecureCookieSessionInterface
from werkzeug.datastructures import Headers

from tidings.core.accounts import Accounts, AuthFailed, Principal, User
from tidings.core.config import Settings
from tidings.core.db import utcnow

log = logging.getLogger("tidings.web")

# What the assistant may do for a signed-in person: mail, and calendars and contacts.
SESSION_SCOPES = ("ai", "mail:read", "mail:send", "dav:write")
TOKEN_NAME = "web session"  # noqa: S105  (a label, not a secret)
COOKIE = "tidings_session"


def secret_key(settings: Settings) -> bytes:
    """The server's own key (signing cookies, encrypting their credential), made once."""
    path = Path(settings.data_dir) / "web" / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        path.write_bytes(secrets.token_bytes(32))
    return path.read_bytes()


def _trusted_proxy(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def is_secure() -> bool:
    """Under TLS: directly, or behind the box's own nginx (on loopback) saying so."""
    current = request if has_request_context() else websocket
    if current.scheme in ("https", "wss"):
        return True
    forwarded = current.headers.get("X-Forwarded-Proto", "")
    return forwarded == "https" and _trusted_proxy(current.remote_addr or "")


class SessionCookies(SecureCookieSessionInterface):
    """Quart's signed cookie, Secure whenever the request came over TLS."""

    def get_cookie_secure(self, app: Quart) -> bool:
        return is_secure()


@dataclass(frozen=True)
class Visitor:
    """The signed-in person behind a request."""

    user: User
    token: str  # the session's short-lived API token, for the assistant and the mail API
    token_id: int
    csrf: str

    @property
    def user_id(self) -> int:
        assert self.user.id is not None
        return self.user.id


class Sessions:
    def __init__(self, settings: Settings, accounts: Accounts, key: bytes) -> None:
        self.settings = settings
        self.accounts = accounts
        self.lifetime = timedelta(hours=settings.web.session_hours)
        fernet_key = hashlib.sha256(b"tidings web session token\0" + key).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(fernet_key))

    async def sign_in(self, address: str, password: str, source: str) -> User:
        """Check the password (throttled as for every protocol); raises
        :class:`~tidings.core.accounts.AuthFailed` or ``Throttled``."""
        return await asyncio.to_thread(self.accounts.authenticate, address, password, source=source)

    async def open(self, user: User, cookie: Any) -> Visitor:
        """Fill a fresh session cookie for ``user`` (the caller cleared the old one:
        the session is rotated at every sign-in)."""
        secret, record = await asyncio.to_thread(
            self.accounts.create_token,
            user.address,
            SESSION_SCOPES,
            TOKEN_NAME,
            expires_at=utcnow() + self.lifetime,
        )
        assert record.id is not None
        csrf = secrets.token_urlsafe(32)
        cookie["tok"] = self._fernet.encrypt(secret.encode()).decode()
        cookie["tid"] = record.id
        cookie["csrf"] = csrf
        cookie.permanent = True
        return Visitor(user, secret, record.id, csrf)

    async def visitor(self, cookie: Any) -> Visitor | None:
        """Who the cookie belongs to, if its credential is still alive."""
        sealed = cookie.get("tok")
        if not isinstance(sealed, str):
            return None
        try:
            secret = self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None
        try:
            principal: Principal = await asyncio.to_thread(self.accounts.check_token, secret, "ai")
        except (AuthFailed, PermissionError):
            return None
        if principal.token_id is None or principal.token_id != cookie.get("tid"):
            return None
        return Visitor(principal.user, secret, principal.token_id, str(cookie.get("csrf", "")))

    async def close(self, visitor: Visitor) -> None:
        await asyncio.to_thread(self.accounts.revoke_token, visitor.token_id)


def csrf_token(cookie: Any) -> str:
    """The session's CSRF token; an anonymous session gets one too (the login form)."""
    token = cookie.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        cookie["csrf"] = token
    return token


def _site_origin(headers: Headers, scheme: str) -> str:
    return f"{scheme}://{headers.get('Host', '')}"


def same_origin(origin: str, headers: Headers, secure: bool) -> bool:
    """``origin`` is this site, as the browser addressed it."""
    return origin in (_site_origin(headers, "https" if secure else "http"),)


def check_post(cookie: Any, form_token: str | None) -> str | None:
    """Why a state-changing request is refused, or None if it may proceed."""
    origin = request.headers.get("Origin")
    if origin is not None and not same_origin(origin, request.headers, is_secure()):
        return f"cross-origin request from {origin[:100]}"
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return "cross-site request"
    expected = cookie.get("csrf")
    given = form_token or request.headers.get("X-CSRF-Token", "")
    if not isinstance(expected, str) or not expected or not given:
        return "missing CSRF token"
    if not hmac.compare_digest(expected.encode(), given.encode()):
        return "wrong CSRF token"
    return None


def check_websocket_origin(headers: Headers, secure: bool) -> str | None:
    origin = headers.get("Origin")
    if origin is None:
        return "no Origin"
    if not same_origin(origin, headers, secure):
        return f"cross-origin WebSocket from {origin[:100]}"
    return None
