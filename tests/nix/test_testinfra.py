"""The acceptance suite (vm-tests/testinfra, pytest-testinfra) against a local box
started the README way (`tidings up`), without the checks that need the
appliance's systemd units; the NixOS VM tests run all of it inside the VM."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import Served
from tests.nix.nixeval import ROOT

SUITE = ROOT / "vm-tests" / "testinfra"


def _suite(env: dict[str, str], *selection: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--hosts=local://",
            "-m",
            "not systemd",
            "-p",
            "no:cacheprovider",
            "-q",
            *(selection or (str(SUITE),)),
        ],
        env={**os.environ, **env, "TIDINGS_COMMAND": f"{sys.executable} -m tidings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_acceptance_suite_against_a_local_box(box_env: dict[str, str]) -> None:
    served = Served(["up"], box_env)
    try:
        served.wait_for("\nready\n", timeout=120)
        done = _suite(box_env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "5 passed, 3 deselected" in done.stdout, done.stdout
    finally:
        served.stop()
    # The same check fails once the box is down: the suite can fail.
    down = _suite(box_env, f"{SUITE}/test_box.py::test_every_service_answers")
    assert down.returncode != 0
    assert "curl" in down.stdout + down.stderr
