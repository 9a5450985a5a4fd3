"""The conversation page in a real browser against the real assistant: streaming,
result cards, opening a mail, confirmations (approve, deny, reload while waiting,
answered in every tab)."""

from __future__ import annotations

import re
import time

from tests.ai.assistant_box import DOMAIN
from tests.conftest import ServiceProcess, free_port
from tests.web.conftest import SEEDED, WebBox, artifacts_dir, other_hosts

# Recorded in the page: every state of the streaming bubble before the final render.
STREAM_PROBE = """
window.__partials = [];
new MutationObserver(() => {
  for (const el of document.querySelectorAll('[data-answer]:not([data-final])')) {
    const body = el.closest('[aria-busy]');
    const busy = body && body.getAttribute('aria-busy');
    if (el.textContent) window.__partials.push({text: el.textContent, busy: busy});
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""


def test_list_my_emails_streams_then_opens_one(visit, web_box: WebBox) -> None:
    alice = visit()
    alice.context.add_init_script(STREAM_PROBE)
    page = alice.sign_in("alice")
    key = alice.ask("list my emails")
    answer = alice.wait_answer(key)
    # The answer came token by token, into a bubble marked busy, before its final form.
    partials = page.evaluate("window.__partials")
    assert partials, "no partial answer was ever on screen"
    assert all(p["busy"] == "true" for p in partials)
    assert page.locator(f"#{key}-body").get_attribute("aria-busy") == "false"
    assert answer.strip()
    # The answer lists each mail once, by its id ("#12", which Markdown must not
    # renumber as "1."); the tool's card of rows is there, folded, saying how many.
    card = page.locator(f"#{key}-events details[data-tool=list_emails]")
    assert card.get_attribute("open") is None
    assert card.locator("[data-count]").inner_text().strip() == f"· {len(SEEDED)} messages"
    rows = card.locator("[data-kind=messages] li")
    ids = {
        rows.nth(n).locator("[data-subject]").text_content(): rows.nth(n).get_attribute(
            "data-message-id"
        )
        for n in range(rows.count())
    }
    assert set(SEEDED) <= set(ids)
    text = page.locator(f"#{key}-text")
    for subject, message_id in ids.items():
        assert f"#{message_id} " in text.inner_text()
        assert text.locator(f"[data-open-mail='{message_id}']").count() == 1, subject
    card.locator("summary").click()
    assert rows.first.is_visible()
    # One polite announcement at the end, not a live region per token.
    assert page.locator("#announce").inner_text() == "Answer ready."
    # The URL is now the conversation's: a reload shows the same thread.
    assert re.search(r"/c/\d+$", page.url)
    # Open one: its text in a sandboxed frame.
    text.locator(f"[data-open-mail='{ids['Quarterly report']}']").click()
    reader = page.locator("#reader")
    reader.locator("[data-subject]").wait_for()
    assert reader.locator("[data-subject]").inner_text() == "Quarterly report"
    frame_element = reader.locator("[data-mail-frame]")
    assert frame_element.get_attribute("sandbox") == ""
    body = page.frame_locator("#reader [data-mail-frame]").locator("body")
    assert "The Q3 figures are attached." in body.inner_text()
    page.reload()
    alice.wait_connected()
    assert set(SEEDED) <= set(
        page.locator("[data-kind=messages] [data-subject]").all_text_contents()
    )
    assert other_hosts(alice.requests, web_box) == []


def _send_and_wait_for_card(alice, text: str):
    key = alice.ask(text)
    card = alice.page.locator(f"#{key}-events [data-confirmation]")
    card.wait_for(timeout=120_000)
    return key, card


def _wait_subjects(web_box: WebBox, local: str, count: int) -> list[str]:
    deadline = time.monotonic() + 30
    while True:
        subjects = web_box.box.imap_subjects(local)
        if len(subjects) >= count or time.monotonic() > deadline:
            return subjects
        time.sleep(0.2)


def test_approve_sends_the_mail_to_bobs_inbox(visit, web_box: WebBox) -> None:
    before = web_box.box.imap_subjects("bob")
    alice = visit()
    page = alice.sign_in("alice")
    body = "le dossier est prêt pour demain"
    key, card = _send_and_wait_for_card(alice, f"écris à bob@{DOMAIN} que {body}")
    message = card.locator("[data-confirmation-message]").inner_text()
    assert f"bob@{DOMAIN}" in message and body in message  # exactly what goes out
    assert card.get_attribute("data-state") == "waiting"
    assert web_box.box.imap_subjects("bob") == before  # nothing before Approve
    card.locator("[data-approve]").click()
    alice.wait_answer(key)
    resolved = page.locator(f"#{key}-events [data-confirmation]")
    assert resolved.get_attribute("data-state") == "approved"
    after = _wait_subjects(web_box, "bob", len(before) + 1)
    assert len(after) == len(before) + 1


def test_deny_sends_nothing(visit, web_box: WebBox) -> None:
    before = web_box.box.imap_subjects("bob")
    alice = visit()
    page = alice.sign_in("alice")
    key, card = _send_and_wait_for_card(alice, f"écris à bob@{DOMAIN} que ceci ne part jamais")
    card.locator("[data-deny]").click()
    answer = alice.wait_answer(key)
    assert page.locator(f"#{key}-events [data-confirmation]").get_attribute("data-state") == (
        "denied"
    )
    assert re.search(r"rien fait|did nothing", answer), answer
    assert web_box.box.imap_subjects("bob") == before
    assert web_box.box.queued() == []


def test_reload_while_a_card_waits_and_answer_in_another_tab(visit, web_box: WebBox) -> None:
    before = web_box.box.imap_subjects("bob")
    alice = visit()
    page = alice.sign_in("alice")
    key, _ = _send_and_wait_for_card(alice, f"écris à bob@{DOMAIN} que on se voit à 15h")
    page.wait_for_url(re.compile(r"/c/\d+$"))
    # Reloaded, the card is still there and still waiting...
    page.reload()
    alice.wait_connected()
    card = page.locator(f"#{key}-events [data-confirmation]")
    assert card.get_attribute("data-state") == "waiting"
    page.screenshot(path=artifacts_dir() / "confirmation-desktop-light.png")
    # ...and a second tab of the same session shows it too.
    second = alice.context.new_page()
    second.goto(page.url)
    alice.wait_connected(second)
    other_card = second.locator(f"#{key}-events [data-confirmation]")
    assert other_card.get_attribute("data-state") == "waiting"
    # Approved in the reloaded tab: answered in both, and the mail goes.
    card.locator("[data-approve]").click()
    alice.wait_answer(key)
    alice.wait_answer(key, second)
    assert second.locator(f"#{key}-events [data-confirmation]").get_attribute("data-state") == (
        "approved"
    )
    assert len(_wait_subjects(web_box, "bob", len(before) + 1)) == len(before) + 1


def test_escape_stops_a_turn_waiting_for_approval(visit, web_box: WebBox) -> None:
    before = web_box.box.imap_subjects("bob")
    alice = visit()
    page = alice.sign_in("alice")
    # Shift+Enter is a new line, not a message.
    page.fill("#composer-text", "first line")
    page.press("#composer-text", "Shift+Enter")
    assert page.input_value("#composer-text") == "first line\n"
    assert page.locator("[data-turn]").count() == 0
    key, _ = _send_and_wait_for_card(alice, f"écris à bob@{DOMAIN} que je démissionne")
    page.locator("#composer-text").focus()
    page.keyboard.press("Escape")
    alice.wait_answer(key)
    assert page.locator("#announce").inner_text() == "Stopped."
    assert page.locator(f"#{key}-events [data-confirmation]").get_attribute("data-state") != (
        "approved"
    )
    assert page.locator("[data-stop]").count() == 0
    assert web_box.box.imap_subjects("bob") == before


def test_sidebar_rename_search_delete(visit, web_box: WebBox) -> None:
    alice = visit()
    page = alice.sign_in("alice")
    key = alice.ask("liste mes mails")
    alice.wait_answer(key)
    conversation = page.url.rsplit("/", 1)[1]
    item = page.locator(f"#conv-list [data-conversation-id='{conversation}']")
    item.wait_for()
    item.locator("summary").click()
    item.locator("input[name=title]").fill("Zanzibar plans")
    item.locator("form[hx-post$='/rename'] button").click()
    page.locator("#conv-list a", has_text="Zanzibar plans").wait_for()
    page.fill("#conv-search", "zanzi")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#conv-list a')].every("
        "a => a.textContent.includes('Zanzibar'))"
    )
    assert page.locator("#conv-list a").all_inner_texts() == ["Zanzibar plans"]
    page.once("dialog", lambda dialog: dialog.accept())
    item = page.locator(f"#conv-list [data-conversation-id='{conversation}']")
    item.locator("summary").click()
    item.locator("form[hx-post$='/delete'] button").click()
    page.wait_for_url(f"{web_box.url}/")
    assert page.goto(f"/c/{conversation}").status == 404


def test_an_unreachable_assistant_shows_an_error_and_a_retry(visit, web_box: WebBox) -> None:
    # A second web service on the same accounts, whose assistant address answers nothing.
    root = web_box.box.root / "web-without-ai"
    root.mkdir(exist_ok=True)
    text = web_box.box.config.read_text()
    text = re.sub(r'(?m)^ai = ".*"$', f'ai = "127.0.0.1:{free_port()}"', text)
    text = re.sub(r'(?m)^web = ".*"$', f'web = "127.0.0.1:{free_port()}"', text)
    config = root / "tidings.toml"
    config.write_text(text)
    web = ServiceProcess("web", config, root)
    web.start(timeout=60)
    try:
        port = re.search(r'(?m)^web = "127.0.0.1:(\d+)"$', text)
        assert port
        alice = visit(base_url=f"http://127.0.0.1:{port.group(1)}")
        page = alice.sign_in("alice")
        key = alice.ask("list my emails")
        error = page.locator(f"#{key}-events [data-error=unreachable]")
        error.wait_for(timeout=30_000)
        assert "cannot be reached" in error.inner_text()
        # Not a hung spinner: the turn is over, and Retry asks again.
        page.locator(f"#{key}-text[data-final]").wait_for(state="attached")
        assert page.locator(f"#{key}-body").get_attribute("aria-busy") == "false"
        turns = page.locator("[data-turn]").count()
        error.locator("[data-retry]").click()
        page.wait_for_function(
            "n => document.querySelectorAll('[data-turn]').length > n", arg=turns
        )
        page.locator("[data-turn]").last.locator("[data-error=unreachable]").wait_for()
    finally:
        web.stop()
