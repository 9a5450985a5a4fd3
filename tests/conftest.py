"""Shared fixtures: a private box per test (tmp data dir, free loopback ports) and
helpers to run the real `tidings` command against it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidings.core.accounts import Accounts
from tidings.core.config import Listen, Settings
from tidings.core.db import Database, migrate

ROOT = Path(__file__).resolve().parents[1]
TIDINGS = [sys.executable, "-m", "tidings"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
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
def settings(box_env: dict[str, str]) -> Settings:
    return Settings()


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
