"""The web app's security model, tested from a real browser and from plain HTTP:
hostile mail stays inert and the page talks to no other host, cross-origin forms and
WebSockets are refused, a signed-out browser reaches only the login page, one
person's session never shows another's conversations or mail, and sign-in
throttling slows guessing without locking out the right person for good."""

from __future__ import annotations

import http.server
import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.ai.assistant_box import DOMAIN, PASSWORD
from tests.conftest import free_port
from tests.web.conftest import (
    BOBS_SUBJECT,
    SEEDED,
    XSS_HTML,
    XSS_SUBJECT,
    WebBox,
    csrf_of,
    other_hosts,
)


def test_hostile_mail_is_inert_and_nothing_leaves_the_box(visit, web_box: WebBox) -> None:
    web_box.deliver_html(f"alice@{DOMAIN}", "mallory@evil.example", XSS_SUBJECT, XSS_HTML)
    alice = visit()
    page = alice.sign_in("alice")
    key = alice.ask("list my emails")
    alice.wait_answer(key)
    page.locator(f"#{key}-events details[data-tool] summary").first.click()
    row = page.locator(f"#{key}-events [data-kind=messages] li").filter(has_text="onerror")
    # The subject is shown as the text it is, markup and all.
    assert row.locator("[data-subject]").inner_text() == XSS_SUBJECT
    row.locator("[data-open-mail]").click()
    frame = page.frame_locator("#reader [data-mail-frame]")
    assert "XSS-BODY-MARKER" in frame.locator("body").inner_text()
    assert frame.locator("script, [onerror], a[href^=javascript]").count() == 0
    assert frame.locator("img[src^=http]").count() == 0  # the remote image was removed
    assert page.locator("#reader [data-remote-blocked]").count() == 1  # ...and it says so
    # Nothing ran: not in the page, not in the frame (sandboxed, no scripts at all).
    assert page.evaluate("window.__xss") is None
    assert page.locator("#thread script, #thread [onerror]").count() == 0
    # Reload: the stored conversation renders the same subject, inert.
    page.reload()
    alice.wait_connected()
    assert page.evaluate("window.__xss") is None
    assert XSS_SUBJECT in page.locator("#thread").inner_text()
    assert other_hosts(alice.requests, web_box) == []


@pytest.fixture
def attacker_site() -> Iterator[tuple[str, dict[str, str]]]:
    """Another origin on loopback serving whatever page the test puts in ``pages``."""
    pages: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", pages
    finally:
        server.shutdown()
        server.server_close()


def test_cross_origin_form_and_websocket_are_refused(
    visit, web_box: WebBox, attacker_site: tuple[str, dict[str, str]]
) -> None:
    origin, pages = attacker_site
    pages["/form"] = (
        f'<form id="f" method="post" action="{web_box.url}/devices/tokens">'
        '<input name="name" value="stolen"><input name="scope" value="mail:read"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    pages["/socket"] = (
        f"<script>const ws = new WebSocket('ws://{web_box.host}/ws');"
        "ws.onopen = () => { document.title = 'open'; };"
        "ws.onclose = () => { if (document.title !== 'open') document.title = 'refused'; };"
        "</script>"
    )
    alice = visit()
    page = alice.sign_in("alice")  # the victim is signed in: the cookie would go along
    page.goto(f"{origin}/form")
    page.wait_for_url(f"{web_box.url}/devices/tokens")
    assert page.locator("[data-testid=refused]").count() == 1
    tokens = web_box.box.tidings("token", "list")
    assert "stolen" not in tokens.stdout
    page.goto(f"{origin}/socket")
    page.wait_for_function("document.title !== ''")
    assert page.title() == "refused"
    assert "refused a WebSocket: cross-origin WebSocket from " + origin in web_box.web_log()
    # Same origin but no CSRF token: refused as well.
    cookies = {c["name"]: c["value"] for c in alice.context.cookies()}
    with httpx.Client(base_url=web_box.url, cookies=cookies) as client:
        refused = client.post("/devices/tokens", data={"name": "stolen", "scope": "mail:read"})
        assert refused.status_code == 403
        # And the WebSocket needs this site's Origin even with the cookie.
        header = "; ".join(f"{k}={v}" for k, v in cookies.items())
        with pytest.raises(InvalidStatus) as refusal:
            connect(
                f"ws://{web_box.host}/ws",
                additional_headers={"Cookie": header},
                origin=origin,  # type: ignore[arg-type]
            )
        assert refusal.value.response.status_code == 403


