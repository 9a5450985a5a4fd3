"""The one config model: defaults, file, environment, and the messages people see."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from tests.conftest import ROOT, run_tidings
from tidings.core.config import ConfigError, Settings, load_settings, split_endpoint
from tidings.core.configdocs import reference


def test_defaults_run_a_laptop_box_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("TIDINGS_CONFIG", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent-home")
    monkeypatch.setenv("XDG_DATA_HOME", "/nonexistent-home/share")
    settings = load_settings(None) if not Path("/etc/tidings/tidings.toml").exists() else Settings()
    assert settings.domain == "example.test"
    assert settings.data_dir == Path("/nonexistent-home/share/tidings")
    assert settings.listen.smtp == "127.0.0.1:2525"
    assert settings.listen.submission == "127.0.0.1:2587"
    assert settings.listen.imaps == "127.0.0.1:2993"
    assert settings.listen.web == "127.0.0.1:3000"
    assert settings.listen.mcp_dav == "127.0.0.1:8092"
    assert settings.db_url == "sqlite:////nonexistent-home/share/tidings/tidings.sqlite"
    assert settings.tls.cert is None


def test_file_then_environment_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text(
        'domain = "family.example"\nhostname = "box.family.example"\n'
        '[listen]\nsmtp = "0.0.0.0:25"\nimaps = "[::]:993"\n'
    )
    monkeypatch.setenv("TIDINGS_LISTEN__SMTP", "127.0.0.1:2626")
    monkeypatch.setenv("TIDINGS_DOMAIN", "Other.Example")
    settings = load_settings(config)
    assert settings.hostname == "box.family.example"
    assert settings.domain == "other.example"  # environment wins, DNS names are folded
    assert settings.listen.smtp == "127.0.0.1:2626"
    assert split_endpoint(settings.listen.imaps) == ("::", 993)


def test_config_env_variable_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "x.toml"
    config.write_text('domain = "from-env.example"\n')
    monkeypatch.setenv("TIDINGS_CONFIG", str(config))
    assert load_settings(None).domain == "from-env.example"


def test_bad_toml_names_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text('domain = "ok.example"\n[listen\nsmtp = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert str(config) in message
    assert "not valid TOML" in message
    assert "line 2" in message


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text(
        'domain = "ok.example"\n\n[listen]\nsmtp = "127.0.0.1:25"\nimpas = "1.2.3.4:993"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert f"{config}:5: listen.impas: unknown key" in message


def test_bad_value_says_what_was_expected(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[listen]\nweb = "localhost"\n[auth]\nmax_failures_per_user = 0\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert f"{config}:2: listen.web:" in message and "expected host:port" in message
    assert (
        f"{config}:4: auth.max_failures_per_user:" in message
        and "greater than or equal to 1" in message
    )


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_LISTEN__IMAP", "nonsense")
    with pytest.raises(ConfigError, match=r"variable TIDINGS_LISTEN__IMAP: listen\.imap"):
        load_settings(None)


def test_tls_paths_come_in_pairs(tmp_path: Path) -> None:
    config = tmp_path / "tls.toml"
    config.write_text('[tls]\ncert = "/etc/ssl/box.pem"\n')
    with pytest.raises(ConfigError, match=r"set both tls\.cert and tls\.key"):
        load_settings(config)


def test_cli_config_check_and_show(tmp_path: Path, box_env: dict[str, str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text('domain = "family.example"\ndatabase_url = "postgresql://u:secret@db/x"\n')
    result = run_tidings("config", "check", str(good))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout

    bad = tmp_path / "bad.toml"
    bad.write_text("nope = 1\n")
    result = run_tidings("config", "check", str(bad))
    assert result.returncode != 0
    assert f"{bad}:1: nope: unknown key" in result.stderr

    result = run_tidings("--config", str(good), "config", "show", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["domain"] == "family.example"
    assert shown["listen"]["web"] == box_env["TIDINGS_LISTEN__WEB"]
    assert "secret" not in result.stdout  # secrets are redacted
    assert shown["database_url"] == "**********"

    result = run_tidings("--config", str(good), "config", "show")
    assert 'domain = "family.example"' in result.stdout
    assert "[listen]" in result.stdout


def test_configuration_reference_matches_the_model() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text()
    assert documented == reference(), "run: tidings config docs > docs/configuration.md"

    def leaves(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str | None]]:
        found = []
        for name, field in model.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                assert f"## [{prefix}{name}]" in documented
                found += leaves(kind, f"{prefix}{name}.")
            else:
                found.append((prefix + name, field.description))
        return found

    for key, description in leaves(Settings):
        assert f"| `{key}` |" in documented
        assert description, f"{key} has no description"
