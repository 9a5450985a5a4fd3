"""The calendar/contacts REST API (``/v1/…`` on the dav service): what the MCP dav
server, the web UI and scripts use. Bearer tokens (RFC 6750): ``dav:read`` (or
``dav``) to read, ``dav:write`` (or ``dav``) to change. Every call acts on the
token's own user; another user's id answers 404 like a missing one. OpenAPI at
``/openapi.json``, browsable at ``/docs``. The rules live in :mod:`.agenda` and
:mod:`.contacts`; the routes only check, convert and call them in the engine's
worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from quart import Blueprint, Quart, Response, current_app
from quart_schema import (
    Info,
    QuartSchema,
    hide,
    validate_querystring,
    validate_request,
    validate_response,
)
from tidings_assets import swagger_ui

from tidings import __version__
from tidings.core.accounts import AccountError, Accounts, normalise_address
from tidings.core.bearer import current_address, requires
from tidings.core.http import add_health
from tidings.core.problems import Problem, install_problem_handlers, not_found
from tidings.dav import agenda, contacts
from tidings.dav.engine import DavEngine

T = TypeVar("T")
READ = ("dav:read", "dav:write", "dav")
WRITE = ("dav:write", "dav")
SWAGGER = "/static/swagger-ui"
SWAGGER_ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css"})
MAX_RANGE = timedelta(days=366)


def _address(value: str) -> str:
    try:
        return normalise_address(value)
    except AccountError as exc:
        raise ValueError(str(exc)) from None


Address = Annotated[str, Field(max_length=254), AfterValidator(_address)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- models -----------------------------------------------------------------------------
class EventOut(BaseModel):
    id: str = Field(description="The event's id in this API (its stored name).")
    uid: str = Field(description="iCalendar UID.")
    summary: str
    start: str = Field(description="ISO 8601: a date-time with offset, or a date (all day).")
    end: str = Field(description="ISO 8601, exclusive.")
    all_day: bool
    location: str
    description: str
    organizer: str = Field(description="Organizer's address, empty without attendees.")
    attendees: list[str] = Field(description="Attendees' addresses, the organizer included.")
    recurring: bool = Field(description="One occurrence of a repeating event.")


class EventList(BaseModel):
    events: list[EventOut]


class RangeQuery(Strict):
    start: AwareDatetime = Field(description="Range start (ISO 8601 with offset).")
    end: AwareDatetime = Field(description="Range end, exclusive.")


class EventIn(Strict):
    summary: str = Field(min_length=1, max_length=500)
    start: AwareDatetime
    end: AwareDatetime
    location: str = Field("", max_length=500)
    description: str = Field("", max_length=20000)
    attendees: list[Address] = Field(default_factory=list, max_length=100)


class EventPatch(Strict):
    summary: str | None = Field(None, min_length=1, max_length=500)
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    location: str | None = Field(None, max_length=500)
    description: str | None = Field(None, max_length=20000)
    attendees: list[Address] | None = Field(None, max_length=100)


class SlotsQuery(Strict):
    start: AwareDatetime
    end: AwareDatetime
    duration_minutes: int = Field(ge=5, le=24 * 60)
    day_start: time = Field(time(9, 0), description="Working day start, in `timezone`.")
    day_end: time = Field(time(18, 0), description="Working day end, in `timezone`.")
    weekends: bool = Field(False, description="Also look on Saturdays and Sundays.")
    timezone: str = Field("", description="IANA zone of the working hours; default: the box's.")
    with_: str = Field(
        "",
        alias="with",
        description="Comma-separated addresses of other users of this box whose busy "
        "times count too (only times are read, never what).",
    )


class Slot(BaseModel):
    start: str
    end: str


class SlotList(BaseModel):
    slots: list[Slot]
    busy_with: list[str] = Field(description="Local users whose busy times were used.")


class ContactOut(BaseModel):
    id: str
    uid: str
    name: str
    emails: list[str]
    phones: list[str]
    organization: str
    note: str


class ContactList(BaseModel):
    contacts: list[ContactOut]


class ContactQuery(Strict):
    q: str = Field("", max_length=200, description="Words to look for; empty lists all.")


class ContactIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    emails: list[Address] = Field(default_factory=list, max_length=20)
    phones: list[str] = Field(default_factory=list, max_length=20)
    organization: str = Field("", max_length=200)
    note: str = Field("", max_length=5000)


# -- shared -----------------------------------------------------------------------------
def _engine() -> DavEngine:
    engine: DavEngine = current_app.config["DAV_ENGINE"]
    return engine


async def _run(fn: Callable[..., T], *args: Any, user: str | None = None) -> T:
    """A rule from :mod:`.agenda`/:mod:`.contacts` for the caller, in the worker."""
    address = user or current_address()
    engine = _engine()
    try:
        return await engine.call(address, fn, engine.backend, address, *args)
    except (agenda.NoSuchEvent, contacts.NoSuchContact) as exc:
        raise Problem(404, "Not Found", str(exc)) from None
    except agenda.AgendaError as exc:
        raise Problem(422, "Unprocessable Content", str(exc)) from None


def _event(info: agenda.EventInfo) -> EventOut:
    return EventOut(**info.as_dict())


def _check_id(value: str) -> str:
    if not value or len(value) > 200 or not all(c.isalnum() or c in "-_.@" for c in value):
        raise not_found("event")
    return value


def _range(start: datetime, end: datetime) -> None:
    if end <= start:
        raise Problem(400, "Bad Request", "end must come after start")
    if end - start > MAX_RANGE:
        raise Problem(400, "Bad Request", "a range may span at most 366 days")


# -- events -----------------------------------------------------------------------------
events = Blueprint("events", __name__)


@events.get("/v1/events")
@requires(READ)
@validate_querystring(RangeQuery)
@validate_response(EventList)
async def list_events(query_args: RangeQuery) -> EventList:
    """Events overlapping a time range (repeating events expanded), by start."""
    _range(query_args.start, query_args.end)
    found = await _run(agenda.list_events, query_args.start, query_args.end)
    return EventList(events=[_event(e) for e in found])


@events.get("/v1/events/<event_id>")
@requires(READ)
@validate_response(EventOut)
async def get_event(event_id: str) -> EventOut:
    return _event(await _run(agenda.get_event, _check_id(event_id)))


@events.post("/v1/events")
@requires(WRITE)
@validate_request(EventIn)
@validate_response(EventOut, 201)
async def create_event(data: EventIn) -> tuple[EventOut, int]:
    """Add an event to the default calendar. With attendees, the user is its
    organizer and the attendees are listed as invited (NEEDS-ACTION)."""
    draft = agenda.EventDraft(
        summary=data.summary,
        start=data.start,
        end=data.end,
        location=data.location,
        description=data.description,
        attendees=list(data.attendees),
    )
    return _event(await _run(agenda.create_event, draft)), 201


@events.patch("/v1/events/<event_id>")
@requires(WRITE)
@validate_request(EventPatch)
@validate_response(EventOut)
async def update_event(event_id: str, data: EventPatch) -> EventOut:
    """Change the given fields; the others stay."""
    changes = data.model_dump(exclude_none=True)
    return _event(await _run(agenda.update_event, _check_id(event_id), changes))


@events.delete("/v1/events/<event_id>")
@requires(WRITE)
@validate_response(EventOut)
async def delete_event(event_id: str) -> EventOut:
    """Remove an event; answers with what was removed."""
    return _event(await _run(agenda.delete_event, _check_id(event_id)))


# -- free time --------------------------------------------------------------------------
freetime = Blueprint("freetime", __name__)


@freetime.get("/v1/free-slots")
@requires(READ)
@validate_querystring(SlotsQuery)
@validate_response(SlotList)
async def free_slots(query_args: SlotsQuery) -> SlotList:
    """Free windows of at least the duration, within working hours, the earliest
    first; optionally also free for other users of this box."""
    _range(query_args.start, query_args.end)
    zone: Any
    try:
        zone = ZoneInfo(query_args.timezone) if query_args.timezone else _box_zone()
    except (ZoneInfoNotFoundError, ValueError):
        raise Problem(400, "Bad Request", f"unknown time zone {query_args.timezone!r}") from None
    me = current_address()
    others = []
    accounts: Accounts = current_app.config["ACCOUNTS"]
    for raw in filter(None, (p.strip() for p in query_args.with_.split(","))):
        try:
            other = normalise_address(raw)
        except AccountError:
            raise Problem(400, "Bad Request", f"not an address: {raw!r}") from None
        if other != me and other not in others:
            if await asyncio.to_thread(accounts.get_user, other) is None:
                raise Problem(422, "Unprocessable Content", f"{other} has no account here")
            others.append(other)
    busy: list[tuple[datetime, datetime]] = []
    for who in [me, *others]:
        busy += await _run(agenda.busy_periods, query_args.start, query_args.end, user=who)
    try:
        slots = agenda.free_slots(
            busy,
            query_args.start,
            query_args.end,
            timedelta(minutes=query_args.duration_minutes),
            day_start=query_args.day_start,
            day_end=query_args.day_end,
            weekdays=frozenset(range(7) if query_args.weekends else range(5)),
            zone=zone,
        )
    except agenda.AgendaError as exc:
        raise Problem(422, "Unprocessable Content", str(exc)) from None
    return SlotList(
        slots=[Slot(start=s.isoformat(), end=e.isoformat()) for s, e in slots], busy_with=others
    )


def _box_zone() -> Any:
    return datetime.now().astimezone().tzinfo


# -- contacts ---------------------------------------------------------------------------
people = Blueprint("contacts", __name__)


def _contact(info: contacts.ContactInfo) -> ContactOut:
    return ContactOut(**info.as_dict())


@people.get("/v1/contacts")
@requires(READ)
@validate_querystring(ContactQuery)
@validate_response(ContactList)
async def search_contacts(query_args: ContactQuery) -> ContactList:
    """Contacts whose name, address, phone or organisation has every word asked
    (case and accents ignored); all of them, by name, without words."""
    found = await _run(contacts.search_contacts, query_args.q)
    return ContactList(contacts=[_contact(c) for c in found])


@people.get("/v1/contacts/<contact_id>")
@requires(READ)
@validate_response(ContactOut)
async def get_contact(contact_id: str) -> ContactOut:
    try:
        checked = _check_id(contact_id)
    except Problem:
        raise not_found("contact") from None
    return _contact(await _run(contacts.get_contact, checked))


@people.post("/v1/contacts")
@requires(WRITE)
@validate_request(ContactIn)
@validate_response(ContactOut, 201)
async def create_contact(data: ContactIn) -> tuple[ContactOut, int]:
    """Add a contact to the default address book (every client syncs it)."""

    def create(backend: Any, address: str) -> contacts.ContactInfo:
        return contacts.create_contact(
            backend,
            address,
            name=data.name,
            emails=list(data.emails),
            phones=[p.strip() for p in data.phones if p.strip()],
            organization=data.organization,
            note=data.note,
        )

    return _contact(await _run(create)), 201


def create_api(engine: DavEngine, accounts: Accounts) -> Quart:
    app = Quart(__name__, static_folder=None)
    app.config["DAV_ENGINE"] = engine
    app.config["ACCOUNTS"] = accounts
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.config["QUART_SCHEMA_SWAGGER_JS_URL"] = f"{SWAGGER}/swagger-ui-bundle.js"
    app.config["QUART_SCHEMA_SWAGGER_CSS_URL"] = f"{SWAGGER}/swagger-ui.css"
    QuartSchema(
        app,
        redoc_ui_path=None,
        scalar_ui_path=None,
        info=Info(title="tidings calendar and contacts API", version=__version__),
        security_schemes={"bearer": {"type": "http", "scheme": "bearer"}},
        security=[{"bearer": []}],
    )
    add_health(app, "dav")
    install_problem_handlers(app)
    for blueprint in (events, freetime, people):
        app.register_blueprint(blueprint)

    @app.get(f"{SWAGGER}/<name>")
    @hide
    async def swagger_asset(name: str) -> Response:
        asset = swagger_ui() / name
        if name not in SWAGGER_ASSETS or not asset.is_file():
            raise not_found("asset")
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        return Response(asset.read_bytes(), content_type=kind)

    return app


__all__ = ["create_api"]
