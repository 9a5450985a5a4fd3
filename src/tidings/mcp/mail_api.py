"""The mail REST API (``tidings serve mail-api``) as the MCP mail server uses it.

Every call carries the caller's own bearer token: the API, not this server, decides
what the token may see and do. Its RFC 9457 problems become tool errors worded for
the person (or model) who asked.
"""

from __future__ import annotations

from typing import Any

import httpx
from mcp.server.mcpserver.exceptions import ToolError

from tidings.core.config import Settings, split_endpoint

#: A listener on every address is reached on loopback.
_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104  (mapped away, never bound)


def mail_api_url(settings: Settings) -> str:
    host, port = split_endpoint(settings.listen.mail_api)
    host = _WILDCARD.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class MailApiError(ToolError):
    """The API refused or failed; the message says why, for the user."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _problem_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = {}
    detail = str(body.get("detail") or body.get("title") or "") if isinstance(body, dict) else ""
    status = response.status_code
    if status == 401:
        return "the mail service refused the token (unknown or revoked)"
    if status == 403:
        return f"not allowed: {detail or 'this token lacks the scope this needs'}"
    if status == 404:
        return detail if detail.startswith("no such") else "no such message"
    if status in (400, 413, 422):
        return f"the mail service refused the request: {detail or response.reason_phrase}"
    if status == 503:
        return detail or "the mail service is unavailable"
    return f"the mail service failed (HTTP {status})"


class MailApi:
    """A pooled HTTP client for the API; one per process, shared by all callers (each
    request names its own token)."""

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
            raise MailApiError(
                f"the mail service is not reachable at {self.base_url} ({type(exc).__name__})"
            ) from exc
        if response.status_code >= 400:
            raise MailApiError(_problem_message(response), response.status_code)
        return response.json() if response.content else None

    # -- the calls the tools make ------------------------------------------------------
    async def folders(self, token: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.call(token, "GET", "/v1/folders"))["folders"]
        return found

    async def messages(self, token: str, **params: Any) -> dict[str, Any]:
        page: dict[str, Any] = await self.call(token, "GET", "/v1/messages", params=params)
        return page

    async def search(self, token: str, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.call(token, "GET", "/v1/search", params=params))[
            "messages"
        ]
        return found

    async def message(self, token: str, message_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.call(token, "GET", f"/v1/messages/{int(message_id)}")
        return found

    async def send(self, token: str, draft: dict[str, Any]) -> dict[str, Any]:
        sent: dict[str, Any] = await self.call(token, "POST", "/v1/messages", json=draft)
        return sent

    async def reply(self, token: str, message_id: str, text: str) -> dict[str, Any]:
        path = f"/v1/messages/{int(message_id)}/reply"
        sent: dict[str, Any] = await self.call(token, "POST", path, json={"text": text})
        return sent

    async def reply_preview(self, token: str, message_id: str) -> dict[str, Any]:
        """What :meth:`reply` would send: recipients, subject, threading, quoting."""
        path = f"/v1/messages/{int(message_id)}/reply/preview"
        plan: dict[str, Any] = await self.call(token, "GET", path)
        return plan

    async def move(self, token: str, message_id: str, folder: str) -> dict[str, Any]:
        path = f"/v1/messages/{int(message_id)}/move"
        moved: dict[str, Any] = await self.call(token, "POST", path, json={"folder": folder})
        return moved

    async def flags(
        self, token: str, message_id: str, add: list[str], remove: list[str]
    ) -> dict[str, Any]:
        path = f"/v1/messages/{int(message_id)}/flags"
        changed: dict[str, Any] = await self.call(
            token, "POST", path, json={"add": add, "remove": remove}
        )
        return changed
