"""Serving an HTTP app the tidings way: on a socket from :mod:`tidings.core.sockets`,
with ``/healthz``, until the service is asked to stop. Quart apps mostly; any ASGI app
(the MCP SDK's Starlette apps) is served the same way."""

from __future__ import annotations

import logging
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from tidings import __version__
from tidings.core.services import ServiceContext


def add_health(app: Quart, service: str) -> None:
    """``GET /healthz``: 200 while the service runs; what systemd, ``tidings up``, the
    status page and the testinfra suite check."""

    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "service": service, "version": __version__}

    app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])


async def serve_app(
    ctx: ServiceContext, app: Any, endpoint: str, *, keep_alive_seconds: float | None = None
) -> None:
    """Serve the ASGI ``app`` on ``endpoint`` (hypercorn) until the service stops;
    ``keep_alive_seconds`` overrides hypercorn's idle keep-alive (5 s)."""
    sock = ctx.listen(endpoint)
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = logging.getLogger("hypercorn.access")
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 5
    config.server_names = []
    if keep_alive_seconds is not None:
        config.keep_alive_timeout = keep_alive_seconds
    ctx.ready()
    await serve(app, config, shutdown_trigger=ctx.stopping.wait)
