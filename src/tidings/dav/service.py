"""``tidings serve dav``: CalDAV/CardDAV and the calendar/contacts REST API on
``listen.dav`` (:8082 on a laptop; behind nginx at ``/dav`` and the well-known
paths on the appliance)."""

from __future__ import annotations

from tidings.core.http import serve_app
from tidings.core.services import ServiceContext
from tidings.dav.api import create_api
from tidings.dav.engine import DavEngine
from tidings.dav.front import DavAuth, DavFront


async def main(ctx: ServiceContext) -> None:
    engine = DavEngine(ctx.settings.data_dir / "dav")
    try:
        api = create_api(engine, ctx.accounts)
        front = DavFront(engine, DavAuth(ctx.accounts), api)
        await serve_app(ctx, front, "dav")
    finally:
        engine.close()
