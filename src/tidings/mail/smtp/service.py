"""``tidings serve smtp``: the MX (``smtp``) and submission (``submission``,
``submissions``) listeners. ``mail.smtp_workers`` processes accept on the same
sockets (:mod:`tidings.core.workers`); worker 0 keeps the per-source limits for all."""

from __future__ import annotations

import asyncio
import logging
import ssl
import warnings
from concurrent.futures import ThreadPoolExecutor

from tidings.core.config import Settings
from tidings.core.services import ServiceContext
from tidings.core.tls import server_context
from tidings.mail.outbound import OutboundQueue
from tidings.mail.patches import apply_patches
from tidings.mail.resolver import install_default_resolver
from tidings.mail.routing import Router
from tidings.mail.smtp import authresults
from tidings.mail.smtp.handler import Handler, Port
from tidings.mail.smtp.limits import (
    Limits,
    LimitsClient,
    LocalLimits,
    SourceLimits,
    serve_limits,
)
from tidings.mail.smtp.protocol import InFlight, TidingsSMTP
from tidings.mail.store import MailStore

log = logging.getLogger("tidings.smtp")

#: Worker threads for fsync, password hashing and DNS: each blocks, so with 20
#: parallel sessions a handful of threads (the default) would queue them up.
WORKER_THREADS = 32
#: How long a stop waits for messages being received or stored to get their reply.
STOP_GRACE_SECONDS = 20.0

PORTS = (
    Port("smtp", submission=False),
    Port("submission", submission=True),
    Port("submissions", submission=True),
)


class _NotOnImplicitTLS(logging.Filter):
    """aiosmtpd warns, on every connection to 465, that AUTH does not require TLS:
    it only knows STARTTLS, and there the whole connection is TLS already."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "auth_require_tls == False" not in record.getMessage()


def protocol_factory(
    settings: Settings,
    handler: Handler,
    limits: Limits,
    inflight: InFlight,
    tls: ssl.SSLContext,
    *,
    implicit_tls: bool,
) -> TidingsSMTP:
    submission = handler.port.submission
    return TidingsSMTP(
        handler,
        limits=limits,
        inflight=inflight,
        offer_auth=submission,
        hostname=settings.hostname,
        ident="ESMTP tidings",
        data_size_limit=settings.mail.max_message_size,
        enable_SMTPUTF8=True,
        decode_data=False,
        # On 465 the whole connection is already TLS; aiosmtpd only knows about
        # STARTTLS, so it must not ask for TLS again before AUTH there.
        tls_context=None if implicit_tls else tls,
        require_starttls=submission and not implicit_tls,
        auth_required=submission,
        auth_require_tls=not implicit_tls,
        timeout=settings.mail.command_timeout_seconds,
    )


async def main(ctx: ServiceContext) -> None:
    settings = ctx.settings
    logging.getLogger("mail.log").addFilter(_NotOnImplicitTLS())
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
    apply_patches("authheaders", "dkimpy")  # sender checks; DKIM-signing relayed mail
    install_default_resolver(settings)
    await asyncio.to_thread(authresults.prepare)
    loop = asyncio.get_running_loop()
    loop.set_default_executor(
        ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="smtp-io")
    )
    tls = server_context(settings)
    store = MailStore(settings)
    # A crash between a Maildir write and its index row is repaired at start, whether
    # or not the IMAP service restarts too (by one worker: it is once per service, and
    # safe beside deliveries — index rows are unique per Maildir file).
    if ctx.worker == 0:
        await asyncio.to_thread(store.reconcile)
    router = Router(ctx.accounts, store, OutboundQueue(settings))
    limits: Limits
    if ctx.leader is not None:  # another worker: worker 0 keeps the counts for all
        limits = LimitsClient(*await asyncio.open_connection(sock=ctx.leader))
        keepers: list[asyncio.Task[None]] = []
    else:
        counts = SourceLimits(
            max_connections=settings.mail.max_connections_per_source,
            connections_per_minute=settings.mail.max_connections_per_minute,
            messages_per_minute=settings.mail.max_messages_per_minute,
        )
        limits = LocalLimits(counts)
        keepers = [
            asyncio.create_task(serve_limits(counts, *await asyncio.open_connection(sock=peer)))
            for peer in ctx.followers
        ]
    inflight = InFlight()
    servers: list[asyncio.Server] = []
    for port in PORTS:
        sock = ctx.listen(port.name)
        handler = Handler(settings, ctx.accounts, router, limits, port)
        implicit = port.name == "submissions"

        def factory(handler: Handler = handler, implicit: bool = implicit) -> TidingsSMTP:
            return protocol_factory(settings, handler, limits, inflight, tls, implicit_tls=implicit)

        servers.append(await loop.create_server(factory, sock=sock, ssl=tls if implicit else None))
    ctx.ready()
    await ctx.stopping.wait()
    for server in servers:
        server.close()  # no new connections; sessions mid-DATA may finish
    try:
        async with asyncio.timeout(STOP_GRACE_SECONDS):
            await inflight.wait_idle()
    except TimeoutError:
        log.warning("stopping with %d message(s) still being received", inflight.count)
    await router.local.drain()  # index rows of what was stored, before the process ends
    for keeper in keepers:
        keeper.cancel()
    for server in servers:
        await server.wait_closed()
