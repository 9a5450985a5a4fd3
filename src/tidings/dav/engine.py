"""Xandikos, run for tidings: one multi-user backend under ``data_dir/dav``, driven from
one worker thread.

Xandikos' request handlers are coroutines, but its storage (git repositories through
dulwich, its indexes) blocks: run on the service's event loop, one slow REPORT would
stall every other request, ``/healthz`` included. So every Xandikos call runs in a
single dedicated thread with its own event loop (:meth:`DavEngine.call`). One thread,
not a pool: that is the concurrency Xandikos itself is written for (its own server
runs every request on one loop), its store caches are not locked, and two writers
on one git repository would race. See docs/decisions.md ("dav").
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import posixpath
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from tidings.dav import xandikos_patches

log = logging.getLogger("tidings.dav")

T = TypeVar("T")

#: Where the DAV tree is served; nginx routes it (and the well-known paths) here.
DAV_ROOT = "/dav"
CALENDAR = "calendar"  # the default calendar's collection name (Xandikos' default)
ADDRESSBOOK = "addressbook"

#: The user a request acts for, read by the backend to hide every other principal.
_acting_user: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tidings_dav_user", default=None
)


@dataclass(frozen=True)
class DavResponse:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


def principal_path(address: str) -> str:
    """A user's principal, relative to :data:`DAV_ROOT`: ``/alice@example.test/``."""
    return f"/{address}/"


def principal_url(address: str) -> str:
    return DAV_ROOT + quote(principal_path(address), safe="/@")


def calendar_url(address: str) -> str:
    return principal_url(address) + f"calendars/{CALENDAR}/"


def addressbook_url(address: str) -> str:
    return principal_url(address) + f"contacts/{ADDRESSBOOK}/"


class DavEngine:
    """The Xandikos app and backend, and the one thread that touches them."""

    def __init__(self, root: Path) -> None:
        xandikos_patches.apply()
        from tidings.dav.xandikos_app import TidingsBackend, TidingsXandikosApp

        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root = root
        self.backend = TidingsBackend(str(root), acting_user=_acting_user.get)
        self.app = TidingsXandikosApp(self.backend)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xandikos")
        self._thread = threading.local()
        self._known: set[str] = set()

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    # -- running in the worker thread ---------------------------------------------------
    def _loop(self) -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop | None = getattr(self._thread, "loop", None)
        if loop is None:
            loop = asyncio.new_event_loop()
            self._thread.loop = loop
        return loop

    async def call(self, user: str | None, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the worker thread, acting for ``user``. A coroutine
        function's result is awaited on the worker's own loop."""

        def work() -> T:
            token = _acting_user.set(user)
            try:
                if user is not None and user not in self._known:
                    self.backend.ensure_user(user)
                    self._known.add(user)
                result = fn(*args)
                if asyncio.iscoroutine(result):
                    result = self._loop().run_until_complete(result)
                return result
            finally:
                _acting_user.reset(token)

        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def ensure_user(self, user: str) -> None:
        """Create the user's principal, default calendar and address book if missing."""
        await self.call(user, lambda: None)

    async def request(
        self,
        user: str,
        method: str,
        path: str,
        query: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
    ) -> DavResponse:
        """One WebDAV request for ``user`` (already authenticated); ``path`` is
        relative to :data:`DAV_ROOT`, percent-decoded (as WSGI's ``PATH_INFO``)."""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": DAV_ROOT,
            "PATH_INFO": path.encode("utf-8", "surrogateescape").decode("latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_USER": user,
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in headers:
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key not in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                environ["HTTP_" + key] = value
            if key == "HOST":
                environ["SERVER_NAME"] = value
        return await self.call(user, self._handle, environ)

    def _handle(self, environ: dict[str, Any]) -> Any:
        from xandikos.webdav import WSGIRequest

        request = WSGIRequest(environ)
        env = {"SCRIPT_NAME": DAV_ROOT, "ORIGINAL_ENVIRON": environ}

        async def handle() -> DavResponse:
            # No start_response: Xandikos' git-over-HTTP side door (which skips its
            # access check) is never taken.
            response = await self.app._handle_request(request, env)
            body = response.body
            if isinstance(body, bytes | bytearray | memoryview):
                data = bytes(body)
            elif isinstance(body, str):
                data = body.encode()
            else:
                data = b"".join(body)
            return DavResponse(response.status, response.reason, list(response.headers), data)

        return handle()


def normalise_dav_path(path: str) -> str:
    return posixpath.normpath("/" + path.lstrip("/"))
