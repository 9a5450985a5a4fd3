"""The mail REST API, over real HTTP on loopback, as the web UI and MCP will use it."""

from __future__ import annotations

import base64
import email
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import httpx
import pytest

from tests.conftest import Served
from tidings.core.accounts import Accounts
from tidings.core.config import Settings
from tidings.mail.outbound import OutboundQueue
from tidings.mail.store import MailStore


def make_mail(
    subject: str,
    *,
    sender: str = "Bob <bob@remote.example>",
    to: str = "alice@example.test",
    body: str = "Hello",
    html: str | None = None,
    when: datetime | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(when or datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="remote.example")
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    if attachment:
        message.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    return bytes(message)


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def get(self, path: str, **kw: object) -> httpx.Response:
        return self.http.get(path, **kw)  # type: ignore[arg-type]

    def post(self, path: str, **kw: object) -> httpx.Response:
        return self.http.post(path, **kw)  # type: ignore[arg-type]


@pytest.fixture
def api(
    box_env: dict[str, str], accounts: Accounts, settings: Settings
) -> Iterator[dict[str, object]]:
    accounts.add_user("alice@example.test", "alice-password", display_name="Alice")
    accounts.add_user("bob@example.test", "bob-password")
    tokens = {
        "alice": accounts.create_token("alice@example.test", ["mail:read", "mail:send"])[0],
        "alice_read": accounts.create_token("alice@example.test", ["mail:read"])[0],
        "bob": accounts.create_token("bob@example.test", ["mail:read", "mail:send"])[0],
    }
    served = Served(["serve", "mail-api"], box_env)
    try:
        served.wait_for("listening on")
        base = f"http://{box_env['TIDINGS_LISTEN__MAIL_API']}"
        yield {"base": base, "tokens": tokens, "store": MailStore(settings)}
    finally:
        served.stop()


def client(api: dict[str, object], who: str) -> Client:
    tokens = api["tokens"]
    assert isinstance(tokens, dict)
    return Client(str(api["base"]), tokens[who])


def store_of(api: dict[str, object]) -> MailStore:
    store = api["store"]
    assert isinstance(store, MailStore)
    return store


def test_requires_a_valid_token(api: dict[str, object]) -> None:
    base = str(api["base"])
    response = httpx.get(f"{base}/v1/folders")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401
    bad = httpx.get(f"{base}/v1/folders", headers={"Authorization": "Bearer tdg_nope"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_folders_and_listing_with_filters(api: dict[str, object]) -> None:
    store = store_of(api)
    old = datetime.now(UTC) - timedelta(days=10)
    store.deliver("alice@example.test", make_mail("Old invoice", when=old))
    store.deliver("alice@example.test", make_mail("Lunch?", sender="carol@remote.example"))
    store.deliver("alice@example.test", make_mail("Read already"), flags="S")
    alice = client(api, "alice_read")

    folders = alice.get("/v1/folders").json()["folders"]
    by_name = {f["name"]: f for f in folders}
    assert folders[0]["name"] == "INBOX"
    assert by_name["INBOX"]["total"] == 3 and by_name["INBOX"]["unseen"] == 2
    assert by_name["Sent"]["special_use"] == "\\Sent"
    assert by_name["Trash"]["special_use"] == "\\Trash"

    page = alice.get("/v1/messages", params={"limit": 2}).json()
    assert page["total"] == 3 and len(page["messages"]) == 2
    assert page["messages"][0]["subject"] in {"Lunch?", "Read already"}
    rest = alice.get("/v1/messages", params={"limit": 2, "offset": 2}).json()
    assert [m["subject"] for m in rest["messages"]] == ["Old invoice"]

    unread = alice.get("/v1/messages", params={"unread": "true"}).json()
    assert {m["subject"] for m in unread["messages"]} == {"Old invoice", "Lunch?"}
    carol = alice.get("/v1/messages", params={"sender": "carol"}).json()
    assert [m["subject"] for m in carol["messages"]] == ["Lunch?"]
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    recent = alice.get("/v1/messages", params={"since": since}).json()
    assert "Old invoice" not in {m["subject"] for m in recent["messages"]}

    missing = alice.get("/v1/messages", params={"folder": "Nope"})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    bad = alice.get("/v1/messages", params={"limit": 0})
    assert bad.status_code == 400 and bad.json()["title"] == "Bad Request"


def test_one_message_is_rendered_safely(api: dict[str, object]) -> None:
    html = (
        '<p onclick="steal()">Hi <b>Alice</b></p><script>alert(1)</script>'
        '<img src="https://tracker.example/pixel.gif"><a href="javascript:evil()">x</a>'
        '<a href="https://ok.example/">ok</a>'
    )
    store_of(api).deliver(
        "alice@example.test",
        make_mail("Report", body="Plain body", html=html, attachment=("q3.pdf", b"%PDF-1.4 data")),
    )
    alice = client(api, "alice_read")
    (summary,) = alice.get("/v1/messages").json()["messages"]
    message = alice.get(f"/v1/messages/{summary['id']}").json()
    assert message["text"].strip() == "Plain body"
    assert "<b>Alice</b>" in message["html"]
    for dangerous in ("script", "onclick", "javascript:", "tracker.example"):
        assert dangerous not in message["html"]
    assert message["remote_content_blocked"] is True
    assert 'rel="noopener noreferrer nofollow"' in message["html"]
    (attachment,) = message["attachments"]
    assert attachment["filename"] == "q3.pdf" and attachment["size"] == len(b"%PDF-1.4 data")
    download = alice.get(attachment["url"])
    assert download.content == b"%PDF-1.4 data"
    assert download.headers["content-disposition"].startswith("attachment;")
    raw = alice.get(f"/v1/messages/{summary['id']}/raw")
    assert raw.headers["content-type"] == "message/rfc822" and b"Subject: Report" in raw.content


def test_full_text_search(api: dict[str, object]) -> None:
    store = store_of(api)
    store.deliver("alice@example.test", make_mail("Facture de mars", body="Voici la facture n°42"))
    store.deliver("alice@example.test", make_mail("Weekend", body="Hiking on Saturday"))
    store.deliver("bob@example.test", make_mail("Facture de Bob", to="bob@example.test"))
    alice = client(api, "alice_read")
    found = alice.get("/v1/search", params={"q": "facture"}).json()["messages"]
    assert [m["subject"] for m in found] == ["Facture de mars"]  # never Bob's
    assert (
        alice.get("/v1/search", params={"q": "hiking"}).json()["messages"][0]["subject"]
        == "Weekend"
    )
    assert alice.get("/v1/search", params={"q": ""}).status_code == 400


def test_one_user_never_reaches_anothers_mail(api: dict[str, object]) -> None:
    store = store_of(api)
    store.deliver("bob@example.test", make_mail("Bob's secret", to="bob@example.test"))
    bob = client(api, "bob")
    (secret,) = bob.get("/v1/messages").json()["messages"]
    alice = client(api, "alice")
    listing = alice.get("/v1/messages")
    assert listing.status_code == 200, listing.text
    assert listing.json()["total"] == 0
    for path in ("", "/raw", "/attachments/0"):
        response = alice.get(f"/v1/messages/{secret['id']}{path}")
        assert response.status_code == 404, path
    assert (
        alice.post(f"/v1/messages/{secret['id']}/flags", json={"add": ["\\Seen"]}).status_code
        == 404
    )
    assert (
        alice.post(f"/v1/messages/{secret['id']}/move", json={"folder": "Trash"}).status_code == 404
    )
    assert alice.http.delete(f"/v1/messages/{secret['id']}").status_code == 404
    assert alice.post(f"/v1/messages/{secret['id']}/reply", json={"text": "x"}).status_code == 404
    # Bob's message is untouched.
    assert bob.get(f"/v1/messages/{secret['id']}").json()["unread"] is True


def test_read_token_cannot_send_or_change(api: dict[str, object]) -> None:
    store_of(api).deliver("alice@example.test", make_mail("Hello"))
    reader = client(api, "alice_read")
    (message,) = reader.get("/v1/messages").json()["messages"]
    send = reader.post(
        "/v1/messages", json={"to": ["bob@example.test"], "subject": "x", "text": "y"}
    )
    assert send.status_code == 403
    assert 'error="insufficient_scope"' in send.headers["www-authenticate"]
    assert (
        reader.post(f"/v1/messages/{message['id']}/flags", json={"add": ["\\Seen"]}).status_code
        == 403
    )
    assert reader.http.delete(f"/v1/messages/{message['id']}").status_code == 403
    assert client(api, "bob").get("/v1/messages").json()["total"] == 0  # nothing was sent


def test_send_locally_with_copy_in_sent_and_hidden_bcc(api: dict[str, object]) -> None:
    alice = client(api, "alice")
    response = alice.post(
        "/v1/messages",
        json={
            "to": ["Bob <bob@example.test>"],
            "bcc": ["alice@example.test"],
            "subject": "Déjeuner vendredi ?",
            "text": "On se voit à midi ?",
            "attachments": [
                {
                    "filename": "plan.txt",
                    "content_type": "text/plain",
                    "content_base64": base64.b64encode(b"map").decode(),
                }
            ],
        },
    )
    assert response.status_code == 201, response.text
    sent = response.json()
    assert sent["delivered"] == ["alice@example.test", "bob@example.test"] and sent["queued"] == []

    bob = client(api, "bob")
    (got,) = bob.get("/v1/messages").json()["messages"]
    assert got["subject"] == "Déjeuner vendredi ?"
    raw = bob.get(f"/v1/messages/{got['id']}/raw").content
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["From"] == "Alice <alice@example.test>"
    assert parsed["Bcc"] is None  # the blind copy stays blind
    assert parsed["Message-ID"] == sent["message_id"]
    assert bob.get(f"/v1/messages/{got['id']}").json()["attachments"][0]["filename"] == "plan.txt"

    copy = alice.get("/v1/messages", params={"folder": "Sent"}).json()["messages"]
    assert [m["id"] for m in copy] == [sent["sent_id"]] and "\\Seen" in copy[0]["flags"]


def test_remote_recipients_go_to_the_outbound_queue(
    api: dict[str, object], settings: Settings
) -> None:
    response = client(api, "alice").post(
        "/v1/messages",
        json={"to": ["someone@remote.example", "bob@example.test"], "subject": "x", "text": "y"},
    )
    assert response.status_code == 201, response.text
    sent = response.json()
    assert sent["queued"] == ["someone@remote.example"]
    assert sent["delivered"] == ["bob@example.test"]
    (queued,) = OutboundQueue(settings).list()
    assert queued.rcpt == "someone@remote.example"
    assert queued.mail_from == "alice@example.test"
    assert client(api, "alice").get("/v1/messages", params={"folder": "Sent"}).json()["total"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"to": ["bob@example.test"], "subject": "hi\r\nBcc: victim@remote.example", "text": "x"},
        {"to": ["not an address"], "subject": "x", "text": "y"},
        {"to": ["bob@example.test\r\nX-Evil: 1"], "subject": "x", "text": "y"},
        {"to": [], "subject": "nobody", "text": "y"},
        {"to": ["nobody@example.test"], "subject": "x", "text": "y"},
        {
            "to": ["bob@example.test"],
            "attachments": [
                {"filename": "a", "content_type": "text/plain", "content_base64": "***"}
            ],
        },
    ],
)
def test_bad_messages_are_refused_with_a_reason(
    api: dict[str, object], body: dict[str, object]
) -> None:
    response = client(api, "alice").post("/v1/messages", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"]
    assert client(api, "bob").get("/v1/messages").json()["total"] == 0


def test_unknown_fields_are_refused(api: dict[str, object]) -> None:
    response = client(api, "alice").post(
        "/v1/messages", json={"to": ["bob@example.test"], "text": "x", "sender": "ceo@example.test"}
    )
    assert response.status_code == 400


def test_reply_and_forward_keep_the_thread(api: dict[str, object]) -> None:
    store_of(api).deliver(
        "alice@example.test",
        make_mail(
            "Invoice",
            sender="Bob <bob@example.test>",
            to="alice@example.test, Carol <carol@remote.example>",
            body="Can you pay it?",
        ),
    )
    alice = client(api, "alice")
    (original,) = alice.get("/v1/messages").json()["messages"]

    # The preview is the plan the reply is built from: what MCP shows before sending.
    preview = alice.get(f"/v1/messages/{original['id']}/reply/preview")
    assert preview.status_code == 200, preview.text
    plan = preview.json()
    assert plan["to"] == ["Bob <bob@example.test>"] and plan["cc"] == []
    assert plan["subject"] == "Re: Invoice"
    assert plan["in_reply_to"] == f"<{original['message_id']}>"
    assert plan["references"] == [plan["in_reply_to"]]
    assert "\n> Can you pay it?" in plan["quoted"]
    everyone = alice.get(
        f"/v1/messages/{original['id']}/reply/preview", params={"reply_all": "true", "quote": "0"}
    ).json()
    assert everyone["cc"] == ["Carol <carol@remote.example>"]  # not Alice herself
    assert everyone["quoted"] == ""
    not_hers = client(api, "bob").get(f"/v1/messages/{original['id']}/reply/preview")
    assert not_hers.status_code == 404

    replied = alice.post(f"/v1/messages/{original['id']}/reply", json={"text": "I agree."})
    assert replied.status_code == 201, replied.text

    bob = client(api, "bob")
    (answer,) = bob.get("/v1/messages").json()["messages"]
    assert answer["subject"] == plan["subject"]
    assert answer["in_reply_to"] == original["message_id"]
    assert original["message_id"] in answer["references"]
    assert (
        bob.get(f"/v1/messages/{answer['id']}")
        .json()["text"]
        .startswith("I agree." + plan["quoted"].rstrip("\n"))
    )
    raw = bob.get(f"/v1/messages/{answer['id']}/raw").content
    assert raw.startswith(b"Return-Path: <alice@example.test>\r\n")  # final delivery adds it
    assert "\\Answered" in alice.get(f"/v1/messages/{original['id']}").json()["flags"]

    forward_plan = alice.get(f"/v1/messages/{original['id']}/forward/preview").json()
    assert forward_plan == {"subject": "Fwd: Invoice", "attachment_filename": "forwarded.eml"}
    forwarded = alice.post(
        f"/v1/messages/{original['id']}/forward", json={"to": ["bob@example.test"], "text": "FYI"}
    )
    assert forwarded.status_code == 201, forwarded.text
    fwd = next(
        m for m in bob.get("/v1/messages").json()["messages"] if m["subject"] == "Fwd: Invoice"
    )
    raw = bob.get(f"/v1/messages/{fwd['id']}/raw").content
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert any(part.get_content_type() == "message/rfc822" for part in parsed.walk())


def test_flag_move_delete(api: dict[str, object]) -> None:
    store_of(api).deliver("alice@example.test", make_mail("Tidy me"))
    alice = client(api, "alice")
    (message,) = alice.get("/v1/messages").json()["messages"]
    flagged = alice.post(
        f"/v1/messages/{message['id']}/flags", json={"add": ["\\Seen", "\\Flagged"]}
    ).json()
    assert set(flagged["flags"]) == {"\\Seen", "\\Flagged"} and flagged["unread"] is False
    unflagged = alice.post(f"/v1/messages/{message['id']}/flags", json={"remove": ["\\Flagged"]})
    assert unflagged.json()["flags"] == ["\\Seen"]
    assert (
        alice.post(f"/v1/messages/{message['id']}/flags", json={"add": ["\\Bogus"]}).status_code
        == 400
    )

    moved = alice.post(f"/v1/messages/{message['id']}/move", json={"folder": "Archive"}).json()
    assert moved["folder"] == "Archive" and moved["flags"] == ["\\Seen"]
    assert alice.get("/v1/messages").json()["total"] == 0
    assert (
        alice.post(f"/v1/messages/{moved['id']}/move", json={"folder": "Nope"}).status_code == 404
    )

    assert alice.http.delete(f"/v1/messages/{moved['id']}").status_code == 204
    (trashed,) = alice.get("/v1/messages", params={"folder": "Trash"}).json()["messages"]
    assert alice.http.delete(f"/v1/messages/{trashed['id']}").status_code == 204
    assert alice.get("/v1/messages", params={"folder": "Trash"}).json()["total"] == 0


def test_drafts_are_saved_updated_and_sent(api: dict[str, object]) -> None:
    alice = client(api, "alice")
    created = alice.post(
        "/v1/drafts",
        json={
            "to": ["bob@example.test"],
            "subject": "Draft 1",
            "bcc": ["alice@example.test"],
            "text": "v1",
        },
    )
    assert created.status_code == 201
    first = created.json()["id"]
    updated = alice.http.put(
        f"/v1/drafts/{first}",
        json={
            "to": ["bob@example.test"],
            "bcc": ["alice@example.test"],
            "subject": "Draft 2",
            "text": "v2",
        },
    )
    assert updated.status_code == 200
    second = updated.json()["id"]
    drafts = alice.get("/v1/messages", params={"folder": "Drafts"}).json()["messages"]
    assert [d["subject"] for d in drafts] == ["Draft 2"] and "\\Draft" in drafts[0]["flags"]

    sent = alice.post(f"/v1/drafts/{second}/send")
    assert sent.status_code == 201, sent.text
    assert alice.get("/v1/messages", params={"folder": "Drafts"}).json()["total"] == 0
    (got,) = client(api, "bob").get("/v1/messages").json()["messages"]
    assert got["subject"] == "Draft 2"
    inbox = alice.get("/v1/messages").json()["messages"]  # the Bcc to herself arrived
    assert [m["subject"] for m in inbox] == ["Draft 2"]
    assert alice.post(f"/v1/drafts/{inbox[0]['id']}/send").status_code == 404  # not a draft


def test_openapi_document_and_no_server_errors_under_schemathesis(api: dict[str, object]) -> None:
    base = str(api["base"])
    spec = httpx.get(f"{base}/openapi.json").json()
    assert spec["info"]["title"] == "tidings mail API"
    assert "/v1/messages/{message_id}" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    # Browsable docs, complete offline: every script and stylesheet comes from the box.
    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 200 and "SwaggerUIBundle" in docs.text
    assert "https://" not in docs.text and "http://" not in docs.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/static/swagger-ui/{asset}" in docs.text
        assert httpx.get(f"{base}/static/swagger-ui/{asset}").status_code == 200
    store_of(api).deliver("alice@example.test", make_mail("Fuzz target"))
    st = Path(sys.executable).with_name("st")
    assert st.exists(), "schemathesis is a test dependency"
    tokens = api["tokens"]
    assert isinstance(tokens, dict)
    result = subprocess.run(
        [
            st,
            "run",
            f"{base}/openapi.json",
            "--checks",
            "not_a_server_error",
            "-H",
            f"Authorization: Bearer {tokens['alice']}",
            "--max-examples",
            "25",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
