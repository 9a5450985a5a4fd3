"""Running the MCP mail server: ``tidings serve mcp-mail`` (streamable HTTP) and
``tidings mcp mail --stdio`` (one user, for desktop MCP clients)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
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
from tidings.mcp.service_api import ServiceApi

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


def bearer_auth(settings: Settings) -> AuthSettings:
    """Bearer tokens from this box's accounts, for an MCP server's HTTP app."""
    return AuthSettings(
        # Required by the SDK, published nowhere: with no resource_server_url there is
        # no protected-resource metadata pointing clients at an authorization server.
        # Tokens come from `tidings token create` (docs/decisions.md, "MCP servers").
        issuer_url=f"https://{settings.hostname}",
        resource_server_url=None,
    )


def streamable_app(settings: Settings, server: MCPServer, service: str, endpoint: str) -> Starlette:
    """An MCP server over streamable HTTP at ``/mcp`` (bearer tokens required) with
    ``/healthz`` beside it (no token: what systemd, `tidings up` and the status page
    probe)."""
    # Stateless and plain JSON, as the SDK recommends for the 2026-07-28 protocol:
    # every request stands alone, so any process (or restart) can answer it.
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(settings, endpoint),
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": service, "version": __version__})

    app.router.routes.append(Route("/healthz", healthz, methods=["GET"]))
    return app


def http_app(settings: Settings, accounts: Accounts, api: MailApi) -> Starlette:
    """The mail server over streamable HTTP."""
    server = create_mail_server(
        api, token_verifier=AccountsTokenVerifier(accounts), auth=bearer_auth(settings)
    )
    return streamable_app(settings, server, "mcp-mail", "mcp_mail")


async def serve_mcp(
    ctx: ServiceContext,
    api: ServiceApi,
    app: Callable[[Settings, Accounts, Any], Starlette],
    endpoint: str,
) -> None:
    """``tidings serve mcp-…``: the app on its endpoint, its API client closed after."""
    try:
        await serve_app(ctx, app(ctx.settings, ctx.accounts, api), endpoint)
    finally:
        await api.aclose()


def stdio(token: AccessToken, api: ServiceApi, create: Callable[[Any], MCPServer]) -> None:
    """One user over stdin/stdout, every call made with ``token``."""

    async def run() -> None:
        try:
            act_as(token)
            await create(api).run_stdio_async()
        finally:
            await api.aclose()

    anyio.run(run)


async def main(ctx: ServiceContext) -> None:
    await serve_mcp(ctx, MailApi(mail_api_url(ctx.settings)), http_app, "mcp_mail")


def run_stdio(settings: Settings, accounts: Accounts, secret: str) -> None:
    """Serve one user over stdin/stdout. The token is checked first (raises
    :class:`tidings.core.accounts.AuthFailed`); every call then uses it."""
    token = access_token(secret, accounts.check_token(secret))
    stdio(token, MailApi(mail_api_url(settings)), create_mail_server)
