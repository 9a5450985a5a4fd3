"""Calendar rules, in one place: what the REST API (and through it the MCP server)
does to a user's default calendar. The functions run in the engine's worker thread
(:meth:`tidings.dav.engine.DavEngine.call`) on Xandikos' stores, so a change made here
is the same git commit a CalDAV PUT would make and every client syncs it.

Event ids are the stored object's name, made by the server (``<uuid4>.ics`` for
events created here), never taken from a UID someone else wrote.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import recurring_ical_events
from icalendar import Calendar, Event, vCalAddress, vText

from tidings.dav.engine import CALENDAR, principal_path

ICS = "text/calendar"
PRODID = "-//tidings//dav//EN"
MAX_EXPANDED = 2000  # occurrences listed from one range; a range is for people to read


class AgendaError(Exception):
    """A request that cannot be done, worded for the person who asked."""


class NoSuchEvent(AgendaError):
    pass


@dataclass
class EventInfo:
    id: str
    uid: str
    summary: str
    start: datetime | date
    end: datetime | date
    all_day: bool
    location: str = ""
    description: str = ""
    organizer: str = ""
    attendees: list[str] = field(default_factory=list)
    recurring: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uid": self.uid,
            "summary": self.summary,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "all_day": self.all_day,
            "location": self.location,
            "description": self.description,
            "organizer": self.organizer,
            "attendees": self.attendees,
            "recurring": self.recurring,
        }


@dataclass
class EventDraft:
    summary: str
    start: datetime
    end: datetime
    location: str = ""
    description: str = ""
    attendees: list[str] = field(default_factory=list)


def _collection(backend: Any, address: str) -> Any:
    found = backend.get_resource(principal_path(address) + f"calendars/{CALENDAR}")
    if found is None:  # pragma: no cover  (ensure_user makes it before any call)
        raise AgendaError("this account has no calendar yet")
    return found


def _mailto(value: Any) -> str:
    text = str(value)
    return text[7:].lower() if text.lower().startswith("mailto:") else text.lower()


def _as_aware(value: datetime | date, zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=zone)
    return datetime.combine(value, time.min, tzinfo=zone)


def _info(name: str, component: Any, *, recurring: bool = False) -> EventInfo:
    start = component.decoded("DTSTART")
    if "DTEND" in component:
        end = component.decoded("DTEND")
    elif "DURATION" in component:
        end = start + component.decoded("DURATION")
    else:
        end = start + (timedelta(days=1) if not isinstance(start, datetime) else timedelta(0))
    attendees = component.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    return EventInfo(
        id=name.removesuffix(".ics"),
        uid=str(component.get("UID", "")),
        summary=str(component.get("SUMMARY", "")),
        start=start,
        end=end,
        all_day=not isinstance(start, datetime),
        location=str(component.get("LOCATION", "")),
        description=str(component.get("DESCRIPTION", "")),
        organizer=_mailto(component["ORGANIZER"]) if "ORGANIZER" in component else "",
        attendees=[_mailto(a) for a in attendees],
        recurring=recurring,
    )


def _objects(backend: Any, address: str) -> list[tuple[str, Calendar]]:
    store = _collection(backend, address).store
    found = []
    for name, content_type, etag in store.iter_with_etag():
        if content_type != ICS:
            continue
        found.append((name, store.get_file(name, content_type, etag).calendar))
    return found


def list_events(backend: Any, address: str, start: datetime, end: datetime) -> list[EventInfo]:
    """Events (recurring ones expanded) that overlap ``[start, end)``, by start."""
    if end <= start:
        raise AgendaError("the end of the range must come after its start")
    zone = start.tzinfo or UTC
    events: list[EventInfo] = []
    for name, calendar in _objects(backend, address):
        repeats = _repeats(calendar)
        for occurrence in recurring_ical_events.of(calendar).between(start, end):
            if occurrence.name != "VEVENT":
                continue
            events.append(_info(name, occurrence, recurring=repeats))
            if len(events) > MAX_EXPANDED:
                raise AgendaError(f"more than {MAX_EXPANDED} events in this range; ask for less")
    events.sort(key=lambda e: (_as_aware(e.start, zone), e.summary))
    return events


def _repeats(calendar: Calendar) -> bool:
    return any(
        "RRULE" in c or "RDATE" in c or "RECURRENCE-ID" in c for c in calendar.walk("VEVENT")
    )


def _master(calendar: Calendar) -> Any:
    for component in calendar.walk("VEVENT"):
        if "RECURRENCE-ID" not in component:
            return component
    return {}


def get_event(backend: Any, address: str, event_id: str) -> EventInfo:
    name, calendar = _find(backend, address, event_id)
    return _info(name, _master(calendar), recurring=_repeats(calendar))


def _find(backend: Any, address: str, event_id: str) -> tuple[str, Calendar]:
    store = _collection(backend, address).store
    name = f"{event_id}.ics"
    try:
        content_type, etag = store.get_file_meta(name)
    except Exception:  # KeyError, or a name the store refuses: both mean "not here"
        raise NoSuchEvent("no such event") from None
    return name, store.get_file(name, content_type, etag).calendar


def _put(backend: Any, address: str, name: str, calendar: Calendar, replace: bool) -> None:
    from xandikos.store import DuplicateUidError, InvalidFileContents

    store = _collection(backend, address).store
    etag = store.get_file_meta(name)[1] if replace else None
    try:
        store.import_one(
            name,
            ICS,
            [calendar.to_ical()],
            message="tidings: " + ("update" if replace else "create") + " event",
            replace_etag=etag,
            remote_user=address,
            requester="tidings-api",
        )
    except DuplicateUidError as exc:
        raise AgendaError("an event with this UID already exists") from exc
    except (InvalidFileContents, UnicodeError) as exc:
        # A control character or a lone surrogate in a summary: the client's mistake.
        raise AgendaError(f"not a valid event: {exc}") from exc


def _fill(event: Event, address: str, draft: EventDraft) -> None:
    for key in ("SUMMARY", "DTSTART", "DTEND", "LOCATION", "DESCRIPTION", "ORGANIZER"):
        event.pop(key, None)
    event.pop("ATTENDEE", None)
    event.add("SUMMARY", draft.summary)
    event.add("DTSTART", draft.start)
    event.add("DTEND", draft.end)
    if draft.location:
        event.add("LOCATION", draft.location)
    if draft.description:
        event.add("DESCRIPTION", draft.description)
    if draft.attendees:
        organizer = vCalAddress(f"mailto:{address}")
        event.add("ORGANIZER", organizer)
        for attendee in [address, *[a for a in draft.attendees if a != address]]:
            value = vCalAddress(f"mailto:{attendee}")
            if attendee == address:
                value.params["PARTSTAT"] = vText("ACCEPTED")
            else:
                value.params["PARTSTAT"] = vText("NEEDS-ACTION")
                value.params["RSVP"] = vText("TRUE")
            value.params["ROLE"] = vText("REQ-PARTICIPANT")
            event.add("ATTENDEE", value, encode=False)


def _check(draft: EventDraft) -> None:
    if draft.start.tzinfo is None or draft.end.tzinfo is None:
        raise AgendaError("start and end need a time zone offset")
    if draft.end <= draft.start:
        raise AgendaError("an event must end after it starts")
    if not draft.summary.strip():
        raise AgendaError("an event needs a title")


def create_event(backend: Any, address: str, draft: EventDraft) -> EventInfo:
    _check(draft)
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    event = Event()
    event.add("UID", f"{uuid.uuid4()}@tidings")
    event.add("DTSTAMP", datetime.now(UTC))
    event.add("SEQUENCE", 0)
    _fill(event, address, draft)
    calendar.add_component(event)
    name = f"{uuid.uuid4()}.ics"
    _put(backend, address, name, calendar, replace=False)
    return _info(name, event)


def update_event(backend: Any, address: str, event_id: str, changes: dict[str, Any]) -> EventInfo:
    """Change the given fields of an event (not of one occurrence of a series)."""
    name, calendar = _find(backend, address, event_id)
    master = _master(calendar)
    if not isinstance(master, Event):
        raise NoSuchEvent("no such event")
    current = _info(name, master)
    if current.all_day and ("start" not in changes or "end" not in changes):
        raise AgendaError("give both start and end to change an all-day event")
    draft = EventDraft(
        summary=changes.get("summary", current.summary),
        start=changes.get("start", current.start),
        end=changes.get("end", current.end),
        location=changes.get("location", current.location),
        description=changes.get("description", current.description),
        attendees=changes.get("attendees", [a for a in current.attendees if a != address]),
    )
    if "start" in changes and "end" not in changes:
        try:
            draft.end = draft.start + (current.end - current.start)  # type: ignore[operator]
        except TypeError as exc:  # a floating time beside a zoned one (another client's)
            raise AgendaError("give both start and end to move this event") from exc
    _check(draft)
    _fill(master, address, draft)
    master.pop("SEQUENCE", None)
    master.add("SEQUENCE", int(current_sequence(master)) + 1)
    master.pop("DTSTAMP", None)
    master.add("DTSTAMP", datetime.now(UTC))
    _put(backend, address, name, calendar, replace=True)
    return _info(name, master)


def current_sequence(component: Any) -> int:
    try:
        return int(component.get("SEQUENCE", 0))
    except (TypeError, ValueError):
        return 0


def delete_event(backend: Any, address: str, event_id: str) -> EventInfo:
    name, calendar = _find(backend, address, event_id)
    info = _info(name, _master(calendar))
    _collection(backend, address).store.delete_one(
        name, message="tidings: delete event", remote_user=address, requester="tidings-api"
    )
    return info


# -- free time --------------------------------------------------------------------------
def busy_periods(
    backend: Any, address: str, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """When ``address`` is busy in ``[start, end)``: only times, never what or with
    whom (what another user's free/busy may show). Transparent events are free."""
    zone = start.tzinfo or UTC
    busy = []
    for name, calendar in _objects(backend, address):
        del name
        for occurrence in recurring_ical_events.of(calendar).between(start, end):
            if occurrence.name != "VEVENT":
                continue
            if str(occurrence.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
                continue
            if str(occurrence.get("STATUS", "")).upper() == "CANCELLED":
                continue
            info = _info("", occurrence)
            busy.append((_as_aware(info.start, zone), _as_aware(info.end, zone)))
    return sorted(busy)


def free_slots(
    busy: list[tuple[datetime, datetime]],
    start: datetime,
    end: datetime,
    duration: timedelta,
    *,
    day_start: time,
    day_end: time,
    weekdays: frozenset[int],
    zone: tzinfo,
    limit: int = 20,
) -> list[tuple[datetime, datetime]]:
    """Free windows of at least ``duration`` inside working hours (``day_start`` to
    ``day_end`` in ``zone``, on ``weekdays``, Monday = 0), the earliest first; each
    window is reported whole, the caller books its first ``duration``."""
    if duration <= timedelta(0):
        raise AgendaError("the duration must be positive")
    if day_end <= day_start:
        raise AgendaError("the working day must end after it starts")
    merged: list[tuple[datetime, datetime]] = []
    in_zone = sorted((b.astimezone(zone), e.astimezone(zone)) for b, e in busy)
    for b_start, b_end in in_zone:
        if merged and b_start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b_end))
        else:
            merged.append((b_start, b_end))
    slots: list[tuple[datetime, datetime]] = []
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last and len(slots) < limit:
        if day.weekday() in weekdays:
            window_start = max(datetime.combine(day, day_start, tzinfo=zone), start).astimezone(
                zone
            )
            window_end = min(datetime.combine(day, day_end, tzinfo=zone), end).astimezone(zone)
            cursor = window_start
            for b_start, b_end in merged:
                if b_end <= cursor or b_start >= window_end:
                    continue
                if b_start - cursor >= duration:
                    slots.append((cursor, b_start))
                cursor = max(cursor, b_end)
            if window_end - cursor >= duration:
                slots.append((cursor, window_end))
        day += timedelta(days=1)
    return slots[:limit]
