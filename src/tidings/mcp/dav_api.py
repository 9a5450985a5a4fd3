"""The calendar/contacts REST API (``/v1/…`` on ``tidings serve dav``) as the MCP
dav server uses it: every call carries the caller's own bearer token, so the API's
scope and ownership checks decide what it may see and do."""

from __future__ import annotations

from typing import Any

from tidings.core.config import Settings
from tidings.mcp.service_api import ServiceApi, ServiceApiError, api_url


def dav_api_url(settings: Settings) -> str:
    return api_url(settings.listen.dav)


class DavApiError(ServiceApiError):
    """The calendar API refused or failed; the message says why, for the user."""


class DavApi(ServiceApi):
    """The calendar API's calls, for the MCP server's tools."""

    service = "calendar"
    error = DavApiError

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
