"""What a service is, which ones exist, and how one runs.

Every service is started the same way — ``tidings serve NAME`` — by ``tidings up`` on
a laptop and by its systemd unit on the appliance. A service module exposes
``async def main(ctx: ServiceContext) -> None``: it opens its listeners with
:meth:`ServiceContext.listen`, calls :meth:`ServiceContext.ready` once it accepts
connections, and returns after :attr:`ServiceContext.stopping` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tidings.core import sockets
from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.core.db import Database, migrate

log = logging.getLogger("tidings.service")


@dataclass(frozen=True)
class Endpoint:
    name: str  # key in [listen], and FileDescriptorName of its systemd socket
    kind: Literal["http", "smtp", "imap", "tls"]  # how the status page probes it


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    entry: str  # "module:function"
    endpoints: tuple[Endpoint, ...]
    description: str

    def load(self) -> Callable[[ServiceContext], Awaitable[None]]:
        module, _, attr = self.entry.partition(":")
        func: Callable[[ServiceContext], Awaitable[None]] = getattr(
            importlib.import_module(module), attr
        )
        return func


#: The services this build implements, in start order. A service appears here when
#: it has real code; ``tidings up`` runs all of them.
SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec(
            "web",
            "tidings.web.service:main",
            (Endpoint("web", "http"),),
            "web UI and the status page of the whole box",
        ),
        ServiceSpec(
            "smtp",
            "tidings.mail.smtp.service:main",
            (
                Endpoint("smtp", "smtp"),
                Endpoint("submission", "smtp"),
                Endpoint("submissions", "smtp"),
            ),
            "inbound mail (MX) and authenticated submission",
        ),
        ServiceSpec(
            "outbound",
            "tidings.mail.outbound.service:main",
            (),  # listens on nothing: it only connects out
            "delivers the outgoing mail queue (MX or smarthost), retries, bounces",
        ),
        ServiceSpec(
            "mail-api",
            "tidings.mail.api.service:main",
            (Endpoint("mail_api", "http"),),
            "mail REST API: what the web UI, MCP and scripts use",
        ),
        ServiceSpec(
            "ai",
            "tidings.ai.service:main",
            (Endpoint("ai", "http"),),
            "the assistant: local model, MCP tools, conversations (WebSocket and SSE)",
        ),
        ServiceSpec(
            "imap",
            "tidings.mail.imap:main",
            (Endpoint("imap", "imap"), Endpoint("imaps", "imap")),
            "IMAP (STARTTLS and implicit TLS) on the users' Maildirs",
        ),
        ServiceSpec(
            "dav",
            "tidings.dav.service:main",
            (Endpoint("dav", "http"),),
            "calendars and contacts: CalDAV/CardDAV (Xandikos) and their REST API",
        ),
        ServiceSpec(
            "mcp-mail",
            "tidings.mcp.service:main",
            (Endpoint("mcp_mail", "http"),),
            "MCP mail server for the assistant and MCP clients (over the mail REST API)",
        ),
        ServiceSpec(
            "mcp-dav",
            "tidings.mcp.dav_service:main",
            (Endpoint("mcp_dav", "http"),),
            "MCP calendar and contacts server (over the dav service's REST API)",
        ),
    )
}


@dataclass
class ServiceContext:
    """What a running service gets from the core."""

    name: str
    settings: Settings
    db: Database
    accounts: Accounts
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _listening: list[str] = field(default_factory=list)

    def listen(self, endpoint: str) -> socket.socket:
        endpoint_value: str = getattr(self.settings.listen, endpoint)
        sock = sockets.listen(endpoint, endpoint_value)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._listening.append(f"{endpoint}={shown}")
        return sock

    def ready(self) -> None:
        log.info("%s listening on %s", self.name, ", ".join(self._listening) or "nothing")
        sockets.notify(f"READY=1\nSTATUS={self.name}: {' '.join(self._listening)}")
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    _heartbeat: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        """Touch ``run/NAME.alive`` while running: how the status page sees services
        that listen on nothing (the outbound queue)."""
        path = heartbeat_path(self.settings, self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            while True:
                path.write_text(str(os.getpid()))
                await asyncio.sleep(HEARTBEAT_SECONDS)
        finally:
            path.unlink(missing_ok=True)


HEARTBEAT_SECONDS = 10


def heartbeat_path(settings: Settings, name: str) -> Path:
    return settings.data_dir / "run" / f"{name}.alive"


async def _run(spec: ServiceSpec, settings: Settings) -> None:
    db = Database(settings)
    ctx = ServiceContext(spec.name, settings, db, Accounts(db))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, ctx.stopping.set)
    try:
        await spec.load()(ctx)
    finally:
        if ctx._heartbeat is not None:
            ctx._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ctx._heartbeat
        sockets.notify("STOPPING=1")
        db.close()
        log.info("%s stopped", spec.name)


def serve(name: str, settings: Settings) -> None:
    """Run one service in the foreground until SIGTERM/SIGINT."""
    spec = SERVICES[name]
    migrate(settings)
    asyncio.run(_run(spec, settings))
