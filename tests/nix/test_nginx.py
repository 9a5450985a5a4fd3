"""The front door: the nginx virtual host the module declares, rendered to an
nginx.conf the way nixpkgs' nginx module writes one (recommended proxy settings,
the WebSocket upgrade map, an HTTP server that redirects, an HTTPS server with the
locations), checked by `nginx -t` and then served by a real nginx in front of
stand-in backends on loopback: every public path reaches the service that owns it,
with HSTS, HTTP/2, WebSocket upgrade headers and the rate limit.

The rendering follows the nginx here (Debian 12, 1.22: `listen ... ssl http2`);
NixOS 25.11's nginx writes `http2 on;`. The real module's output is what
`nix flake check` (vm-tests/web.nix) serves."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.nix.configurations import CONFIGURATIONS
from tests.nix.nixeval import evaluate
from tidings.core.config import Settings
from tidings.core.tls import ensure_tls

HOST = "mail.example.org"

# nixos/modules/services/web-servers/nginx/default.nix: recommendedProxySettings sets
# the timeouts and HTTP/1.1 in `http`, and includes these headers in every location
# that proxies (a location's own proxy_set_header would drop inherited ones).
PROXY_HTTP = """
  proxy_redirect off;
  proxy_connect_timeout 60s;
  proxy_send_timeout 60s;
  proxy_read_timeout 60s;
  proxy_http_version 1.1;
"""
PROXY_HEADERS = """
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Server $hostname;
"""
UPGRADE_MAP = """
  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' close;
  }
