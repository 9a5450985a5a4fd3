"""Run by the `caldav` library's own interpreter (.ci/davclients, see .ci/setup), not
collected by pytest: what a CalDAV client does, step by step; prints what it saw as
JSON for tests/dav/test_dav_caldav_client.py to check.

    python caldav_client_run.py URL USER PASSWORD OTHER_USER OTHER_PASSWORD
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import caldav


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=UTC)


def main() -> None:
    url, user, password, other, other_password = sys.argv[1:6]
    seen: dict[str, object] = {}
    # The server root, not /dav/: the client must find its way (well-known, then
    # current-user-principal and calendar-home-set).
    with caldav.DAVClient(url=url, username=user, password=password) as client:
        principal = client.principal()
        seen["principal"] = str(principal.url)
        calendars = principal.calendars()
        seen["calendars"] = [str(c.url) for c in calendars]
        calendar = calendars[0]

        calendar.save_event(dtstart=at(10, 12), dtend=at(10, 13), summary="Lunch with Bob")
        calendar.save_event(dtstart=at(20, 9), dtend=at(20, 10), summary="Dentist")
        found = calendar.search(start=at(9, 0), end=at(11, 0), event=True)
        seen["range"] = [str(f.icalendar_component["summary"]) for f in found]

        first = calendar.objects_by_sync_token(load_objects=False)
        seen["token"] = bool(first.sync_token)
        calendar.save_event(dtstart=at(11, 8), dtend=at(11, 9), summary="Run", uid="sync-new")
        changed = calendar.objects_by_sync_token(sync_token=first.sync_token, load_objects=True)
        seen["changed"] = [str(o.icalendar_component["uid"]) for o in changed]

        calendar.save_event(dtstart=at(15, 14), dtend=at(15, 15), summary="Busy", uid="fb")
        seen["freebusy"] = calendar.freebusy_request(at(15, 0), at(16, 0)).data

    with caldav.DAVClient(url=url, username=other, password=other_password) as client:
        theirs = client.principal().calendars()
        seen["other_calendars"] = [str(c.url) for c in theirs]
        seen["other_events"] = len(theirs[0].search(start=at(1, 0), end=at(31, 0), event=True))
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
