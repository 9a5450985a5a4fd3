"""`tidings up` and `tidings serve`: readiness, health, clean stop, clear failures,
systemd socket activation, JSON logs."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import ssl
import stat
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import Served, free_port, run_tidings
from tidings.core.config import Settings
from tidings.core.services import SERVICES
from tidings.core.tls import client_context, ensure_tls, server_context


def _url(env: dict[str, str], endpoint: str, path: str) -> str:
    return f"http://{env[f'TIDINGS_LISTEN__{endpoint.upper()}']}{path}"


def test_up_brings_every_service_up_and_stops_cleanly(box_env: dict[str, str]) -> None:
    served = Served(["up"], box_env)
    try:
        out = served.wait_for("\nready\n", timeout=120)  # nine services on two busy cores
        assert "no accounts yet; create one with: tidings user add" in out
        for name in SERVICES:
            assert f"  {name} " in out
        health = httpx.get(_url(box_env, "web", "/healthz"), timeout=5).json()
        assert health["status"] == "ok" and health["service"] == "web"
        status = httpx.get(_url(box_env, "web", "/status.json"), timeout=10).json()
        assert {s["service"] for s in status["services"]} == set(SERVICES)
        assert status["healthy"] is True, status
        page = httpx.get(_url(box_env, "web", "/status"), timeout=10)
        assert page.status_code == 200 and 'data-ok="true"' in page.text
        served.process.send_signal(signal.SIGINT)
        assert served.process.wait(20) == 0
    finally:
        served.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(_url(box_env, "web", "/healthz"), timeout=2)


def test_up_refuses_a_taken_port_with_a_clear_error(box_env: dict[str, str]) -> None:
    endpoint = box_env["TIDINGS_LISTEN__WEB"]
    host, port = endpoint.rsplit(":", 1)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((host, int(port)))
        squatter.listen()
        result = run_tidings("up", env=box_env, timeout=90)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"web: {endpoint} is already in use" in output
    assert "web failed to start" in output
    assert "\nready\n" not in result.stdout


def test_up_refuses_a_bad_config(tmp_path: Path, box_env: dict[str, str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[listen]\nweb = 3000\n")
    result = run_tidings("--config", str(config), "up", env={"TIDINGS_LISTEN__WEB": ""})
    assert result.returncode != 0
    assert "listen.web" in result.stderr


def test_serve_takes_a_socket_from_systemd(box_env: dict[str, str]) -> None:
    """As on the appliance: systemd binds, passes the socket named after the endpoint,
    and the service — configured to listen elsewhere — uses the inherited one."""
    activate = shutil.which("systemd-socket-activate")
    assert activate, "systemd-socket-activate (package systemd) is needed"
    port = free_port()
    env = dict(box_env, TIDINGS_LISTEN__WEB="127.0.0.1:9")  # would fail if it bound itself
    wrapper = [
        activate,
        f"--listen=127.0.0.1:{port}",
        "--fdname=web",
        *[f"--setenv={k}={v}" for k, v in env.items()],
        sys.executable,
        "-m",
        "tidings",
    ]
    served = Served(["serve", "web"], {}, command=wrapper)
    try:
        served.wait_for("Listening on")
        # systemd-socket-activate starts the service on the first connection.
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=30)
        assert response.json()["service"] == "web"
        served.wait_for(f"web listening on web=127.0.0.1:{port}")
    finally:
        served.stop()


def test_serve_logs_json_lines_when_asked(box_env: dict[str, str]) -> None:
    served = Served(["--log-json", "serve", "web"], box_env)
    try:
        served.wait_for("listening on")
        lines = [line for line in served.output().splitlines() if line.strip()]
    finally:
        served.stop()
    records = [json.loads(line) for line in lines]
    ready = [r for r in records if "listening on" in r["message"]]
    assert ready and ready[0]["level"] == "info" and ready[0]["logger"] == "tidings.service"


def test_local_tls_certificate_is_trusted_through_the_local_ca(settings: Settings) -> None:
    files = ensure_tls(settings)
    assert files.ca is not None
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert stat.S_IMODE((files.ca.parent / "ca.key").stat().st_mode) == 0o600
    # A real handshake, verified against the CA, for the configured hostname.
    server = server_context(settings)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        conn, _ = listener.accept()
        with server.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"hello")

    thread = threading.Thread(target=accept)
    thread.start()
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client_context(settings).wrap_socket(raw, server_hostname=settings.hostname) as tls,
    ):
        assert tls.recv(5) == b"hello"
        assert tls.version() in {"TLSv1.2", "TLSv1.3"}
    thread.join()
    listener.close()
    # A second call reuses the certificate instead of minting a new one.
    assert ensure_tls(settings).cert.read_bytes() == files.cert.read_bytes()


def test_local_certificate_is_not_trusted_without_the_ca(settings: Settings) -> None:
    server = server_context(settings)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def accept() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(ssl.SSLError, OSError):
            server.wrap_socket(conn, server_side=True).close()

    thread = threading.Thread(target=accept)
    thread.start()
    with (
        pytest.raises(ssl.SSLCertVerificationError),
        socket.create_connection(("127.0.0.1", port)) as raw,
    ):
        ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")
    thread.join()
    listener.close()
