"""``tidings serve mail-api``."""

from __future__ import annotations

from tidings.core.http import serve_app
from tidings.core.services import ServiceContext
from tidings.mail.api.app import create_app
from tidings.mail.outbound import OutboundQueue
from tidings.mail.patches import apply_patches
from tidings.mail.store import MailStore


async def main(ctx: ServiceContext) -> None:
    apply_patches("dkimpy")  # mail sent to other domains is DKIM-signed as it is queued
    store = MailStore(ctx.settings)
    outbox = OutboundQueue(ctx.settings)
    try:
        app = create_app(ctx.settings, store, ctx.accounts, outbox)
        await serve_app(ctx, app, "mail_api")
    finally:
        outbox.close()
        store.close()
