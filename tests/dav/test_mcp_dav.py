"""The MCP calendar/contacts server (`tidings serve mcp-dav`, `tidings mcp dav
--stdio`) with the SDK's own client, over the real dav service: the contract
(schemas, FR/EN metadata, annotations, structured results), confirmation by
elicitation for every side effect, conflicts told before booking, one user per
token."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import ServiceProcess
from tests.dav.conftest import ALICE, BOB, PASSWORDS, write_config
from tests.mcp.conftest import ROOT, Asked, error_text, structured
from tidings.core.accounts import Accounts
from tidings.core.config import Settings, load_settings
from tidings.core.db import Database, migrate

pytestmark = pytest.mark.slow

TOOLS = [
    "list_events",
    "find_free_slots",
    "create_event",
    "update_event",
    "delete_event",
    "search_contacts",
    "get_contact",
    "create_contact",
]
SIDE_EFFECTS = {"create_event", "update_event", "delete_event", "create_contact"}


@dataclass
class Box:
    settings: Settings
    config: Any
    tokens: dict[str, str]

    @asynccontextmanager
    async def client(self, who: str, elicit: Asked | None = None) -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
            url = f"http://{self.settings.listen.mcp_dav}/mcp"
            transport = streamable_http_client(url, http_client=http)
            async with Client(transport, elicitation_callback=elicit) as client:
                yield client

    def events(self, who: str = "alice") -> list[dict[str, Any]]:
        with httpx.Client(
            base_url=f"http://{self.settings.listen.dav}",
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
        ) as api:
            answer = api.get(
                "/v1/events",
                params={"start": "2026-12-01T00:00:00+00:00", "end": "2027-01-01T00:00:00+00:00"},
            )
            answer.raise_for_status()
            found: list[dict[str, Any]] = answer.json()["events"]
            return found


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    root = tmp_path_factory.mktemp("mcpdav")
    config = write_config(root)
    settings = load_settings(config)
    migrate(settings)
    db = Database(settings)
    accounts = Accounts(db)
    for address in (ALICE, BOB):
        accounts.add_user(address, PASSWORDS[address])
    tokens = {
        "alice": accounts.create_token(ALICE, ["dav:read", "dav:write"])[0],
        "alice_read": accounts.create_token(ALICE, ["dav:read"])[0],
        "bob": accounts.create_token(BOB, ["dav"])[0],
    }
    services = [ServiceProcess(name, config, root) for name in ("dav", "mcp-dav")]
    try:
        for service in services:
            service.start()
        yield Box(settings, config, tokens)
    finally:
        for service in services:
            if service.process is not None:
                service.stop()
        db.close()


async def test_the_contract(box: Box) -> None:
    async with box.client("alice") as client:
        tools = (await client.list_tools()).tools
    assert [t.name for t in tools] == TOOLS
    for tool in tools:
        meta = tool.meta or {}
        assert set(meta["tidings/i18n"]) == {"en", "fr"}, tool.name
        assert set(meta["tidings/answer"]) == {"en", "fr"}, tool.name
        assert meta["tidings/intents"]["fr"] and meta["tidings/intents"]["en"], tool.name
        assert tool.input_schema["additionalProperties"] is False
        assert tool.output_schema is not None and tool.annotations is not None
        assert meta.get("tidings/elicits", False) == (tool.name in SIDE_EFFECTS)
        assert tool.annotations.read_only_hint == (tool.name not in SIDE_EFFECTS)
        assert "answer" not in tool.input_schema["properties"]  # no model can say yes


async def test_booking_asks_first_and_tells_conflicts(box: Box) -> None:
    yes = Asked()
    async with box.client("alice", yes) as client:
        made = structured(
            await client.call_tool(
                "create_event",
                {
                    "title": "Lunch with Bob",
                    "date": "2026-12-04",
                    "time": "12:00",
                    "attendees": [BOB],
                    "location": "Café du coin",
                },
            )
        )
        assert made["title"] == "Lunch with Bob" and made["attendees"] == [BOB]
        assert made["start"] == "2026-12-04 12:00" and made["conflicts"] == []
        assert "Lunch with Bob" in yes.messages[0] and BOB in yes.messages[0]
        assert "overlaps" not in yes.messages[0]
        second = structured(
            await client.call_tool(
                "create_event",
                {"title": "Call", "date": "2026-12-04", "time": "12:30", "duration_minutes": 15},
            )
        )
        assert second["conflicts"] == ["12:00 Lunch with Bob"]
        assert 'It overlaps · Il chevauche : "12:00 Lunch with Bob"' in yes.messages[1]
        listed = await client.call_tool("list_events", {"date": "2026-12-04"})
        assert [e["title"] for e in structured(listed)["events"]] == ["Lunch with Bob", "Call"]
        assert isinstance(listed.content[0], types.TextContent)
        assert "12:00 – 2026-12-04 13:00 Lunch with Bob" in listed.content[0].text
    assert {e["summary"] for e in box.events()} >= {"Lunch with Bob", "Call"}


@pytest.mark.parametrize(
    "asked", [Asked(action="decline"), Asked(confirm=False), None], ids=["no", "false", "cannot"]
)
async def test_no_yes_changes_nothing(box: Box, asked: Asked | None) -> None:
    before = box.events()
    async with box.client("alice", asked) as client:
        made = await client.call_tool(
            "create_event", {"title": "Secret plan", "date": "2026-12-05", "time": "10:00"}
        )
        assert "nothing was added" in error_text(made)
        contact = await client.call_tool("create_contact", {"name": "Nobody"})
        assert "nothing was added" in error_text(contact)
        if before:
            gone = await client.call_tool("delete_event", {"event_id": before[0]["id"]})
            assert "nothing was deleted" in error_text(gone)
    assert box.events() == before


async def test_move_then_delete(box: Box) -> None:
    yes = Asked()
    async with box.client("alice", yes) as client:
        made = structured(
            await client.call_tool(
                "create_event", {"title": "Dentist", "date": "2026-12-09", "time": "09:00"}
            )
        )
        moved = structured(
            await client.call_tool(
                "update_event", {"event_id": made["id"], "date": "2026-12-10", "time": "16:30"}
            )
        )
        assert (moved["start"], moved["end"]) == ("2026-12-10 16:30", "2026-12-10 17:30")
        assert "New time · Nouvel horaire : 2026-12-10 16:30 – 17:30" in yes.messages[-1]
        gone = structured(await client.call_tool("delete_event", {"event_id": made["id"]}))
        assert gone["title"] == "Dentist"
        assert '"Dentist"' in yes.messages[-1]
    assert "Dentist" not in {e["summary"] for e in box.events()}


async def test_free_slots_with_another_user(box: Box) -> None:
    async with box.client("bob", Asked()) as client:
        structured(
            await client.call_tool(
                "create_event", {"title": "Busy", "date": "2026-12-14", "time": "09:00",
                                 "duration_minutes": 240},
            )
        )  # fmt: skip
    async with box.client("alice") as client:
        found = structured(
            await client.call_tool(
                "find_free_slots",
                {"duration_minutes": 60, "date": "2026-12-14", "days": 1, "people": [BOB]},
            )
        )
    assert found["people"] == [BOB]
    assert found["slots"] == [{"start": "2026-12-14 13:00", "end": "2026-12-14 18:00"}]


async def test_contacts(box: Box) -> None:
    async with box.client("alice", Asked()) as client:
        made = structured(
            await client.call_tool(
                "create_contact",
                {
                    "name": "Carol Dupont",
                    "email": "carol@example.org",
                    "phone": "+33 6 12 34 56 78",
                },
            )
        )
        found = structured(await client.call_tool("search_contacts", {"query": "carol"}))
        assert [c["id"] for c in found["contacts"]] == [made["id"]]
        full = await client.call_tool("get_contact", {"contact_id": made["id"]})
        assert structured(full)["phones"] == ["+33 6 12 34 56 78"]
        bad = await client.call_tool("create_contact", {"name": "X", "email": "not-an-address"})
        assert "invalid arguments" in error_text(bad)
    async with box.client("bob") as client:
        theirs = structured(await client.call_tool("search_contacts", {"query": "carol"}))
        assert theirs["contacts"] == []
        missing = await client.call_tool("get_contact", {"contact_id": made["id"]})
        assert "no such contact" in error_text(missing)


async def test_a_read_token_cannot_book(box: Box) -> None:
    async with box.client("alice_read", Asked()) as client:
        made = await client.call_tool(
            "create_event", {"title": "Nope", "date": "2026-12-20", "time": "10:00"}
        )
        assert "not allowed" in error_text(made)


def test_http_needs_a_token(box: Box) -> None:
    answer = httpx.post(
        f"http://{box.settings.listen.mcp_dav}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert answer.status_code == 401


async def test_stdio(box: Box) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "tidings", "--config", str(box.config), "mcp", "dav", "--stdio"],
        env={"TIDINGS_TOKEN": box.tokens["alice"]},
        cwd=str(ROOT),
    )
    async with Client(params) as client:
        assert [t.name for t in (await client.list_tools()).tools] == TOOLS
        listed = structured(await client.call_tool("list_events", {"date": "2026-12-04"}))
        assert "Lunch with Bob" in [e["title"] for e in listed["events"]]
