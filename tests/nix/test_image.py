"""The generic image's wiring (images/common.nix, images/firstboot.nix) evaluated
with the modules: first boot runs before every tidings unit, and every unit reads
the site file it writes (the domain and host name given at first boot)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli_w

from tests.nix.nixeval import IMAGE, evaluate
from tidings.core.config import load_settings

SITE = "/var/lib/tidings-site/site.env"


def test_image_evaluates_cleanly() -> None:
    result = evaluate(IMAGE)
    assert result["failedAssertions"] == []
    assert result["settings"]["domain"] == "tidings.local"


def test_first_boot_comes_before_every_service() -> None:
    units = evaluate(IMAGE)["units"]
    firstboot = units["tidings-firstboot.service"]
    assert "ImportCredential=tidings.*\n" in firstboot
    assert "ConditionPathExists=!/var/lib/tidings-site/done\n" in firstboot
    assert "Before=tidings.target tidings-tls.service nginx.service\n" in firstboot
    services = [u for u in units if u.startswith("tidings-") and u.endswith(".service")]
    for unit in services:
        if unit in ("tidings-firstboot.service", "tidings-tls.service", "tidings-backup.service"):
            continue
        after = next(line for line in units[unit].splitlines() if line.startswith("After="))
        assert "tidings-firstboot.service" in after, unit


def test_every_unit_reads_the_site_file() -> None:
    units = evaluate(IMAGE)["units"]
    for unit in ("tidings-smtp.service", "tidings-web.service", "tidings-tls.service"):
        assert f"EnvironmentFile={SITE}\n" in units[unit], unit


def test_the_site_file_overrides_the_image_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What first boot writes is what the services then run with."""
    path = tmp_path / "tidings.toml"
    path.write_text(tomli_w.dumps(evaluate(IMAGE)["settings"]))
    monkeypatch.setenv("TIDINGS_DOMAIN", "example.org")
    monkeypatch.setenv("TIDINGS_HOSTNAME", "mail.example.org")
    settings = load_settings(path)
    assert (settings.domain, settings.hostname) == ("example.org", "mail.example.org")
