"""Every tidings unit, rendered from the evaluated modules the way NixOS renders
it, scored by `systemd-analyze security --offline=true` against its target in
modules/hardening.json: loopback-only and network-less backends and the
socket-activated public services at most 1.0, every unit at most 2.0."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.nix.configurations import CONFIGURATIONS
from tests.nix.nixeval import evaluate

EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")
ONESHOTS = {"tidings-tls", "tidings-backup", "tidings-admin"}  # sandboxed as network "none"


def _target(result: dict[str, Any], unit: str, gpu: bool) -> float:
    """The exposure a unit may score, from hardening.json's targets."""
    targets: dict[str, float] = result["hardening"]["targets"]
    name = unit.removesuffix(".service")
    if name in ONESHOTS:
        return targets["none"]
    service = next(s for s in result["catalogue"].values() if s["unit"] == name)
    if gpu and service["gpu"]:
        return targets["gpu"]
    return min(targets[service["network"]], targets["default"])


def _score(path: Path, target: float) -> tuple[int, float]:
    done = subprocess.run(
        [
            "systemd-analyze",
            "security",
            "--offline=true",
            f"--threshold={round(target * 10)}",
            "--no-pager",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    match = EXPOSURE.search(done.stdout + done.stderr)
    assert match, done.stdout + done.stderr
    return done.returncode, float(match[1])


def _write_units(result: dict[str, Any], directory: Path) -> list[Path]:
    services = []
    for name, text in result["units"].items():
        if not name.startswith("tidings-"):
            continue  # nginx's own unit comes from nixpkgs; ours only adds to it
        (directory / name).write_text(text)
        if name.endswith(".service"):
            services.append(directory / name)
    return services


@pytest.mark.parametrize(
    "name", ["defaults", "mail-only", "acme-http01", "cuda", "vulkan", "admin"]
)
def test_every_unit_scores_within_its_target(name: str, tmp_path: Path) -> None:
    result = evaluate(CONFIGURATIONS[name])
    units = _write_units(result, tmp_path)
    assert len(units) >= 4
    scores = {}
    for unit in units:
        target = _target(result, unit.name, gpu=name in ("cuda", "vulkan"))
        returncode, exposure = _score(unit, target)
        scores[unit.name] = (exposure, target)
        assert exposure <= target, f"{unit.name}: exposure {exposure} > {target}"
        assert returncode == 0, f"{unit.name}: systemd-analyze refused it at {target}"
    if name == "defaults":
        assert scores["tidings-imap.service"][0] <= 0.5  # no network at all
        assert scores["tidings-smtp.service"][0] <= 1.0  # public, socket-activated


def test_a_unit_without_its_sandbox_fails_the_check(tmp_path: Path) -> None:
    """The check can fail: the same unit with only the sandbox removed."""
    result = evaluate(CONFIGURATIONS["defaults"])
    sandbox = set(result["hardening"]["base"]) | set(result["hardening"]["network"]["loopback"])
    kept = [
        line
        for line in result["units"]["tidings-web.service"].splitlines()
        if line.split("=", 1)[0] not in sandbox
    ]
    unit = tmp_path / "tidings-web.service"
    unit.write_text("\n".join(kept) + "\n")
    returncode, exposure = _score(unit, 2.0)
    assert exposure > 2.0
    assert returncode != 0


def test_gpu_access_is_granted_to_the_assistant_alone(tmp_path: Path) -> None:
    result = evaluate(CONFIGURATIONS["cuda"])
    units = _write_units(result, tmp_path)
    scores = {unit.name: _score(unit, 2.0)[1] for unit in units}
    assert scores["tidings-ai.service"] > scores["tidings-web.service"]  # devices cost exposure
    assert scores["tidings-ai.service"] <= result["hardening"]["targets"]["gpu"]
