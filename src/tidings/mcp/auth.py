"""Who is calling: tidings API tokens as MCP bearer tokens.

The MCP servers are OAuth *resource servers* only (see docs/decisions.md, "MCP
servers"): a client presents a token made with ``tidings token create`` (or the web
UI), the SDK's bearer middleware asks :class:`AccountsTokenVerifier`, and a request
without a valid token gets 401 before any MCP method runs. Tool code reads the
caller's token back from the SDK's auth context (:func:`caller`) and uses it, and
only it, against the mail REST API, so a token only ever reaches its own user's
mail. Over stdio there is no HTTP request to carry a token: :func:`act_as` puts the
one checked at start into the same context.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from mcp.server.auth.middleware.auth_context import auth_context_var, get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver.exceptions import ToolError

from tidings.core.accounts import Accounts, AuthFailed, Principal


def access_token(secret: str, principal: Principal) -> AccessToken:
    """The SDK's view of a tidings token. ``client_id`` names the token and
    ``subject`` the user: the SDK binds multi-round request state to both."""
    return AccessToken(
        token=secret,
        client_id=f"tidings-token-{principal.token_id}",
        scopes=sorted(principal.scopes),
        subject=principal.user.address,
    )


class AccountsTokenVerifier:
    """:class:`mcp.server.auth.provider.TokenVerifier` backed by :class:`Accounts`."""

    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            # The check writes the token's last-used time: off the event loop.
            principal = await asyncio.to_thread(self.accounts.check_token, token)
        except AuthFailed:
            return None
        return access_token(token, principal)


def act_as(token: AccessToken) -> None:
    """Make ``token`` the caller of everything that runs from this context on (stdio:
    one process, one user)."""
    auth_context_var.set(AuthenticatedUser(token))


@dataclass(frozen=True)
class Caller:
    token: str
    address: str


def caller() -> Caller:
    """The token and address of the user this request acts for."""
    token = get_access_token()
    if token is None or token.subject is None:
        # Unreachable behind the bearer middleware; a server built without it must not
        # quietly act for nobody.
        raise ToolError("not authenticated: this server needs a tidings API token")
    return Caller(token.token, token.subject)
