"""The NixOS modules, evaluated with the real nixpkgs module system: every file
parses, the catalogue is the code's own service list, each configuration
evaluates without failed assertions, renders a TOML file tidings accepts, and
wires TLS, the resolver, the GPU and the first account as documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.nix.configurations import CONFIGURATIONS
from tests.nix.nixeval import ROOT, box, evaluate, nix, nixpkgs_lib
from tidings.core.config import Listen, load_settings
from tidings.core.services import SERVICES

NIX_FILES = sorted(
    path
    for top in ("flake.nix", "modules", "pkgs", "images", "vm-tests", "tests/nix")
    for path in ([ROOT / top] if top.endswith(".nix") else (ROOT / top).rglob("*.nix"))
)


def test_every_nix_file_parses() -> None:
    assert len(NIX_FILES) > 15, NIX_FILES
    failures = {}
    for path in NIX_FILES:
        done = nix("--parse", str(path))
        if done.returncode != 0:
            failures[str(path.relative_to(ROOT))] = done.stderr.strip()
    assert failures == {}


def test_a_syntax_error_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "broken.nix"
    broken.write_text("{ services.tidings = { enable = true; }\n")
    assert nix("--parse", str(broken)).returncode != 0


def test_the_catalogue_lists_exactly_the_services_the_code_has() -> None:
    catalogue = evaluate(box())["catalogue"]
    assert set(catalogue) == set(SERVICES), (
        "modules/services.json and tidings.core.services.SERVICES differ: "
        "every service needs its entry (see docs/operations.md, 'Adding a service')"
    )
    for name, spec in SERVICES.items():
        assert set(catalogue[name]["endpoints"]) == {e.name for e in spec.endpoints}, name
        for endpoint in catalogue[name]["endpoints"]:
            assert endpoint in Listen.model_fields, f"{name}: no [listen] key {endpoint}"


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_configuration_evaluates_cleanly(name: str) -> None:
    result = evaluate(CONFIGURATIONS[name])
    assert result["failedAssertions"] == []
    assert result["warnings"] == []


def _check_toml(settings: dict[str, Any], path: Path) -> subprocess.CompletedProcess[str]:
    """`tidings config check FILE`, as an operator would run it on the box."""
    path.write_text(tomli_w.dumps(settings))
    return subprocess.run(
        [sys.executable, "-m", "tidings", "config", "check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_rendered_toml_is_accepted_by_tidings_config_check(tmp_path: Path) -> None:
    done = _check_toml(evaluate(CONFIGURATIONS["defaults"])["settings"], tmp_path / "t.toml")
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout


@pytest.mark.parametrize("name", CONFIGURATIONS)
def test_every_configuration_renders_valid_settings(name: str, tmp_path: Path) -> None:
    """What `tidings config check` runs, in-process for each configuration."""
    path = tmp_path / "tidings.toml"
    path.write_text(tomli_w.dumps(evaluate(CONFIGURATIONS[name])["settings"]))
    settings = load_settings(path)
    assert settings.domain == "example.org"
    assert str(settings.data_dir) == "/var/lib/tidings"


def test_config_check_rejects_a_bad_setting_from_the_module(tmp_path: Path) -> None:
    result = evaluate(box('services.tidings.settings.mail.max_recipients = "many";'))
    done = _check_toml(result["settings"], tmp_path / "tidings.toml")
    assert done.returncode != 0
    assert "mail.max_recipients" in done.stderr


def test_settings_the_appliance_owns() -> None:
    settings = evaluate(box())["settings"]
    assert settings["domain"] == "example.org"
    assert settings["hostname"] == "mail.example.org"
    assert settings["data_dir"] == "/var/lib/tidings"
    assert settings["listen"]["imaps"] == "127.0.0.1:993"
    assert settings["listen"]["mail_api"] == "127.0.0.1:8080"
    assert settings["mail"]["dns_resolver"] == "127.0.0.1:5335"
    assert settings["ai"]["model_path"].endswith("-gemma-3-270m-q4_k_m.gguf")
    assert "n_gpu_layers" not in settings["ai"]


def test_user_settings_merge_with_the_module_ones() -> None:
    settings = evaluate(
        box(
            'services.tidings.settings = { ai.default_language = "fr"; };',
            "services.tidings.settings.mail.max_recipients = 50;",
        )
    )["settings"]
    assert settings["ai"]["default_language"] == "fr"
    assert settings["mail"] == {"dns_resolver": "127.0.0.1:5335", "max_recipients": 50}


def test_each_service_is_socket_activated_under_its_endpoint_names() -> None:
    units = evaluate(box())["units"]
    smtp = units["tidings-smtp.service"]
    for endpoint, port in (("smtp", 25), ("submission", 587), ("submissions", 465)):
        socket = units[f"tidings-{endpoint}.socket"]
        assert f"FileDescriptorName={endpoint}\n" in socket
        assert f"ListenStream=[::]:{port}\n" in socket
        assert "Service=tidings-smtp.service\n" in socket
        assert f"Sockets=tidings-{endpoint}.socket\n" in smtp
    assert "ListenStream=127.0.0.1:8080\n" in units["tidings-mail-api.socket"]
    assert "Type=notify\n" in smtp
    assert "serve smtp\n" in smtp
    assert "tidings-outbound.socket" not in units  # listens on nothing


def test_mail_only_runs_no_web_no_assistant() -> None:
    result = evaluate(CONFIGURATIONS["mail-only"])
    services = {u for u in result["units"] if u.endswith(".service")}
    assert "tidings-smtp.service" in services
    assert "tidings-imap.service" in services
    assert not {"tidings-web.service", "tidings-ai.service", "tidings-mcp-mail.service"} & services


def test_firewall_opens_the_public_ports_of_enabled_services() -> None:
    assert sorted(evaluate(box())["firewall"]) == [25, 80, 143, 443, 465, 587, 993]
    closed = evaluate(box("services.tidings = { imap.enable = false; openFirewall = false; };"))
    assert closed["firewall"] == []


def test_local_ca_mode() -> None:
    result = evaluate(box())
    units = result["units"]
    assert "tls ensure\n" in units["tidings-tls.service"]
    assert "ExecStartPost=+/nix/store/" in units["tidings-tls.service"]  # restarts on renewal
    assert result["timers"]["tidings-tls.timer"] == {"OnCalendar": "daily"}
    assert (
        "Before=nginx.service tidings-imap.service tidings-smtp.service\n"
        in units["tidings-tls.service"]
    )
    assert "LoadCredential=tidings-key.pem:/var/lib/tidings/tls/key.pem\n" in units["nginx.service"]
    assert "LoadCredential" not in units["tidings-smtp.service"]  # reads dataDir/tls itself
    vhost = result["nginx"]["virtualHosts"]["mail.example.org"]
    assert vhost["sslCertificateKey"] == "/run/credentials/nginx.service/tidings-key.pem"
    assert result["acme"]["certs"] == {}


@pytest.mark.parametrize("mode", ["acme-http01", "acme-dns01"])
def test_acme_modes(mode: str) -> None:
    result = evaluate(CONFIGURATIONS[mode])
    cert = result["acme"]["certs"]["mail.example.org"]
    assert sorted(cert["reloadServices"]) == ["tidings-imap.service", "tidings-smtp.service"]
    smtp = result["units"]["tidings-smtp.service"]
    assert "LoadCredential=tls-key.pem:/var/lib/acme/mail.example.org/key.pem\n" in smtp
    assert (
        'Environment="TIDINGS_TLS__KEY=/run/credentials/tidings-smtp.service/tls-key.pem"\n' in smtp
    )
    assert "acme-mail.example.org.service" in smtp
    vhost = result["nginx"]["virtualHosts"]["mail.example.org"]
    if mode == "acme-http01":
        assert vhost["enableACME"] is True
        assert vhost["serverAliases"] == ["autoconfig.example.org"]  # nginx adds them
        assert cert["extraDomainNames"] == []
    else:
        assert vhost["useACMEHost"] == "mail.example.org"
        assert cert["extraDomainNames"] == ["autoconfig.example.org"]
        assert cert["dnsProvider"] == "cloudflare"
        assert cert["environmentFile"] == "/run/secrets/dns.env"
        assert cert["group"] == "nginx"
    assert "tidings-tls.service" not in result["units"]


def test_manual_mode_hands_the_files_over_as_credentials() -> None:
    result = evaluate(CONFIGURATIONS["manual"])
    imap = result["units"]["tidings-imap.service"]
    assert "LoadCredential=tls-cert.pem:/var/lib/secrets/fullchain.pem\n" in imap
    assert (
        "LoadCredential=tidings-key.pem:/var/lib/secrets/key.pem\n"
        in result["units"]["nginx.service"]
    )


@pytest.mark.parametrize(("gpu", "devices"), [("cuda", "char-nvidia-uvm"), ("vulkan", "char-drm")])
def test_gpu_option(gpu: str, devices: str) -> None:
    result = evaluate(CONFIGURATIONS[gpu])
    assert result["settings"]["ai"]["n_gpu_layers"] == -1
    assert result["gpu"]["enable"] is True
    assert result["gpu"]["package"] == f"tidings-0.1.0-{gpu}"
    ai = result["units"]["tidings-ai.service"]
    assert f"DeviceAllow={devices}\n" in ai
    assert "PrivateDevices=false\n" in ai
    assert "PrivateDevices=true\n" in result["units"]["tidings-web.service"]  # only the assistant
    if gpu == "cuda":
        assert result["gpu"]["videoDrivers"] == ["nvidia"]
        assert result["gpu"]["open"] is True


def test_first_admin_account() -> None:
    unit = evaluate(CONFIGURATIONS["admin"])["units"]["tidings-admin.service"]
    assert "LoadCredential=admin-password:/run/secrets/admin-password\n" in unit
    assert "ConditionPathExists=!/var/lib/tidings/.admin-created\n" in unit


def test_backups_on_a_timer() -> None:
    result = evaluate(box('services.tidings.backup = { startAt = "03:15"; keep = 3; };'))
    unit = result["units"]["tidings-backup.service"]
    assert "/var/lib/tidings /var/backup/tidings 3\n" in unit
    assert result["timers"]["tidings-backup.timer"] == {"OnCalendar": "03:15"}
    assert "d /var/backup/tidings 0700 tidings tidings - -" in result["tmpfiles"]


def test_assistant_may_reach_a_lan_endpoint_when_allowed() -> None:
    unit = evaluate(box('services.tidings.ai.allowedAddresses = [ "192.168.1.20" ];'))["units"][
        "tidings-ai.service"
    ]
    assert "IPAddressAllow=localhost\nIPAddressAllow=192.168.1.20\n" in unit


ASSERTIONS = {
    "bad domain": (
        'services.tidings = { domain = lib.mkForce "not a domain"; hostname = "b.example.org"; };',
        'services.tidings.domain = "not a domain" is not a DNS name',
    ),
    "acme without terms": (
        'services.tidings.tls = { mode = "acme-http01"; acme.email = "a@example.org"; };',
        "set security.acme.acceptTerms = true",
    ),
    "acme without email": (
        'security.acme.acceptTerms = true; services.tidings.tls.mode = "acme-http01";',
        "needs a contact address for the ACME account",
    ),
    "dns01 without provider": (
        'security.acme.acceptTerms = true; services.tidings.tls = { mode = "acme-dns01"; '
        'acme.email = "a@example.org"; };',
        "needs services.tidings.tls.acme.dnsProvider",
    ),
    "manual without files": (
        'services.tidings.tls.mode = "manual";',
        "needs services.tidings.tls.certificateFile and services.tidings.tls.keyFile",
    ),
    "key in the store": (
        'services.tidings.tls = { mode = "manual"; certificateFile = "/etc/cert.pem"; '
        'keyFile = "${builtins.storeDir}/abc-key.pem"; };',
        "is a path in the Nix store, which every user can read",
    ),
    "admin without password": (
        'services.tidings.admin.address = "admin@example.org";',
        "the first account needs an initial password",
    ),
    "admin of another domain": (
        'services.tidings.admin = { address = "admin@elsewhere.org"; passwordFile = "/run/p"; };',
        'is not an address of services.tidings.domain ("example.org")',
    ),
    "resolver off the loopback": (
        "services.tidings.resolver.enable = false; "
        'services.tidings.settings.mail.dns_resolver = "9.9.9.9:53";',
        "its DNS checks need a resolver on loopback",
    ),
    "secret in settings": (
        'services.tidings.settings.mail.smarthost.password = "hunter2";',
        "put TIDINGS_MAIL__SMARTHOST__PASSWORD=... in the file named by "
        "services.tidings.environmentFile",
    ),
    "mcp without the api": (
        "services.tidings.mail-api.enable = false;",
        "services.tidings.mcp-mail needs services.tidings.mail-api",
    ),
}


@pytest.mark.parametrize("case", ASSERTIONS)
def test_assertion_fires_with_its_message(case: str) -> None:
    extra, message = ASSERTIONS[case]
    failed = evaluate(box(extra))["failedAssertions"]
    assert len(failed) == 1, failed
    assert message in failed[0]


def test_gpu_without_assistant_warns() -> None:
    warnings = evaluate(box('services.tidings = { gpu = "cuda"; ai.enable = false; };'))["warnings"]
    assert warnings == [
        'services.tidings.gpu = "cuda" installs GPU drivers, but the assistant '
        "(services.tidings.ai.enable) is off."
    ]


def test_unknown_option_is_an_evaluation_error() -> None:
    with pytest.raises(AssertionError, match=r"services\.tidings\.tls\.mod"):
        evaluate(box('services.tidings.tls.mod = "local-ca";'))


def test_a_service_name_may_not_shadow_an_option(tmp_path: Path) -> None:
    for name in ("catalogue.nix", "hardening.json"):
        (tmp_path / name).write_text((ROOT / "modules" / name).read_text())
    services = json.loads((ROOT / "modules" / "services.json").read_text())
    services["tls"] = services["web"]
    (tmp_path / "services.json").write_text(json.dumps(services))
    expr = f"(import {tmp_path}/catalogue.nix {{ lib = import {nixpkgs_lib()}; }}).services"
    done = nix("--eval", "--strict", "--json", "--expr", expr)
    assert done.returncode != 0
    assert "service name(s) tls would shadow services.tidings options" in done.stderr
