"""Shared fixtures: settings in a temp dir, and running ``tidings serve NAME`` for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidings.core.config import Settings

pytest_plugins = ["outbound_support"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


class ServiceProcess:
    """``tidings --config FILE serve NAME`` as a child process, ready once it said so
    through NOTIFY_SOCKET (as systemd would see it)."""

    def __init__(self, name: str, config: Path, workdir: Path) -> None:
        self.name = name
        self.config = config
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{name}.log"

    def start(self, timeout: float = 60.0) -> None:
        notify_path = self.workdir / f"{self.name}.notify"
        notify_path.unlink(missing_ok=True)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(notify_path))
        notify.settimeout(0.2)
        env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
        env.pop("TIDINGS_CONFIG", None)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tidings", "--config", str(self.config), "serve", self.name],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited: {self.log.read_text()}")
                try:
                    if b"READY=1" in notify.recv(4096):
                        return
                except TimeoutError:
                    continue
            raise RuntimeError(f"{self.name} not ready: {self.log.read_text()}")
        finally:
            notify.close()

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(30)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(30)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[type[ServiceProcess]]:
    """Start services with ``serve(name, config_path)``; all are stopped afterwards."""
    started: list[ServiceProcess] = []

    class Tracked(ServiceProcess):
        def __init__(self, name: str, config: Path, workdir: Path = tmp_path) -> None:
            super().__init__(name, config, workdir)
            started.append(self)

    yield Tracked
    for service in started:
        if service.process is not None and service.process.poll() is None:
            service.process.kill()
            service.process.wait(30)
