"""IMAP: tidings' own server (:mod:`.server`), answering from the mail index, and the
pymap-based engine it replaces (:mod:`.pymap_service`), kept selectable for one
release with ``[mail] imap_engine = "pymap"``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidings.core.services import ServiceContext


async def main(ctx: ServiceContext) -> None:
    if ctx.settings.mail.imap_engine == "pymap":
        from tidings.mail.imap.pymap_service import main as pymap_main

        await pymap_main(ctx)
        return
    from tidings.mail.imap.server import main as own_main

    await own_main(ctx)
