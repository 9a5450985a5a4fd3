"""The `caldav` library (a real CalDAV client, pinned in pyproject) against tidings:
discovery from the server root with an iOS-style user name, create, time-range
query, sync-collection, free/busy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import caldav
import pytest

from tests.dav.conftest import ALICE, BOB, PASSWORDS, DavBox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def calendar(dav_box: DavBox) -> Iterator[caldav.Calendar]:
    # The server root, not /dav/: the client must find its way (well-known, then
    # current-user-principal and calendar-home-set).
    with caldav.DAVClient(
        url=dav_box.url("/"), username="alice%40example.test", password=PASSWORDS[ALICE]
    ) as client:
        principal = client.principal()
        assert str(principal.url).endswith(f"/dav/{ALICE}/")
        calendars = principal.calendars()
        assert [str(c.url).rsplit("/", 2)[-2] for c in calendars] == ["calendar"]
        yield calendars[0]


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=UTC)


def test_create_and_query_a_time_range(calendar: caldav.Calendar) -> None:
    calendar.save_event(dtstart=at(10, 12), dtend=at(10, 13), summary="Lunch with Bob")
    calendar.save_event(dtstart=at(20, 9), dtend=at(20, 10), summary="Dentist")
    found = calendar.search(start=at(9, 0), end=at(11, 0), event=True)
    assert [str(f.icalendar_component["summary"]) for f in found] == ["Lunch with Bob"]


def test_sync_collection_reports_only_what_changed(calendar: caldav.Calendar) -> None:
    first = calendar.objects_by_sync_token(load_objects=False)
    assert first.sync_token
    calendar.save_event(dtstart=at(11, 8), dtend=at(11, 9), summary="Run", uid="sync-new")
    changed = calendar.objects_by_sync_token(sync_token=first.sync_token, load_objects=True)
    assert [str(o.icalendar_component["uid"]) for o in changed] == ["sync-new"]


def test_free_busy_query(calendar: caldav.Calendar) -> None:
    calendar.save_event(dtstart=at(15, 14), dtend=at(15, 15), summary="Busy", uid="fb")
    answer = calendar.freebusy_request(at(15, 0), at(16, 0))
    assert "FREEBUSY;VALUE=PERIOD:20261215T140000Z/20261215T150000Z" in answer.data


def test_bob_sees_none_of_alices_events(dav_box: DavBox, calendar: caldav.Calendar) -> None:
    with caldav.DAVClient(url=dav_box.url("/"), username=BOB, password=PASSWORDS[BOB]) as client:
        bobs = client.principal().calendars()
        assert len(bobs) == 1 and ALICE not in str(bobs[0].url)
        assert bobs[0].search(start=at(1, 0), end=at(31, 0), event=True) == []
