"""A box for the MCP tests: real `tidings serve smtp`, `mail-api` and `mcp-mail`
processes, two users with tokens, mail delivered over SMTP, and MCP clients (the
SDK's, over streamable HTTP or stdio) acting for one user."""

from __future__ import annotations

import smtplib
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import Service
from tests.smtp_support import dns_server
from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.mail.outbound import OutboundQueue

#: The tools the mail server lists, in its order.
MAIL_TOOLS = [
    "list_emails",
    "read_email",
    "search_emails",
    "send_email",
    "reply_email",
    "move_email",
    "mark_email",
]

ROOT = Path(__file__).resolve().parents[2]
ALICE = "alice@example.test"
BOB = "bob@example.test"
SCOPES = ["mail:read", "mail:send"]


@dataclass
class Asked:
    """What an elicitation callback was asked, and how it answers."""

    action: str = "accept"
    confirm: bool = True
    messages: list[str] = field(default_factory=list)

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.messages.append(params.message)
        schema = getattr(params, "requested_schema", None)
        assert schema is not None and set(schema["properties"]) == {"confirm"}
        assert schema["properties"]["confirm"]["type"] == "boolean"
        content = {"confirm": self.confirm} if self.action == "accept" else None
        return types.ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


@dataclass
class McpBox:
    settings: Settings
    config: Path
    accounts: Accounts
    tokens: dict[str, str]

    @property
    def mcp_url(self) -> str:
        return f"http://{self.settings.listen.mcp_mail}/mcp"

    @property
    def api_url(self) -> str:
        return f"http://{self.settings.listen.mail_api}"

    # -- seeding ----------------------------------------------------------------------
    _clock: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=3))
    http_statuses: list[int] = field(default_factory=list)  # every MCP HTTP answer

    def deliver(self, sender: str, to: str, subject: str, body: str = "Hello.") -> None:
        """Over SMTP to the box's MX, as mail from the world arrives; each message an
        hour after the previous one."""
        self._clock += timedelta(hours=1)
        message = EmailMessage()
        message["From"] = sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = format_datetime(self._clock)
        message["Message-ID"] = make_msgid(domain="remote.example")
        message.set_content(body)
        host, port = self.settings.listen.smtp.rsplit(":", 1)
        with smtplib.SMTP(host, int(port), local_hostname="client.test") as smtp:
            refused = smtp.send_message(message)
        assert not refused

    # -- looking, as the users would -----------------------------------------------------
    def api(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )

    def subjects(self, who: str, folder: str = "INBOX") -> list[str]:
        with self.api(who) as api:
            page = api.get("/v1/messages", params={"folder": folder}).json()
        return [m["subject"] for m in page["messages"]]

    def queued(self) -> list[str]:
        return [entry.rcpt for entry in OutboundQueue(self.settings).list()]

    # -- MCP clients ------------------------------------------------------------------------
    @asynccontextmanager
    async def http_client(
        self, who: str, elicit: Asked | None = None, **options: Any
    ) -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}

        async def record(response: httpx2.Response) -> None:
            self.http_statuses.append(response.status_code)

        hooks = {"response": [record]}
        async with httpx2.AsyncClient(headers=headers, timeout=60, event_hooks=hooks) as http:
            transport = streamable_http_client(self.mcp_url, http_client=http)
            async with Client(transport, elicitation_callback=elicit, **options) as client:
                yield client

    def stdio_command(self) -> list[str]:
        return [sys.executable, "-m", "tidings", "--config", str(self.config), "mcp", "mail"]

    @asynccontextmanager
    async def stdio_client(
        self, who: str, elicit: Asked | None = None, **options: Any
    ) -> AsyncIterator[Client]:
        command, *args = self.stdio_command()
        params = StdioServerParameters(
            command=command,
            args=[*args, "--stdio"],
            env={"TIDINGS_TOKEN": self.tokens[who]},
            cwd=str(ROOT),
        )
        async with Client(params, elicitation_callback=elicit, **options) as client:
            yield client


@pytest.fixture
def mcp_box(
    box_env: dict[str, str],
    config_file: Path,
    settings: Settings,
    accounts: Accounts,
    run_service: Callable[[str], Service],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[McpBox]:
    accounts.add_user(ALICE, "alice-password", display_name="Alice Martin")
    accounts.add_user(BOB, "bob-password", display_name="Bob Durand")
    tokens = {
        "alice": accounts.create_token(ALICE, SCOPES, "mcp test")[0],
        "alice_read": accounts.create_token(ALICE, ["mail:read"], "read only")[0],
        "bob": accounts.create_token(BOB, SCOPES, "mcp test")[0],
    }
    with dns_server() as dns:
        # Inbound SPF/DKIM/DMARC checks ask this loopback DNS (no records: "none").
        monkeypatch.setenv("TIDINGS_MAIL__DNS_RESOLVER", dns.endpoint)
        monkeypatch.setenv("TIDINGS_MAIL__DNS_TIMEOUT_SECONDS", "2")
        for name in ("smtp", "mail-api", "mcp-mail"):
            run_service(name)
        yield McpBox(settings, config_file, accounts, tokens)


def structured(result: types.CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def error_text(result: types.CallToolResult) -> str:
    assert result.is_error, result
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text
