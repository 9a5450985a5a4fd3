"""The mail REST API (``tidings serve mail-api``) as the MCP mail server uses it.

Every call carries the caller's own bearer token: the API, not this server, decides
what the token may see and do. Its RFC 9457 problems become tool errors worded for
the person (or model) who asked.
"""

from __future__ import annotations

from typing import Any

from tidings.core.config import Settings
from tidings.mcp.service_api import ServiceApi, ServiceApiError, api_url


def mail_api_url(settings: Settings) -> str:
    return api_url(settings.listen.mail_api)


class MailApiError(ServiceApiError):
    """The mail API refused or failed; the message says why, for the user."""


class MailApi(ServiceApi):
    """The mail API's calls, for the MCP server's tools."""

    service = "mail"
    error = MailApiError

    def not_found(self, detail: str) -> str:
        return detail if detail.startswith("no such") else "no such message"

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