"""
WEBSOCKET = """
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
"""


def render(
    nginx: dict[str, Any],
    directory: Path,
    http_port: int,
    https_port: int,
    cert: Path,
    key: Path,
    upstreams: dict[str, str] | None = None,
) -> Path:
    """nginx.conf for the module's virtual hosts; `upstreams` moves proxy targets."""
    servers = []
    for name, vhost in nginx["virtualHosts"].items():
        names = " ".join([name, *vhost["serverAliases"]])
        http2 = " http2" if vhost["http2"] else ""
        locations = []
        for path, location in sorted(vhost["locations"].items()):
            target = location["proxyPass"]
            for old, new in (upstreams or {}).items():
                target = target.replace(old, new)
            locations.append(
                f"    location {path} {{\n      proxy_pass {target};\n"
                + (PROXY_HEADERS if nginx["recommendedProxySettings"] else "")
                + (WEBSOCKET if location["proxyWebsockets"] else "")
                + f"      {location['extraConfig']}\n    }}\n"
            )
        servers.append(
            f"  server {{\n    listen 127.0.0.1:{http_port};\n    server_name {names};\n"
            "    location / { return 301 https://$host$request_uri; }\n  }\n"
            f"  server {{\n    listen 127.0.0.1:{https_port} ssl{http2};\n"
            f"    server_name {names};\n"
            f"    ssl_certificate {cert};\n    ssl_certificate_key {key};\n"
            f"    {vhost['extraConfig']}\n" + "".join(locations) + "  }\n"
        )
    temp = "".join(
        f"  {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = directory / "nginx.conf"
    conf.write_text(
        f"daemon off;\nmaster_process off;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'} warn;\nevents {{}}\nhttp {{\n"
        f"  access_log off;\n{temp}{PROXY_HTTP}{UPGRADE_MAP}\n  {nginx['appendHttpConfig']}\n"
        + "".join(servers)
        + "}\n"
    )
    return conf


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    files = ensure_tls(Settings(data_dir=tmp_path_factory.mktemp("tls"), hostname=HOST))
    assert files.ca is not None
    return files.cert, files.key, files.ca


def _expected_locations(result: dict[str, Any], disabled: set[str] = frozenset()) -> dict[str, str]:
    """Each route of each enabled service to its loopback endpoint, from the catalogue."""
    expected = {}
    for name, service in result["catalogue"].items():
        if name in disabled:
            continue
        for route in service["routes"]:
            endpoint = next(iter(service["endpoints"].values()))
            upstream = f"http://{endpoint['address']}:{endpoint['port']}"
            expected[route["path"]] = upstream + ("/" if route["strip"] else "")
    return expected


def test_every_public_path_has_its_route() -> None:
    result = evaluate(CONFIGURATIONS["defaults"])
    locations = result["nginx"]["virtualHosts"][HOST]["locations"]
    routes = {path: loc["proxyPass"] for path, loc in locations.items()}
    assert routes == _expected_locations(result)
    # The public paths of the services that exist today, spelled out.
    assert routes["/"] == "http://127.0.0.1:3000"
    assert routes["/api/mail/"] == "http://127.0.0.1:8080/"
    assert routes["= /mail/config-v1.1.xml"] == "http://127.0.0.1:8080"
    assert routes["/.well-known/autoconfig/"] == "http://127.0.0.1:8080"
    assert routes["/api/assistant/"] == "http://127.0.0.1:8888/"
    assert routes["/mcp"] == "http://127.0.0.1:8090"
    websockets = {path for path, loc in locations.items() if loc["proxyWebsockets"]}
    assert {"/", "/api/assistant/"} <= websockets
    assert "/api/mail/" not in websockets

    mail_only = evaluate(CONFIGURATIONS["mail-only"])
    kept = mail_only["nginx"]["virtualHosts"][HOST]["locations"]
    assert {path: loc["proxyPass"] for path, loc in kept.items()} == _expected_locations(
        mail_only, {"web", "ai", "mcp-mail"}
    )
    assert "/" not in kept and "/mcp" not in kept


@pytest.mark.parametrize("name", ["defaults", "mail-only", "manual"])
def test_nginx_accepts_the_configuration(
    name: str, tmp_path: Path, certificate: tuple[Path, Path, Path]
) -> None:
    cert, key, _ = certificate
    nginx = evaluate(CONFIGURATIONS[name])["nginx"]
    conf = render(nginx, tmp_path, free_port(), free_port(), cert, key)
    done = subprocess.run(["nginx", "-t", "-c", str(conf)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + conf.read_text()
    assert "test is successful" in done.stderr


def test_nginx_t_catches_a_broken_configuration(
    tmp_path: Path, certificate: tuple[Path, Path, Path]
) -> None:
    cert, key, _ = certificate
    nginx = evaluate(CONFIGURATIONS["defaults"])["nginx"]
    broken = {**nginx, "appendHttpConfig": "limit_req_zone $binary_remote_addr rate=1r/s;"}
    conf = render(broken, tmp_path, free_port(), free_port(), cert, key)
    done = subprocess.run(["nginx", "-t", "-c", str(conf)], capture_output=True, text=True)
    assert done.returncode != 0


class _Backend(BaseHTTPRequestHandler):
    """Answers with who it is and what it received."""

    service = ""

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "service": self.service,
                "path": self.path,
                "upgrade": self.headers.get("Upgrade"),
                "connection": self.headers.get("Connection"),
                "proto": self.headers.get("X-Forwarded-Proto"),
                "host": self.headers.get("Host"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def front_door(
    tmp_path_factory: pytest.TempPathFactory, certificate: tuple[Path, Path, Path]
) -> Iterator[tuple[int, int]]:
    result = evaluate(CONFIGURATIONS["defaults"])
    upstreams: dict[str, str] = {}
    servers = []
    for service in result["catalogue"].values():
        if not service["routes"]:
            continue
        endpoint = next(iter(service["endpoints"].values()))
        port = free_port()
        handler = type(f"Backend_{service['name']}", (_Backend,), {"service": service["name"]})
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        upstreams[f"http://{endpoint['address']}:{endpoint['port']}"] = f"http://127.0.0.1:{port}"
    directory = tmp_path_factory.mktemp("nginx")
    http_port, https_port = free_port(), free_port()
    cert, key, _ = certificate
    conf = render(result["nginx"], directory, http_port, https_port, cert, key, upstreams)
    nginx = subprocess.Popen(["nginx", "-c", str(conf)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", https_port)) == 0:
                break
        assert nginx.poll() is None, nginx.communicate()[1]
        assert time.monotonic() < deadline, "nginx did not listen"
        time.sleep(0.05)
    try:
        yield http_port, https_port
    finally:
        nginx.terminate()
        nginx.wait(10)
        for server in servers:
            server.shutdown()


def _client(ca: Path, https_port: int) -> httpx.Client:
    return httpx.Client(
        base_url=f"https://{HOST}:{https_port}",
        verify=ssl.create_default_context(cafile=str(ca)),
        http2=False,
        transport=httpx.HTTPTransport(
            verify=ssl.create_default_context(cafile=str(ca)), local_address="127.0.0.1"
        ),
        timeout=10,
    )


@pytest.mark.parametrize(
    ("path", "service", "seen"),
    [
        ("/", "web", "/"),
        ("/status", "web", "/status"),
        ("/api/mail/v1/folders", "mail-api", "/v1/folders"),
        ("/.well-known/autoconfig/mail/config-v1.1.xml", "mail-api", None),
        ("/mail/config-v1.1.xml?emailaddress=a@example.org", "mail-api", None),
        ("/api/assistant/v1/conversations", "ai", "/v1/conversations"),
        ("/mcp", "mcp-mail", "/mcp"),
    ],
)
def test_a_real_nginx_routes_each_path(
    front_door: tuple[int, int],
    certificate: tuple[Path, Path, Path],
    path: str,
    service: str,
    seen: str | None,
) -> None:
    _, https_port = front_door
    answer = _get(certificate[2], https_port, path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["strict-transport-security"] == "max-age=31536000"
    body = answer.json()
    assert body["service"] == service
    assert body["path"] == (seen or path)
    assert body["proto"] == "https"
    assert body["host"] == HOST


def _get(ca: Path, https_port: int, path: str, **headers: str) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(ca))
    with httpx.Client(verify=context, timeout=10) as client:
        return client.get(
            f"https://127.0.0.1:{https_port}{path}",
            headers={"Host": HOST, **headers},
            extensions={"sni_hostname": HOST},
        )


def test_websocket_upgrade_reaches_the_assistant(
    front_door: tuple[int, int], certificate: tuple[Path, Path, Path]
) -> None:
    _, https_port = front_door
    body = _get(
        certificate[2],
        https_port,
        "/api/assistant/v1/ws",
        Upgrade="websocket",
        Connection="Upgrade",
    ).json()
    assert (body["upgrade"], body["connection"]) == ("websocket", "upgrade")
    plain = _get(certificate[2], https_port, "/api/mail/v1/folders", Upgrade="websocket").json()
    assert plain["upgrade"] is None  # only WebSocket routes pass the upgrade on


def test_plain_http_is_redirected(front_door: tuple[int, int]) -> None:
    http_port, _ = front_door
    answer = httpx.get(f"http://127.0.0.1:{http_port}/status", headers={"Host": HOST})
    assert answer.status_code == 301
    assert answer.headers["location"] == f"https://{HOST}/status"


def test_a_flood_is_rate_limited(
    front_door: tuple[int, int], certificate: tuple[Path, Path, Path]
) -> None:
    _, https_port = front_door
    context = ssl.create_default_context(cafile=str(certificate[2]))
    with httpx.Client(verify=context, timeout=10) as client:
        codes = [
            client.get(
                f"https://127.0.0.1:{https_port}/status",
                headers={"Host": HOST},
                extensions={"sni_hostname": HOST},
            ).status_code
            for _ in range(120)
        ]
    assert 200 in codes
    assert 429 in codes
