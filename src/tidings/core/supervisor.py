"""``tidings up``: every implemented service as a child process, one config.

Children are started as ``tidings serve NAME...`` — the command the systemd units run
(one name each there; here the services that can share a process share one, see
:func:`process_groups`) — and report readiness through ``sd_notify`` on a socket we
own, exactly as they would to systemd. We print one ``ready`` line when all have, and
stop them all on Ctrl-C/SIGTERM. If one fails to start (port taken, bad config), we stop the others
and exit non-zero with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidings.core.config import Settings
from tidings.core.services import FAILED_PREFIX, SERVICES

STOP_GRACE_SECONDS = 10
START_TIMEOUT_SECONDS = 120


class StartFailed(Exception):
    pass


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    notify: socket.socket
    status: str = ""

    @property
    def failed(self) -> bool:
        return self.status.startswith(FAILED_PREFIX)


def _read_status(child: Child, datagram: bytes) -> bool:
    """Note the child's ``STATUS=``; whether it said ``READY=1``."""
    fields = dict(line.split("=", 1) for line in datagram.decode().splitlines() if "=" in line)
    child.status = fields.get("STATUS", child.status)
    return fields.get("READY") == "1"


async def _wait_ready(child: Child) -> None:
    """Until the child says READY=1; StartFailed if it exits first."""
    loop = asyncio.get_running_loop()
    exited = asyncio.ensure_future(child.process.wait())
    try:
        while True:
            message = asyncio.ensure_future(loop.sock_recv(child.notify, 4096))
            done, _ = await asyncio.wait({message, exited}, return_when=asyncio.FIRST_COMPLETED)
            if message in done:
                if _read_status(child, message.result()):
                    return
                continue
            message.cancel()
            with contextlib.suppress(BlockingIOError):  # what it said just before exiting
                while True:
                    _read_status(child, child.notify.recv(4096))
            name = child.status.removeprefix(FAILED_PREFIX) if child.failed else child.name
            raise StartFailed(
                f"{name} failed to start (exit code {exited.result()}); see its message above"
            )
    finally:
        if not exited.done():
            exited.cancel()


async def _stop(children: Sequence[Child]) -> None:
    for child in children:
        if child.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
    for child in children:
        try:
            await asyncio.wait_for(child.process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                child.process.kill()
            await child.process.wait()


def _endpoint_lines(settings: Settings) -> list[str]:
    lines = []
    for spec in SERVICES.values():
        if not spec.endpoints:  # e.g. outbound: it only connects out
            lines.append(f"  {spec.name:<8} (no listener)")
        for endpoint in spec.endpoints:
            address = getattr(settings.listen, endpoint.name)
            scheme = "http://" if endpoint.kind == "http" else ""
            lines.append(f"  {spec.name:<8} {endpoint.name:<12} {scheme}{address}")
    return lines


async def _up(
    settings: Settings, cli_args: Sequence[str], names: Sequence[str], has_users: bool
) -> int:
    children: list[Child] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with tempfile.TemporaryDirectory(prefix="tidings-up-") as tmp:
        try:
            for group in process_groups(names):
                name = ", ".join(group)
                path = str(Path(tmp) / f"{group[0]}.notify")
                notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                notify.bind(path)
                notify.setblocking(False)
                env = dict(os.environ, NOTIFY_SOCKET=path)
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "tidings",
                    *cli_args,
                    "serve",
                    *group,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                )
                children.append(Child(name, process, notify))
            starting: asyncio.Future[Any] = asyncio.gather(*(_wait_ready(c) for c in children))
            stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
            done_start, _ = await asyncio.wait(
                {starting, stopped},
                timeout=START_TIMEOUT_SECONDS,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if starting not in done_start:
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError, StartFailed):
                    await starting
                if stopped in done_start:
                    return 130
                raise StartFailed(f"services not ready after {START_TIMEOUT_SECONDS} s")
            starting.result()  # raises StartFailed
            print("tidings is up:", *_endpoint_lines(settings), sep="\n", flush=True)
            if "web" in names:
                print(f"open http://{settings.listen.web}/ in a browser and sign in", flush=True)
            if not has_users:
                print(
                    "no accounts yet; create one with: tidings user add you@"
                    f"{settings.domain} --admin",
                    flush=True,
                )
            print("ready", flush=True)
            # Run until asked to stop, or until a child dies (then stop the rest).
            exits: dict[asyncio.Future[Any], Child] = {
                asyncio.ensure_future(c.process.wait()): c for c in children
            }
            waiting: set[asyncio.Future[Any]] = {stopped, *exits}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in exits:
                task.cancel()
            dead = [exits[t] for t in done if t in exits]
            if dead and not stop.is_set():
                print(
                    f"tidings: {dead[0].name} exited unexpectedly "
                    f"(exit code {dead[0].process.returncode}); stopping the others",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
            return 0
        except StartFailed as exc:
            print(f"tidings: {exc}", file=sys.stderr, flush=True)
            return 1
        finally:
            await _stop(children)
            for child in children:
                child.notify.close()


def process_groups(names: Sequence[str]) -> list[list[str]]:
    """Which services share a process: all in one, except those that ask for their
    own (``ServiceSpec.own_process``). A Python process with the shared core costs
    some 70 MB before a service does anything; the services are asyncio code that
    spends its time waiting, so one event loop serves them all."""
    shared = [name for name in names if not SERVICES[name].own_process]
    alone = [[name] for name in names if SERVICES[name].own_process]
    return ([shared] if shared else []) + alone


def up(settings: Settings, cli_args: Sequence[str], names: Sequence[str] | None = None) -> int:
    """Run the services until stopped; the process exit code."""
    chosen = list(names or SERVICES)
    # Done once here so the children do not all race to migrate or mint certificates,
    # in a short-lived process: this one then never holds the database layer's memory.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        has_users = pool.submit(_prepare, settings).result()
    return asyncio.run(_up(settings, cli_args, chosen, has_users))


def _prepare(settings: Settings) -> bool:
    """Migrate, make the local TLS material; whether any account exists."""
    from tidings.core.accounts import Accounts
    from tidings.core.db import Database, migrate
    from tidings.core.tls import ensure_tls

    migrate(settings)
    ensure_tls(settings)
    db = Database(settings)
    try:
        return Accounts(db).count_users() > 0
    finally:
        db.close()
