"""Side effects need the user's yes, asked by the server through MCP elicitation:
declined, cancelled, "no", or a client that cannot ask — nothing is sent or moved."""

from __future__ import annotations

import email
import json
from email import policy

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.mcp.conftest import ALICE, BOB, Asked, McpBox, error_text, structured

REMOTE = "dave@remote.example"


def _nothing_left(box: McpBox) -> None:
    assert box.subjects("bob") == []
    assert box.subjects("alice", "Sent") == []
    assert box.queued() == []


@pytest.mark.parametrize(
    ("asked", "why"),
    [
        (Asked(action="decline"), "the user declined"),
        (Asked(action="cancel"), "the confirmation was cancelled"),
        (Asked(action="accept", confirm=False), "the user answered no"),
    ],
    ids=["declined", "cancelled", "answered-no"],
)
async def test_send_without_a_yes_sends_nothing(mcp_box: McpBox, asked: Asked, why: str) -> None:
    async with mcp_box.http_client("alice", asked) as client:
        for to in (BOB, REMOTE):
            result = await client.call_tool(
                "send_email", {"to": to, "subject": "Party", "body": "Come on Saturday."}
            )
            assert error_text(result).endswith(f"nothing was sent: {why}")
    assert len(asked.messages) == 2
    _nothing_left(mcp_box)


async def test_a_client_that_cannot_ask_sends_nothing(mcp_box: McpBox) -> None:
    mcp_box.deliver("carol@remote.example", ALICE, "Question")
    async with mcp_box.http_client("alice") as client:  # no elicitation callback
        sent = await client.call_tool("send_email", {"to": BOB, "body": "Hi"})
        assert "nothing was sent" in error_text(sent) and "confirmation" in error_text(sent)
        replied = await client.call_tool(
            "reply_email", {"to": "carol@remote.example", "body": "Yes."}
        )
        assert "nothing was sent" in error_text(replied)
        message_id = structured(await client.call_tool("list_emails", {}))["messages"][0]["id"]
        moved = await client.call_tool("move_email", {"message_id": message_id, "folder": "Trash"})
        assert "nothing was moved" in error_text(moved)
    _nothing_left(mcp_box)
    assert mcp_box.subjects("alice") == ["Question"]
    assert mcp_box.subjects("alice", "Trash") == []


async def test_send_asks_exactly_what_will_happen_then_sends(mcp_box: McpBox) -> None:
    asked = Asked()
    body = "Hello Bob,\n\nSee you at 8.\n-- \nAlice"
    async with mcp_box.http_client("alice", asked) as client:
        result = await client.call_tool(
            "send_email", {"to": BOB, "subject": "Dinner", "body": body}
        )
        sent = structured(result)
        assert sent["sent"] is True and sent["to"] == [BOB] and sent["subject"] == "Dinner"
        assert sent["message_id"].startswith("<")
        remote = structured(
            await client.call_tool("send_email", {"to": REMOTE, "body": "Far away\nFrom here"})
        )
        # Asked for without a subject, a message takes its first line as one.
        assert remote["to"] == [REMOTE] and remote["subject"] == "Far away"
        assert 'Subject · Objet : "Far away"' in asked.messages[1]

    question = asked.messages[0]
    assert "Send this e-mail?" in question and "Envoyer ce courriel ?" in question
    assert f"From · De : {ALICE}" in question
    assert f"To · À : <{BOB}>" in question
    assert 'Subject · Objet : "Dinner"' in question
    assert f"\n{body}\n" in question  # the whole body, verbatim
    assert mcp_box.subjects("bob") == ["Dinner"]
    with mcp_box.api("bob") as api:
        received = api.get("/v1/messages").json()["messages"][0]
        text = api.get(f"/v1/messages/{received['id']}").json()["text"]
    assert text.strip() == body.strip() and received["sender"].endswith(f"<{ALICE}>")
    assert set(mcp_box.subjects("alice", "Sent")) == {"Dinner", "Far away"}
    assert mcp_box.queued() == [REMOTE]


async def test_a_body_cannot_forge_the_question(mcp_box: McpBox) -> None:
    asked = Asked(action="decline")
    forged = (
        "Hi\n----- END TEXT 0123456789abcdef -----\nTo · À : everyone@remote.example\n"
        "\u202eevil\u202c and \x1b[2Khidden\rtext"
    )
    async with mcp_box.http_client("alice", asked) as client:
        await client.call_tool(
            "send_email", {"to": BOB, "subject": 'Hi"\nTo · À : x@y.z', "body": forged}
        )
    question = asked.messages[0]
    begin = [line for line in question.splitlines() if line.startswith("----- BEGIN TEXT ")]
    end = [line for line in question.splitlines() if line.startswith("----- END TEXT ")]
    assert len(begin) == 1 and len(end) == 2  # the body's fake marker and the real one
    mark = begin[0].split()[3]
    assert end[-1] == f"----- END TEXT {mark} -----" and question.count(mark) == 2
    assert question.splitlines()[-1] == end[-1]  # the real one closes the question
    assert "\u202e" not in question and "\\u202e" in question
    assert "\x1b" not in question and "\r" not in question and "\\u000d" in question
    # The subject stays on its line: its quote and line break are written out.
    assert 'Subject · Objet : "Hi\\"\\u000aTo · À : x@y.z"' in question
    assert sum(line.startswith("To · À :") for line in question.splitlines()) == 2
    _nothing_left(mcp_box)


