"""The services the catalogue puts in network class `none` (PrivateNetwork=yes on
the appliance) really need no network of their own: started the way systemd starts
them — sockets bound outside, handed over by name — inside an empty network
namespace (`unshare --net`, no interface but a loopback that is down), they come up
and serve clients on the inherited sockets."""

from __future__ import annotations

import shutil
import socket
import sys
from typing import Any

import httpx
import pytest

from tests.conftest import Served, free_port
from tests.nix.configurations import CONFIGURATIONS
from tests.nix.nixeval import evaluate


def _isolated_services() -> list[tuple[str, dict[str, Any]]]:
    catalogue = evaluate(CONFIGURATIONS["defaults"])["catalogue"]
    return sorted((n, s) for n, s in catalogue.items() if s["network"] == "none")


def test_imap_and_the_mail_api_are_the_isolated_ones() -> None:
    assert [name for name, _ in _isolated_services()] == ["imap", "mail-api"]


@pytest.mark.parametrize("name", ["imap", "mail-api"])
def test_serves_from_an_empty_network_namespace(name: str, box_env: dict[str, str]) -> None:
    activate = shutil.which("systemd-socket-activate")
    unshare = shutil.which("unshare")
    assert activate and unshare, "systemd-socket-activate and unshare are needed"
    service = dict(_isolated_services())[name]
    ports = {endpoint: free_port() for endpoint in service["endpoints"]}
    # Configured to listen where it cannot (port 9, in a namespace with no network):
    # it only works with the sockets it is given.
    env = dict(box_env)
    for endpoint in ports:
        env[f"TIDINGS_LISTEN__{endpoint.upper()}"] = "127.0.0.1:9"
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
        first, port = next(iter(ports.items()))
        if name == "imap":
            with socket.create_connection(("127.0.0.1", port), timeout=60) as client:
                greeting = client.makefile("rb").readline()
            assert greeting.startswith(b"* OK"), greeting
        else:
            answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=60)
            assert answer.json()["service"] == "mail-api"
        served.wait_for(f"{name} listening on {first}=127.0.0.1:{port}")
    finally:
        served.stop()
