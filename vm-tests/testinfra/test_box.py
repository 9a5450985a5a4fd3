"""What a healthy box looks like from the outside: every service up, every endpoint
listening, TLS served with the box's certificate, data private, units hardened."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest


def test_every_service_answers(status: dict[str, Any]) -> None:
    failing = [p for p in status["services"] if not p["ok"]]
    assert failing == [], failing
    assert status["healthy"] is True
    services = {p["service"] for p in status["services"]}
    assert {"web", "smtp", "imap", "outbound", "mail-api"} <= services


def test_every_endpoint_listens(host: Any, status: dict[str, Any]) -> None:
    for probe in status["services"]:
        if probe["endpoint"] == "(process)":
            continue
        address = probe["address"]
        hostpart, port = address.rsplit(":", 1)
        if hostpart in ("0.0.0.0", "[::]"):  # noqa: S104  (bound on every address)
            hostpart = "127.0.0.1"
        socket = host.socket(f"tcp://{hostpart.strip('[]')}:{port}")
        assert socket.is_listening, f"{probe['service']} {probe['endpoint']} on {address}"


def _served_certificate(host: Any, address: str, starttls: str | None = None) -> str:
    hostpart, port = address.rsplit(":", 1)
    if hostpart in ("0.0.0.0", "[::]"):  # noqa: S104
        hostpart = "127.0.0.1"
    command = f"openssl s_client -connect {shlex.quote(f'{hostpart}:{port}')} -showcerts"
    if starttls:
        command += f" -starttls {starttls}"
    return str(
        host.check_output(
            f"{command} < /dev/null 2>/dev/null | openssl x509 -noout -subject -ext subjectAltName"
        )
    )


def test_imaps_and_submissions_serve_the_box_certificate(
    host: Any, settings: dict[str, Any]
) -> None:
    for endpoint in ("imaps", "submissions"):
        served = _served_certificate(host, settings["listen"][endpoint])
        assert f"DNS:{settings['hostname']}" in served, served


def test_starttls_serves_the_same_certificate(host: Any, settings: dict[str, Any]) -> None:
    served = _served_certificate(host, settings["listen"]["submission"], starttls="smtp")
    assert f"DNS:{settings['hostname']}" in served, served


def test_keys_are_private(host: Any, settings: dict[str, Any]) -> None:
    data = settings["data_dir"]
    tls = host.file(f"{data}/tls")
    if tls.exists:  # local CA mode
        assert tls.mode & 0o077 == 0
        assert host.file(f"{data}/tls/key.pem").mode & 0o077 == 0
        assert host.file(f"{data}/tls/ca.key").mode & 0o077 == 0
    dkim = host.file(f"{data}/dkim")
    if dkim.exists:
        for name in dkim.listdir():
            if name.endswith((".key", ".pem")):
                assert host.file(f"{data}/dkim/{name}").mode & 0o077 == 0, name


@pytest.mark.systemd
def test_data_dir_belongs_to_the_services_alone(host: Any, settings: dict[str, Any]) -> None:
    data = host.file(settings["data_dir"])
    assert data.user == "tidings"
    assert data.mode & 0o077 == 0


@pytest.mark.systemd
def test_units_run_and_are_hardened(host: Any, status: dict[str, Any]) -> None:
    targets = json.loads(host.check_output("cat /etc/tidings/hardening.json"))["targets"]
    catalogue = json.loads(host.check_output("cat /etc/tidings/services.json"))
    for service in {p["service"] for p in status["services"]}:
        unit = f"tidings-{service}.service"
        assert host.service(f"tidings-{service}").is_running, unit
        network = catalogue[service]["network"]
        threshold = round(min(targets[network], targets["default"]) * 10)
        if service == "ai" and host.file("/run/opengl-driver").exists:
            threshold = round(targets["gpu"] * 10)
        done = host.run(f"systemd-analyze security --threshold={threshold} --no-pager {unit}")
        assert done.rc == 0, done.stdout + done.stderr


@pytest.mark.systemd
def test_https_front_door(host: Any, settings: dict[str, Any]) -> None:
    name = settings["hostname"]
    ca = f"{settings['data_dir']}/tls/ca.pem"
    trust = f"--cacert {ca}" if host.file(ca).exists else ""
    headers = host.check_output(
        f"curl --silent --show-error --fail --http2 {trust} --resolve {name}:443:127.0.0.1 "
        f"--dump-header - --output /dev/null https://{name}/healthz"
    )
    assert headers.startswith("HTTP/2 200"), headers
    assert "strict-transport-security: max-age=" in headers.lower()
    redirect = host.check_output(
        f"curl --silent --output /dev/null --write-out '%{{http_code}} %{{redirect_url}}' "
        f"--resolve {name}:80:127.0.0.1 http://{name}/"
    )
    assert redirect == f"301 https://{name}/"