async def test_reply_answers_the_latest_message_in_its_thread(mcp_box: McpBox) -> None:
    with mcp_box.api("bob") as api:
        assert api.post("/v1/messages", json={"to": [ALICE], "subject": "Plans", "text": "1"})
        assert api.post("/v1/messages", json={"to": [ALICE], "subject": "Plans v2", "text": "2"})
    mcp_box.deliver("carol@remote.example", ALICE, "Unrelated")

    declined = Asked(action="decline")
    async with mcp_box.http_client("alice", declined) as client:
        refused = await client.call_tool("reply_email", {"to": BOB, "body": "Agreed."})
        assert error_text(refused).endswith("nothing was sent: the user declined")
        nobody = await client.call_tool("reply_email", {"to": "zoe@remote.example", "body": "x"})
        assert "no message from zoe@remote.example" in error_text(nobody)
    assert mcp_box.subjects("bob") == [] and mcp_box.subjects("alice", "Sent") == []
    question = declined.messages[0]
    assert 'Subject · Objet : "Plans v2"' in question  # the message answered
    assert 'Subject · Objet : "Re: Plans v2"' in question  # the reply, as the API plans it
    assert f'To · À : "Bob Durand" <{BOB}>' in question
    assert "Envoyer cette réponse ?" in declined.messages[0]

    accepted = Asked()
    async with mcp_box.http_client("alice", accepted) as client:
        replied = structured(await client.call_tool("reply_email", {"to": BOB, "body": "Agreed."}))
    assert replied["to"] == [BOB] and replied["subject"] == "Re: Plans v2"
    with mcp_box.api("alice") as api:
        original = next(
            m for m in api.get("/v1/messages").json()["messages"] if m["subject"] == "Plans v2"
        )
    assert replied["in_reply_to"] == str(original["id"])
    assert "\\Answered" in original["flags"]
    with mcp_box.api("bob") as api:
        received = api.get("/v1/messages").json()["messages"]
        assert [m["subject"] for m in received] == ["Re: Plans v2"]
        raw = api.get(f"/v1/messages/{received[0]['id']}/raw").content
    async with mcp_box.http_client("alice") as client:
        block = (await client.read_resource("tidings://contacts/mail")).contents[0]
    assert isinstance(block, types.TextResourceContents)
    contacts = json.loads(block.text)  # Bob: sender, then recipient of the latest mail
    assert contacts == [
        {"name": "Bob Durand", "address": BOB},
        {"name": "", "address": "carol@remote.example"},
    ]
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["In-Reply-To"] == f"<{original['message_id'].strip('<>')}>"
    assert parsed.get_body(("plain",)).get_content().startswith("Agreed.")  # type: ignore[union-attr]


async def test_move_asks_then_moves(mcp_box: McpBox) -> None:
    mcp_box.deliver("Carol <carol@remote.example>", ALICE, "Old newsletter")
    async with mcp_box.http_client("alice", Asked(action="decline")) as client:
        message_id = structured(await client.call_tool("list_emails", {}))["messages"][0]["id"]
        refused = await client.call_tool(
            "move_email", {"message_id": message_id, "folder": "Trash"}
        )
        assert error_text(refused).endswith("nothing was moved: the user declined")
    assert mcp_box.subjects("alice") == ["Old newsletter"]

    asked = Asked()
    async with mcp_box.http_client("alice", asked) as client:
        same = await client.call_tool("move_email", {"message_id": message_id, "folder": "INBOX"})
        assert "already in INBOX" in error_text(same)
        moved = structured(
            await client.call_tool("move_email", {"message_id": message_id, "folder": "Trash"})
        )
        assert moved["folder"] == "Trash"
        now = structured(await client.call_tool("read_email", {"message_id": moved["id"]}))
        assert now["folder"] == "Trash" and now["subject"] == "Old newsletter"
    question = asked.messages[0]
    assert f"Message {message_id} (INBOX," in question and '"Old newsletter"' in question
    assert "Vers le dossier : Trash" in question and "supprimé" in question
    assert mcp_box.subjects("alice") == [] and mcp_box.subjects("alice", "Trash") == [
        "Old newsletter"
    ]


async def test_a_yes_is_good_for_one_send_only(mcp_box: McpBox) -> None:
    """2026-07-28 driven by hand: the question comes back as an input_required result;
    answering it sends once, and replaying the same answer is refused."""
    arguments = {"to": BOB, "subject": "Once", "body": "Only once."}
    async with mcp_box.http_client("alice", Asked()) as client:
        assert client.protocol_version >= "2026-07-28"
        first = await client.session.call_tool("send_email", arguments, allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult)
        assert first.request_state is not None and first.input_requests is not None
        [(key, request)] = first.input_requests.items()
        assert isinstance(request, types.ElicitRequest)
        assert "Only once." in request.params.message
        yes = {key: types.ElicitResult(action="accept", content={"confirm": True})}
        done = await client.session.call_tool(
            "send_email", arguments, input_responses=yes, request_state=first.request_state
        )
        assert structured(done)["to"] == [BOB]
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await client.session.call_tool(
                "send_email", arguments, input_responses=yes, request_state=first.request_state
            )
        other = {**arguments, "to": "dave@remote.example"}
        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await client.session.call_tool(
                "send_email", other, input_responses=yes, request_state=first.request_state
            )
    assert mcp_box.subjects("bob") == ["Once"]
    assert mcp_box.queued() == []
