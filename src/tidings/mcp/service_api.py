"""A box service's REST API as an MCP server calls it: a pooled HTTP client where
every call carries the caller's own bearer token, so the API — not the MCP server —
decides what the token may see and do. Its RFC 9457 problems become tool errors
worded for the person (or model) who asked. The mail and dav clients are this, with
their service's name and calls."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from mcp.server.mcpserver.exceptions import ToolError

from tidings.core.config import split_endpoint

#: A listener on every address is reached on loopback.
_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104  (mapped away, never bound)


def api_url(endpoint: str) -> str:
    """The URL an MCP server reaches a ``[listen]`` endpoint at."""
    host, port = split_endpoint(endpoint)
    host = _WILDCARD.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ServiceApiError(ToolError):
    """The API refused or failed; the message says why, for the user."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ServiceApi:
    """A pooled HTTP client for one service's API; one per process, shared by all
    callers (each request names its own token)."""

    service: ClassVar[str] = "service"
    """How the user knows the service: "the mail service refused the token"."""
    error: ClassVar[type[ServiceApiError]] = ServiceApiError

    def __init__(self, base_url: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(
        self,
        token: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(
                method,
                path,
                params=query,
                json=json,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            raise self.error(
                f"the {self.service} service is not reachable at {self.base_url} "
                f"({type(exc).__name__})"
            ) from exc
        if response.status_code >= 400:
            raise self.error(self.problem_message(response), response.status_code)
        return response.json() if response.content else None

    def not_found(self, detail: str) -> str:
        return detail or "not found"

    def problem_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = {}
        detail = (
            str(body.get("detail") or body.get("title") or "") if isinstance(body, dict) else ""
        )
        status = response.status_code
        if status == 401:
            return f"the {self.service} service refused the token (unknown or revoked)"
        if status == 403:
            return f"not allowed: {detail or 'this token lacks the scope this needs'}"
        if status == 404:
            return self.not_found(detail)
        if status in (400, 413, 422):
            reason = detail or response.reason_phrase
            return f"the {self.service} service refused the request: {reason}"
        if status == 503:
            return detail or f"the {self.service} service is unavailable"
        return f"the {self.service} service failed (HTTP {status})"
