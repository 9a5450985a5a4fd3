"""The calendar and contacts tools' contract: what ``tools/list`` shows a client.

Same shape as the mail tools (:mod:`.mail_spec`): input schemas written out,
output models for ``outputSchema``, FR/EN titles and descriptions, answer templates
per language, and sentence templates in ``dav_intents.json``. Dates and times are
the box's local time, written as the user says them: a day (``YYYY-MM-DD``) and a
time (``HH:MM``), so an extractor fills each from its own words.
"""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources
from typing import Any

from pydantic import Field

from tidings.mcp.toolspec import ToolOutput, ToolSpec, i18n, object_schema

_DATE = {"type": "string", "format": "date"}
_TIME = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_EMAIL = {"type": "string", "format": "email"}
_EVENT_ID = {
    "type": "string",
    "pattern": "^[A-Za-z0-9@._-]{1,200}$",
    "description": "Identifier of the event, as listed by list_events.",
}
_CONTACT_ID = {
    "type": "string",
    "pattern": "^[A-Za-z0-9@._-]{1,200}$",
    "description": "Identifier of the contact, as listed by search_contacts.",
}
_DURATION = {
    "type": "integer",
    "minimum": 5,
    "maximum": 720,
    "description": "Length in minutes.",
}


# -- results ----------------------------------------------------------------------------
class EventItem(ToolOutput):
    id: str = Field(description="Identifier for update_event and delete_event.")
    start: str = Field(description="Local start, YYYY-MM-DD HH:MM (YYYY-MM-DD all day).")
    end: str = Field(description="Local end, same form.")
    title: str = Field(description="As written by whoever made the event (untrusted).")
    location: str
    attendees: list[str] = Field(description="Addresses of those invited.")


class EventList(ToolOutput):
    count: int
    events: list[EventItem]


class SlotItem(ToolOutput):
    start: str = Field(description="Local start of a free window, YYYY-MM-DD HH:MM.")
    end: str = Field(description="Local end of the window.")


class SlotList(ToolOutput):
    count: int
    duration_minutes: int
    slots: list[SlotItem]
    people: list[str] = Field(description="Other users whose time was checked.")


class EventDone(EventItem):
    conflicts: list[str] = Field(
        description="Events that overlap it, as 'HH:MM title' (told before booking)."
    )


class EventDeleted(ToolOutput):
    id: str
    title: str
    start: str


class ContactItem(ToolOutput):
    id: str = Field(description="Identifier for get_contact.")
    name: str
    emails: list[str]
    phones: list[str]
    organization: str


class ContactList(ToolOutput):
    count: int
    contacts: list[ContactItem]


class ContactFull(ContactItem):
    note: str = Field(description="Free text (untrusted).")


_EVENT_ANSWER = {
    "en": {"list": "events", "header": "Events ({count}):", "item": "{start} – {end} {title}",
           "empty": "Nothing in your calendar then."},
    "fr": {"list": "events", "header": "Événements ({count}) :", "item": "{start} – {end} {title}",
           "empty": "Rien dans votre agenda à ce moment-là."},
}  # fmt: skip

