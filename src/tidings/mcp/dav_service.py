"""Running the MCP calendar/contacts server: ``tidings serve mcp-dav`` (streamable
HTTP on ``listen.mcp_dav``) and ``tidings mcp dav --stdio`` (one user), exactly as
the mail server runs (:mod:`.service`)."""

from __future__ import annotations

from starlette.applications import Starlette

from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.core.services import ServiceContext
from tidings.mcp.auth import AccountsTokenVerifier, access_token
from tidings.mcp.dav import create_dav_server
from tidings.mcp.dav_api import DavApi, dav_api_url
from tidings.mcp.service import bearer_auth, serve_mcp, stdio, streamable_app


def http_app(settings: Settings, accounts: Accounts, api: DavApi) -> Starlette:
    """The calendar/contacts server over streamable HTTP, as the mail server."""
    server = create_dav_server(
        api, token_verifier=AccountsTokenVerifier(accounts), auth=bearer_auth(settings)
    )
    return streamable_app(settings, server, "mcp-dav", "mcp_dav")


async def main(ctx: ServiceContext) -> None:
    await serve_mcp(ctx, DavApi(dav_api_url(ctx.settings)), http_app, "mcp_dav")


def run_stdio(settings: Settings, accounts: Accounts, secret: str) -> None:
    """Serve one user over stdin/stdout; the token is checked first."""
    token = access_token(secret, accounts.check_token(secret))
    stdio(token, DavApi(dav_api_url(settings)), create_dav_server)
