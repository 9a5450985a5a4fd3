"""Shared fixtures: a private box per test (tmp data dir, free loopback ports) and
helpers to run the real `tidings` command against it."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tidings.core.accounts import Accounts
from tidings.core.config import Listen, Settings, load_settings
from tidings.core.db import Database, migrate

ROOT = Path(__file__).resolve().parents[1]
TIDINGS = [sys.executable, "-m", "tidings"]

pytest_plugins = ["tests.outbound_support"]


_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, for a service a test is about to start.

    Taken below the kernel's ephemeral range: a port the kernel picks for ``bind(0)``
    can be given to any client socket opened before the service binds it (seen in CI:
    a service found its port taken). And never the same port twice in one run.
    """
    low = _ephemeral_low()
    while True:
        port = random.randrange(10_000, low)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def box_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment of a private box: its own data dir and free ports for every endpoint.

    Also set on this process, so in-process code (``Settings()``) sees the same box.
    """
    env = {"TIDINGS_DATA_DIR": str(data_dir)}
    for name in Listen.model_fields:
        env[f"TIDINGS_LISTEN__{name.upper()}"] = f"127.0.0.1:{free_port()}"
    for key in [k for k in os.environ if k.startswith("TIDINGS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def config_file(tmp_path: Path, box_env: dict[str, str]) -> Path:
    """The same private box as a TOML file (for services started with ``--config``),
    with a low login-failure limit so throttling is quick to reach."""
    lines = [
        f'data_dir = "{box_env["TIDINGS_DATA_DIR"]}"',
        'domain = "example.test"',
        'hostname = "localhost"',
        "[auth]",
        "max_failures_per_user = 4",
        "max_failures_per_address = 50",
        "[listen]",
    ]
    lines += [
        f'{name} = "{box_env[f"TIDINGS_LISTEN__{name.upper()}"]}"' for name in Listen.model_fields
    ]
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


def run_tidings(
    *args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI as a user would."""
    return subprocess.run(
        [*TIDINGS, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


class Served:
    """A `tidings` process started in the background, with its output kept."""

    def __init__(
        self, args: list[str], env: dict[str, str], *, command: list[str] = TIDINGS
    ) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  (closed in stop())
        self.process = subprocess.Popen(
            [*command, *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **env},
        )

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if text in out:
                return out
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(
            f"{text!r} not seen; exit={self.process.poll()} output:\n{self.output()}"
        )

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


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
def run_service(config_file: Path, tmp_path: Path) -> Iterator[Callable[[str], Service]]:
    """``run_service("imap")`` starts the service and returns once it reported READY=1."""
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
