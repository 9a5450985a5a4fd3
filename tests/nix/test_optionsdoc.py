"""docs/nixos-options.md is what the modules declare (regenerate it with
`.venv/bin/python -m tests.nix.optionsdoc > docs/nixos-options.md`)."""

from __future__ import annotations

from tests.nix.nixeval import ROOT
from tests.nix.optionsdoc import options, reference


def test_options_documentation_is_current() -> None:
    assert (ROOT / "docs" / "nixos-options.md").read_text() == reference()


def test_every_option_is_described() -> None:
    found = options()
    names = {o["name"] for o in found}
    assert {"services.tidings.enable", "services.tidings.tls.mode", "services.tidings.gpu"} <= names
    assert "services.tidings.mail-api.enable" in names
    assert [o["name"] for o in found if not o["description"].strip()] == []
