"""The services the catalogue puts in network class `none` (PrivateNetwork=yes on
the appliance) really need no network of their own: started the way systemd starts
them — sockets bound outside, handed over by name — inside an empty network
namespace (`unshare --net`, no interface but a loopback that is down), they come up
and serve clients on the inherited sockets."""

from __future__ import annotations

import shutil
import socket
import ssl
import sys
from typing import Any

import httpx
import pytest

from tests.conftest import Served, free_port
from tests.nix.configurations import CONFIGURATIONS
from tests.nix.nixeval import evaluate
from tidings.core.services import SERVICES, Endpoint


def _isolated_services() -> dict[str, dict[str, Any]]:
    catalogue = evaluate(CONFIGURATIONS["defaults"])["catalogue"]
    return {n: s for n, s in sorted(catalogue.items()) if s["network"] == "none"}


def test_the_mail_store_readers_are_isolated() -> None:
    assert {"imap", "mail-api"} <= set(_isolated_services())


def _answers(endpoint: Endpoint, port: int) -> None:
    """A client's first exchange with the endpoint, as the status page probes it."""
    if endpoint.kind == "http":
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=60)
        assert answer.json()["status"] == "ok"
        return
    with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
        if endpoint.kind == "tls" or endpoint.name in ("imaps", "submissions"):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            client = context.wrap_socket(client)
        greeting = client.makefile("rb").readline()
    expected = {"imap": b"* OK", "smtp": b"220"}.get(endpoint.kind, b"")
    assert greeting.startswith(expected), greeting


@pytest.mark.parametrize("name", sorted(_isolated_services()))
def test_serves_from_an_empty_network_namespace(name: str, box_env: dict[str, str]) -> None:
    activate = shutil.which("systemd-socket-activate")
    unshare = shutil.which("unshare")
    assert activate and unshare, "systemd-socket-activate and unshare are needed"
    endpoints = SERVICES[name].endpoints
    ports = {endpoint.name: free_port() for endpoint in endpoints}
    # Configured to listen where it cannot (port 9, in a namespace with no network):
    # it only works with the sockets it is given.
    env = dict(box_env)
    for endpoint_name in ports:
        env[f"TIDINGS_LISTEN__{endpoint_name.upper()}"] = "127.0.0.1:9"
    wrapper = [
        activate,
        *[f"--listen=127.0.0.1:{port}" for port in ports.values()],
        f"--fdname={':'.join(ports)}",
        *[f"--setenv={k}={v}" for k, v in env.items()],
        unshare,
        "--net",
        "--",
        sys.executable,
        "-m",
        "tidings",
    ]
    served = Served(["serve", name], {}, command=wrapper)
    try:
        served.wait_for("Listening on")
        for endpoint in endpoints:
            _answers(endpoint, ports[endpoint.name])
        first = endpoints[0].name
        served.wait_for(f"{name} listening on {first}=127.0.0.1:{ports[first]}")
    finally:
        served.stop()
