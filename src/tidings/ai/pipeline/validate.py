"""Arguments checked and normalised by code before any tool runs.

Whatever proposed them (a template capture or the model), arguments pass the same
gate:

- people (``"format": "email"``) must be written in the request, as an address or
  as a name the address book knows exactly once; the address is what the tool gets;
- days (``"format": "date"``) are computed by :mod:`.dates` from the words of the
  request, never taken from the model — behind "now" for a mailbox, ahead of it for
  a tool whose ``tidings/dates`` is ``ahead`` (a calendar); clock times (a string
  the schema wants as ``HH:MM``) the same way ("midi", "3pm", "15h30");
- values the model proposed must be grounded in the request: free text and ids
  written there, listed values (enums) named there by one of their words, numbers
  written there. Ungrounded optional values are dropped; booleans from the model
  are dropped (only a template can imply them);
- the result must validate against the tool's input schema.

A required argument that does not survive makes the decision a question to the user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import jsonschema

from tidings.ai.pipeline.dates import (
    find_day,
    find_duration,
    find_time,
    parse_day,
    parse_time,
    week_range,
)
from tidings.ai.pipeline.grounding import AddressBook, appears_in, is_address
from tidings.ai.pipeline.tools import Tool


@dataclass(frozen=True)
class Problem:
    """What the user must tell before the call can be made. ``code`` names a sentence
    of :mod:`tidings.ai.phrases`, so the question is asked in the user's language."""

    code: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass
class Checked:
    arguments: dict[str, Any]
    problems: dict[str, Problem] = field(default_factory=dict)
    """Argument → what the user must say about it (unknown person, missing value)."""


def _person(value: Any, text: str, book: AddressBook) -> tuple[str | None, Problem | None]:
    """(address, None), (None, question for the user) or (None, None) when the value
    is not in the request at all (an invention, dropped like any other)."""
    value = str(value).strip().strip("<>")
    if not value or not appears_in(value, text):
        return None, None
    if is_address(value):
        return value.lower(), None
    matches = book.lookup(value)
    if len(matches) == 1:
        return matches[0].address.lower(), None
    if len(matches) > 1:
        names = ", ".join(f"{c.name} <{c.address}>" for c in matches)
        return None, Problem("ambiguous_person", {"value": value, "names": names})
    return None, Problem("unknown_person", {"value": value})


def _missing(tool: Tool, name: str) -> Problem:
    schema = tool.properties.get(name, {})
    if schema.get("format") == "email":
        return Problem("missing_person")
    if name.endswith("id") or schema.get("pattern") == "^[0-9]+$":
        return Problem("missing_id")
    if name in ("body", "text", "message"):
        return Problem("missing_text")
    return Problem("missing_value", {"name": name, "description": schema.get("description", "")})


def _from_list(tool: Tool, name: str, value: Any, text: str) -> bool:
    words = [str(value), *tool.synonyms(name).get(str(value), [])]
    return any(appears_in(w, text) for w in words)


_PEOPLE_SEPARATOR = re.compile(r"\s*(?:,|;|&|\band\b|\bet\b)\s*", re.IGNORECASE)


def _ahead(tool: Tool) -> bool:
    return tool.meta.get("tidings/dates") == "ahead"


def _is_clock(schema: dict[str, Any]) -> bool:
    """A string the schema wants as a 24-hour ``HH:MM`` time."""
    pattern = schema.get("pattern")
    if schema.get("type") != "string" or not isinstance(pattern, str):
        return False
    try:
        return bool(re.search(pattern, "09:30")) and not re.search(pattern, "9h30")
    except re.error:
        return False


def _fill_day(tool: Tool, out: dict[str, Any], text: str, now: datetime) -> None:
    """A day written in the request goes to the tool's one date argument, even when
    the model left it out: finding it is code's job. Not if those words already
    belong to another argument (a message body that says "demain"). The same for
    its one clock time."""
    days = [n for n, s in tool.properties.items() if s.get("format") in ("date", "date-time")]
    clocks = [n for n, s in tool.properties.items() if _is_clock(s)]
    if _ahead(tool) and len(days) == 1 and _is_count_of_days(tool.properties.get("days")):
        # "next week": from its Monday, seven days (a calendar's range, not one day).
        week = week_range(text, now)
        if week is not None:
            out[days[0]], out["days"] = week[0].isoformat(), week[1]
    lengths = [n for n in tool.properties if n.endswith("_minutes")]
    if len(lengths) == 1 and lengths[0] not in out:
        # "a free hour", "d'une heure", "30 minutes": a length, in the unit its name says.
        length = find_duration(text)
        if length is not None:
            out[lengths[0]] = length[1]
    for names, kind in ((days, "day"), (clocks, "clock")):
        if len(names) != 1 or names[0] in out:
            continue
        found = (
            _day_text(find_day(text, now, ahead=_ahead(tool))) if kind == "day" else find_time(text)
        )
        if found is None:
            continue
        phrase, value = found
        if any(isinstance(v, str) and appears_in(phrase, v) for v in out.values()):
            continue
        out[names[0]] = value


