"""``tidings serve mail-api``."""

from __future__ import annotations

from tidings.core.http import serve_app
from tidings.core.services import ServiceContext
from tidings.mail.api.app import create_app
from tidings.mail.store import MailStore


async def main(ctx: ServiceContext) -> None:
    store = MailStore(ctx.settings)
    try:
        await serve_app(ctx, create_app(ctx.settings, store, ctx.accounts), "mail_api")
    finally:
        store.close()
