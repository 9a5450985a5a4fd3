"""tidings' HTTP front for CalDAV/CardDAV: who is asking, and may they ask that.

An ASGI app (served by hypercorn like every tidings HTTP service) that answers
itself what needs no storage and hands the rest to :class:`.engine.DavEngine`:

- ``/.well-known/caldav`` and ``/.well-known/carddav``: a redirect to ``/dav/``,
  without authentication (RFC 6764), so clients find the server from the host name;
- ``OPTIONS``: 200 with the DAV features and methods, without authentication (some
  clients probe before they send credentials; it says nothing about anyone's data);
- everything else under ``/dav/``: HTTP Basic, the account's password or an app
  token (``tdg_…`` with the ``dav``, ``dav:write`` or ``dav:read`` scope); a
  missing or wrong credential is **401 with ``WWW-Authenticate``** (Xandikos says
  403, which clients never turn into a password prompt); too many failures are 429
  with ``Retry-After`` (the shared login throttle);
- the user name may come URL-encoded (iOS sends ``alice%40example.test``);
- headers a proxy could use to name the user (``X-Remote-User``…) are dropped;
- a path outside the user's own principal is 404, the same whether it exists or
  not, so nobody learns which other accounts exist;
- ``/v1/…``, ``/openapi.json``, ``/docs``: the REST API (:mod:`.api`), bearer tokens.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import posixpath
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote, urlsplit

from tidings import __version__
from tidings.core.accounts import AccountError, Accounts, AuthFailed, Principal, normalise_address
from tidings.core.throttle import Throttled
from tidings.dav.engine import DAV_ROOT, DavEngine, principal_path

log = logging.getLogger("tidings.dav")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REALM = 'Basic realm="tidings", charset="UTF-8"'
WELL_KNOWN = ("/.well-known/caldav", "/.well-known/carddav")
#: Methods that change nothing: all a ``dav:read`` token may use.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT"})
#: Scopes that let a token use DAV, and whether they allow writing.
DAV_SCOPES = {"dav": True, "dav:write": True, "dav:read": False}
#: Headers with which a proxy in front could name the user: never from a client.
TRUSTED_USER_HEADERS = frozenset(
    {
        "x-remote-user",
        "remote-user",
        "x-forwarded-user",
        "x-auth-request-user",
        "x-auth-request-email",
        "x-forwarded-email",
        "x-authenticated-user",
    }
)
#: What OPTIONS answers (Xandikos' own list, less what tidings does not provide).
DAV_FEATURES = (
    "1, 2, 3, calendar-access, addressbook, extended-mkcol, add-member, sync-collection, quota"
)
ALLOW = (
    "COPY, DELETE, GET, HEAD, MKCALENDAR, MKCOL, MOVE, OPTIONS, POST, PROPFIND, PROPPATCH, "
    "PUT, REPORT"
)
MAX_BODY = 10 * 1024 * 1024  # an iCalendar or vCard object, or a REPORT; not a backup
CREDENTIAL_CACHE_SECONDS = 60.0
_CACHE_MAX = 4096


class DavAuth:
    """HTTP Basic against the accounts, with a short in-memory cache of successes.

    A calendar client sends its password with every request (dozens per sync), and an
    argon2id check costs ~50 ms of CPU: without a cache that is the whole budget. Only
    successes are cached, keyed by a salted hash of user and password, for
    :data:`CREDENTIAL_CACHE_SECONDS` (so a changed password or a revoked token stops
    working within a minute); failures always go to the throttled check."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts
        self._salt = secrets.token_bytes(16)
        self._cache: dict[bytes, tuple[float, str, bool]] = {}

    def _key(self, user: str, password: str) -> bytes:
        return hashlib.sha256(
            self._salt + user.encode("utf-8", "surrogatepass") + b"\0" + password.encode()
        ).digest()

    async def check(self, user: str, password: str, source: str) -> tuple[str, bool]:
        """``(address, may_write)``; raises :class:`AuthFailed`, :class:`Throttled`,
        or :class:`PermissionError` (a token without a DAV scope)."""
        key = self._key(user, password)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        address, may_write = await asyncio.to_thread(self._verify, user, password, source)
        if len(self._cache) >= _CACHE_MAX:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
        self._cache[key] = (now + CREDENTIAL_CACHE_SECONDS, address, may_write)
        return address, may_write

    def _verify(self, user: str, password: str, source: str) -> tuple[str, bool]:
        try:
            address = normalise_address(user)
        except AccountError:
            address = user.strip()[:254]
        if password.startswith("tdg_"):
            # App tokens are throttled like passwords: a guessed one is a failed login.
            self.accounts.throttle.check(address, source)
            try:
                principal: Principal = self.accounts.check_token(password)
                if principal.user.address != address:
                    raise AuthFailed("token of another user")
            except AuthFailed:
                self.accounts.throttle.record_failure(address, source)
                raise
            scopes = [s for s in DAV_SCOPES if principal.has(s)]
            if not scopes:
                raise PermissionError("this token lacks the dav, dav:write or dav:read scope")
            return address, any(DAV_SCOPES[s] for s in scopes)
        user_record = self.accounts.authenticate(address, password, source=source)
        return user_record.address, True


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None when it exceeds ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    content_type: str | None = "text/plain; charset=utf-8",
) -> None:
    out = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers or []]
    if content_type and body and not any(k == b"content-type" for k, _ in out):
        out.append((b"content-type", content_type.encode()))
    if not any(k == b"content-length" for k, _ in out):
        out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


