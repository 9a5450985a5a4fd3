"""The MCP servers the assistant works through, as one user.

Which servers to use comes from ``[ai] mcp_servers`` (by default this box's own);
which tools they offer is asked at run time (``tools/list``), never written here.
A :class:`Toolbox` is opened per turn with the requesting user's token: every call
the assistant makes is a call that user could make with their own client, checked
by the server like any other, so the assistant can never reach another user's data.

A server may ask the user something in the middle of a call (MCP elicitation: "send
this message?"); the question goes to the ``elicit`` callback the runtime passes in,
which puts it in front of the user and waits for the answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx2
import mcp_types as types
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tidings.ai.pipeline.grounding import Contact
from tidings.ai.pipeline.tools import Tool
from tidings.core.config import Settings

log = logging.getLogger(__name__)

CONTACTS_RESOURCE = "contacts"
"""Resources by this name are address books: JSON lists of ``{"name", "address"}``."""

Elicit = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any] | None]]
"""``elicit(server, message, requested_schema)`` → the user's answer, or None: no."""


@dataclass(frozen=True)
class ServerConfig:
    name: str
    url: str
    send_user_token: bool = True


def configured_servers(settings: Settings) -> list[ServerConfig]:
    """``[ai] mcp_servers``, or this box's own MCP servers when none are listed."""
    if settings.ai.mcp_servers:
        return [ServerConfig(s.name, s.url, s.send_user_token) for s in settings.ai.mcp_servers]
    host, _, port = settings.listen.mcp_mail.rpartition(":")
    dav_host, _, dav_port = settings.listen.mcp_dav.rpartition(":")
    return [
        ServerConfig("mail", f"http://{host}:{port}/mcp"),
        ServerConfig("dav", f"http://{dav_host}:{dav_port}/mcp"),
    ]


@dataclass(frozen=True)
class ToolResult:
    """What a call gave back: its structured result, its text, and whether it failed."""

    structured: Any
    text: str
    is_error: bool

    @classmethod
    def from_mcp(cls, result: types.CallToolResult) -> ToolResult:
        texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
        return cls(result.structured_content, "\n".join(texts), result.is_error)


@dataclass
class Toolbox:
    """Connected MCP clients for one user, and the tools they offer."""

    tools: list[Tool] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    """Servers that could not be reached or refused the user's token."""
    _clients: dict[str, Client] = field(default_factory=dict)
    _owner: dict[str, str] = field(default_factory=dict)  # tool name → server name

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        servers: list[ServerConfig],
        token: str,
        elicit: Elicit,
        *,
        wait_seconds: float = 600.0,
    ) -> AsyncIterator[Toolbox]:
        box = cls()
        async with AsyncExitStack() as stack:
            for server in servers:
                try:
                    client = await stack.enter_async_context(
                        _client(server, token, elicit, wait_seconds)
                    )
                    listed = await client.list_tools()
                except Exception as exc:  # one broken server must not silence the others
                    log.warning("MCP server %s (%s) unavailable: %s", server.name, server.url, exc)
                    box.unavailable.append(server.name)
                    continue
                box._clients[server.name] = client
                for item in listed.tools:
                    tool = replace(Tool.from_mcp(item), server=server.name)
                    if tool.name in box._owner:
                        log.warning(
                            "tool %s offered by both %s and %s: keeping %s's",
                            tool.name,
                            box._owner[tool.name],
                            server.name,
                            box._owner[tool.name],
                        )
                        continue
                    box._owner[tool.name] = server.name
                    box.tools.append(tool)
            yield box

    def server_of(self, tool: str) -> str:
        return self._owner[tool]

    async def call(self, tool: str, arguments: Mapping[str, Any]) -> ToolResult:
        client = self._clients[self._owner[tool]]
        result = await client.call_tool(tool, dict(arguments))
        return ToolResult.from_mcp(result)

    async def contacts(self) -> list[Contact]:
        """Every server's ``contacts`` resource, merged (first server's names first)."""
        contacts: list[Contact] = []
        seen: set[str] = set()
        for name, client in self._clients.items():
            if not client.server_capabilities.resources:
                continue
            try:
                listed = await client.list_resources()
                for resource in listed.resources:
                    if resource.name != CONTACTS_RESOURCE:
                        continue
                    read = await client.read_resource(str(resource.uri))
                    for content in read.contents:
                        if isinstance(content, types.TextResourceContents):
                            contacts.extend(_contacts(content.text, seen))
            except Exception as exc:
                log.warning("contacts of MCP server %s unreadable: %s", name, exc)
        return contacts


def _contacts(text: str, seen: set[str]) -> list[Contact]:
    out: list[Contact] = []
    try:
        items = json.loads(text)
    except ValueError:
        return out
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        address = str(item.get("address") or "").strip().lower()
        if not address or address in seen:
            continue
        seen.add(address)
        out.append(Contact(str(item.get("name") or ""), address))
    return out


@asynccontextmanager
async def _client(
    server: ServerConfig, token: str, elicit: Elicit, wait_seconds: float
) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if server.send_user_token else {}

    async def on_elicit(
        context: Any, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        if not isinstance(params, types.ElicitRequestFormParams):
            # URL-mode elicitation sends the user to a web page; nothing here to show it.
            return types.ElicitResult(action="decline")
        schema = dict(params.requested_schema)
        answer = await elicit(server.name, params.message, schema)
        if answer is None:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content=answer)

    # Tool calls wait for the user's confirmation inside elicitation: generous timeout.
    async with httpx2.AsyncClient(
        headers=headers, timeout=httpx2.Timeout(30.0, read=wait_seconds)
    ) as http:
        transport = streamable_http_client(server.url, http_client=http)
        async with Client(
            transport,
            elicitation_callback=on_elicit,
            read_timeout_seconds=wait_seconds,
            client_info=types.Implementation(name="tidings-assistant", version="1"),
        ) as client:
            yield client
