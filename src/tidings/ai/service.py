"""``tidings serve ai``: the assistant runtime, on ``listen.ai``.

The model is loaded before the service reports ready (the bundled one is assembled
into the data dir the first time, with its progress in the log), so the first
request never waits for a model load.
"""

from __future__ import annotations

import asyncio
import logging

from tidings.ai.app import create_app
from tidings.ai.backends import load
from tidings.ai.conversations import Conversations
from tidings.ai.runtime import Assistant
from tidings.ai.toolbox import configured_servers
from tidings.core.http import serve_app
from tidings.core.services import ServiceContext

log = logging.getLogger(__name__)


async def main(ctx: ServiceContext) -> None:
    reported = -1

    def progress(done: int, total: int) -> None:
        nonlocal reported
        percent = done * 100 // max(total, 1)
        if percent // 10 != reported // 10:
            reported = percent
            log.info("preparing the model: %d%% of %d MB", percent, total // 1_000_000)

    backend = await asyncio.to_thread(load, ctx.settings, progress)
    log.info("model ready: %s", backend.name)
    try:
        assistant = Assistant(
            ctx.settings, backend, Conversations(ctx.db), configured_servers(ctx.settings)
        )
        await serve_app(ctx, create_app(assistant, ctx.accounts), "ai")
    finally:
        await backend.aclose()
