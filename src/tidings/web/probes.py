"""Is each service of the box answering? Probed the way a client would connect."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass

import httpx

from tidings.core.config import Settings, split_endpoint
from tidings.core.services import HEARTBEAT_SECONDS, SERVICES, Endpoint, heartbeat_path

TIMEOUT = 2.0


@dataclass(frozen=True)
class Probe:
    service: str
    endpoint: str
    address: str
    ok: bool
    detail: str


def _connect_host(host: str) -> str:
    # A wildcard listener is reached through loopback.
    return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104


async def _probe_banner(host: str, port: int, expect: bytes, tls: bool) -> str:
    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # liveness only; clients verify for real
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context), TIMEOUT
    )
    try:
        line = await asyncio.wait_for(reader.readline(), TIMEOUT)
    finally:
        writer.close()
    if not line.startswith(expect):
        raise ConnectionError(f"unexpected greeting {line[:60]!r}")
    return line.decode(errors="replace").strip()[:80]


async def probe(service: str, endpoint: Endpoint, settings: Settings) -> Probe:
    address = getattr(settings.listen, endpoint.name)
    host, port = split_endpoint(address)
    host = _connect_host(host)
    try:
        if endpoint.kind == "http":
            url_host = f"[{host}]" if ":" in host else host
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                response = await client.get(f"http://{url_host}:{port}/healthz")
            response.raise_for_status()
            detail = response.json().get("status", "ok")
        elif endpoint.kind == "smtp":
            detail = await _probe_banner(host, port, b"220", endpoint.name == "submissions")
        elif endpoint.kind == "imap":
            detail = await _probe_banner(host, port, b"* OK", endpoint.name == "imaps")
        else:
            detail = await _probe_banner(host, port, b"", True)
    except (OSError, TimeoutError, httpx.HTTPError, ValueError, ConnectionError) as exc:
        return Probe(service, endpoint.name, address, False, str(exc) or type(exc).__name__)
    return Probe(service, endpoint.name, address, True, str(detail))


async def probe_process(service: str, settings: Settings) -> Probe:
    """A service without a listener is up while it keeps its heartbeat file fresh."""
    path = heartbeat_path(settings, service)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return Probe(service, "(process)", "-", False, "not running")
    if age > 3 * HEARTBEAT_SECONDS:
        return Probe(service, "(process)", "-", False, f"no heartbeat for {age:.0f} s")
    return Probe(service, "(process)", "-", True, "running")


async def probe_all(settings: Settings) -> list[Probe]:
    jobs = []
    for spec in SERVICES.values():
        if not spec.endpoints:
            jobs.append(probe_process(spec.name, settings))
        jobs += [probe(spec.name, endpoint, settings) for endpoint in spec.endpoints]
    return list(await asyncio.gather(*jobs))
