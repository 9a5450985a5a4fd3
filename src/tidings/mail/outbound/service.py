"""``tidings serve outbound``: delivers the outgoing queue. It listens on nothing."""

from __future__ import annotations

import asyncio
import contextlib

from tidings.core.services import ServiceContext
from tidings.mail.dkim import ensure_keys
from tidings.mail.outbound.delivery import Deliverer, open_wakeup_socket
from tidings.mail.outbound.queuedb import QueueStore


async def main(ctx: ServiceContext) -> None:
    settings = ctx.settings
    # Made here too so `tidings dns` shows the keys the first message will use.
    await asyncio.to_thread(ensure_keys, settings)
    store = QueueStore(settings)
    deliverer = Deliverer(settings, store)
    loop = asyncio.get_running_loop()
    wakeup = open_wakeup_socket(settings)

    def on_wakeup() -> None:
        assert wakeup is not None
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while wakeup.recv(64):
                pass
        deliverer.wakeup.set()

    if wakeup is not None:
        loop.add_reader(wakeup.fileno(), on_wakeup)
    ctx.ready()
    try:
        await deliverer.run(ctx.stopping)
    finally:
        if wakeup is not None:
            loop.remove_reader(wakeup.fileno())
            wakeup.close()
        store.close()
