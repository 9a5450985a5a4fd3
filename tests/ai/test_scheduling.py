"""Booking and reading the calendar by asking, end to end: the real assistant (bundled
model), ``mcp-dav`` and ``dav`` as processes, ``tidings ask`` as the client, the
event checked in the calendar itself through dav's REST API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from tests.ai.assistant_box import AssistantBox, answer_text, of_type, write_config
from tests.conftest import ServiceProcess
from tests.smtp_support import start_dns

pytestmark = pytest.mark.slow

ALICE = "alice@example.test"


@pytest.fixture(scope="module")
def calendar_box(tmp_path_factory: pytest.TempPathFactory, gguf: Path) -> Iterator[AssistantBox]:
    root = tmp_path_factory.mktemp("calendar-box")
    dns = start_dns()
    box = AssistantBox(root, write_config(root, gguf, dns))
    extra = [ServiceProcess(name, box.config, root) for name in ("dav", "mcp-dav")]
    try:
        box.add_user("alice")
        for service in extra:
            service.start(timeout=120)
        box.start()
        # Bob is a correspondent: he wrote to Alice, so "Bob" is someone she knows.
        box.deliver(ALICE, "Bob Lambert <bob@example.org>", "Hello", "See you soon.")
        yield box
    finally:
        box.stop()
        for service in reversed(extra):
            if service.process is not None and service.process.poll() is None:
                service.stop()
        dns.stop()


def _token(box: AssistantBox, scopes: str) -> str:
    made = box.tidings("token", "create", ALICE, "--scope", scopes)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _coming(weekday: int) -> date:
    """The next such day after today (a calendar's "on Friday")."""
    today = date.today()
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def test_book_lunch_then_ask_what_is_on(calendar_box: AssistantBox) -> None:
    token = _token(calendar_box, "ai,mail:read,mail:send,dav:write")
    friday = _coming(4)

    code, events, stderr = calendar_box.ask(
        "--yes", "book lunch with Bob on Friday at noon", token=token
    )
    assert code == 0, stderr
    (asked,) = of_type(events, "confirmation.requested")
    assert asked["tool"] == "create_event"
    # What is confirmed is what is booked: every argument computed by code, shown.
    assert asked["arguments"]["date"] == friday.isoformat()
    assert asked["arguments"]["time"] == "12:00"
    assert asked["arguments"]["attendees"] == ["bob@example.org"]
    (finished,) = [e for e in of_type(events, "tool_call.finished") if e["tool"] == "create_event"]
    assert finished["ok"], finished

    # The calendar holds it, as any client of dav sees it.
    host, port = calendar_box.endpoint("dav")
    start, end = f"{friday.isoformat()}T00:00:00+00:00", f"{friday.isoformat()}T23:59:59+00:00"
    listed = httpx.get(
        f"http://{host}:{port}/v1/events",
        params={"start": start, "end": end},
        headers={"Authorization": f"Bearer {_token(calendar_box, 'dav:read')}"},
    )
    assert listed.status_code == 200, listed.text
    (event,) = listed.json()["events"]
    assert event["summary"] == "lunch"
    assert event["start"].startswith(f"{friday.isoformat()}T12:00")
    assert "bob@example.org" in event["attendees"]

    # A second booking that overlaps is told before it is confirmed (by the calendar,
    # which owns the rule), and denied here.
    code, events, stderr = calendar_box.ask(
        "--no", "schedule a meeting on Friday at 12:30", token=token
    )
    assert code == 0, stderr
    (asked,) = of_type(events, "confirmation.requested")
    assert "lunch" in asked["message"], asked["message"]

    # And the assistant reads it back, in French too.
    code, events, stderr = calendar_box.ask("qu'est-ce que j'ai vendredi ?", token=token)
    assert code == 0, stderr
    assert [e["tool"] for e in of_type(events, "tool_call.started")] == ["list_events"]
    assert "lunch" in answer_text(events)


def test_a_booking_denied_books_nothing(calendar_box: AssistantBox) -> None:
    token = _token(calendar_box, "ai,dav:write")
    saturday = _coming(5)
    code, events, stderr = calendar_box.ask("--no", "ajoute un dîner samedi à 20h", token=token)
    assert code == 0, stderr
    (asked,) = of_type(events, "confirmation.requested")
    assert (asked["arguments"]["date"], asked["arguments"]["time"]) == (
        saturday.isoformat(),
        "20:00",
    )
    host, port = calendar_box.endpoint("dav")
    day = saturday.isoformat()
    listed = httpx.get(
        f"http://{host}:{port}/v1/events",
        params={"start": f"{day}T00:00:00+00:00", "end": f"{day}T23:59:59+00:00"},
        headers={"Authorization": f"Bearer {_token(calendar_box, 'dav:read')}"},
    )
    assert listed.status_code == 200 and listed.json()["events"] == []
