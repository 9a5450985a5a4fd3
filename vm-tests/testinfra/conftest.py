"""The acceptance suite of a running tidings box, with pytest-testinfra.

Against the appliance (from any machine that can SSH to it):

    pytest --hosts=ssh://root@tidings.local vm-tests/testinfra

Against a local deployment (`tidings up`), without the systemd checks:

    TIDINGS_COMMAND=".venv/bin/tidings" pytest --hosts=local:// -m "not systemd" vm-tests/testinfra

The box describes itself: `tidings config show --json` (run on the box) gives the
endpoints and the data directory, the web service's /status.json which services
answer. Checks marked `systemd` need the appliance's units (the NixOS VM tests run
them inside the VM).
"""

from __future__ import annotations

import json
import os
import shlex
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "systemd: needs the appliance's systemd units (VM tests, real boxes)"
    )


@pytest.fixture(scope="module")
def tidings_command() -> str:
    """How to run the CLI on the box (the appliance's `tidings` runs as its user)."""
    return os.environ.get("TIDINGS_COMMAND", "tidings")


@pytest.fixture(scope="module")
def settings(host: Any, tidings_command: str) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(host.check_output(f"{tidings_command} config show --json"))
    return shown


@pytest.fixture(scope="module")
def status(host: Any, settings: dict[str, Any]) -> dict[str, Any]:
    web = settings["listen"]["web"]
    answer: dict[str, Any] = json.loads(
        host.check_output(
            f"curl --silent --fail --max-time 20 {shlex.quote(f'http://{web}/status.json')}"
        )
    )
    return answer
