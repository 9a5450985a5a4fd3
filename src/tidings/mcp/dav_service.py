"""Running the MCP calendar/contacts server: ``tidings serve mcp-dav`` (streamable
HTTP on ``listen.mcp_dav``) and ``tidings mcp dav --stdio`` (one user), exactly as
the mail server runs (:mod:`.service`)."""

from __future__ import annotations

import anyio
from mcp.server.auth.settings import AuthSettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tidings import __version__
from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.core.http import serve_app
from tidings.core.services import ServiceContext
from tidings.mcp.auth import AccountsTokenVerifier, access_token, act_as
from tidings.mcp.dav import create_dav_server
from tidings.mcp.dav_api import DavApi, dav_api_url
from tidings.mcp.service import MCP_PATH, transport_security


def http_app(settings: Settings, accounts: Accounts, api: DavApi) -> Starlette:
    """The calendar/contacts server over streamable HTTP at ``/mcp``, bearer tokens
    required; ``/healthz`` answers without one."""
    auth = AuthSettings(issuer_url=f"https://{settings.hostname}", resource_server_url=None)
    server = create_dav_server(api, token_verifier=AccountsTokenVerifier(accounts), auth=auth)
    app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(settings, "mcp_dav"),
    )

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "mcp-dav", "version": __version__})

    app.router.routes.append(Route("/healthz", healthz, methods=["GET"]))
    return app


async def main(ctx: ServiceContext) -> None:
    api = DavApi(dav_api_url(ctx.settings))
    try:
        await serve_app(ctx, http_app(ctx.settings, ctx.accounts, api), "mcp_dav")
    finally:
        await api.aclose()


def run_stdio(settings: Settings, accounts: Accounts, secret: str) -> None:
    """Serve one user over stdin/stdout; the token is checked first."""
    token = access_token(secret, accounts.check_token(secret))

    async def run() -> None:
        api = DavApi(dav_api_url(settings))
        try:
            act_as(token)
            await create_dav_server(api).run_stdio_async()
        finally:
            await api.aclose()

    anyio.run(run)