def _basic_credentials(headers: list[tuple[bytes, bytes]]) -> tuple[str, str] | None:
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        kind, _, encoded = value.decode("latin-1").partition(" ")
        if kind.lower() != "basic":
            return None
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        user, sep, password = text.partition(":")
        if not sep or not user:
            return None
        # iOS and macOS send the address URL-encoded (alice%40example.test).
        return unquote(user), password
    return None


def _inside(user: str, decoded: str) -> bool:
    """Whether a path (relative to /dav, percent-decoded) is the root or inside
    ``user``'s principal. Normalised first, so ``..`` (or ``%2e%2e``) cannot escape."""
    if "\x00" in decoded:
        return False
    normal = posixpath.normpath("/" + decoded.lstrip("/"))
    if normal == "/":
        return True
    segments = normal.strip("/").split("/")
    if ".git" in segments:  # Xandikos can serve its git stores; never here
        return False
    own = principal_path(user).strip("/")
    return segments[0] == own


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _destination_path(destination: str) -> str:
    """The path of a Destination header relative to /dav, decoded; a path elsewhere
    becomes one no user owns."""
    path = unquote(urlsplit(destination).path)
    if path != DAV_ROOT and not path.startswith(DAV_ROOT + "/"):
        return "/\x00"
    return path[len(DAV_ROOT) :] or "/"


class DavFront:
    """The dav service's ASGI app."""

    def __init__(self, engine: DavEngine, auth: DavAuth, api: Any = None) -> None:
        self.engine = engine
        self.auth = auth
        self.api: ASGIApp | None = api  # the REST API (a Quart app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            if self.api is not None:
                await self.api(scope, receive, send)
                return
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        method: str = scope["method"].upper()
        if self.api is not None and (
            path.startswith(("/v1/", "/static/")) or path in ("/openapi.json", "/docs")
        ):
            await self.api(scope, receive, send)
            return
        # Read first, whatever the answer: a response sent before the body is consumed
        # makes the server drop the connection, which a keep-alive client finds closed
        # under its next request (vdirsyncer: "Broken pipe" after a PROPFIND on /).
        body = await _read_body(receive, MAX_BODY)
        if body is None:
            await _respond(send, 413, b"Request body too large.\n", [("Connection", "close")])
            return
        if path == "/healthz" and method in ("GET", "HEAD"):
            health = json.dumps({"status": "ok", "service": "dav", "version": __version__})
            await _respond(send, 200, health.encode(), content_type="application/json")
            return
        if path.rstrip("/") in WELL_KNOWN or path == "/":
            await _respond(send, 301, b"", [("Location", DAV_ROOT + "/")])
            return
        if path != DAV_ROOT and not path.startswith(DAV_ROOT + "/"):
            await _respond(send, 404, b"Not Found\n")
            return
        if method == "OPTIONS":
            await _respond(send, 200, b"", [("DAV", DAV_FEATURES), ("Allow", ALLOW)])
            return
        await self._dav(scope, send, method, body)

    async def _dav(self, scope: Scope, send: Send, method: str, body: bytes) -> None:
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        credentials = _basic_credentials(headers)
        if credentials is None:
            await _respond(send, 401, b"Authentication required.\n", [("WWW-Authenticate", REALM)])
            return
        client = scope.get("client") or ("", 0)
        try:
            address, may_write = await self.auth.check(*credentials, source=client[0] or "")
        except Throttled as exc:
            await _respond(
                send,
                429,
                f"Too many failed logins; try again in {exc.retry_after} s.\n".encode(),
                [("Retry-After", str(exc.retry_after))],
            )
            return
        except AuthFailed:
            await _respond(send, 401, b"Invalid credentials.\n", [("WWW-Authenticate", REALM)])
            return
        except PermissionError as exc:
            await _respond(send, 403, f"{exc}.\n".encode())
            return
        if not may_write and method not in READ_METHODS:
            await _respond(send, 403, b"This token may only read (dav:read).\n")
            return
        dav_path = scope["path"][len(DAV_ROOT) :] or "/"  # decoded by the server
        if not _inside(address, dav_path):
            await _respond(send, 404, b"Not Found\n")
            return
        destination = _header(headers, b"destination")
        if destination is not None and not _inside(address, _destination_path(destination)):
            # COPY/MOVE name a second path, which Xandikos does not check against the
            # user: without this, alice could copy an event into bob's calendar.
            await _respond(send, 403, b"The destination is outside your collections.\n")
            return
        forwarded = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in headers
            if k.lower().decode("latin-1") not in TRUSTED_USER_HEADERS
            and k.lower() != b"authorization"
        ]
        query = scope.get("query_string", b"").decode("latin-1")
        response = await self.engine.request(address, method, dav_path, query, forwarded, body)
        out = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
        await _respond(send, response.status, response.body, out, content_type=None)
