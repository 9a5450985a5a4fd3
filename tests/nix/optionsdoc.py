"""docs/nixos-options.md, generated from the NixOS modules (tests/nix/options.nix).

Regenerate with ``.venv/bin/python -m tests.nix.optionsdoc > docs/nixos-options.md``;
tests/nix/test_optionsdoc.py fails when the file and the modules differ.
"""

from __future__ import annotations

import json
from typing import Any

from tests.nix.nixeval import ROOT, nix, nixpkgs_lib

HEADER = """# NixOS options

Every option of `services.tidings` (the flake's `nixosModules.default`), generated
from `modules/` by `python -m tests.nix.optionsdoc`. Settings of tidings itself go
in `services.tidings.settings` (see [configuration.md](configuration.md)); how to
install the appliance is in [install.md](install.md).
"""


def options() -> list[dict[str, Any]]:
    expr = f"import {ROOT}/tests/nix/options.nix {{ libPath = {nixpkgs_lib()}; }}"
    done = nix("--eval", "--strict", "--json", "--expr", expr)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    found: list[dict[str, Any]] = json.loads(done.stdout)
    return found


def _code(text: str) -> str:
    text = text.strip()
    return f"\n```nix\n{text}\n```\n" if "\n" in text else f" `{text}`\n"


def reference() -> str:
    parts = [HEADER]
    for option in sorted(options(), key=lambda o: o["name"]):
        parts.append(f"\n## `{option['name']}`\n\n{option['description'].strip()}\n\n")
        parts.append(f"- Type: {option['type']}" + (" (read-only)" if option["readOnly"] else ""))
        parts.append("\n")
        if option["default"] is not None:
            parts.append("- Default:" + _code(option["default"]))
        if option["example"] is not None:
            parts.append("- Example:" + _code(option["example"]))
    return "".join(parts)


if __name__ == "__main__":
    print(reference(), end="")
