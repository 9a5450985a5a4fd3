"""Evaluate the appliance's NixOS modules (modules/) with the real nixpkgs ``lib``.

``../shared/nixpkgs-lib/lib`` beside the repository (override: ``$TIDINGS_NIXPKGS_LIB``)
is nixpkgs' own ``lib/``; ``tests/nix/eval.nix`` runs ``lib.evalModules`` on
``modules/`` with test-only declarations of the NixOS options they set, and returns
plain data (settings, unit files, nginx virtual hosts) as JSON.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "tests" / "nix" / "eval.nix"


def nixpkgs_lib() -> Path:
    configured = os.environ.get("TIDINGS_NIXPKGS_LIB")
    path = Path(configured) if configured else ROOT.parent / "shared" / "nixpkgs-lib" / "lib"
    if not (path / "default.nix").is_file():
        raise FileNotFoundError(
            f"nixpkgs lib not found at {path}: set TIDINGS_NIXPKGS_LIB to a nixpkgs lib/ directory"
        )
    return path


def nix_env() -> dict[str, str]:
    """Debian's nix-bin without a daemon or build users: evaluation only."""
    state = Path(tempfile.gettempdir()) / f"tidings-nix-state-{os.getuid()}"
    state.mkdir(exist_ok=True)
    return {
        **os.environ,
        "NIX_STATE_DIR": str(state),
        "NIX_CONFIG": "build-users-group =\nexperimental-features =",
    }


def nix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nix-instantiate", *args], capture_output=True, text=True, env=nix_env(), check=False
    )


@functools.cache
def evaluate(configuration: str) -> dict[str, Any]:
    """The modules evaluated with ``configuration`` (a Nix module, as text)."""
    expr = f"import {EVAL} {{ libPath = {nixpkgs_lib()}; configuration = {configuration}; }}"
    done = nix("--eval", "--strict", "--json", "--expr", expr)
    if done.returncode != 0:
        raise AssertionError(f"evaluation failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def box(*extras: str) -> str:
    """A configuration: the appliance for example.org, plus ``extras`` (Nix text, each
    one module, merged as NixOS merges them)."""
    modules = " ".join(f"{{ {extra} }}" for extra in extras)
    return (
        "{ lib, ... }: { config = lib.mkMerge [ "
        '{ services.tidings = { enable = true; domain = "example.org"; }; } '
        f"{modules} ]; }}"
    )


#: The generic image's own modules (images/common.nix: first boot, the site file),
#: with stand-ins for the options they set beyond the tidings modules'.
IMAGE = f"{{ imports = [ {ROOT}/images/common.nix {ROOT}/tests/nix/image-stubs.nix ]; }}"
