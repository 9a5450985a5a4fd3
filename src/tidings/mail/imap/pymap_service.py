"""``tidings serve imap``: IMAP on the users' Maildirs, with pymap as the engine.

Two listeners: ``imap`` (STARTTLS, required before LOGIN) and ``imaps`` (implicit
TLS). Both are our sockets (``ctx.listen``, so systemd socket activation works) and
our TLS context; pymap only speaks the protocol on the streams.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack, closing
from functools import partial

from proxyprotocol.reader import ProxyProtocolReader
from proxyprotocol.sock import SocketInfo
from proxyprotocol.version import ProxyProtocolVersion
from pymap.context import connection_exit
from pymap.imap import IMAPConnection

from tidings.core.services import ServiceContext
from tidings.core.tls import server_context
from tidings.mail.imap.pymap_backend import TidingsConfig, TidingsConnectionState, TidingsLogin
from tidings.mail.store import MailStore

log = logging.getLogger("tidings.imap")


async def _connection(
    login: TidingsLogin,
    config: TidingsConfig,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    sock_info: SocketInfo,
) -> None:
    conn = IMAPConnection(config.commands, config, reader, writer, sock_info)
    state = TidingsConnectionState(login, config)
    async with AsyncExitStack() as stack:
        connection_exit.set(stack)
        stack.enter_context(closing(conn))
        try:
            await conn.run(state)
        except Exception:
            log.exception("IMAP connection failed")


async def main(ctx: ServiceContext) -> None:
    settings = ctx.settings
    store = MailStore(settings)
    report = await asyncio.to_thread(store.reconcile)
    if report.added or report.removed or report.updated:
        log.info(
            "index repaired: %d added, %d removed, %d updated",
            report.added,
            report.removed,
            report.updated,
        )
    tls = server_context(settings)
    starttls_config = TidingsConfig(settings, tls, starttls=True)
    implicit_config = TidingsConfig(settings, tls, starttls=False)
    starttls_config.apply_context()  # pymap's subsystem (asyncio) for this loop
    # No PROXY protocol: clients reach us directly (or through systemd sockets).
    proxy = ProxyProtocolReader(ProxyProtocolVersion.get(None))
    servers = []
    for endpoint, config, ssl in (
        ("imap", starttls_config, None),
        ("imaps", implicit_config, tls),
    ):
        login = TidingsLogin(config, ctx.accounts, store)
        callback = proxy.get_callback(partial(_connection, login, config))
        servers.append(await asyncio.start_server(callback, sock=ctx.listen(endpoint), ssl=ssl))
    ctx.ready()
    try:
        await ctx.stopping.wait()
    finally:
        for server in servers:
            server.close()
        for server in servers:
            await server.wait_closed()
        store.close()
