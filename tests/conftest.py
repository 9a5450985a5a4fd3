"""Shared fixtures: a private configuration on free ports, accounts, and real
``tidings serve NAME`` subprocesses waited for through ``NOTIFY_SOCKET``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tidings.core.accounts import Accounts
from tidings.core.config import Listen, Settings, load_settings
from tidings.core.db import Database, migrate

TIDINGS = [sys.executable, "-m", "tidings"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A TOML file: data in tmp_path, every endpoint on its own free loopback port,
    and a low login-failure limit so throttling is quick to reach."""
    lines = [
        f'data_dir = "{tmp_path / "data"}"',
        'domain = "example.test"',
        'hostname = "localhost"',
        "[auth]",
        "max_failures_per_user = 4",
        "max_failures_per_address = 50",
        "[listen]",
    ]
    lines += [f'{name} = "127.0.0.1:{free_port()}"' for name in Listen.model_fields]
    path = tmp_path / "tidings.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def settings(config_file: Path) -> Settings:
    return load_settings(config_file)


@pytest.fixture
def accounts(settings: Settings) -> Iterator[Accounts]:
    migrate(settings)
    db = Database(settings)
    yield Accounts(db)
    db.close()


class Service:
    """A running ``tidings serve NAME`` process."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def serve(config_file: Path, tmp_path: Path) -> Iterator[Callable[[str], Service]]:
    """``serve("imap")`` starts the service and returns once it reported READY=1."""
    started: list[Service] = []

    def start(name: str) -> Service:
        notify_path = tmp_path / f"notify-{name}-{len(started)}.sock"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        notify.settimeout(1.0)
        log = tmp_path / f"{name}-{len(started)}.log"
        env = {**os.environ, "NOTIFY_SOCKET": str(notify_path)}
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*TIDINGS, "--config", str(config_file), "serve", name],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        service = Service(process, log)
        started.append(service)
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {log.read_text()}")
                try:
                    message = notify.recv(4096).decode()
                except TimeoutError:
                    continue
                if "READY=1" in message:
                    return service
            raise RuntimeError(f"{name} not ready in time: {log.read_text()}")
        finally:
            notify.close()

    yield start
    for service in started:
        service.stop()
