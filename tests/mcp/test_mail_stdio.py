"""`tidings mcp mail --stdio`, as desktop MCP clients start it: driven by the MCP
Inspector CLI and by the SDK's client, acting for the user whose token is in
TIDINGS_TOKEN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.mcp.conftest import ALICE, BOB, MAIL_TOOLS, Asked, McpBox, error_text, structured
from tidings.core.accounts import Accounts

INSPECTOR = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "mcp-inspector"


def inspector(box: McpBox, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert INSPECTOR.exists(), "run .ci/setup: it installs the MCP Inspector into .ci/node"
    return subprocess.run(
        [
            str(INSPECTOR),
            "--cli",
            "-e",
            f"TIDINGS_TOKEN={token}",
            "-e",  # the config by environment: the Inspector takes --config for itself
            f"TIDINGS_CONFIG={box.config}",
            sys.executable,
            "-m",
            "tidings",
            "mcp",
            "mail",
            "--stdio",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def test_the_inspector_lists_the_tools_and_lists_emails(mcp_box: McpBox) -> None:
    mcp_box.deliver("Carol <carol@remote.example>", ALICE, "Quarterly report")
    mcp_box.deliver("dave@remote.example", ALICE, "Réunion de lundi")
    token = mcp_box.tokens["alice"]

    listed = inspector(mcp_box, token, "--method", "tools/list")
    assert listed.returncode == 0, listed.stderr
    tools = json.loads(listed.stdout)["tools"]
    assert [t["name"] for t in tools] == MAIL_TOOLS
    assert all(t["title"] and t["outputSchema"]["type"] == "object" for t in tools)

    called = inspector(mcp_box, token, "--method", "tools/call", "--tool-name", "list_emails")
    assert called.returncode == 0, called.stderr
    result = json.loads(called.stdout)
    assert result["isError"] is False
    subjects = [m["subject"] for m in result["structuredContent"]["messages"]]
    assert subjects == ["Réunion de lundi", "Quarterly report"]
    assert "Quarterly report" in result["content"][0]["text"]

    unread_from_dave = inspector(
        mcp_box,
        token,
        "--method",
        "tools/call",
        "--tool-name",
        "list_emails",
        "--tool-arg",
        "sender=dave@remote.example",
    )
    assert unread_from_dave.returncode == 0, unread_from_dave.stderr
    found = json.loads(unread_from_dave.stdout)["structuredContent"]["messages"]
    assert [m["subject"] for m in found] == ["Réunion de lundi"]


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_stdio_asks_before_sending(mcp_box: McpBox, mode: str) -> None:
    """Handshake-era sessions ask with a request inside the call; 2026-07-28 ones with
    an input_required round. Either way: no yes, no mail."""
    declined = Asked(action="decline")
    async with mcp_box.stdio_client("alice", declined, mode=mode) as client:
        refused = await client.call_tool("send_email", {"to": BOB, "body": "Via stdio"})
        assert error_text(refused).endswith("nothing was sent: the user declined")
    assert len(declined.messages) == 1 and "Via stdio" in declined.messages[0]
    assert mcp_box.subjects("bob") == []

    async with mcp_box.stdio_client("alice", None, mode=mode) as client:
        unasked = await client.call_tool("send_email", {"to": BOB, "body": "Via stdio"})
        assert "nothing was sent" in error_text(unasked)
    assert mcp_box.subjects("bob") == []

    accepted = Asked()
    async with mcp_box.stdio_client("alice", accepted, mode=mode) as client:
        sent = structured(
            await client.call_tool("send_email", {"to": BOB, "subject": mode, "body": "Hi"})
        )
    assert sent["to"] == [BOB]
    assert mcp_box.subjects("bob") == [mode]


def _stdio(config: Path, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TIDINGS_TOKEN"}
    if token is not None:
        env["TIDINGS_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "tidings", "--config", str(config), "mcp", "mail", "--stdio"],
        input="",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_stdio_refuses_to_start_without_a_valid_token(
    config_file: Path, accounts: Accounts
) -> None:
    accounts.add_user(ALICE, "alice-password")
    secret, record = accounts.create_token(ALICE, ["mail:read"])
    assert record.id is not None
    accounts.revoke_token(record.id)
    for token, said in [
        (None, "set TIDINGS_TOKEN"),
        ("", "set TIDINGS_TOKEN"),
        ("tdg_made-up", "not a valid API token"),
        (secret, "not a valid API token"),
    ]:
        result = _stdio(config_file, token)
        assert result.returncode != 0
        assert said in result.stderr
        assert result.stdout == ""  # stdout is the MCP channel: nothing on it
    without_flag = subprocess.run(
        [sys.executable, "-m", "tidings", "--config", str(config_file), "mcp", "mail"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert without_flag.returncode == 2 and "tidings serve mcp-mail" in without_flag.stderr
