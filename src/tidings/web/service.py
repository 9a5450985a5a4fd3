"""``tidings serve web``."""

from __future__ import annotations

from tidings.core.http import serve_app
from tidings.core.services import ServiceContext
from tidings.web.app import create_app


async def main(ctx: ServiceContext) -> None:
    await serve_app(ctx, create_app(ctx.settings, ctx.accounts), "web")