_SPECS = [
    ToolSpec(
        "list_events",
        "List the events in the user's calendar on a day or over several days.",
        object_schema(
            {
                "date": {**_DATE, "description": "First day (YYYY-MM-DD), local time."},
                "days": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 31,
                    "description": "Number of days from that date (1: that day only).",
                },
            },
            ["date"],
        ),
        {"readOnlyHint": True},
        EventList,
        i18n(
            (
                "List events",
                "List the events in the user's calendar on a day or over several days.",
            ),
            (
                "Lister les événements",
                "Liste les événements de l'agenda sur un jour ou plusieurs jours.",
            ),
        ),
        _EVENT_ANSWER,
        ahead=True,
    ),
    ToolSpec(
        "find_free_slots",
        "Find free time of a given length in the user's calendar, within working hours, "
        "optionally also free for other people of this box.",
        object_schema(
            {
                "duration_minutes": _DURATION,
                "date": {**_DATE, "description": "First day to look at (YYYY-MM-DD)."},
                "days": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 31,
                    "description": "Number of days to look at from that date.",
                },
                "day_start": {**_TIME, "description": "Working day start (HH:MM), default 09:00."},
                "day_end": {**_TIME, "description": "Working day end (HH:MM), default 18:00."},
                "people": {
                    "type": "array",
                    "items": _EMAIL,
                    "maxItems": 10,
                    "description": "Other users of this box who must be free too.",
                },
            },
            ["duration_minutes", "date"],
        ),
        {"readOnlyHint": True},
        SlotList,
        i18n(
            (
                "Find free time",
                "Find free time of a given length in the calendar, within working hours.",
            ),
            (
                "Trouver un créneau libre",
                "Trouve du temps libre d'une durée donnée dans l'agenda, aux heures de travail.",
            ),
        ),
        {
            "en": {
                "list": "slots",
                "header": "Free ({count}):",
                "item": "{start} – {end}",
                "empty": "No free time of that length then.",
            },
            "fr": {
                "list": "slots",
                "header": "Libre ({count}) :",
                "item": "{start} – {end}",
                "empty": "Pas de créneau libre de cette durée à ce moment-là.",
            },
        },
        ahead=True,
    ),
    ToolSpec(
        "create_event",
        "Add an event to the user's calendar; people given as attendees are invited.",
        object_schema(
            {
                "title": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 500,
                    "description": "What the event is.",
                },
                "date": {**_DATE, "description": "Day of the event (YYYY-MM-DD)."},
                "time": {**_TIME, "description": "Local start time (HH:MM)."},
                "duration_minutes": {**_DURATION, "description": "Length in minutes (60)."},
                "attendees": {
                    "type": "array",
                    "items": _EMAIL,
                    "maxItems": 50,
                    "description": "Addresses of the people to invite.",
                },
                "location": {"type": "string", "maxLength": 500, "description": "Where."},
            },
            ["title", "date", "time"],
        ),
        {"readOnlyHint": False, "destructiveHint": False, "openWorldHint": False},
        EventDone,
        i18n(
            (
                "Create an event",
                "Add an event to the calendar; people given as attendees are invited.",
            ),
            (
                "Créer un événement",
                "Ajoute un événement à l'agenda ; les participants indiqués sont invités.",
            ),
        ),
        {
            "en": {"text": "Added: {start} {title}."},
            "fr": {"text": "Ajouté : {start} {title}."},
        },
        elicits=True,
        ahead=True,
    ),
    ToolSpec(
        "update_event",
        "Change an event of the user's calendar: its title, day, time, length or place.",
        object_schema(
            {
                "event_id": _EVENT_ID,
                "title": {"type": "string", "minLength": 1, "maxLength": 500},
                "date": {**_DATE, "description": "New day (YYYY-MM-DD)."},
                "time": {**_TIME, "description": "New local start time (HH:MM)."},
                "duration_minutes": _DURATION,
                "location": {"type": "string", "maxLength": 500},
            },
            ["event_id"],
        ),
        {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": True},
        EventDone,
        i18n(
            ("Change an event", "Change an event: its title, day, time, length or place."),
            (
                "Modifier un événement",
                "Modifie un événement : son titre, son jour, son heure, sa durée ou son lieu.",
            ),
        ),
        {
            "en": {"text": "Changed: {start} {title}."},
            "fr": {"text": "Modifié : {start} {title}."},
        },
        elicits=True,
        context={"event_id": "id"},
        ahead=True,
    ),
    ToolSpec(
        "delete_event",
        "Remove an event from the user's calendar.",
        object_schema({"event_id": _EVENT_ID}, ["event_id"]),
        {"readOnlyHint": False, "destructiveHint": True},
        EventDeleted,
        i18n(
            ("Delete an event", "Remove an event from the calendar."),
            ("Supprimer un événement", "Retire un événement de l'agenda."),
        ),
        {
            "en": {"text": "Deleted: {start} {title}."},
            "fr": {"text": "Supprimé : {start} {title}."},
        },
        elicits=True,
        context={"event_id": "id"},
    ),
    ToolSpec(
        "search_contacts",
        "Find people in the user's address book by name, address, phone or organisation.",
        object_schema(
            {"query": {"type": "string", "maxLength": 200, "description": "Words to look for."}},
            ["query"],
        ),
        {"readOnlyHint": True},
        ContactList,
        i18n(
            (
                "Search contacts",
                "Find people in the address book by name, address, phone or organisation.",
            ),
            (
                "Chercher des contacts",
                "Cherche des personnes dans le carnet d'adresses par nom, adresse, téléphone "
                "ou organisation.",
            ),
        ),
        {
            "en": {
                "list": "contacts",
                "header": "Contacts ({count}):",
                "item": "{name} {emails} {phones}",
                "empty": "No contact matches.",
            },
            "fr": {
                "list": "contacts",
                "header": "Contacts ({count}) :",
                "item": "{name} {emails} {phones}",
                "empty": "Aucun contact ne correspond.",
            },
        },
    ),
    ToolSpec(
        "get_contact",
        "Show one contact in full: addresses, phones, organisation and note.",
        object_schema({"contact_id": _CONTACT_ID}, ["contact_id"]),
        {"readOnlyHint": True},
        ContactFull,
        i18n(
            ("Show a contact", "Show one contact in full: addresses, phones, organisation, note."),
            (
                "Afficher un contact",
                "Affiche un contact en entier : adresses, téléphones, organisation, note.",
            ),
        ),
        {
            "en": {"text": "{name}\nE-mail: {emails}\nPhone: {phones}\n{organization}"},
            "fr": {"text": "{name}\nCourriel : {emails}\nTéléphone : {phones}\n{organization}"},
        },
        context={"contact_id": "id"},
    ),
    ToolSpec(
        "create_contact",
        "Add a person to the user's address book.",
        object_schema(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "email": {**_EMAIL, "description": "Their e-mail address."},
                "phone": {
                    "type": "string",
                    "maxLength": 40,
                    "pattern": "^[+0-9][0-9 .()-]{1,39}$",
                    "description": "Their phone number.",
                },
                "organization": {"type": "string", "maxLength": 200},
            },
            ["name"],
        ),
        {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": False},
        ContactFull,
        i18n(
            ("Add a contact", "Add a person to the address book."),
            ("Ajouter un contact", "Ajoute une personne au carnet d'adresses."),
        ),
        {
            "en": {"text": "Contact added: {name} {emails} {phones}."},
            "fr": {"text": "Contact ajouté : {name} {emails} {phones}."},
        },
        elicits=True,
    ),
]


def _with_intents(specs: list[ToolSpec]) -> dict[str, ToolSpec]:
    data = resources.files("tidings.mcp").joinpath("dav_intents.json").read_text("utf-8")
    intents: dict[str, Any] = json.loads(data)
    return {spec.name: replace(spec, intents=intents[spec.name]) for spec in specs}


#: The calendar and contacts tools by name, in the order ``tools/list`` shows them.
DAV_TOOLS: dict[str, ToolSpec] = _with_intents(_SPECS)
