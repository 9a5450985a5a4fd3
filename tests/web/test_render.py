"""What the server renders from the assistant's words and events: Markdown made safe,
tool results drawn from their structure, and events the UI does not know yet (a plan,
a step) still shown — without a browser or a box."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import run_async
from tidings.core.config import Settings
from tidings.web.app import create_app
from tidings.web.i18n import translator
from tidings.web.relay import LiveTurn
from tidings.web.render import markdown, result_kind


async def _render(settings: Settings, name: str, **context: Any) -> str:
    app = create_app(settings)
    template = app.jinja_env.get_template(name)
    return str(await template.render_async(t=translator("en"), **context))


def test_markdown_is_rendered_and_inert() -> None:
    html = str(
        markdown(
            "**bold** <script>alert(1)</script> [x](javascript:alert(2)) "
            '<img src="http://203.0.113.9/p.png"> [ok](https://example.org)\n- one\n- two'
        )
    )
    assert "<strong>bold</strong>" in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert "<img" not in html
    assert 'href="https://example.org" rel="noopener noreferrer nofollow"' in html
    assert "<li>one</li>" in html


def test_results_are_shown_by_their_structure() -> None:
    assert result_kind({"count": 1, "messages": []}) == "messages"
    assert result_kind({"from": "Bob", "text": "hi", "subject": "s"}) == "mail"
    assert result_kind({"moved": True, "folder": "Archive"}) == "fields"
    assert result_kind(["a"]) == "list"


def test_an_unknown_event_is_drawn_as_a_generic_card(settings: Settings) -> None:
    async def scenario() -> None:
        turn = LiveTurn("t1", "plan my day", 3, None)
        plan = {"type": "plan", "steps": ["<b>list</b>", "read"], "note": "<script>x</script>"}
        turn.events.append(plan)
        html = await _render(settings, "chat/event.html", turn=turn, event=plan)
        assert 'hx-swap-oob="beforeend:#t1-events"' in html
        assert 'data-event="plan"' in html
        assert "&lt;script&gt;" in html and "<script>" not in html
        assert "&lt;b&gt;list&lt;/b&gt;" in html

    run_async(scenario())


def test_a_finished_tool_call_replaces_its_card_with_rows(settings: Settings) -> None:
    async def scenario() -> None:
        turn = LiveTurn("t2", "list my emails", 3, None)
        started = {"type": "tool_call.started", "call_id": "c:1", "tool": "list_emails"}
        finished = {
            "type": "tool_call.finished",
            "call_id": "c:1",
            "tool": "list_emails",
            "ok": True,
            "result": {
                "count": 1,
                "messages": [
                    {"id": "7", "from": "Dave", "subject": "<i>Q3</i>", "date": "x", "unread": True}
                ],
            },
        }
        turn.events += [started, finished]
        html = await _render(settings, "chat/event.html", turn=turn, event=finished)
        assert html.lstrip().startswith('<details hx-swap-oob="true" id="t2-call-c_1"')
        assert 'hx-get="/mail/7"' in html
        assert "&lt;i&gt;Q3&lt;/i&gt;" in html

    run_async(scenario())
