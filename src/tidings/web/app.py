"""The web application (Quart)."""

from __future__ import annotations

from typing import Any

from quart import Quart, render_template

from tidings import __version__
from tidings.core.config import Settings
from tidings.core.http import add_health
from tidings.web.probes import probe_all


def create_app(settings: Settings) -> Quart:
    app = Quart(__name__)
    add_health(app, "web")

    @app.get("/status")
    async def status() -> str:
        probes = await probe_all(settings)
        return await render_template(
            "status.html",
            probes=probes,
            settings=settings,
            version=__version__,
            healthy=all(p.ok for p in probes),
        )

    @app.get("/status.json")
    async def status_json() -> dict[str, Any]:
        probes = await probe_all(settings)
        return {
            "version": __version__,
            "healthy": all(p.ok for p in probes),
            "services": [vars(p) for p in probes],
        }

    @app.get("/")
    async def index() -> Any:
        # The conversational UI lands here; until then the status page is the front door.
        return await status()

    return app
