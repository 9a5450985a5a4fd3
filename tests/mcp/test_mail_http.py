"""The mail MCP server over streamable HTTP with the SDK's own client: bearer tokens,
the read tools, marks, the contacts resource, and one user never seeing another's
mail."""

from __future__ import annotations

import json

import httpx
import mcp_types as types
import pytest

from tests.mcp.conftest import ALICE, BOB, MAIL_TOOLS, McpBox, error_text, structured

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "0"},
    },
}
JSON_HEADERS = {"Accept": "application/json, text/event-stream"}


def _post(box: McpBox, token: str | None) -> httpx.Response:
    headers = dict(JSON_HEADERS)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(box.mcp_url, json=INITIALIZE, headers=headers, timeout=30)


def test_no_valid_token_no_mcp(mcp_box: McpBox) -> None:
    missing = _post(mcp_box, None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in missing.headers["www-authenticate"]
    wrong = _post(mcp_box, "tdg_not-a-real-token")
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer ")
    assert _post(mcp_box, "Basic-looking-nonsense").status_code == 401

    good = _post(mcp_box, mcp_box.tokens["alice"])
    assert good.status_code == 200, good.text
    assert good.json()["result"]["serverInfo"]["name"] == "tidings-mail"

    token_id = next(t.id for t, u in mcp_box.accounts.list_tokens(ALICE) if t.name == "mcp test")
    assert token_id is not None
    mcp_box.accounts.revoke_token(token_id)
    revoked = _post(mcp_box, mcp_box.tokens["alice"])
    assert revoked.status_code == 401

    health = httpx.get(mcp_box.mcp_url.removesuffix("/mcp") + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["service"] == "mcp-mail"


async def test_a_wrong_token_is_refused_by_the_sdk_client(mcp_box: McpBox) -> None:
    mcp_box.tokens["mallory"] = "tdg_guessed"
    with pytest.raises(BaseException, match="error"):  # the SDK wraps it in task groups
        async with mcp_box.http_client("mallory") as client:
            await client.list_tools()
    assert mcp_box.http_statuses and set(mcp_box.http_statuses) == {401}


async def test_reading_searching_and_marking(mcp_box: McpBox) -> None:
    mcp_box.deliver("Carol Jones <carol@remote.example>", ALICE, "Invoice for March", "Pay.")
    mcp_box.deliver("dave@remote.example", ALICE, "Lunch on Friday?", "At noon, usual place.")
    mcp_box.deliver("Carol Jones <carol@remote.example>", ALICE, "Holiday photos", "Lisbon!")

    async with mcp_box.http_client("alice") as client:
        tools = await client.list_tools()
        assert {t.name for t in tools.tools} == set(MAIL_TOOLS)

        listed = structured(await client.call_tool("list_emails", {}))
        assert listed["count"] == 3
        assert [m["subject"] for m in listed["messages"]] == [
            "Holiday photos",
            "Lunch on Friday?",
            "Invoice for March",
        ]
        newest = listed["messages"][0]
        assert newest["from"] == "Carol Jones" and newest["from_address"] == "carol@remote.example"
        assert newest["unread"] is True and newest["flagged"] is False
        assert newest["folder"] == "INBOX" and newest["id"].isdigit()
        assert len(newest["date"]) == len("2026-01-01 10:00")

        from_carol = structured(
            await client.call_tool("list_emails", {"sender": "carol@remote.example", "limit": 5})
        )
        assert {m["subject"] for m in from_carol["messages"]} == {
            "Invoice for March",
            "Holiday photos",
        }
        bad = await client.call_tool("list_emails", {"limit": 0, "colour": "red"})
        assert "limit" in error_text(bad) and "colour" in error_text(bad)

        lunch_id = next(m["id"] for m in listed["messages"] if m["subject"].startswith("Lunch"))
        read = await client.call_tool("read_email", {"message_id": lunch_id})
        full = structured(read)
        assert full["text"].strip() == "At noon, usual place."
        assert full["from_address"] == "dave@remote.example" and full["to"] == [ALICE]
        assert full["attachments"] == [] and full["cc"] == []
        text = read.content[0]
        assert isinstance(text, types.TextContent) and "At noon, usual place." in text.text

        found = structured(await client.call_tool("search_emails", {"query": "Lisbon"}))
        assert [m["subject"] for m in found["messages"]] == ["Holiday photos"]
        none = structured(
            await client.call_tool(
                "search_emails", {"query": "Lisbon", "sender": "dave@remote.example"}
            )
        )
        assert none == {"count": 0, "messages": []}

        marked = structured(
            await client.call_tool("mark_email", {"message_id": lunch_id, "flag": "read"})
        )
        assert marked == {"id": lunch_id, "flag": "read"}
        structured(
            await client.call_tool("mark_email", {"message_id": lunch_id, "flag": "flagged"})
        )
        unread = structured(await client.call_tool("list_emails", {"unread_only": True}))
        assert lunch_id not in {m["id"] for m in unread["messages"]} and unread["count"] == 2
        lunch = next(
            m
            for m in structured(await client.call_tool("list_emails", {}))["messages"]
            if m["id"] == lunch_id
        )
        assert lunch["unread"] is False and lunch["flagged"] is True

        missing = await client.call_tool("read_email", {"message_id": "999999"})
        assert "no such message" in error_text(missing)

        resources = await client.list_resources()
        contacts_entry = next(r for r in resources.resources if r.name == "contacts")
        assert str(contacts_entry.uri) == "tidings://contacts/mail"
        assert contacts_entry.mime_type == "application/json"
        read_contacts = await client.read_resource("tidings://contacts/mail")
        block = read_contacts.contents[0]
        assert isinstance(block, types.TextResourceContents)
        assert json.loads(block.text) == [
            {"name": "Carol Jones", "address": "carol@remote.example"},
            {"name": "", "address": "dave@remote.example"},
        ]


async def test_a_read_only_token_cannot_change_anything(mcp_box: McpBox) -> None:
    mcp_box.deliver("carol@remote.example", ALICE, "Keep me unread")
    async with mcp_box.http_client("alice_read") as client:
        listed = structured(await client.call_tool("list_emails", {}))
        message_id = listed["messages"][0]["id"]
        refused = await client.call_tool("mark_email", {"message_id": message_id, "flag": "read"})
        assert "mail:send" in error_text(refused)
    with mcp_box.api("alice") as api:
        assert api.get(f"/v1/messages/{message_id}").json()["unread"] is True


async def test_one_user_never_sees_anothers_mail(mcp_box: McpBox) -> None:
    mcp_box.deliver("carol@remote.example", ALICE, "For Alice", "alpha words")
    mcp_box.deliver("Eve <eve@remote.example>", BOB, "Bob's secret plans", "zanzibar treasure")
    with mcp_box.api("bob") as api:
        bobs_id = str(api.get("/v1/messages").json()["messages"][0]["id"])

    async with mcp_box.http_client("alice") as client:
        listed = structured(await client.call_tool("list_emails", {"limit": 100}))
        assert [m["subject"] for m in listed["messages"]] == ["For Alice"]
        assert bobs_id not in {m["id"] for m in listed["messages"]}
        stolen = await client.call_tool("read_email", {"message_id": bobs_id})
        assert "no such message" in error_text(stolen)
        assert "zanzibar" not in error_text(stolen)
        searched = structured(await client.call_tool("search_emails", {"query": "zanzibar"}))
        assert searched["count"] == 0
        moved = await client.call_tool("mark_email", {"message_id": bobs_id, "flag": "read"})
        assert "no such message" in error_text(moved)
        contacts = await client.read_resource("tidings://contacts/mail")
        block = contacts.contents[0]
        assert isinstance(block, types.TextResourceContents)
        assert "eve@remote.example" not in block.text

    async with mcp_box.http_client("bob") as client:
        listed = structured(await client.call_tool("list_emails", {}))
        assert [m["subject"] for m in listed["messages"]] == ["Bob's secret plans"]
    with mcp_box.api("bob") as api:
        assert api.get(f"/v1/messages/{bobs_id}").json()["unread"] is True
