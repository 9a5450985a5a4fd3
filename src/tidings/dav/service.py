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
        # Sync clients (vdirsyncer, DAVx5) reuse a connection across pauses longer than
        # hypercorn's 5 s and fail on one closed under them; nginx keeps 75 s.
        await serve_app(ctx, front, "dav", keep_alive_seconds=75)
    finally:
        engine.close()
