"""Running the MCP mail server: ``tidings serve mcp-mail`` (streamable HTTP) and
``tidings mcp mail --stdio`` (one user, for desktop MCP clients)."""

from __future__ import annotations

import anyio
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tidings import __version__
from tidings.core.accounts import Accounts
from tidings.core.config import Settings, split_endpoint
from tidings.core.http import serve_app
from tidings.core.services import ServiceContext
from tidings.mcp.auth import AccountsTokenVerifier, access_token, act_as
from tidings.mcp.mail import create_mail_server
from tidings.mcp.mail_api import MailApi, mail_api_url

MCP_PATH = "/mcp"


def transport_security(settings: Settings, endpoint: str = "mcp_mail") -> TransportSecuritySettings:
    """DNS-rebinding protection: only Host/Origin values this box answers to (loopback,
    its listen address, its public name behind the reverse proxy)."""
    listen_host, _ = split_endpoint(getattr(settings.listen, endpoint))
    listen_host = f"[{listen_host}]" if ":" in listen_host else listen_host
    names = sorted({"127.0.0.1", "localhost", "[::1]", listen_host, settings.hostname})
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[h for n in names for h in (n, f"{n}:*")],
        allowed_origins=[
            f"{scheme}://{n}{port}"
            for n in names
            for scheme in ("http", "https")
            for port in ("", ":*")
        ],
    )


def http_app(settings: Settings, accounts: Accounts, api: MailApi) -> Starlette:
    """The mail server over streamable HTTP at ``/mcp``, bearer tokens required;
    ``/healthz`` answers without one."""
    auth = AuthSettings(
        # Required by the SDK, published nowhere: with no resource_server_url there is
        # no protected-resource metadata pointing clients at an authorization server.
        # Tokens come from `tidings token create` (docs/decisions.md, "MCP servers").
        issuer_url=f"https://{settings.hostname}",
        resource_server_url=None,
    )
    server = create_mail_server(api, token_verifier=AccountsTokenVerifier(accounts), auth=auth)
    # Stateless and plain JSON, as the SDK recommends for the 2026-07-28 protocol:
    # every request stands alone, so any process (or restart) can answer it.
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(settings),
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "mcp-mail", "version": __version__})

    # Outside the bearer check: what systemd, `tidings up` and the status page probe.
    app.router.routes.append(Route("/healthz", healthz, methods=["GET"]))
    return app


async def main(ctx: ServiceContext) -> None:
    api = MailApi(mail_api_url(ctx.settings))
    try:
        await serve_app(ctx, http_app(ctx.settings, ctx.accounts, api), "mcp_mail")
    finally:
        await api.aclose()


def run_stdio(settings: Settings, accounts: Accounts, secret: str) -> None:
    """Serve one user over stdin/stdout. The token is checked first (raises
    :class:`tidings.core.accounts.AuthFailed`); every call then uses it."""
    token = access_token(secret, accounts.check_token(secret))

    async def run() -> None:
        api = MailApi(mail_api_url(settings))
        try:
            act_as(token)
            await create_mail_server(api).run_stdio_async()
        finally:
            await api.aclose()

    anyio.run(run)