def test_signed_out_reaches_only_the_login_page(visit, web_box: WebBox) -> None:
    stranger = visit()
    page = stranger.page
    for path in ("/", "/c/1", "/devices", "/admin/", "/mail/1", "/mail/1/body", "/conversations"):
        response = page.goto(path)
        assert response is not None and response.ok
        assert re.search(r"/login\?next=", page.url), (path, page.url)
        assert page.locator("#password").count() == 1
    with pytest.raises(InvalidStatus) as refusal:
        connect(f"ws://{web_box.host}/ws", origin=web_box.url)  # type: ignore[arg-type]
    assert refusal.value.response.status_code == 401


def test_signing_out_kills_the_session_everywhere(visit, web_box: WebBox) -> None:
    alice = visit()
    page = alice.sign_in("alice")
    stolen = {c["name"]: c["value"] for c in alice.context.cookies()}
    page.click("[data-testid=logout]")
    page.wait_for_url(re.compile(r"/login"))
    # The old cookie, replayed, is worth nothing: its credential was revoked.
    with httpx.Client(base_url=web_box.url, cookies=stolen) as client:
        assert client.get("/devices").status_code == 302


def test_one_person_never_sees_anothers_conversations_or_mail(visit, web_box: WebBox) -> None:
    alice = visit()
    page = alice.sign_in("alice")
    key = alice.ask("list my emails")
    alice.wait_answer(key)
    alice_conversation = page.url.rsplit("/", 1)[1]
    message = page.locator(f"#{key}-events [data-message-id]").first.get_attribute(
        "data-message-id"
    )
    bob = visit()
    bobs_page = bob.sign_in("bob")
    assert bobs_page.goto(f"/c/{alice_conversation}").status == 404
    assert bobs_page.goto(f"/mail/{message}").status == 404
    assert bobs_page.goto(f"/mail/{message}/body").status == 404
    bobs_page.goto("/")
    bob.wait_connected()
    assert bobs_page.locator(f"[data-conversation-id='{alice_conversation}']").count() == 0
    bobs_key = bob.ask("list my emails")
    bob.wait_answer(bobs_key)
    subjects = bobs_page.locator(f"#{bobs_key}-events [data-subject]").all_text_contents()
    # Bob's own mail (with what other tests had Alice send him), none of Alice's.
    assert BOBS_SUBJECT in subjects
    assert not set(subjects) & set(SEEDED)


def test_sign_in_throttling_slows_guessing_then_lets_the_owner_in(web_box: WebBox) -> None:
    def attempt(client: httpx.Client, local: str, password: str) -> httpx.Response:
        token = csrf_of(client)
        return client.post(
            "/login",
            data={"csrf": token, "address": f"{local}@{DOMAIN}", "password": password},
        )

    with httpx.Client(base_url=web_box.url) as guesser:
        answers = [attempt(guesser, "carol", f"guess-{n}-wrong") for n in range(4)]
        assert [a.status_code for a in answers] == [401] * 4
        assert all("Wrong address or password." in a.text for a in answers)
        # Now even the right password is held back, with a clear message.
        held = attempt(guesser, "carol", PASSWORD)
        assert held.status_code == 429
        assert re.search(r"Too many failed sign-ins\. Try again in \d+ seconds\.", held.text)
        retry_after = int(held.headers["Retry-After"])
        # An address that does not exist gets the same answers (no enumeration).
        nobody = attempt(guesser, "nobody", "whatever-password")
        assert nobody.status_code == 401 and "Wrong address or password." in nobody.text
    # Someone else signs in meanwhile.
    with httpx.Client(base_url=web_box.url) as bob:
        assert attempt(bob, "bob", PASSWORD).status_code == 302
    assert web_box.web_log().count("failed sign-in for 'carol@example.test'") >= 4
    assert "sign-in throttled for 'carol@example.test'" in web_box.web_log()
    # Once the window has passed, the owner gets in.
    time.sleep(retry_after)
    with httpx.Client(base_url=web_box.url) as carol:
        assert attempt(carol, "carol", PASSWORD).status_code == 302
