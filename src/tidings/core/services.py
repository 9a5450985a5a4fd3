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
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # imported where used: `tidings up` itself never needs the database
    from tidings.core.accounts import Accounts
    from tidings.core.db import Database

from tidings.core import sockets
from tidings.core.config import Settings
from tidings.core.workers import fork_workers, stop_workers, worker_count

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
    #: How many processes serve it (:mod:`tidings.core.workers`); one if None.
    workers: Callable[[Settings], int] | None = None
    #: Never shares its process with other services under ``tidings up`` (the
    #: assistant: its model's memory and CPU threads stay apart).
    own_process: bool = False

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
            workers=lambda settings: worker_count(settings.mail.smtp_workers),
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
            own_process=True,
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
    #: Which of the service's processes this is; 0 does the once-per-service work.
    worker: int = 0
    #: Listeners bound before the workers were forked, by endpoint name.
    listeners: dict[str, socket.socket] = field(default_factory=dict)
    #: Services sharing this process report ready together (:func:`serve_together`).
    together: Together | None = None
    #: With several workers: worker 0's stream socket to each other worker, and in
    #: another worker its socket to worker 0 (for state kept once, like SMTP limits).
    followers: list[socket.socket] = field(default_factory=list)
    leader: socket.socket | None = None
    _listening: list[str] = field(default_factory=list)

    def listen(self, endpoint: str) -> socket.socket:
        sock = self.listeners.get(endpoint) or _bind(self.settings, endpoint)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._listening.append(f"{endpoint}={shown}")
        return sock

    def ready(self) -> None:
        log.info("%s listening on %s", self.name, ", ".join(self._listening) or "nothing")
        status = f"{self.name}: {' '.join(self._listening)}"
        if self.together is not None:
            self.together.ready(status)
        else:
            sockets.notify(f"READY=1\nSTATUS={status}")
        if self.worker == 0:
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


#: ``STATUS=`` of a process whose service (named after it) could not run.
FAILED_PREFIX = "failed: "


class Together:
    """Readiness of services sharing one process: one ``READY=1`` once all are ready."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.statuses: list[str] = []

    def ready(self, status: str) -> None:
        self.statuses.append(status)
        if len(self.statuses) == self.count:
            sockets.notify(f"READY=1\nSTATUS={'; '.join(self.statuses)}")


HEARTBEAT_SECONDS = 10
#: How long a stopping service waits for its other workers (their own grace is shorter).
WORKER_STOP_SECONDS = 30.0


def heartbeat_path(settings: Settings, name: str) -> Path:
    return settings.data_dir / "run" / f"{name}.alive"


def _bind(settings: Settings, endpoint: str) -> socket.socket:
    endpoint_value: str = getattr(settings.listen, endpoint)
    return sockets.listen(endpoint, endpoint_value)


async def _run(
    spec: ServiceSpec,
    settings: Settings,
    *,
    worker: int = 0,
    listeners: dict[str, socket.socket] | None = None,
    on_stop: Callable[[], None] | None = None,
    followers: list[socket.socket] | None = None,
    leader: socket.socket | None = None,
) -> None:
    from tidings.core.accounts import Accounts
    from tidings.core.db import Database

    db = Database(settings)
    ctx = ServiceContext(
        spec.name,
        settings,
        db,
        Accounts(db),
        worker=worker,
        listeners=listeners or {},
        followers=followers or [],
        leader=leader,
    )
    loop = asyncio.get_running_loop()

    def stop() -> None:
        ctx.stopping.set()
        if on_stop is not None:
            on_stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await spec.load()(ctx)
    finally:
        await _end_heartbeat(ctx)
        sockets.notify("STOPPING=1")
        db.close()
        log.info("%s stopped", spec.name)


async def _end_heartbeat(ctx: ServiceContext) -> None:
    if ctx._heartbeat is not None:
        ctx._heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ctx._heartbeat


async def _main(spec: ServiceSpec, ctx: ServiceContext) -> None:
    await spec.load()(ctx)


async def _run_together(specs: list[ServiceSpec], settings: Settings) -> None:
    from tidings.core.accounts import Accounts
    from tidings.core.db import Database

    db = Database(settings)
    accounts = Accounts(db)
    together = Together(len(specs))
    contexts = [
        ServiceContext(spec.name, settings, db, accounts, together=together) for spec in specs
    ]

    def stop() -> None:
        for ctx in contexts:
            ctx.stopping.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    tasks = [
        asyncio.create_task(_main(spec, ctx), name=spec.name)
        for spec, ctx in zip(specs, contexts, strict=True)
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        failed = [task for task in done if task.exception() is not None]
        if failed:  # one service cannot run: the others stop too, and we say which
            sockets.notify(f"STATUS={FAILED_PREFIX}{failed[0].get_name()}")
            stop()
            await asyncio.wait(tasks)
            error = failed[0].exception()
            assert error is not None
            raise error
    finally:
        for ctx in contexts:
            await _end_heartbeat(ctx)
        sockets.notify("STOPPING=1")
        db.close()
        log.info("%s stopped", ", ".join(spec.name for spec in specs))


def serve_together(names: list[str], settings: Settings) -> None:
    """Run several services in one process (one event loop, one database engine),
    each exactly as ``tidings serve NAME`` runs it alone but with one worker: how
    ``tidings up`` saves the memory of a Python process per service."""
    from tidings.core.db import migrate

    if len(names) == 1:
        serve(names[0], settings)
        return
    migrate(settings)
    asyncio.run(_run_together([SERVICES[name] for name in names], settings))


def serve(name: str, settings: Settings) -> None:
    """Run one service in the foreground until SIGTERM/SIGINT."""
    from tidings.core.db import migrate

    spec = SERVICES[name]
    migrate(settings)
    count = spec.workers(settings) if spec.workers else 1
    if count <= 1:
        asyncio.run(_run(spec, settings))
        return
    spec.load()  # imported before the fork: the workers share these pages
    listeners = {e.name: _bind(settings, e.name) for e in spec.endpoints}
    pairs = [socket.socketpair() for _ in range(count - 1)]

    def run_worker(index: int) -> None:
        leader = pairs[index - 1][1]
        for pair in pairs:
            pair[0].close()
        asyncio.run(_run(spec, settings, worker=index, listeners=listeners, leader=leader))

    children = fork_workers(count, run_worker)

    def relay() -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    for pair in pairs:
        pair[1].close()
    followers = [pair[0] for pair in pairs]
    try:
        asyncio.run(_run(spec, settings, listeners=listeners, on_stop=relay, followers=followers))
    finally:
        stop_workers(children, WORKER_STOP_SECONDS)
