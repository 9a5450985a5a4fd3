"""Bearer-token authentication for the HTTP APIs (RFC 6750), with scopes per route.

Shared by every Quart service (mail REST API, assistant): the app puts the core
:class:`~tidings.core.accounts.Accounts` in ``app.config["ACCOUNTS"]``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from quart import current_app, g, request, websocket

from tidings.core.accounts import Accounts, AuthFailed, Principal
from tidings.core.problems import Problem

P = ParamSpec("P")
R = TypeVar("R")

REALM = 'Bearer realm="tidings"'


def _accounts() -> Accounts:
    accounts: Accounts = current_app.config["ACCOUNTS"]
    return accounts


async def authenticate(
    scope: str | tuple[str, ...], *, websocket_request: bool = False
) -> Principal:
    """The principal behind the request's bearer token; its secret is kept in
    ``g.bearer_token`` for services that act on the user's behalf elsewhere. A tuple
    of scopes means any one of them will do."""
    headers = (websocket if websocket_request else request).headers
    header = headers.get("Authorization", "")
    kind, _, secret = header.partition(" ")
    if kind.lower() != "bearer" or not secret.strip():
        raise Problem(
            401,
            "Unauthorized",
            "send an API token: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": REALM},
        )
    try:
        # The token check touches the database (last-used time): off the event loop.
        principal = await asyncio.to_thread(_accounts().check_token, secret.strip())
    except AuthFailed:
        raise Problem(
            401,
            "Unauthorized",
            "the token is unknown or revoked",
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        ) from None
    wanted = (scope,) if isinstance(scope, str) else scope
    if not any(principal.has(s) for s in wanted):
        shown = " or ".join(repr(s) for s in wanted)
        raise Problem(
            403,
            "Forbidden",
            f"this token lacks the {shown} scope",
            headers={
                "WWW-Authenticate": f'{REALM}, error="insufficient_scope", '
                f'scope="{" ".join(wanted)}"'
            },
        )
    g.bearer_token = secret.strip()
    return principal


def requires(
    scope: str | tuple[str, ...],
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Route decorator: the caller's principal is in ``g.principal`` afterwards (a
    tuple of scopes: any one of them)."""

    def decorate(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @wraps(handler)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            g.principal = await authenticate(scope)
            return await handler(*args, **kwargs)

        return wrapper

    return decorate


def current_address() -> str:
    principal: Principal = g.principal
    return principal.user.address


def current_principal() -> Any:
    return g.principal
