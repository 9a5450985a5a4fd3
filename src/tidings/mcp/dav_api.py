"""The calendar/contacts REST API (``/v1/…`` on ``tidings serve dav``) as the MCP
dav server uses it: every call carries the caller's own bearer token, so the API's
scope and ownership checks decide what it may see and do."""

from __future__ import annotations

from typing import Any

import httpx
from mcp.server.mcpserver.exceptions import ToolError

from tidings.core.config import Settings, split_endpoint

_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104  (mapped away, never bound)


def dav_api_url(settings: Settings) -> str:
    host, port = split_endpoint(settings.listen.dav)
    host = _WILDCARD.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class DavApiError(ToolError):
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
        return "the calendar service refused the token (unknown or revoked)"
    if status == 403:
        return f"not allowed: {detail or 'this token lacks the scope this needs'}"
    if status == 404:
        return detail or "not found"
    if status in (400, 413, 422):
        return f"the calendar service refused the request: {detail or response.reason_phrase}"
    return f"the calendar service failed (HTTP {status})"


class DavApi:
    """A pooled HTTP client for the API, shared by all callers (each request names
    its own token)."""

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
            raise DavApiError(
                f"the calendar service is not reachable at {self.base_url} ({type(exc).__name__})"
            ) from exc
        if response.status_code >= 400:
            raise DavApiError(_problem_message(response), response.status_code)
        return response.json() if response.content else None

    async def events(self, token: str, start: str, end: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await self.call(token, "GET", "/v1/events", params={"start": start, "end": end})
        )["events"]
        return found

    async def event(self, token: str, event_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.call(token, "GET", f"/v1/events/{event_id}")
        return found

    async def create_event(self, token: str, event: dict[str, Any]) -> dict[str, Any]:
        made: dict[str, Any] = await self.call(token, "POST", "/v1/events", json=event)
        return made

    async def update_event(
        self, token: str, event_id: str, changes: dict[str, Any]
    ) -> dict[str, Any]:
        changed: dict[str, Any] = await self.call(
            token, "PATCH", f"/v1/events/{event_id}", json=changes
        )
        return changed

    async def delete_event(self, token: str, event_id: str) -> dict[str, Any]:
        gone: dict[str, Any] = await self.call(token, "DELETE", f"/v1/events/{event_id}")
        return gone

    async def free_slots(self, token: str, **params: Any) -> dict[str, Any]:
        found: dict[str, Any] = await self.call(token, "GET", "/v1/free-slots", params=params)
        return found

    async def contacts(self, token: str, query: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await self.call(token, "GET", "/v1/contacts", params={"q": query})
        )["contacts"]
        return found

    async def contact(self, token: str, contact_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self.call(token, "GET", f"/v1/contacts/{contact_id}")
        return found

    async def create_contact(self, token: str, contact: dict[str, Any]) -> dict[str, Any]:
        made: dict[str, Any] = await self.call(token, "POST", "/v1/contacts", json=contact)
        return made