def _is_count_of_days(schema: dict[str, Any] | None) -> bool:
    return schema is not None and schema.get("type") == "integer"


def _day_text(found: tuple[str, date] | None) -> tuple[str, str] | None:
    return (found[0], found[1].isoformat()) if found is not None else None


def _fill_listed(tool: Tool, out: dict[str, Any], text: str) -> None:
    """A listed value named in the request ("junk", "corbeille") goes to its argument
    when exactly one value of that argument is named, and not inside another
    argument's text (a search for "spam" is not a look into the Junk folder)."""
    for name, schema in tool.properties.items():
        if name in out or "enum" not in schema:
            continue
        named = set()
        for value, words in tool.synonyms(name).items():
            for word in words:
                inside = any(isinstance(v, str) and appears_in(word, v) for v in out.values())
                if value in schema["enum"] and appears_in(word, text) and not inside:
                    named.add(value)
        if len(named) == 1:
            out[name] = named.pop()


def check(
    tool: Tool,
    proposed: dict[str, Any],
    *,
    text: str,
    now: datetime,
    address_book: AddressBook,
    trusted: frozenset[str] = frozenset(),
) -> Checked:
    """Validate ``proposed`` for ``tool``; ``trusted`` names arguments a template captured
    from the request (they are normalised, but need no grounding)."""
    out: dict[str, Any] = {}
    problems: dict[str, Problem] = {}
    props = tool.properties
    for name, value in proposed.items():
        schema = props.get(name)
        if schema is None or value is None:
            continue
        kind = schema.get("type")
        fmt = schema.get("format")
        from_template = name in trusted
        if fmt == "email":
            address, problem = _person(value, text, address_book)
            if address is not None:
                out[name] = address
            elif problem is not None and (from_template or name in tool.required):
                # An optional person the model guessed from other words ("the
                # budget") is dropped; one the user named, or a required one, is asked.
                problems[name] = problem
        elif kind == "array" and (schema.get("items") or {}).get("format") == "email":
            # People to invite: "Alice", "Alice et Bob", "alice@x.org, Bob".
            people = value if isinstance(value, list) else _PEOPLE_SEPARATOR.split(str(value))
            addresses = []
            for one in people:
                address, problem = _person(one, text, address_book)
                if address is not None:
                    addresses.append(address)
                elif problem is not None and (from_template or name in tool.required):
                    problems[name] = problem
            if addresses and name not in problems:
                out[name] = list(dict.fromkeys(addresses))
        elif fmt in ("date", "date-time"):
            ahead = _ahead(tool)
            day = parse_day(str(value), now, ahead=ahead) if from_template else None
            if day is None:
                found = find_day(text, now, ahead=ahead)
                day = found[1] if found is not None else None
            if day is not None:
                out[name] = day.isoformat()
        elif _is_clock(schema):
            clock = parse_time(str(value)) if from_template else None
            if clock is None:
                found_time = find_time(text)
                clock = found_time[1] if found_time is not None else None
            if clock is not None:
                out[name] = clock
        elif "enum" in schema:
            if value in schema["enum"] and (from_template or _from_list(tool, name, value, text)):
                out[name] = value
        elif kind == "boolean":
            if from_template and isinstance(value, bool):
                out[name] = value
        elif kind == "integer":
            if from_template and isinstance(value, str) and value.strip().isdigit():
                value = int(value)  # a template captures text: "les 10 derniers mails"
            if isinstance(value, int) and (from_template or appears_in(str(value), text)):
                out[name] = value
        elif kind == "string":
            value = str(value).strip()
            if value and (from_template or appears_in(value, text)):
                out[name] = value
        elif from_template:
            out[name] = value
    for name in list(out):
        errors = list(jsonschema.Draft202012Validator(props[name]).iter_errors(out[name]))
        if errors:
            del out[name]
            if name in trusted or name in tool.required:
                problems[name] = Problem(
                    "invalid_value", {"name": name, "detail": errors[0].message}
                )
    _fill_day(tool, out, text, now)
    _fill_listed(tool, out, text)
    for name in tool.required:
        if name not in out and name not in problems:
            problems[name] = _missing(tool, name)
    if not problems:
        try:
            jsonschema.validate(out, tool.input_schema)
        except jsonschema.ValidationError as exc:
            problems["*"] = Problem("invalid_value", {"name": tool.name, "detail": exc.message})
    return Checked(out, problems)
